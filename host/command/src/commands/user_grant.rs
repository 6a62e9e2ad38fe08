//! Commands on user grants: a user's roles in a project.

use serde_json::json;
use warden_domain::{
    authz::{Permission, Target},
    project::Project,
    user::User,
    user_grant::{AddUserGrant, UserGrant},
};

use super::{Resource, org_target, project_target};
use crate::{CallerCommands, CommandError, Details, new_id, pipeline::attempt};

/// Input of [`CallerCommands::add_user_grant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserGrant {
    /// The user to grant roles to.
    pub user_id: String,
    /// The project.
    pub project_id: String,
    /// The project grant to give roles through, if any.
    pub project_grant_id: Option<String>,
    /// The role keys (may be empty).
    pub role_keys: Vec<String>,
}

/// Where the permission to hand out roles of `project` is checked: the project, or, through a project grant,
/// the granted organization.
fn grant_target(
    project: &Project,
    project_id: &str,
    project_grant_id: Option<&str>,
) -> Option<Target> {
    if !project.exists() {
        return None;
    }
    Some(
        match project_grant_id.and_then(|id| project.grants.get(id)) {
            Some(grant) => org_target(&grant.granted_org_id),
            None => project_target(&project.org_id, project_id),
        },
    )
}

impl CallerCommands<'_> {
    /// Grants roles in a project to a user, under a new grant id.
    pub async fn add_user_grant(&self, grant: &NewUserGrant) -> Result<Details, CommandError> {
        let id = new_id();
        let command = AddUserGrant {
            user_id: grant.user_id.clone(),
            project_id: grant.project_id.clone(),
            project_grant_id: grant.project_grant_id.clone(),
            role_keys: grant.role_keys.clone(),
        };
        let mut run = self.run("user_grant.add", || {
            serde_json::to_value(&command).unwrap_or_default()
        });
        loop {
            let project = attempt!(run, run.read::<Project>(&grant.project_id).await);
            let user = attempt!(run, run.read::<User>(&grant.user_id).await);
            if let Some(target) = grant_target(
                &project.state,
                &grant.project_id,
                grant.project_grant_id.as_deref(),
            ) {
                attempt!(
                    run,
                    run.authorize_or_hide(Permission::UserGrantWrite, &target, || {
                        UserGrant::default()
                            .add(&command, &user.state, &Project::default(), run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let new = attempt!(run, run.new_target::<UserGrant>(&id).await);
            let decision = attempt!(
                run,
                new.state
                    .add(&command, &user.state, &project.state, run.ctx())
            );
            let org = match &decision.events.first() {
                Some(warden_domain::user_grant::UserGrantEvent::Added(added)) => {
                    Some(added.org_id.clone())
                }
                _ => None,
            };
            if let Some(details) = run.commit(&new, decision, org.as_deref()).await? {
                return Ok(details);
            }
        }
    }

    /// Replaces the roles of a user grant.
    pub async fn change_user_grant(
        &self,
        grant_id: &str,
        role_keys: &[String],
    ) -> Result<Details, CommandError> {
        let mut run = self.run("user_grant.change", || json!({ "role_keys": role_keys }));
        loop {
            let grant = attempt!(run, run.target::<UserGrant>(grant_id).await);
            if let Some(target) = grant.state.authz_target(grant_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(Permission::UserGrantWrite, &target, || {
                        UserGrant::default()
                            .change_roles(role_keys, &Project::default(), run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let project = attempt!(run, run.read::<Project>(&grant.state.project_id).await);
            let decision = attempt!(
                run,
                grant
                    .state
                    .change_roles(role_keys, &project.state, run.ctx())
            );
            let org = grant.state.owner_org(grant_id);
            if let Some(details) = run.commit(&grant, decision, org.as_deref()).await? {
                return Ok(details);
            }
        }
    }

    /// Deactivates a user grant.
    pub async fn deactivate_user_grant(&self, grant_id: &str) -> Result<Details, CommandError> {
        self.change::<UserGrant>(
            "user_grant.deactivate",
            grant_id,
            Permission::UserGrantWrite,
            || json!({}),
            |grant, ctx| grant.deactivate(ctx),
        )
        .await
    }

    /// Reactivates a user grant.
    pub async fn reactivate_user_grant(&self, grant_id: &str) -> Result<Details, CommandError> {
        self.change::<UserGrant>(
            "user_grant.reactivate",
            grant_id,
            Permission::UserGrantWrite,
            || json!({}),
            |grant, ctx| grant.reactivate(ctx),
        )
        .await
    }

    /// Removes a user grant.
    pub async fn remove_user_grant(&self, grant_id: &str) -> Result<Details, CommandError> {
        self.change::<UserGrant>(
            "user_grant.remove",
            grant_id,
            Permission::UserGrantWrite,
            || json!({}),
            |grant, ctx| grant.remove(ctx),
        )
        .await
    }
}
