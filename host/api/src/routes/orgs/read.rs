//! `GET /api/v1/orgs…`: organizations, their domains, members and policies in force.

use axum::{Json, extract::State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::Caller;
use warden_domain::authz::{Permission, ScopeKind, Target};
use warden_query::{Consistency, OrgDomainView, OrgQuery, OrgSort, OrgView, PageOf};

use crate::{
    ApiState,
    authz::{org_scope, readable},
    error::ApiError,
    extract::{Authenticated, Path, Query},
    openapi::Endpoint,
    routes::members::{MembershipBody, members},
    routes::policies::PoliciesBody,
    time,
    view::{
        Items, ListPage, PageQuery, ReadReply, ResourceState, found, list_query, part_lists,
        sort_param,
    },
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/orgs",
            "listOrgs",
            "List organizations, filtered, sorted and paged; a caller without instance-wide access sees its \
             own organization only",
            list,
        )
        .lists::<OrgsQuery, OrgBody>(Permission::OrgRead),
        Endpoint::get("/api/v1/orgs/{org_id}", "getOrg", "Read an organization", get)
            .reads::<OrgBody>(Permission::OrgRead),
        Endpoint::get(
            "/api/v1/orgs/{org_id}/domains",
            "listOrgDomains",
            "An organization's domains, in the order they were added",
            domains,
        )
        .reads::<Items<OrgDomainBody>>(Permission::OrgRead),
        Endpoint::get(
            "/api/v1/orgs/{org_id}/members",
            "listOrgMembers",
            "The members of an organization",
            list_members,
        )
        .lists::<PageQuery, MembershipBody>(Permission::OrgMemberRead),
        Endpoint::get(
            "/api/v1/orgs/{org_id}/policies",
            "getOrgPolicies",
            "The policies in force for an organization, its overrides resolved against the instance defaults",
            policies,
        )
        .reads::<PoliciesBody>(Permission::PolicyRead),
    ]
}

sort_param! {
    /// How to sort organizations.
    enum OrgSortParam => OrgSort {
        /// By name, case-insensitively.
        #[default]
        Name,
        /// By creation time.
        CreatedAt,
    }
}

list_query! {
    /// Filters, sort order and paging of the organization list.
    pub(crate) struct OrgsQuery {
        /// Only names starting with this, case-insensitively.
        name_prefix: Option<String>,
        /// Only organizations in this state.
        state: Option<ResourceState>,
        /// Only the organization with this domain (verified or not).
        domain: Option<String>,
    }
    sorted by OrgSortParam, default "name"
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<OrgsQuery>,
) -> ReadReply<ListPage<OrgBody>> {
    let page = query.page()?;
    let filter = OrgQuery {
        name_prefix: query.name_prefix,
        state: query.state.map(Into::into),
        domain: query.domain,
        sort: query.sort.unwrap_or_default().into(),
        direction: query.direction.unwrap_or_default().into(),
    };
    let orgs = match org_scope(&api, &caller, Permission::OrgRead, None).await? {
        None => api.queries.orgs(&api.instance_id, &filter, page).await?,
        Some(own) => own_org_page(&api, &own, &filter, page).await?,
    };
    Ok(Json(ListPage::of(orgs)))
}

/// The list of a caller who may read only its own organization: that organization, if it matches the filter.
async fn own_org_page(
    api: &ApiState,
    org_id: &str,
    filter: &OrgQuery,
    page: warden_query::Page,
) -> Result<PageOf<OrgView>, ApiError> {
    let org = api
        .queries
        .org(&api.instance_id, org_id, Consistency::Latest)
        .await?;
    let mut matching = Vec::new();
    if let Some(org) = org {
        let name_matches = filter
            .name_prefix
            .as_deref()
            .is_none_or(|prefix| org.name.to_lowercase().starts_with(&prefix.to_lowercase()));
        let state_matches = filter.state.is_none_or(|state| state == org.state);
        let domain_matches = match filter.domain.as_deref() {
            None => true,
            Some(domain) => api
                .queries
                .org_domains(&api.instance_id, org_id, Consistency::Eventual)
                .await?
                .iter()
                .any(|d| d.domain.eq_ignore_ascii_case(domain)),
        };
        if name_matches && state_matches && domain_matches {
            matching.push(org);
        }
    }
    let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
    Ok(PageOf {
        items: matching.into_iter().skip(offset).collect(),
        offset: page.offset,
        limit: page.effective_limit(),
        has_more: false,
    })
}

/// The organization (read-your-writes), if the caller holds `permission` on it: 404 when there is none.
async fn readable_org(
    api: &ApiState,
    caller: &Caller,
    org_id: &str,
    permission: Permission,
) -> Result<OrgView, ApiError> {
    let org = api
        .queries
        .org(&api.instance_id, org_id, Consistency::Latest)
        .await?;
    readable(api, caller, permission, "org", org, |org| Target::Org {
        org_id: org.id.clone(),
    })
    .await
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(org_id): Path<String>,
) -> ReadReply<OrgBody> {
    let org = readable_org(&api, &caller, &org_id, Permission::OrgRead).await?;
    Ok(Json(org.into()))
}

part_lists! {
    readable_org(Permission::OrgRead) {
        domains: OrgDomainBody = org_domains,
    }
}

async fn list_members(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(org_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ReadReply<ListPage<MembershipBody>> {
    let page = query.page()?;
    readable_org(&api, &caller, &org_id, Permission::OrgMemberRead).await?;
    members(&api, ScopeKind::Org, &org_id, page).await
}

async fn policies(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(org_id): Path<String>,
) -> ReadReply<PoliciesBody> {
    readable_org(&api, &caller, &org_id, Permission::PolicyRead).await?;
    let policies = api
        .queries
        .policies(&api.instance_id, Some(&org_id), Consistency::Latest)
        .await?;
    Ok(Json(found(policies, "policies")?.into()))
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OrgBody {
    /// The organization id.
    pub id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: ResourceState,
    /// The primary (verified) domain.
    pub primary_domain: Option<String>,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<OrgView> for OrgBody {
    fn from(v: OrgView) -> Self {
        Self {
            id: v.id,
            name: v.name,
            state: v.state.into(),
            primary_domain: v.primary_domain,
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// A domain of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OrgDomainBody {
    /// The domain, lower-cased.
    pub domain: String,
    /// True once ownership was proven.
    pub verified: bool,
    /// True for the primary domain.
    pub is_primary: bool,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
}

impl From<OrgDomainView> for OrgDomainBody {
    fn from(v: OrgDomainView) -> Self {
        Self {
            domain: v.domain,
            verified: v.verified,
            is_primary: v.is_primary,
            created_at: time::format_millis(v.created_at_ms),
        }
    }
}
