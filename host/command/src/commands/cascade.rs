//! Follow-up commands of removals, issued by the cascades process manager as the system (and allowed to anyone
//! with the permission): they work on resources whose owner is already removed, and change nothing when
//! repeated, so a cascade that is run again after a crash adds no events.

use warden_domain::{Lifecycle, project::DropProjectGrant, user_grant::DropUserGrantRole};

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
        let command = DropProjectGrant {
            grant_id: grant_id.to_owned(),
        };
        // Checked on the project even once it is removed: the domain does not refuse a removed project here.
        self.execute_checked(project_id, &command, |project, id| {
            (project.lifecycle != Lifecycle::Unspecified)
                .then(|| project_target(&project.org_id, id))
        })
        .await
    }

    /// Takes a removed project role out of a user grant; nothing happens when the grant does not hold it or
    /// is removed. A grant left without roles stays.
    pub async fn drop_user_grant_role(
        &self,
        grant_id: &str,
        role_key: &str,
    ) -> Result<Details, CommandError> {
        let command = DropUserGrantRole {
            role_key: role_key.to_owned(),
        };
        self.execute(grant_id, &command).await
    }
}
