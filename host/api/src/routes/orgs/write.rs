//! `/api/v1/orgs`: organizations, their domains, policy overrides and members.

use schemars::JsonSchema;
use serde::Deserialize;
use warden_command::CallerCommands;
use warden_domain::org::{
    AddOrg, AddOrgDomain, AddOrgMember, ChangeOrgMember, DeactivateOrg, ReactivateOrg, RemoveOrg,
    RemoveOrgDomain, RemoveOrgMember, RenameOrg, ResetOrgPolicy, SetOrgPolicy, SetPrimaryOrgDomain,
    VerifyOrgDomain,
};
use warden_domain::policy::{Policy, PolicyKind};

use crate::routes::change;
use crate::routes::policies::{
    LockoutPolicyRequest, LoginPolicyRequest, PasswordComplexityPolicyRequest,
};
use crate::{
    bodies::NameRequest,
    openapi::Endpoint,
    routes::members::{AddMemberRequest, MemberRolesRequest, OrgRoleName, roles},
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::create("/api/v1/orgs", "addOrg")
            .summary("Create an organization")
            .command::<AddOrg>()
            .creates_with(|c, (): &(), body: &AddOrgRequest| Box::pin(c.add_org(&body.name))),
        change::put("/api/v1/orgs/{org_id}", "renameOrg")
            .summary("Rename an organization")
            .command::<RenameOrg>()
            .runs_with(|c, id: &String, body: &NameRequest| Box::pin(c.rename_org(id, &body.name))),
        change::post("/api/v1/orgs/{org_id}/deactivate", "deactivateOrg")
            .summary("Deactivate an organization")
            .command::<DeactivateOrg>()
            .runs(|c, id: &String| Box::pin(c.deactivate_org(id))),
        change::post("/api/v1/orgs/{org_id}/reactivate", "reactivateOrg")
            .summary("Reactivate a deactivated organization")
            .command::<ReactivateOrg>()
            .runs(|c, id: &String| Box::pin(c.reactivate_org(id))),
        change::delete("/api/v1/orgs/{org_id}", "removeOrg")
            .summary("Remove an organization")
            .command::<RemoveOrg>()
            .runs(|c, id: &String| Box::pin(c.remove_org(id))),
        change::post("/api/v1/orgs/{org_id}/domains", "addOrgDomain")
            .summary("Add an unverified domain to an organization")
            .command::<AddOrgDomain>()
            .creates_with(|c, id: &String, body: &OrgDomainRequest| {
                Box::pin(c.add_org_domain(id, &body.domain))
            }),
        change::post(
            "/api/v1/orgs/{org_id}/domains/{domain}/verify",
            "verifyOrgDomain",
        )
        .summary(
            "Mark an organization's domain verified (an instance administrator's statement: \
                 needs org.write on the instance)",
        )
        .command::<VerifyOrgDomain>()
        .runs(|c, (id, domain): &(String, String)| Box::pin(c.verify_org_domain(id, domain))),
        change::post(
            "/api/v1/orgs/{org_id}/domains/{domain}/primary",
            "setPrimaryOrgDomain",
        )
        .summary("Make a verified domain the organization's primary domain")
        .command::<SetPrimaryOrgDomain>()
        .runs(|c, (id, domain): &(String, String)| Box::pin(c.set_primary_org_domain(id, domain))),
        change::delete("/api/v1/orgs/{org_id}/domains/{domain}", "removeOrgDomain")
            .summary("Remove a domain of an organization")
            .command::<RemoveOrgDomain>()
            .runs(|c, (id, domain): &(String, String)| Box::pin(c.remove_org_domain(id, domain))),
        change::put(
            "/api/v1/orgs/{org_id}/policies/password-complexity",
            "setOrgPasswordComplexityPolicy",
        )
        .summary("Override the password complexity policy for an organization")
        .command::<SetOrgPolicy>()
        .runs_with(|c, id: &String, body: &PasswordComplexityPolicyRequest| {
            set_policy(c, id, body.clone())
        }),
        change::put(
            "/api/v1/orgs/{org_id}/policies/lockout",
            "setOrgLockoutPolicy",
        )
        .summary("Override the lockout policy for an organization")
        .command::<SetOrgPolicy>()
        .runs_with(|c, id: &String, body: &LockoutPolicyRequest| set_policy(c, id, body.clone())),
        change::put("/api/v1/orgs/{org_id}/policies/login", "setOrgLoginPolicy")
            .summary("Override the login policy for an organization")
            .command::<SetOrgPolicy>()
            .runs_with(|c, id: &String, body: &LoginPolicyRequest| set_policy(c, id, body.clone())),
        change::delete(
            "/api/v1/orgs/{org_id}/policies/password-complexity",
            "resetOrgPasswordComplexityPolicy",
        )
        .summary(
            "Drop an organization's password complexity policy: the instance default applies \
                 again",
        )
        .command::<ResetOrgPolicy>()
        .runs(|c, id: &String| Box::pin(c.reset_org_policy(id, PolicyKind::PasswordComplexity))),
        change::delete(
            "/api/v1/orgs/{org_id}/policies/lockout",
            "resetOrgLockoutPolicy",
        )
        .summary("Drop an organization's lockout policy: the instance default applies again")
        .command::<ResetOrgPolicy>()
        .runs(|c, id: &String| Box::pin(c.reset_org_policy(id, PolicyKind::Lockout))),
        change::delete(
            "/api/v1/orgs/{org_id}/policies/login",
            "resetOrgLoginPolicy",
        )
        .summary("Drop an organization's login policy: the instance default applies again")
        .command::<ResetOrgPolicy>()
        .runs(|c, id: &String| Box::pin(c.reset_org_policy(id, PolicyKind::Login))),
        change::post("/api/v1/orgs/{org_id}/members", "addOrgMember")
            .summary("Make a user a member of an organization")
            .command::<AddOrgMember>()
            .creates_with(|c, id: &String, body: &AddMemberRequest<OrgRoleName>| {
                Box::pin(async move {
                    c.add_org_member(id, &body.user_id, &roles(&body.roles))
                        .await
                })
            }),
        change::put("/api/v1/orgs/{org_id}/members/{user_id}", "changeOrgMember")
            .summary("Replace an organization member's roles")
            .command::<ChangeOrgMember>()
            .runs_with(
                |c, (id, user_id): &(String, String), body: &MemberRolesRequest<OrgRoleName>| {
                    Box::pin(
                        async move { c.change_org_member(id, user_id, &roles(&body.roles)).await },
                    )
                },
            ),
        change::delete("/api/v1/orgs/{org_id}/members/{user_id}", "removeOrgMember")
            .summary("End an organization membership")
            .command::<RemoveOrgMember>()
            .runs(|c, (id, user_id): &(String, String)| Box::pin(c.remove_org_member(id, user_id))),
    ]
}

/// Overrides the organization's policy of `policy`'s kind.
fn set_policy<'a>(
    c: &'a CallerCommands<'a>,
    org_id: &'a str,
    policy: impl Into<Policy>,
) -> change::Outcome<'a> {
    let policy = policy.into();
    Box::pin(async move { c.set_org_policy(org_id, &policy).await })
}

/// A new organization.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddOrgRequest {
    /// The name, unique in the instance (case-insensitively; at most 200 characters).
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
}

/// A domain name of an organization.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgDomainRequest {
    /// The domain, with at least one dot, e.g. `example.com`.
    #[schemars(length(max = schema::DOMAIN_LEN), regex(pattern = schema::DOTTED_DOMAIN))]
    pub(crate) domain: String,
}
