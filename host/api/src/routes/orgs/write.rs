//! `/api/v1/orgs`: organizations, their domains, policy overrides and members.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use schemars::JsonSchema;
use serde::Deserialize;
use warden_domain::org::{
    AddOrg, AddOrgDomain, AddOrgMember, ChangeOrgMember, DeactivateOrg, ReactivateOrg, RemoveOrg,
    RemoveOrgDomain, RemoveOrgMember, RenameOrg, ResetOrgPolicy, SetOrgPolicy, SetPrimaryOrgDomain,
    VerifyOrgDomain,
};
use warden_domain::policy::PolicyKind;

use crate::routes::change;
use crate::routes::policies::{
    LockoutPolicyRequest, LoginPolicyRequest, PasswordComplexityPolicyRequest,
};
use crate::{
    ApiState,
    bodies::{NameRequest, Reply, WriteDetails, changed, created},
    extract::{Authenticated, Json},
    openapi::Endpoint,
    routes::members::{AddMemberRequest, MemberRolesRequest, OrgRoleName, roles},
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::post("/api/v1/orgs", "addOrg", "Create an organization", add)
            .command::<AddOrg>()
            .body::<AddOrgRequest>()
            .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/orgs/{org_id}",
            "renameOrg",
            "Rename an organization",
            changed,
            |c, id: &String, body: &NameRequest| Box::pin(c.rename_org(id, &body.name)),
        )
            .command::<RenameOrg>()
            .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/orgs/{org_id}/deactivate",
            "deactivateOrg",
            "Deactivate an organization",
            |c, id: &String| Box::pin(c.deactivate_org(id)),
        )
        .command::<DeactivateOrg>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/orgs/{org_id}/reactivate",
            "reactivateOrg",
            "Reactivate a deactivated organization",
            |c, id: &String| Box::pin(c.reactivate_org(id)),
        )
        .command::<ReactivateOrg>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/orgs/{org_id}", "removeOrg", "Remove an organization",
            |c, id: &String| Box::pin(c.remove_org(id)),
        )
            .command::<RemoveOrg>()
            .returns::<WriteDetails>(ok),
        change::with_body(
            Method::POST,
            "/api/v1/orgs/{org_id}/domains",
            "addOrgDomain",
            "Add an unverified domain to an organization",
            created,
            |c, id: &String, body: &OrgDomainRequest| Box::pin(c.add_org_domain(id, &body.domain)),
        )
        .command::<AddOrgDomain>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::without_body(
            Method::POST,
            "/api/v1/orgs/{org_id}/domains/{domain}/verify",
            "verifyOrgDomain",
            "Mark an organization's domain verified (an instance administrator's statement: needs org.write on \
             the instance)",
            |c, (org_id, domain): &(String, String)| Box::pin(c.verify_org_domain(org_id, domain)),
        )
        .command::<VerifyOrgDomain>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/orgs/{org_id}/domains/{domain}/primary",
            "setPrimaryOrgDomain",
            "Make a verified domain the organization's primary domain",
            |c, (org_id, domain): &(String, String)| Box::pin(c.set_primary_org_domain(org_id, domain)),
        )
        .command::<SetPrimaryOrgDomain>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/domains/{domain}",
            "removeOrgDomain",
            "Remove a domain of an organization",
            |c, (org_id, domain): &(String, String)| Box::pin(c.remove_org_domain(org_id, domain)),
        )
        .command::<RemoveOrgDomain>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::PUT,
            "/api/v1/orgs/{org_id}/policies/password-complexity",
            "setOrgPasswordComplexityPolicy",
            "Override the password complexity policy for an organization",
            changed,
            |c, id: &String, body: &PasswordComplexityPolicyRequest| Box::pin(async move { c.set_org_policy(id, &body.clone().into()).await }),
        )
        .command::<SetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::PUT,
            "/api/v1/orgs/{org_id}/policies/lockout",
            "setOrgLockoutPolicy",
            "Override the lockout policy for an organization",
            changed,
            |c, id: &String, body: &LockoutPolicyRequest| Box::pin(async move { c.set_org_policy(id, &body.clone().into()).await }),
        )
        .command::<SetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::PUT,
            "/api/v1/orgs/{org_id}/policies/login",
            "setOrgLoginPolicy",
            "Override the login policy for an organization",
            changed,
            |c, id: &String, body: &LoginPolicyRequest| Box::pin(async move { c.set_org_policy(id, &body.clone().into()).await }),
        )
        .command::<SetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/policies/password-complexity",
            "resetOrgPasswordComplexityPolicy",
            "Drop an organization's password complexity policy: the instance default applies again",
            |c, id: &String| Box::pin(c.reset_org_policy(id, PolicyKind::PasswordComplexity)),
        )
        .command::<ResetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/policies/lockout",
            "resetOrgLockoutPolicy",
            "Drop an organization's lockout policy: the instance default applies again",
            |c, id: &String| Box::pin(c.reset_org_policy(id, PolicyKind::Lockout)),
        )
        .command::<ResetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/policies/login",
            "resetOrgLoginPolicy",
            "Drop an organization's login policy: the instance default applies again",
            |c, id: &String| Box::pin(c.reset_org_policy(id, PolicyKind::Login)),
        )
        .command::<ResetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        change::with_body(
            Method::POST,
            "/api/v1/orgs/{org_id}/members",
            "addOrgMember",
            "Make a user a member of an organization",
            created,
            |c, org_id: &String, body: &AddMemberRequest<OrgRoleName>| Box::pin(async move { c.add_org_member(org_id, &body.user_id, &roles(&body.roles)).await }),
        )
        .command::<AddOrgMember>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/orgs/{org_id}/members/{user_id}",
            "changeOrgMember",
            "Replace an organization member's roles",
            changed,
            |c, (org_id, user_id): &(String, String), body: &MemberRolesRequest<OrgRoleName>| Box::pin(async move { c.change_org_member(org_id, user_id, &roles(&body.roles)).await }),
        )
        .command::<ChangeOrgMember>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/orgs/{org_id}/members/{user_id}",
            "removeOrgMember",
            "End an organization membership",
            |c, (org_id, user_id): &(String, String)| Box::pin(c.remove_org_member(org_id, user_id)),
        )
        .command::<RemoveOrgMember>()
        .returns::<WriteDetails>(ok),
    ]
}

/// A new organization.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddOrgRequest {
    /// The name, unique in the instance (case-insensitively; at most 200 characters).
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
}

async fn add(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Json(body): Json<AddOrgRequest>,
) -> Reply {
    created(api.commands.for_caller(&caller).add_org(&body.name).await?)
}

/// A domain name of an organization.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgDomainRequest {
    /// The domain, with at least one dot, e.g. `example.com`.
    #[schemars(length(max = schema::DOMAIN_LEN), regex(pattern = schema::DOTTED_DOMAIN))]
    pub(crate) domain: String,
}
