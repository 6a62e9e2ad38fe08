//! `/api/v1/instance`: domains, default policies and instance members.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
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
    ApiState,
    bodies::{DomainRequest, Reply, WriteDetails, changed, created},
    extract::{Authenticated, IfMatch, Json},
    openapi::Endpoint,
    routes::members::{AddMemberRequest, InstanceRoleName, MemberRolesRequest, roles},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::put(
            "/api/v1/instance/policies/password-complexity",
            "setDefaultPasswordComplexityPolicy",
            "Replace the instance's default password complexity policy",
            set_password_complexity,
        )
        .command::<SetDefaultPolicy>()
        .body::<PasswordComplexityPolicyRequest>()
        .returns::<WriteDetails>(StatusCode::OK),
        Endpoint::put(
            "/api/v1/instance/policies/lockout",
            "setDefaultLockoutPolicy",
            "Replace the instance's default lockout policy",
            set_lockout,
        )
        .command::<SetDefaultPolicy>()
        .body::<LockoutPolicyRequest>()
        .returns::<WriteDetails>(StatusCode::OK),
        Endpoint::put(
            "/api/v1/instance/policies/login",
            "setDefaultLoginPolicy",
            "Replace the instance's default login policy",
            set_login,
        )
        .command::<SetDefaultPolicy>()
        .body::<LoginPolicyRequest>()
        .returns::<WriteDetails>(StatusCode::OK),
        Endpoint::post(
            "/api/v1/instance/domains",
            "addInstanceDomain",
            "Add a domain routing to the instance",
            add_domain,
        )
        .command::<AddInstanceDomain>()
        .body::<DomainRequest>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::without_body(
            Method::POST,
            "/api/v1/instance/domains/{domain}/primary",
            "setPrimaryInstanceDomain",
            "Make a domain the instance's primary domain",
            |c, domain: &String| Box::pin(c.set_primary_instance_domain(domain)),
        )
        .command::<SetPrimaryInstanceDomain>()
        .returns::<WriteDetails>(StatusCode::OK),
        change::without_body(
            Method::DELETE,
            "/api/v1/instance/domains/{domain}",
            "removeInstanceDomain",
            "Remove a domain of the instance",
            |c, domain: &String| Box::pin(c.remove_instance_domain(domain)),
        )
        .command::<RemoveInstanceDomain>()
        .returns::<WriteDetails>(StatusCode::OK),
        Endpoint::post(
            "/api/v1/instance/members",
            "addInstanceMember",
            "Make a user an instance member",
            add_member,
        )
        .command::<AddInstanceMember>()
        .body::<AddMemberRequest<InstanceRoleName>>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        change::with_body(
            Method::PUT,
            "/api/v1/instance/members/{user_id}",
            "changeInstanceMember",
            "Replace an instance member's roles",
            changed,
            |c, user_id: &String, body: &MemberRolesRequest<InstanceRoleName>| {
                Box::pin(
                    async move { c.change_instance_member(user_id, &roles(&body.roles)).await },
                )
            },
        )
        .command::<ChangeInstanceMember>()
        .returns::<WriteDetails>(StatusCode::OK),
        change::without_body(
            Method::DELETE,
            "/api/v1/instance/members/{user_id}",
            "removeInstanceMember",
            "End an instance membership",
            |c, user_id: &String| Box::pin(c.remove_instance_member(user_id)),
        )
        .command::<RemoveInstanceMember>()
        .returns::<WriteDetails>(StatusCode::OK),
    ]
}

async fn set_policy(
    api: &ApiState,
    caller: &warden_command::Caller,
    seq: Option<i64>,
    policy: Policy,
) -> Reply {
    changed(
        api.commands
            .for_caller(caller)
            .if_sequence(seq)
            .set_default_policy(&policy)
            .await?,
    )
}

async fn set_password_complexity(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Json(body): Json<PasswordComplexityPolicyRequest>,
) -> Reply {
    set_policy(&api, &caller, seq, body.into()).await
}

async fn set_lockout(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Json(body): Json<LockoutPolicyRequest>,
) -> Reply {
    set_policy(&api, &caller, seq, body.into()).await
}

async fn set_login(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Json(body): Json<LoginPolicyRequest>,
) -> Reply {
    set_policy(&api, &caller, seq, body.into()).await
}

async fn add_domain(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Json(body): Json<DomainRequest>,
) -> Reply {
    created(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .add_instance_domain(&body.domain)
            .await?,
    )
}

async fn add_member(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Json(body): Json<AddMemberRequest<InstanceRoleName>>,
) -> Reply {
    created(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .add_instance_member(&body.user_id, &roles(&body.roles))
            .await?,
    )
}
