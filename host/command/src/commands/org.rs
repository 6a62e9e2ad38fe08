//! Commands on organizations: life cycle, domains, policy overrides and organization members.

use warden_domain::{
    authz::{Role, ScopeKind, Target},
    command::{Change, Command},
    member::WithMembers,
    org::{
        AddOrg, AddOrgDomain, AddOrgMember, ChangeOrgMember, DeactivateOrg, Organization,
        ReactivateOrg, RemoveOrg, RemoveOrgDomain, RemoveOrgMember, RenameOrg, ResetOrgPolicy,
        SetOrgPolicy, SetPrimaryOrgDomain, VerifyOrgDomain,
    },
    policy::{Policy, PolicyKind},
    user::User,
};

use super::{authorize, org_target, payload};
use crate::{
    CallerCommands, CommandError, Details, new_id,
    pipeline::{Decided, decide},
};

impl CallerCommands<'_> {
    /// Creates an organization with a new id.
    pub async fn add_org(&self, name: &str) -> Result<Details, CommandError> {
        self.add_org_with_id(&new_id(), name).await
    }

    /// Creates an organization with the given id (first-start bootstrap uses a fixed one).
    pub(crate) async fn add_org_with_id(
        &self,
        id: &str,
        name: &str,
    ) -> Result<Details, CommandError> {
        let command = AddOrg {
            name: name.to_owned(),
        };
        let mut run = self.run(AddOrg::TYPE, || payload(&command));
        // A new id has no events yet: the target is created, not loaded, and the permission is checked on
        // the instance (`CheckedOn::Instance`) whether or not the organization exists.
        let (details, ()) = decide!(run, {
            run.authorize(AddOrg::PERMISSION, &Target::Instance).await?;
            let org = run.new_target::<Organization>(id).await?;
            let decision = command.decide(&org.state, run.ctx())?;
            Ok(Decided::new(org, decision, Some(id.to_owned())))
        });
        Ok(details)
    }

    /// Renames an organization.
    pub async fn rename_org(&self, org_id: &str, name: &str) -> Result<Details, CommandError> {
        self.execute(
            org_id,
            &RenameOrg {
                name: name.to_owned(),
            },
        )
        .await
    }

    /// Deactivates an organization.
    pub async fn deactivate_org(&self, org_id: &str) -> Result<Details, CommandError> {
        self.execute(org_id, &DeactivateOrg {}).await
    }

    /// Reactivates an organization.
    pub async fn reactivate_org(&self, org_id: &str) -> Result<Details, CommandError> {
        self.execute(org_id, &ReactivateOrg {}).await
    }

    /// Removes an organization; its name and verified domains are free again.
    pub async fn remove_org(&self, org_id: &str) -> Result<Details, CommandError> {
        self.execute(org_id, &RemoveOrg {}).await
    }

    /// Adds an unverified domain to an organization.
    pub async fn add_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            org_id,
            &AddOrgDomain {
                domain: domain.to_owned(),
            },
        )
        .await
    }

    /// Marks a domain of an organization verified, claiming it in the instance.
    ///
    /// Until ownership challenges (DNS or HTTP) exist, verification is an instance administrator's
    /// statement, so it needs `org.write` on the instance rather than on the organization.
    pub async fn verify_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        let command = VerifyOrgDomain {
            domain: domain.to_owned(),
        };
        self.execute(org_id, &command).await
    }

    /// Makes a verified domain the organization's primary domain.
    pub async fn set_primary_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            org_id,
            &SetPrimaryOrgDomain {
                domain: domain.to_owned(),
            },
        )
        .await
    }

    /// Removes a domain of an organization.
    pub async fn remove_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            org_id,
            &RemoveOrgDomain {
                domain: domain.to_owned(),
            },
        )
        .await
    }

    /// Overrides one instance default policy for an organization.
    pub async fn set_org_policy(
        &self,
        org_id: &str,
        policy: &Policy,
    ) -> Result<Details, CommandError> {
        self.execute(
            org_id,
            &SetOrgPolicy {
                policy: policy.clone(),
            },
        )
        .await
    }

    /// Drops an organization's override of a policy.
    pub async fn reset_org_policy(
        &self,
        org_id: &str,
        kind: PolicyKind,
    ) -> Result<Details, CommandError> {
        self.execute(org_id, &ResetOrgPolicy { kind }).await
    }

    /// Makes a user a member of an organization with organization roles.
    pub async fn add_org_member(
        &self,
        org_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let command = AddOrgMember {
            user_id: user_id.to_owned(),
            roles: roles.to_vec(),
        };
        let mut run = self.run(AddOrgMember::TYPE, || payload(&command));
        // Two aggregates: the organization decides with the user's state, and the user records the
        // membership in the same push.
        let (details, ()) = decide!(run, {
            let org = run.target::<Organization>(org_id).await?;
            if org.state.exists() {
                let target = org_target(org_id);
                authorize(
                    &run,
                    AddOrgMember::PERMISSION,
                    &target,
                    None,
                    org_id,
                    || None,
                )
                .await?;
                run.ensure_not_system_org(org_id).await?;
                run.ensure_may_grant(command.grants(), &target).await?;
            }
            let user = run.read::<User>(user_id).await?;
            let decision = org
                .state
                .add_member(user_id, &user.state, roles, run.ctx())?;
            let recorded = user
                .state
                .record_membership(ScopeKind::Org, org_id, run.ctx())?;
            run.append_also::<User>(user_id, user.sequence, &recorded);
            Ok(Decided::new(org, decision, Some(org_id.to_owned())))
        });
        Ok(details)
    }

    /// Replaces an organization member's roles.
    pub async fn change_org_member(
        &self,
        org_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let command = ChangeOrgMember {
            user_id: user_id.to_owned(),
            roles: roles.to_vec(),
        };
        self.execute(org_id, &command).await
    }

    /// Ends an organization membership.
    pub async fn remove_org_member(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            org_id,
            &RemoveOrgMember {
                user_id: user_id.to_owned(),
            },
        )
        .await
    }
}
