//! Commands on the instance: setup, domains, default policies and instance members.

use serde_json::json;
use warden_domain::{
    CommandContext, Decision, DomainError,
    authz::{Permission, Role, Target},
    instance::{Instance, InstanceEvent, SetupInstance},
    policy::Policy,
    user::User,
};

use crate::{CallerCommands, CommandError, Details, pipeline::attempt};

impl CallerCommands<'_> {
    fn instance_id(&self) -> &str {
        &self.caller().instance_id
    }

    /// Sets up the caller's instance (first start).
    pub async fn setup_instance(&self, setup: &SetupInstance) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.change::<Instance>(
            "instance.setup",
            &id,
            Permission::InstanceWrite,
            || serde_json::to_value(setup).unwrap_or_default(),
            |instance, ctx| instance.setup(setup, ctx),
        )
        .await
    }

    /// Adds a domain routing to the instance.
    pub async fn add_instance_domain(&self, domain: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.change::<Instance>(
            "instance.domain.add",
            &id,
            Permission::InstanceWrite,
            || json!({ "domain": domain }),
            |instance, ctx| instance.add_domain(domain, ctx),
        )
        .await
    }

    /// Makes a domain of the instance its primary domain.
    pub async fn set_primary_instance_domain(&self, domain: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.change::<Instance>(
            "instance.domain.primary.set",
            &id,
            Permission::InstanceWrite,
            || json!({ "domain": domain }),
            |instance, ctx| instance.set_primary_domain(domain, ctx),
        )
        .await
    }

    /// Removes a domain of the instance.
    pub async fn remove_instance_domain(&self, domain: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.change::<Instance>(
            "instance.domain.remove",
            &id,
            Permission::InstanceWrite,
            || json!({ "domain": domain }),
            |instance, ctx| instance.remove_domain(domain, ctx),
        )
        .await
    }

    /// Replaces one default policy of the instance.
    pub async fn set_default_policy(&self, policy: &Policy) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.change::<Instance>(
            "instance.policy.set",
            &id,
            Permission::InstanceWrite,
            || serde_json::to_value(policy).unwrap_or_default(),
            |instance, ctx| instance.set_default_policy(policy, ctx),
        )
        .await
    }

    /// Makes a user an instance member with instance roles.
    pub async fn add_instance_member(
        &self,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        let mut run = self.run(
            "instance.member.add",
            || json!({ "user_id": user_id, "roles": roles }),
        );
        loop {
            let instance = attempt!(run, run.target::<Instance>(&id).await);
            attempt!(
                run,
                run.authorize(Permission::InstanceMemberWrite, &Target::Instance)
                    .await
            );
            let user = attempt!(run, run.read::<User>(user_id).await);
            let decision = attempt!(
                run,
                instance
                    .state
                    .add_member(user_id, &user.state, roles, run.ctx())
            );
            if let Some(details) = run.commit(&instance, decision, None).await? {
                return Ok(details);
            }
        }
    }

    /// Replaces an instance member's roles; the last active `IAM_OWNER` keeps that role.
    pub async fn change_instance_member(
        &self,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        self.change_owners(
            "instance.member.change",
            user_id,
            || json!({ "user_id": user_id, "roles": roles }),
            !roles.contains(&Role::IamOwner),
            |instance, ctx| instance.change_member(user_id, roles, ctx),
        )
        .await
    }

    /// Ends an instance membership; the last active `IAM_OWNER` cannot be removed.
    pub async fn remove_instance_member(&self, user_id: &str) -> Result<Details, CommandError> {
        self.change_owners(
            "instance.member.remove",
            user_id,
            || json!({ "user_id": user_id }),
            true,
            |instance, ctx| instance.remove_member(user_id, ctx),
        )
        .await
    }

    /// Changes the instance's members; when `user_id` may lose `IAM_OWNER` (`loses_owner`), another active,
    /// unlocked owner must remain.
    async fn change_owners(
        &self,
        command_type: &'static str,
        user_id: &str,
        payload: impl FnOnce() -> serde_json::Value,
        loses_owner: bool,
        decide: impl Fn(&Instance, &CommandContext) -> Result<Decision<InstanceEvent>, DomainError>,
    ) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        let mut run = self.run(command_type, payload);
        loop {
            let instance = attempt!(run, run.target::<Instance>(&id).await);
            attempt!(
                run,
                run.authorize(Permission::InstanceMemberWrite, &Target::Instance)
                    .await
            );
            let decision = attempt!(run, decide(&instance.state, run.ctx()));
            if loses_owner && !decision.events.is_empty() {
                let active = attempt!(run, run.active_owners(&instance.state).await);
                attempt!(
                    run,
                    instance
                        .state
                        .ensure_other_active_owner(user_id, |owner| active.contains(owner))
                );
            }
            if let Some(details) = run.commit(&instance, decision, None).await? {
                return Ok(details);
            }
        }
    }

    /// Chooses the instance's system organization (first start).
    pub(crate) async fn set_system_org(&self, org_id: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.change::<Instance>(
            "instance.system_org.set",
            &id,
            Permission::InstanceWrite,
            || json!({ "org_id": org_id }),
            |instance, ctx| instance.set_system_org(org_id, ctx),
        )
        .await
    }
}
