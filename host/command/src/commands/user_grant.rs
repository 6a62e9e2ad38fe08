//! Commands on user grants: a user's roles in a project.

use warden_domain::{
    authz::Target,
    command::Command,
    project::Project,
    user::User,
    user_grant::{
        AddUserGrant, ChangeUserGrant, DeactivateUserGrant, ReactivateUserGrant, RemoveUserGrant,
        UserGrant,
    },
};

use super::{Resource, org_target, payload, project_target};
use crate::{
    CallerCommands, CommandError, Details, new_id,
    pipeline::{Decided, decide},
};

/// Input of [`CallerCommands::add_user_grant`]: the domain's command itself.
pub type NewUserGrant = AddUserGrant;

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
        let command = grant;
        let mut run = self.run(AddUserGrant::TYPE, || payload(command));
        // Decided with the user's and the project's state, which the push expects unchanged.
        let (details, ()) = decide!(run, {
            let project = run.read::<Project>(&grant.project_id).await?;
            let user = run.read::<User>(&grant.user_id).await?;
            if let Some(target) = grant_target(
                &project.state,
                &grant.project_id,
                grant.project_grant_id.as_deref(),
            ) {
                run.authorize_or_hide(AddUserGrant::PERMISSION, &target, || {
                    UserGrant::default()
                        .add(command, &user.state, &Project::default(), run.ctx())
                        .err()
                })
                .await?;
            }
            let new = run.new_target::<UserGrant>(&id).await?;
            let decision = new
                .state
                .add(command, &user.state, &project.state, run.ctx())?;
            let org = match &decision.events.first() {
                Some(warden_domain::user_grant::UserGrantEvent::Added(added)) => {
                    Some(added.org_id.clone())
                }
                _ => None,
            };
            Ok(Decided::new(new, decision, org))
        });
        Ok(details)
    }

    /// Replaces the roles of a user grant.
    pub async fn change_user_grant(
        &self,
        grant_id: &str,
        role_keys: &[String],
    ) -> Result<Details, CommandError> {
        let command = ChangeUserGrant {
            role_keys: role_keys.to_vec(),
        };
        let mut run = self.run(ChangeUserGrant::TYPE, || payload(&command));
        // Decided with the project's state (its roles), which the push expects unchanged.
        let (details, ()) = decide!(run, {
            let grant = run.target::<UserGrant>(grant_id).await?;
            if let Some(target) = grant.state.authz_target(grant_id) {
                run.authorize_or_hide(ChangeUserGrant::PERMISSION, &target, || {
                    UserGrant::default()
                        .change_roles(role_keys, &Project::default(), run.ctx())
                        .err()
                })
                .await?;
            }
            let project = run.read::<Project>(&grant.state.project_id).await?;
            let decision = grant
                .state
                .change_roles(role_keys, &project.state, run.ctx())?;
            let org = grant.state.owner_org(grant_id);
            Ok(Decided::new(grant, decision, org))
        });
        Ok(details)
    }

    /// Deactivates a user grant.
    pub async fn deactivate_user_grant(&self, grant_id: &str) -> Result<Details, CommandError> {
        self.execute(grant_id, &DeactivateUserGrant {}).await
    }

    /// Reactivates a user grant.
    pub async fn reactivate_user_grant(&self, grant_id: &str) -> Result<Details, CommandError> {
        self.execute(grant_id, &ReactivateUserGrant {}).await
    }

    /// Removes a user grant.
    pub async fn remove_user_grant(&self, grant_id: &str) -> Result<Details, CommandError> {
        self.execute(grant_id, &RemoveUserGrant {}).await
    }
}
