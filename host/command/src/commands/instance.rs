//! Commands on the instance: setup, domains, default policies and instance members.

use warden_domain::{
    authz::{Role, Target},
    command::{Change, Command},
    instance::{
        AddInstanceDomain, AddInstanceMember, ChangeInstanceMember, Instance, RemoveInstanceDomain,
        RemoveInstanceMember, SetDefaultPolicy, SetPrimaryInstanceDomain, SetSystemOrg,
        SetupInstance,
    },
    member::WithMembers,
    policy::Policy,
    user::User,
};

use super::payload;
use crate::{
    CallerCommands, CommandError, Details,
    pipeline::{Decided, decide},
};

/// A command on one instance member.
trait MemberCommand {
    /// The member's user id.
    fn user_id(&self) -> &str;
}

impl MemberCommand for ChangeInstanceMember {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl MemberCommand for RemoveInstanceMember {
    fn user_id(&self) -> &str {
        &self.user_id
    }
}

impl CallerCommands<'_> {
    fn instance_id(&self) -> &str {
        &self.caller().instance_id
    }

    /// Sets up the caller's instance (first start).
    pub async fn setup_instance(&self, setup: &SetupInstance) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.execute(&id, setup).await
    }

    /// Adds a domain routing to the instance.
    pub async fn add_instance_domain(&self, domain: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.execute(
            &id,
            &AddInstanceDomain {
                domain: domain.to_owned(),
            },
        )
        .await
    }

    /// Makes a domain of the instance its primary domain.
    pub async fn set_primary_instance_domain(&self, domain: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.execute(
            &id,
            &SetPrimaryInstanceDomain {
                domain: domain.to_owned(),
            },
        )
        .await
    }

    /// Removes a domain of the instance.
    pub async fn remove_instance_domain(&self, domain: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.execute(
            &id,
            &RemoveInstanceDomain {
                domain: domain.to_owned(),
            },
        )
        .await
    }

    /// Replaces one default policy of the instance.
    pub async fn set_default_policy(&self, policy: &Policy) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.execute(
            &id,
            &SetDefaultPolicy {
                policy: policy.clone(),
            },
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
        let command = AddInstanceMember {
            user_id: user_id.to_owned(),
            roles: roles.to_vec(),
        };
        let mut run = self.run(AddInstanceMember::TYPE, || payload(&command));
        // Decided with the user's state, which the push expects unchanged.
        let (details, ()) = decide!(run, {
            let instance = run.target::<Instance>(&id).await?;
            run.authorize(AddInstanceMember::PERMISSION, &Target::Instance)
                .await?;
            let user = run.read::<User>(user_id).await?;
            let decision = instance
                .state
                .add_member(user_id, &user.state, roles, run.ctx())?;
            Ok(Decided::new(instance, decision, None))
        });
        Ok(details)
    }

    /// Replaces an instance member's roles; the last active `IAM_OWNER` keeps that role.
    pub async fn change_instance_member(
        &self,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let command = ChangeInstanceMember {
            user_id: user_id.to_owned(),
            roles: roles.to_vec(),
        };
        self.change_owners(&command, !roles.contains(&Role::IamOwner))
            .await
    }

    /// Ends an instance membership; the last active `IAM_OWNER` cannot be removed.
    pub async fn remove_instance_member(&self, user_id: &str) -> Result<Details, CommandError> {
        let command = RemoveInstanceMember {
            user_id: user_id.to_owned(),
        };
        self.change_owners(&command, true).await
    }

    /// Changes the instance's members; when `user_id` may lose `IAM_OWNER` (`loses_owner`), another active,
    /// unlocked owner must remain.
    async fn change_owners<C: Change<Aggregate = Instance> + MemberCommand>(
        &self,
        command: &C,
        loses_owner: bool,
    ) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        let user_id = command.user_id();
        let mut run = self.run(C::TYPE, || payload(command));
        let (details, ()) = decide!(run, {
            let instance = run.target::<Instance>(&id).await?;
            run.authorize(C::PERMISSION, &Target::Instance).await?;
            let decision = command.decide(&instance.state, run.ctx())?;
            if loses_owner && !decision.events.is_empty() {
                let active = run.active_owners(&instance.state).await?;
                instance
                    .state
                    .ensure_other_active_owner(user_id, |owner| active.contains(owner))?;
            }
            Ok(Decided::new(instance, decision, None))
        });
        Ok(details)
    }

    /// Chooses the instance's system organization (first start).
    pub(crate) async fn set_system_org(&self, org_id: &str) -> Result<Details, CommandError> {
        let id = self.instance_id().to_owned();
        self.execute(
            &id,
            &SetSystemOrg {
                org_id: org_id.to_owned(),
            },
        )
        .await
    }
}
