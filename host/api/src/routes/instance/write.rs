//! `/api/v1/instance`: domains, default policies and instance members.

use warden_command::CallerCommands;
use warden_domain::instance::{
    AddInstanceDomain, AddInstanceMember, ChangeInstanceMember, RemoveInstanceDomain,
    RemoveInstanceMember, SetDefaultPolicy, SetPrimaryInstanceDomain,
};
use warden_domain::policy::Policy;

use crate::routes::change;
use crate::routes::policies::{
    LockoutPolicyRequest, LoginPolicyRequest, PasswordComplexityPolicyRequest,
};
use crate::{
    bodies::DomainRequest,
    openapi::Endpoint,
    routes::members::{AddMemberRequest, InstanceRoleName, MemberRolesRequest, roles},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::put(
            "/api/v1/instance/policies/password-complexity",
            "setDefaultPasswordComplexityPolicy",
        )
        .summary("Replace the instance's default password complexity policy")
        .command::<SetDefaultPolicy>()
        .runs_with(|c, (): &(), body: &PasswordComplexityPolicyRequest| {
            set_policy(c, body.clone())
        }),
        change::put(
            "/api/v1/instance/policies/lockout",
            "setDefaultLockoutPolicy",
        )
        .summary("Replace the instance's default lockout policy")
        .command::<SetDefaultPolicy>()
        .runs_with(|c, (): &(), body: &LockoutPolicyRequest| set_policy(c, body.clone())),
        change::put("/api/v1/instance/policies/login", "setDefaultLoginPolicy")
            .summary("Replace the instance's default login policy")
            .command::<SetDefaultPolicy>()
            .runs_with(|c, (): &(), body: &LoginPolicyRequest| set_policy(c, body.clone())),
        change::post("/api/v1/instance/domains", "addInstanceDomain")
            .summary("Add a domain routing to the instance")
            .command::<AddInstanceDomain>()
            .creates_with(|c, (): &(), body: &DomainRequest| {
                Box::pin(c.add_instance_domain(&body.domain))
            }),
        change::post(
            "/api/v1/instance/domains/{domain}/primary",
            "setPrimaryInstanceDomain",
        )
        .summary("Make a domain the instance's primary domain")
        .command::<SetPrimaryInstanceDomain>()
        .runs(|c, domain: &String| Box::pin(c.set_primary_instance_domain(domain))),
        change::delete("/api/v1/instance/domains/{domain}", "removeInstanceDomain")
            .summary("Remove a domain of the instance")
            .command::<RemoveInstanceDomain>()
            .runs(|c, domain: &String| Box::pin(c.remove_instance_domain(domain))),
        change::post("/api/v1/instance/members", "addInstanceMember")
            .summary("Make a user an instance member")
            .command::<AddInstanceMember>()
            .creates_with(|c, (): &(), body: &AddMemberRequest<InstanceRoleName>| {
                Box::pin(async move {
                    c.add_instance_member(&body.user_id, &roles(&body.roles))
                        .await
                })
            }),
        change::put("/api/v1/instance/members/{user_id}", "changeInstanceMember")
            .summary("Replace an instance member's roles")
            .command::<ChangeInstanceMember>()
            .runs_with(
                |c, user_id: &String, body: &MemberRolesRequest<InstanceRoleName>| {
                    Box::pin(
                        async move { c.change_instance_member(user_id, &roles(&body.roles)).await },
                    )
                },
            ),
        change::delete("/api/v1/instance/members/{user_id}", "removeInstanceMember")
            .summary("End an instance membership")
            .command::<RemoveInstanceMember>()
            .runs(|c, user_id: &String| Box::pin(c.remove_instance_member(user_id))),
    ]
}

/// Replaces the instance's default policy of `policy`'s kind.
fn set_policy<'a>(c: &'a CallerCommands<'a>, policy: impl Into<Policy>) -> change::Outcome<'a> {
    let policy = policy.into();
    Box::pin(async move { c.set_default_policy(&policy).await })
}
