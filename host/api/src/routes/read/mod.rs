//! The `GET` endpoints: resources by id (read-your-writes) and their lists (the views as they are), from the
//! query side, with the write side's authorization.

mod apps;
mod instance;
mod orgs;
mod projections;
mod projects;
mod user_grants;
mod users;

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_domain::{
    aggregate::Aggregate, authz::ScopeKind, instance::Instance, org::Organization, project::Project,
};
use warden_query::{MembershipQuery, Page, projections::MEMBERSHIPS};

pub use instance::InstanceDomainsBody;
pub use projections::{FailedEventBody, ProjectionBody, ProjectionsBody, RebuildBody};

use crate::{
    ApiState,
    error::ApiError,
    openapi::Endpoint,
    read::{ListPage, MembershipBody, ReadReply, settle},
};

/// Every read endpoint.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = instance::endpoints();
    endpoints.extend(orgs::endpoints());
    endpoints.extend(users::endpoints());
    endpoints.extend(projects::endpoints());
    endpoints.extend(apps::endpoints());
    endpoints.extend(user_grants::endpoints());
    endpoints.extend(projections::endpoints());
    endpoints
}

/// A complete, unpaged list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Items<T> {
    /// The items.
    pub items: Vec<T>,
}

impl<T> Items<T> {
    /// The items, converted from the query side's.
    pub(crate) fn of<V>(items: Vec<V>) -> Self
    where
        T: From<V>,
    {
        Self {
            items: items.into_iter().map(T::from).collect(),
        }
    }
}

/// Paging only.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// Items to skip (default 0).
    #[schemars(range(max = i64::MAX))]
    offset: Option<u64>,
    /// Items per page (1 to 500, default 50).
    #[schemars(range(min = 1, max = warden_query::MAX_PAGE_SIZE))]
    limit: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> Result<Page, ApiError> {
        crate::read::page(self.offset, self.limit)
    }
}

/// The members of the instance, an organization or a project, reflecting every change of the members stored
/// before the request.
async fn members(
    api: &ApiState,
    scope: ScopeKind,
    scope_id: &str,
    page: Page,
) -> ReadReply<ListPage<MembershipBody>> {
    let aggregate_type = match scope {
        ScopeKind::Instance => Instance::TYPE,
        ScopeKind::Org => Organization::TYPE,
        ScopeKind::Project => Project::TYPE,
    };
    settle(api, MEMBERSHIPS, aggregate_type, scope_id).await?;
    let filter = MembershipQuery {
        scope: Some(scope),
        scope_id: Some(scope_id.to_owned()),
        ..MembershipQuery::default()
    };
    let members = api
        .queries
        .memberships(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(members)))
}
