//! The instance's commands as typed values ([`crate::command::Command`]). Their permission is checked on the
//! instance.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::member::WithMembers;

use super::{Instance, SetupInstance};
use crate::authz::Role;
use crate::command::command;
use crate::policy::Policy;

command!(SetupInstance: Instance, "instance.setup", InstanceWrite, |self, instance, ctx| {
    instance.setup(self, ctx)
});

/// `instance.domain.add`: adds a domain routing to the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddInstanceDomain {
    /// The domain name.
    pub domain: String,
}

command!(AddInstanceDomain: Instance, "instance.domain.add", InstanceWrite, |self, instance, ctx| {
    instance.add_domain(&self.domain, ctx)
});

/// `instance.domain.primary.set`: makes a domain the instance's primary domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetPrimaryInstanceDomain {
    /// The domain name.
    pub domain: String,
}

command!(SetPrimaryInstanceDomain: Instance, "instance.domain.primary.set", InstanceWrite, |self, instance, ctx| {
    instance.set_primary_domain(&self.domain, ctx)
});

/// `instance.domain.remove`: removes a domain of the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveInstanceDomain {
    /// The domain name.
    pub domain: String,
}

command!(RemoveInstanceDomain: Instance, "instance.domain.remove", InstanceWrite, |self, instance, ctx| {
    instance.remove_domain(&self.domain, ctx)
});

/// `instance.policy.set`: replaces one default policy. Its serialized form is the policy itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SetDefaultPolicy {
    /// The default policy from now on.
    pub policy: Policy,
}

command!(SetDefaultPolicy: Instance, "instance.policy.set", InstanceWrite, |self, instance, ctx| {
    instance.set_default_policy(&self.policy, ctx)
});

/// `instance.system_org.set`: names the organization holding the instance's administrators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SetSystemOrg {
    /// The organization.
    pub org_id: String,
}

command!(SetSystemOrg: Instance, "instance.system_org.set", InstanceWrite, |self, instance, ctx| {
    instance.set_system_org(&self.org_id, ctx)
});

/// `instance.member.add`: makes a user an instance member with instance roles, decided with the user's
/// state ([`Instance::add_member`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddInstanceMember {
    /// The user.
    pub user_id: String,
    /// The instance roles, e.g. `IAM_OWNER`.
    pub roles: Vec<Role>,
}

command!(AddInstanceMember: Instance, "instance.member.add", InstanceMemberWrite);

/// `instance.member.change`: replaces an instance member's roles; never leaves the instance without an
/// active `IAM_OWNER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeInstanceMember {
    /// The member.
    pub user_id: String,
    /// The instance roles from now on.
    pub roles: Vec<Role>,
}

command!(ChangeInstanceMember: Instance, "instance.member.change", InstanceMemberWrite, |self, instance, ctx| {
    instance.change_member(&self.user_id, &self.roles, ctx)
});

/// `instance.member.remove`: ends an instance membership; never the last active `IAM_OWNER`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveInstanceMember {
    /// The member.
    pub user_id: String,
}

command!(RemoveInstanceMember: Instance, "instance.member.remove", InstanceMemberWrite, |self, instance, ctx| {
    instance.remove_member(&self.user_id, ctx)
});
