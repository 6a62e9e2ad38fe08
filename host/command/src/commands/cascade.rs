//! Follow-up commands of removals, issued by the cascades process manager as the system (and allowed to anyone
//! with the permission): they work on resources whose owner is already removed, and change nothing when
//! repeated, so a cascade that is run again after a crash adds no events.

use serde_json::json;
use warden_domain::{Lifecycle, authz::Permission, project::Project, user_grant::UserGrant};

use super::project_target;
use crate::{CallerCommands, CommandError, Details};

impl CallerCommands<'_> {
    /// Removes a grant of a project, also when the project is removed; nothing happens when the grant is
    /// already gone.
    pub async fn drop_project_grant(
        &self,
        project_id: &str,
        grant_id: &str,
    ) -> Result<Details, CommandError> {
        self.change_checked::<Project>(
            "project.grant.drop",
            project_id,
            Permission::ProjectGrantWrite,
            // Checked on the project even once it is removed: the domain does not refuse a removed project here.
            |project, id| {
                (project.lifecycle != Lifecycle::Unspecified)
                    .then(|| project_target(&project.org_id, id))
            },
            || json!({ "grant_id": grant_id }),
            |project, ctx| project.drop_grant(grant_id, ctx),
        )
        .await
    }

    /// Takes a removed project role out of a user grant; nothing happens when the grant does not hold it or
    /// is removed. A grant left without roles stays.
    pub async fn drop_user_grant_role(
        &self,
        grant_id: &str,
        role_key: &str,
    ) -> Result<Details, CommandError> {
        self.change::<UserGrant>(
            "user_grant.role.drop",
            grant_id,
            Permission::UserGrantWrite,
            || json!({ "role_key": role_key }),
            |grant, ctx| grant.drop_role(role_key, ctx),
        )
        .await
    }
}
