//! `/api/v1/orgs`: organizations, their domains, policy overrides and members.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use schemars::JsonSchema;
use serde::Deserialize;
use warden_command::Caller;
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
    ApiState,
    bodies::{NameRequest, Reply, WriteDetails, changed, created},
    extract::{Authenticated, IfMatch, Json, Path},
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
        Endpoint::put("/api/v1/orgs/{org_id}", "renameOrg", "Rename an organization", rename)
            .command::<RenameOrg>()
            .body::<NameRequest>()
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
        Endpoint::post(
            "/api/v1/orgs/{org_id}/domains",
            "addOrgDomain",
            "Add an unverified domain to an organization",
            add_domain,
        )
        .command::<AddOrgDomain>()
        .body::<OrgDomainRequest>()
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
        Endpoint::put(
            "/api/v1/orgs/{org_id}/policies/password-complexity",
            "setOrgPasswordComplexityPolicy",
            "Override the password complexity policy for an organization",
            set_password_complexity,
        )
        .command::<SetOrgPolicy>()
        .body::<PasswordComplexityPolicyRequest>()
        .returns::<WriteDetails>(ok),
        Endpoint::put(
            "/api/v1/orgs/{org_id}/policies/lockout",
            "setOrgLockoutPolicy",
            "Override the lockout policy for an organization",
            set_lockout,
        )
        .command::<SetOrgPolicy>()
        .body::<LockoutPolicyRequest>()
        .returns::<WriteDetails>(ok),
        Endpoint::put(
            "/api/v1/orgs/{org_id}/policies/login",
            "setOrgLoginPolicy",
            "Override the login policy for an organization",
            set_login,
        )
        .command::<SetOrgPolicy>()
        .body::<LoginPolicyRequest>()
        .returns::<WriteDetails>(ok),
        Endpoint::delete(
            "/api/v1/orgs/{org_id}/policies/password-complexity",
            "resetOrgPasswordComplexityPolicy",
            "Drop an organization's password complexity policy: the instance default applies again",
            reset_password_complexity,
        )
        .command::<ResetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        Endpoint::delete(
            "/api/v1/orgs/{org_id}/policies/lockout",
            "resetOrgLockoutPolicy",
            "Drop an organization's lockout policy: the instance default applies again",
            reset_lockout,
        )
        .command::<ResetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        Endpoint::delete(
            "/api/v1/orgs/{org_id}/policies/login",
            "resetOrgLoginPolicy",
            "Drop an organization's login policy: the instance default applies again",
            reset_login,
        )
        .command::<ResetOrgPolicy>()
        .returns::<WriteDetails>(ok),
        Endpoint::post(
            "/api/v1/orgs/{org_id}/members",
            "addOrgMember",
            "Make a user a member of an organization",
            add_member,
        )
        .command::<AddOrgMember>()
        .body::<AddMemberRequest<OrgRoleName>>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        Endpoint::put(
            "/api/v1/orgs/{org_id}/members/{user_id}",
            "changeOrgMember",
            "Replace an organization member's roles",
            change_member,
        )
        .command::<ChangeOrgMember>()
        .body::<MemberRolesRequest<OrgRoleName>>()
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

async fn rename(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
    Json(body): Json<NameRequest>,
) -> Reply {
    changed(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .rename_org(&org_id, &body.name)
            .await?,
    )
}

async fn add_domain(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
    Json(body): Json<OrgDomainRequest>,
) -> Reply {
    created(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .add_org_domain(&org_id, &body.domain)
            .await?,
    )
}

async fn set_policy(
    api: &ApiState,
    caller: &Caller,
    seq: Option<i64>,
    org_id: &str,
    policy: Policy,
) -> Reply {
    changed(
        api.commands
            .for_caller(caller)
            .if_sequence(seq)
            .set_org_policy(org_id, &policy)
            .await?,
    )
}

async fn set_password_complexity(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
    Json(body): Json<PasswordComplexityPolicyRequest>,
) -> Reply {
    set_policy(&api, &caller, seq, &org_id, body.into()).await
}

async fn set_lockout(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
    Json(body): Json<LockoutPolicyRequest>,
) -> Reply {
    set_policy(&api, &caller, seq, &org_id, body.into()).await
}

async fn set_login(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
    Json(body): Json<LoginPolicyRequest>,
) -> Reply {
    set_policy(&api, &caller, seq, &org_id, body.into()).await
}

async fn reset_policy(
    api: &ApiState,
    caller: &Caller,
    seq: Option<i64>,
    org_id: &str,
    kind: PolicyKind,
) -> Reply {
    changed(
        api.commands
            .for_caller(caller)
            .if_sequence(seq)
            .reset_org_policy(org_id, kind)
            .await?,
    )
}

async fn reset_password_complexity(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
) -> Reply {
    reset_policy(&api, &caller, seq, &org_id, PolicyKind::PasswordComplexity).await
}

async fn reset_lockout(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
) -> Reply {
    reset_policy(&api, &caller, seq, &org_id, PolicyKind::Lockout).await
}

async fn reset_login(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
) -> Reply {
    reset_policy(&api, &caller, seq, &org_id, PolicyKind::Login).await
}

async fn add_member(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(org_id): Path<String>,
    Json(body): Json<AddMemberRequest<OrgRoleName>>,
) -> Reply {
    created(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .add_org_member(&org_id, &body.user_id, &roles(&body.roles))
            .await?,
    )
}

async fn change_member(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path((org_id, user_id)): Path<(String, String)>,
    Json(body): Json<MemberRolesRequest<OrgRoleName>>,
) -> Reply {
    changed(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .change_org_member(&org_id, &user_id, &roles(&body.roles))
            .await?,
    )
}

/// A domain name of an organization.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrgDomainRequest {
    /// The domain, with at least one dot, e.g. `example.com`.
    #[schemars(length(max = schema::DOMAIN_LEN), regex(pattern = schema::DOTTED_DOMAIN))]
    pub(crate) domain: String,
}
