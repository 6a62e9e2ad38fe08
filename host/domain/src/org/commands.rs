//! The organization's commands as typed values ([`crate::command::Command`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::member::WithMembers;

use super::Organization;
use crate::authz::Role;
use crate::command::command;
use crate::policy::{Policy, PolicyKind};

/// `org.add`: creates an organization. The caller needs `org.create` on the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddOrg {
    /// The organization's name, unique in the instance.
    pub name: String,
}

command!(AddOrg: Organization, "org.add", OrgCreate, on Instance, |self, org, ctx| {
    org.add(&self.name, ctx)
});

/// `org.rename`: renames an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenameOrg {
    /// The new name, unique in the instance.
    pub name: String,
}

command!(RenameOrg: Organization, "org.rename", OrgWrite, |self, org, ctx| {
    org.rename(&self.name, ctx)
});

/// `org.deactivate`: deactivates an organization (never the system organization, nor the one holding the
/// last active `IAM_OWNER`s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeactivateOrg {}

command!(DeactivateOrg: Organization, "org.deactivate", OrgWrite, |self, org, ctx| {
    org.deactivate(ctx)
});

/// `org.reactivate`: reactivates an organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReactivateOrg {}

command!(ReactivateOrg: Organization, "org.reactivate", OrgWrite, |self, org, ctx| {
    org.reactivate(ctx)
});

/// `org.remove`: removes an organization; its name and verified domains are free again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveOrg {}

command!(RemoveOrg: Organization, "org.remove", OrgDelete, |self, org, ctx| {
    org.remove(ctx)
});

/// `org.domain.add`: adds an unverified domain to an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddOrgDomain {
    /// The domain name, e.g. `example.com`.
    pub domain: String,
}

command!(AddOrgDomain: Organization, "org.domain.add", OrgWrite, |self, org, ctx| {
    org.add_domain(&self.domain, ctx)
});

/// `org.domain.verify`: marks a domain verified, claiming it in the instance.
///
/// Until ownership challenges (DNS or HTTP) exist, verification is an instance administrator's statement,
/// so it needs `org.write` on the instance rather than on the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyOrgDomain {
    /// The domain name.
    pub domain: String,
}

command!(VerifyOrgDomain: Organization, "org.domain.verify", OrgWrite, on Instance, |self, org, ctx| {
    org.verify_domain(&self.domain, ctx)
});

/// `org.domain.primary.set`: makes a verified domain the organization's primary domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetPrimaryOrgDomain {
    /// The domain name.
    pub domain: String,
}

command!(SetPrimaryOrgDomain: Organization, "org.domain.primary.set", OrgWrite, |self, org, ctx| {
    org.set_primary_domain(&self.domain, ctx)
});

/// `org.domain.remove`: removes a domain of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveOrgDomain {
    /// The domain name.
    pub domain: String,
}

command!(RemoveOrgDomain: Organization, "org.domain.remove", OrgWrite, |self, org, ctx| {
    org.remove_domain(&self.domain, ctx)
});

/// `org.policy.set`: overrides one instance default policy for an organization. Its serialized form is the
/// policy itself (`kind` and the policy's settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SetOrgPolicy {
    /// The policy in force for the organization from now on.
    pub policy: Policy,
}

command!(SetOrgPolicy: Organization, "org.policy.set", PolicyWrite, |self, org, ctx| {
    org.set_policy(&self.policy, ctx)
});

/// `org.policy.reset`: drops an organization's override of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResetOrgPolicy {
    /// Which policy.
    pub kind: PolicyKind,
}

command!(ResetOrgPolicy: Organization, "org.policy.reset", PolicyWrite, |self, org, ctx| {
    org.reset_policy(self.kind, ctx)
});

/// `org.member.add`: makes a user a member of an organization with organization roles. The organization
/// decides with the user's state ([`Organization::add_member`]), and the user records the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddOrgMember {
    /// The user.
    pub user_id: String,
    /// The organization roles, e.g. `ORG_OWNER`.
    pub roles: Vec<Role>,
}

command!(AddOrgMember: Organization, "org.member.add", OrgMemberWrite, grants roles);

/// `org.member.change`: replaces an organization member's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeOrgMember {
    /// The member.
    pub user_id: String,
    /// The organization roles from now on.
    pub roles: Vec<Role>,
}

command!(ChangeOrgMember: Organization, "org.member.change", OrgMemberWrite, grants roles, |self, org, ctx| {
    org.change_member(&self.user_id, &self.roles, ctx)
});

/// `org.member.remove`: ends an organization membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveOrgMember {
    /// The member.
    pub user_id: String,
}

command!(RemoveOrgMember: Organization, "org.member.remove", OrgMemberWrite, |self, org, ctx| {
    org.remove_member(&self.user_id, ctx)
});
