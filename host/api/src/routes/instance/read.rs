//! `GET /api/v1/instance…`: the instance, its domains, members and default policies.

use axum::{Json, extract::State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_domain::authz::{Permission, ScopeKind, Target};
use warden_query::{Consistency, InstanceView};

use crate::{
    ApiState,
    authz::authorize,
    extract::{Authenticated, Query},
    openapi::Endpoint,
    routes::members::{MembershipBody, members},
    routes::policies::PoliciesBody,
    time,
    view::{ListPage, PageQuery, ReadReply, ResourceState, found},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/v1/instance", "getInstance", "Read the instance", get)
            .reads::<InstanceBody>(Permission::InstanceRead),
        Endpoint::get(
            "/api/v1/instance/domains",
            "listInstanceDomains",
            "The domains routing to the instance",
            domains,
        )
        .reads::<InstanceDomainsBody>(Permission::InstanceRead),
        Endpoint::get(
            "/api/v1/instance/members",
            "listInstanceMembers",
            "The members of the instance",
            list_members,
        )
        .lists::<PageQuery, MembershipBody>(Permission::InstanceMemberRead),
        Endpoint::get(
            "/api/v1/instance/policies",
            "getDefaultPolicies",
            "The instance's default policies",
            policies,
        )
        .reads::<PoliciesBody>(Permission::PolicyRead),
    ]
}

/// The domains of the instance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InstanceDomainsBody {
    /// The domain used in generated URLs.
    pub primary_domain: Option<String>,
    /// Every domain routing to the instance.
    pub domains: Vec<String>,
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ReadReply<InstanceBody> {
    authorize(&api, &caller, Permission::InstanceRead, &Target::Instance).await?;
    let instance = api
        .queries
        .instance(&api.instance_id, Consistency::Latest)
        .await?;
    Ok(Json(found(instance, "instance")?.into()))
}

async fn domains(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ReadReply<InstanceDomainsBody> {
    authorize(&api, &caller, Permission::InstanceRead, &Target::Instance).await?;
    let instance = found(
        api.queries
            .instance(&api.instance_id, Consistency::Latest)
            .await?,
        "instance",
    )?;
    Ok(Json(InstanceDomainsBody {
        primary_domain: instance.primary_domain,
        domains: instance.domains,
    }))
}

async fn list_members(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<PageQuery>,
) -> ReadReply<ListPage<MembershipBody>> {
    let page = query.page()?;
    authorize(
        &api,
        &caller,
        Permission::InstanceMemberRead,
        &Target::Instance,
    )
    .await?;
    members(&api, ScopeKind::Instance, &api.instance_id, page).await
}

async fn policies(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ReadReply<PoliciesBody> {
    authorize(&api, &caller, Permission::PolicyRead, &Target::Instance).await?;
    let policies = api
        .queries
        .policies(&api.instance_id, None, Consistency::Latest)
        .await?;
    Ok(Json(found(policies, "policies")?.into()))
}

/// The instance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InstanceBody {
    /// The instance id.
    pub instance_id: String,
    /// The display name.
    pub name: String,
    /// The language used where a user has none.
    pub default_language: String,
    /// The domain used in generated URLs.
    pub primary_domain: Option<String>,
    /// Every domain routing to the instance.
    pub domains: Vec<String>,
    /// Life cycle.
    pub state: ResourceState,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<InstanceView> for InstanceBody {
    fn from(v: InstanceView) -> Self {
        Self {
            instance_id: v.instance_id,
            name: v.name,
            default_language: v.default_language,
            primary_domain: v.primary_domain,
            domains: v.domains,
            state: v.state.into(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}
