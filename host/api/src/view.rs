//! What reads share: paging, read-your-writes, the 404 of a missing resource, and the states and sort order
//! list filters name.
//!
//! Response bodies live with their resource (`routes/<resource>/read.rs`); they mirror the query side's views
//! ([`warden_query`]) with RFC 3339 times and JSON Schemas for the OpenAPI document, and never hold secrets:
//! only whether a password, client secret or token is set.

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_query::{Direction, MAX_PAGE_SIZE, Page, PageOf};

use crate::{ApiState, error::ApiError};

/// The answer of a read endpoint.
pub(crate) type ReadReply<T> = Result<Json<T>, ApiError>;

/// The page a list query asks for: `offset` (default 0) and `limit` (1 to [`MAX_PAGE_SIZE`], default 50).
pub(crate) fn page(offset: Option<u64>, limit: Option<u32>) -> Result<Page, ApiError> {
    let mut page = Page::default();
    if let Some(limit) = limit {
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                "invalid_limit",
                format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        page.limit = limit;
    }
    page.offset = offset.unwrap_or_default();
    Ok(page)
}

/// Brings `projection` up to the latest event of one aggregate, so that a list of that aggregate's parts
/// (members, grants of a project) reflects every change of it stored before the request.
pub(crate) async fn settle(
    api: &ApiState,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<(), ApiError> {
    let latest = api
        .queries
        .latest_position(&api.instance_id, aggregate_type, aggregate_id)
        .await?;
    if let Some(cursor) = latest {
        api.spoolers
            .ensure_caught_up(projection, cursor)
            .await
            .map_err(warden_query::QueryError::from)?;
    }
    Ok(())
}

/// The resource, or 404 `<resource>.not_found`.
pub(crate) fn found<T>(value: Option<T>, resource: &'static str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("{resource}.not_found"),
            format!("no {resource} has this id"),
        )
    })
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// Items skipped before these.
    pub offset: u64,
    /// The page size used.
    pub limit: u32,
    /// Whether more items follow (ask again with `offset` + `limit`).
    pub has_more: bool,
}

impl<T> ListPage<T> {
    /// A page of the query side, its items converted.
    pub(crate) fn of<V>(page: PageOf<V>) -> Self
    where
        T: From<V>,
    {
        Self {
            items: page.items.into_iter().map(T::from).collect(),
            offset: page.offset,
            limit: page.limit,
            has_more: page.has_more,
        }
    }
}

/// Whether a resource is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    /// Usable.
    Active,
    /// Deactivated: kept but not usable until reactivated.
    Inactive,
}

impl From<warden_query::State> for ResourceState {
    fn from(state: warden_query::State) -> Self {
        match state {
            warden_query::State::Active => Self::Active,
            warden_query::State::Inactive => Self::Inactive,
        }
    }
}

impl From<ResourceState> for warden_query::State {
    fn from(state: ResourceState) -> Self {
        match state {
            ResourceState::Active => Self::Active,
            ResourceState::Inactive => Self::Inactive,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortDirection {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl From<SortDirection> for Direction {
    fn from(direction: SortDirection) -> Self {
        match direction {
            SortDirection::Asc => Self::Asc,
            SortDirection::Desc => Self::Desc,
        }
    }
}

/// A value as JSON, for a body member whose shape the domain defines.
pub(crate) fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
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
    pub(crate) fn page(&self) -> Result<Page, ApiError> {
        page(self.offset, self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None).map(|p| p.limit), Ok(50));
        assert_eq!(
            page(Some(7), Some(500)).map(|p| (p.offset, p.limit)),
            Ok((7, 500))
        );
        for limit in [0, 501] {
            let error = page(None, Some(limit)).expect_err("out of range");
            assert_eq!(error.body().field.as_deref(), Some("limit"));
        }
    }

    #[test]
    fn a_lagging_view_is_a_retryable_503() {
        use axum::{http::StatusCode, response::IntoResponse};

        let timeout = warden_query::QueryError::from(warden_spooler::Error::CatchUpTimeout {
            projection: "users".into(),
            target: warden_eventstore::Cursor::START,
            waited_ms: 2000,
        });
        let response = ApiError::from(timeout).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(axum::http::header::RETRY_AFTER),
            Some(&axum::http::HeaderValue::from(1u32))
        );
    }
}
