//! Commands on organizations: life cycle, domains, policy overrides and organization members.

use serde_json::json;
use warden_domain::{
    authz::{Permission, Role, ScopeKind, Target},
    org::Organization,
    policy::{Policy, PolicyKind},
    user::User,
};

use super::org_target;
use crate::{CallerCommands, CommandError, Details, new_id, pipeline::attempt};

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
        let mut run = self.run("org.add", || json!({ "name": name }));
        loop {
            attempt!(
                run,
                run.authorize(Permission::OrgCreate, &Target::Instance)
                    .await
            );
            let org = attempt!(run, run.new_target::<Organization>(id).await);
            let decision = attempt!(run, org.state.add(name, run.ctx()));
            if let Some(details) = run.commit(&org, decision, Some(id)).await? {
                return Ok(details);
            }
        }
    }

    /// Renames an organization.
    pub async fn rename_org(&self, org_id: &str, name: &str) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.rename",
            org_id,
            Permission::OrgWrite,
            || json!({ "name": name }),
            |org, ctx| org.rename(name, ctx),
        )
        .await
    }

    /// Deactivates an organization.
    pub async fn deactivate_org(&self, org_id: &str) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.deactivate",
            org_id,
            Permission::OrgWrite,
            || json!({}),
            |org, ctx| org.deactivate(ctx),
        )
        .await
    }

    /// Reactivates an organization.
    pub async fn reactivate_org(&self, org_id: &str) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.reactivate",
            org_id,
            Permission::OrgWrite,
            || json!({}),
            |org, ctx| org.reactivate(ctx),
        )
        .await
    }

    /// Removes an organization; its name and verified domains are free again.
    pub async fn remove_org(&self, org_id: &str) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.remove",
            org_id,
            Permission::OrgDelete,
            || json!({}),
            |org, ctx| org.remove(ctx),
        )
        .await
    }

    /// Adds an unverified domain to an organization.
    pub async fn add_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.domain.add",
            org_id,
            Permission::OrgWrite,
            || json!({ "domain": domain }),
            |org, ctx| org.add_domain(domain, ctx),
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
        self.change_checked::<Organization>(
            "org.domain.verify",
            org_id,
            Permission::OrgWrite,
            |org, _| org.exists().then_some(Target::Instance),
            || json!({ "domain": domain }),
            |org, ctx| org.verify_domain(domain, ctx),
        )
        .await
    }

    /// Makes a verified domain the organization's primary domain.
    pub async fn set_primary_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.domain.primary.set",
            org_id,
            Permission::OrgWrite,
            || json!({ "domain": domain }),
            |org, ctx| org.set_primary_domain(domain, ctx),
        )
        .await
    }

    /// Removes a domain of an organization.
    pub async fn remove_org_domain(
        &self,
        org_id: &str,
        domain: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.domain.remove",
            org_id,
            Permission::OrgWrite,
            || json!({ "domain": domain }),
            |org, ctx| org.remove_domain(domain, ctx),
        )
        .await
    }

    /// Overrides one instance default policy for an organization.
    pub async fn set_org_policy(
        &self,
        org_id: &str,
        policy: &Policy,
    ) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.policy.set",
            org_id,
            Permission::PolicyWrite,
            || serde_json::to_value(policy).unwrap_or_default(),
            |org, ctx| org.set_policy(policy, ctx),
        )
        .await
    }

    /// Drops an organization's override of a policy.
    pub async fn reset_org_policy(
        &self,
        org_id: &str,
        kind: PolicyKind,
    ) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.policy.reset",
            org_id,
            Permission::PolicyWrite,
            || json!({ "kind": kind }),
            |org, ctx| org.reset_policy(kind, ctx),
        )
        .await
    }

    /// Makes a user a member of an organization with organization roles.
    pub async fn add_org_member(
        &self,
        org_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let mut run = self.run(
            "org.member.add",
            || json!({ "user_id": user_id, "roles": roles }),
        );
        loop {
            let org = attempt!(run, run.target::<Organization>(org_id).await);
            if org.state.exists() {
                let target = org_target(org_id);
                if let Err(error) = run.authorize(Permission::OrgMemberWrite, &target).await {
                    let error = run
                        .hide_unseen(error, Permission::OrgMemberWrite, &target, || None)
                        .await;
                    attempt!(run, Err::<(), _>(error));
                }
                attempt!(run, run.ensure_not_system_org(org_id).await);
                attempt!(run, run.ensure_may_grant(roles, &target).await);
            }
            let user = attempt!(run, run.read::<User>(user_id).await);
            let decision = attempt!(
                run,
                org.state.add_member(user_id, &user.state, roles, run.ctx())
            );
            let recorded = attempt!(
                run,
                user.state
                    .record_membership(ScopeKind::Org, org_id, run.ctx())
            );
            run.append_also::<User>(user_id, user.sequence, &recorded);
            if let Some(details) = run.commit(&org, decision, Some(org_id)).await? {
                return Ok(details);
            }
        }
    }

    /// Replaces an organization member's roles.
    pub async fn change_org_member(
        &self,
        org_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        self.change_roles::<Organization>(
            "org.member.change",
            org_id,
            Permission::OrgMemberWrite,
            roles,
            || json!({ "user_id": user_id, "roles": roles }),
            |org, ctx| org.change_member(user_id, roles, ctx),
        )
        .await
    }

    /// Ends an organization membership.
    pub async fn remove_org_member(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Organization>(
            "org.member.remove",
            org_id,
            Permission::OrgMemberWrite,
            || json!({ "user_id": user_id }),
            |org, ctx| org.remove_member(user_id, ctx),
        )
        .await
    }
}
