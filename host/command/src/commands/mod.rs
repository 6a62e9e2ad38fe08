//! The commands of every resource, as methods of [`CallerCommands`].
//!
//! A command is a typed value ([`warden_domain::command::Command`]: its type name, serde shape and permission
//! declared once); a method builds it and hands it to [`CallerCommands::execute`], the one path that checks
//! the caller's permission on the resource, lets the domain decide, runs the validators on the command's
//! serialized form, and stores the result. Commands that create a resource, or decide with the state of
//! another aggregate too (a new member's user, a granted organization), give their own attempt (what to
//! load, where to authorize, how to decide) to the same loop, [`decide!`](crate::pipeline::decide), which validates, pushes and
//! retries every command alike. A resource that does not exist is answered with the domain's "not found" before any
//! permission check: there is no organization to check the permission against.

mod app_keys;
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
    command::{Change, CheckedOn, Command},
    instance::Instance,
    org::Organization,
    project::Project,
    user::User,
    user_grant::UserGrant,
};

pub use application::{AppCreated, NewApiApp, NewOidcApp};
pub use machine::{
    KeyAdded, NewMachineKey, NewMachineUser, NewPublicKey, SecretIssued, TokenIssued,
};
pub use session::{
    LOGIN_ACTOR, LoginCommands, PasswordAttempt, PasswordOutcome, PasswordVerification,
};
pub use user::NewHumanUser;
pub use user_grant::NewUserGrant;

use crate::{
    CallerCommands, CommandError, Details,
    pipeline::{Decided, Run, decide},
};

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

/// What validators see of `command`: its serialized form.
pub(crate) fn payload<C: Command>(command: &C) -> Value {
    // Commands are plain structs with string keys, which always serialize.
    serde_json::to_value(command).unwrap_or(Value::Null)
}

impl CallerCommands<'_> {
    /// Runs the typed command `command` on the existing resource `id`: load, authorize (the command's
    /// permission where it declares it is checked), decide, validate, push, and retry on a conflict or a
    /// refusal reached with unverified cached state.
    pub(crate) async fn execute<C: Change>(
        &self,
        id: &str,
        command: &C,
    ) -> Result<Details, CommandError>
    where
        C::Aggregate: Resource,
    {
        let mut run = self.run(C::TYPE, || payload(command));
        execute_in(&mut run, id, command).await
    }

    /// Like [`execute`](Self::execute), with the permission checked on `target_of(state, id)` instead of
    /// where the command declares it (e.g. on a resource already removed, for the follow-ups of removals).
    pub(crate) async fn execute_checked<C: Change>(
        &self,
        id: &str,
        command: &C,
        target_of: impl Fn(&C::Aggregate, &str) -> Option<Target>,
    ) -> Result<Details, CommandError>
    where
        C::Aggregate: Resource,
    {
        let mut run = self.run(C::TYPE, || payload(command));
        decide_on(
            &mut run,
            id,
            C::PERMISSION,
            target_of,
            command.grants(),
            |state, ctx| command.decide(state, ctx),
        )
        .await
    }
}

/// [`CallerCommands::execute`] within a run already under way (e.g. one that hashed a password first).
pub(crate) async fn execute_in<C: Change>(
    run: &mut Run<'_>,
    id: &str,
    command: &C,
) -> Result<Details, CommandError>
where
    C::Aggregate: Resource,
{
    let target_of = |state: &C::Aggregate, id: &str| {
        let on_resource = state.authz_target(id);
        match C::CHECKED_ON {
            CheckedOn::Resource => on_resource,
            CheckedOn::Instance => on_resource.map(|_| Target::Instance),
        }
    };
    decide_on(
        run,
        id,
        C::PERMISSION,
        target_of,
        command.grants(),
        |state, ctx| command.decide(state, ctx),
    )
    .await
}

/// The one path of a command on an existing resource: load `id`, check `permission` on
/// `target_of(state, id)` (answering as missing to a caller that may not see it; with the rules on acting
/// on a user, on giving `grants`, and on the system organization and the last owner), decide, then
/// [`decide!`](crate::pipeline::decide) validates, pushes and repeats on fresh state while an attempt must be repeated.
async fn decide_on<A: Resource>(
    run: &mut Run<'_>,
    id: &str,
    permission: Permission,
    target_of: impl Fn(&A, &str) -> Option<Target>,
    grants: &[Role],
    decide: impl Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
) -> Result<Details, CommandError> {
    let (details, ()) = decide!(run, {
        let target = run.target::<A>(id).await?;
        if let Some(authz) = target_of(&target.state, id) {
            authorize(run, permission, &authz, target.state.as_user(), id, || {
                decide(&A::default(), run.ctx()).err()
            })
            .await?;
            if !grants.is_empty() {
                run.ensure_may_grant(grants, &authz).await?;
            }
            if A::TYPE == Organization::TYPE {
                run.ensure_not_system_org(id).await?;
                run.ensure_org_keeps_an_owner(id).await?;
            }
        }
        let decision = decide(&target.state, run.ctx())?;
        let org = target.state.owner_org(id);
        Ok(Decided::new(target, decision, org))
    });
    Ok(details)
}

/// Checks `permission` on `target` (with the rules on acting on another user when the resource is the
/// user `user`), answering as missing to a caller that may not see it: `missing` gives the command's own
/// answer for a resource that does not exist.
pub(crate) async fn authorize(
    run: &Run<'_>,
    permission: Permission,
    target: &Target,
    user: Option<&User>,
    id: &str,
    missing: impl FnOnce() -> Option<DomainError>,
) -> Result<(), CommandError> {
    let authorized = match user {
        Some(user) => run.authorize_on_user(permission, id, user).await,
        None => run.authorize(permission, target).await,
    };
    match authorized {
        Ok(()) => Ok(()),
        Err(error) => Err(run.hide_unseen(error, permission, target, missing).await),
    }
}
