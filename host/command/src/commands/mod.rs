//! The commands of every resource, as methods of [`CallerCommands`].
//!
//! Each method names its command type (e.g. `user.human.add`, shown to validators), checks the caller's
//! permission on the resource, lets the domain decide, and stores the result. A resource that does not exist
//! is answered with the domain's "not found" before any permission check: there is no organization to check
//! the permission against.

mod application;
mod cascade;
mod instance;
mod machine;
mod notification;
mod org;
mod plugin;
mod project;
mod session;
mod user;
pub mod user_auth;
mod user_grant;

use serde_json::Value;
use warden_domain::{
    Aggregate, CommandContext, Decision, DomainError,
    application::Application,
    authz::{Permission, Role, Target},
    instance::Instance,
    org::Organization,
    project::Project,
    user::User,
    user_grant::UserGrant,
};

pub use application::{AppCreated, NewApiApp, NewOidcApp};
pub use machine::{KeyAdded, NewMachineKey, NewMachineUser, SecretIssued, TokenIssued};
pub use session::{
    LOGIN_ACTOR, LoginCommands, PasswordAttempt, PasswordOutcome, PasswordVerification,
};
pub use user::NewHumanUser;
pub use user_grant::NewUserGrant;

use crate::{CallerCommands, CommandError, Details, pipeline::attempt};

/// An aggregate the management API addresses, with the place its permissions are checked.
pub(crate) trait Resource: Aggregate {
    /// Where permissions on the resource `id` are checked; `None` when it does not exist.
    fn authz_target(&self, id: &str) -> Option<Target>;

    /// The organization owning the resource, if any.
    fn owner_org(&self, id: &str) -> Option<String>;

    /// The resource as a user, for the rules on acting on another user.
    fn as_user(&self) -> Option<&User> {
        None
    }
}

impl Resource for Instance {
    fn authz_target(&self, _id: &str) -> Option<Target> {
        Some(Target::Instance)
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        None
    }
}

impl Resource for Organization {
    fn authz_target(&self, id: &str) -> Option<Target> {
        self.exists().then(|| Target::Org {
            org_id: id.to_owned(),
        })
    }

    fn owner_org(&self, id: &str) -> Option<String> {
        Some(id.to_owned())
    }
}

impl Resource for User {
    fn authz_target(&self, _id: &str) -> Option<Target> {
        self.exists().then(|| Target::Org {
            org_id: self.org_id.clone(),
        })
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        self.exists().then(|| self.org_id.clone())
    }

    fn as_user(&self) -> Option<&User> {
        Some(self)
    }
}

impl Resource for Project {
    fn authz_target(&self, id: &str) -> Option<Target> {
        self.exists().then(|| project_target(&self.org_id, id))
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        self.exists().then(|| self.org_id.clone())
    }
}

impl Resource for Application {
    fn authz_target(&self, _id: &str) -> Option<Target> {
        self.exists()
            .then(|| project_target(&self.org_id, &self.project_id))
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        self.exists().then(|| self.org_id.clone())
    }
}

impl Resource for UserGrant {
    /// A grant given through a project grant belongs to the granted organization, whose managers hand out
    /// its roles; any other grant is checked on its project.
    fn authz_target(&self, _id: &str) -> Option<Target> {
        self.exists().then(|| match &self.project_grant_id {
            Some(_) => Target::Org {
                org_id: self.org_id.clone(),
            },
            None => project_target(&self.org_id, &self.project_id),
        })
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        self.exists().then(|| self.org_id.clone())
    }
}

pub(crate) fn project_target(org_id: &str, project_id: &str) -> Target {
    Target::Project {
        org_id: org_id.to_owned(),
        project_id: project_id.to_owned(),
    }
}

pub(crate) fn org_target(org_id: &str) -> Target {
    Target::Org {
        org_id: org_id.to_owned(),
    }
}

impl CallerCommands<'_> {
    /// Runs a command on the existing resource `id` whose permission is checked on the resource itself.
    pub(crate) async fn change<A: Resource>(
        &self,
        command_type: &'static str,
        id: &str,
        permission: Permission,
        payload: impl FnOnce() -> Value,
        decide: impl Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
    ) -> Result<Details, CommandError> {
        self.change_checked(
            command_type,
            id,
            permission,
            A::authz_target,
            payload,
            decide,
        )
        .await
    }

    /// Like [`change`](Self::change), with the permission checked on `target_of(state, id)`.
    pub(crate) async fn change_checked<A: Resource>(
        &self,
        command_type: &'static str,
        id: &str,
        permission: Permission,
        target_of: impl Fn(&A, &str) -> Option<Target>,
        payload: impl FnOnce() -> Value,
        decide: impl Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
    ) -> Result<Details, CommandError> {
        self.change_granting(
            command_type,
            id,
            permission,
            target_of,
            &[],
            payload,
            decide,
        )
        .await
    }

    /// Like [`change`](Self::change) for a command that gives `roles` on the resource: the caller must hold
    /// every permission they grant there ([`warden_domain::authz::may_grant`]).
    pub(crate) async fn change_roles<A: Resource>(
        &self,
        command_type: &'static str,
        id: &str,
        permission: Permission,
        roles: &[Role],
        payload: impl FnOnce() -> Value,
        decide: impl Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
    ) -> Result<Details, CommandError> {
        self.change_granting(
            command_type,
            id,
            permission,
            A::authz_target,
            roles,
            payload,
            decide,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn change_granting<A: Resource>(
        &self,
        command_type: &'static str,
        id: &str,
        permission: Permission,
        target_of: impl Fn(&A, &str) -> Option<Target>,
        grants: &[Role],
        payload: impl FnOnce() -> Value,
        decide: impl Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
    ) -> Result<Details, CommandError> {
        let mut run = self.run(command_type, payload);
        loop {
            let target = attempt!(run, run.target::<A>(id).await);
            if let Some(authz) = target_of(&target.state, id) {
                let authorized = match target.state.as_user() {
                    Some(user) => run.authorize_on_user(permission, id, user).await,
                    None => run.authorize(permission, &authz).await,
                };
                if let Err(error) = authorized {
                    let error = run
                        .hide_unseen(error, permission, &authz, || {
                            decide(&A::default(), run.ctx()).err()
                        })
                        .await;
                    attempt!(run, Err::<(), _>(error));
                }
                if !grants.is_empty() {
                    attempt!(run, run.ensure_may_grant(grants, &authz).await);
                }
                if A::TYPE == Organization::TYPE {
                    attempt!(run, run.ensure_not_system_org(id).await);
                    attempt!(run, run.ensure_org_keeps_an_owner(id).await);
                }
            }
            let decision = attempt!(run, decide(&target.state, run.ctx()));
            let org = target.state.owner_org(id);
            if let Some(details) = run.commit(&target, decision, org.as_deref()).await? {
                return Ok(details);
            }
        }
    }
}
