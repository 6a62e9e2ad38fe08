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

/// Declares the query parameters of a list endpoint: the resource's own filters as given, then, when a sort
/// parameter is named, `sort` (its default named in the documentation) and `direction`, and last `offset` and
/// `limit`. Unknown parameters are refused.
///
/// The paging members are declared here rather than in a struct of their own because a flattened struct would
/// neither refuse unknown parameters nor read numbers from a query string.
macro_rules! list_query {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field:ident: $field_type:ty,)*
        }
        $(sorted by $sort:ty, default $default:literal)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $($(#[$field_meta])* $field: $field_type,)*
            $(
                #[doc = concat!(" Sort order (default `", $default, "`).")]
                sort: Option<$sort>,
                /// Sort direction (default `asc`).
                direction: Option<$crate::view::SortDirection>,
            )?
            /// Items to skip (default 0).
            #[schemars(range(max = i64::MAX))]
            offset: Option<u64>,
            /// Items per page (1 to 500, default 50).
            #[schemars(range(min = 1, max = ::warden_query::MAX_PAGE_SIZE))]
            limit: Option<u32>,
        }

        impl $name {
            /// The page asked for.
            #[allow(dead_code, reason = "a list that forwards its query to another list pages there")]
            pub(crate) fn page(&self) -> Result<::warden_query::Page, $crate::error::ApiError> {
                $crate::view::page(self.offset, self.limit)
            }
        }
    };
}
pub(crate) use list_query;

/// Declares how a list may be sorted: an enum of the sort orders its query parameter names (in snake case), and
/// its conversion to the query side's enum of the same variants.
macro_rules! sort_param {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident => $target:ty {
            $($(#[$variant_meta:meta])* $variant:ident,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, ::serde::Deserialize, ::schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)*
        }

        impl From<$name> for $target {
            fn from(sort: $name) -> Self {
                match sort {
                    $($name::$variant => Self::$variant,)*
                }
            }
        }
    };
}
pub(crate) use sort_param;

/// Declares handlers answering the complete list of a resource's parts (its domains, keys, metadata, …),
/// read-your-writes: each first checks with `$readable` (called with the API, the caller, the path's id and
/// `$arg`s) that the caller may read the resource, then reads the parts with the query side's `$query`.
macro_rules! part_lists {
    (
        $readable:ident $args:tt {
            $($(#[$meta:meta])* $handler:ident: $body:ty = $query:ident,)*
        }
    ) => {$(
        $crate::view::part_lists!(@one $readable $args $(#[$meta])* $handler: $body = $query);
    )*};
    (
        @one $readable:ident($($arg:expr),*) $(#[$meta:meta])* $handler:ident: $body:ty = $query:ident
    ) => {
        $(#[$meta])*
        async fn $handler(
            ::axum::extract::State(api): ::axum::extract::State<$crate::ApiState>,
            $crate::extract::Authenticated(caller): $crate::extract::Authenticated,
            $crate::extract::Path(id): $crate::extract::Path<String>,
        ) -> $crate::view::ReadReply<$crate::view::Items<$body>> {
            $readable(&api, &caller, &id $(, $arg)*).await?;
            let parts = api
                .queries
                .$query(&api.instance_id, &id, ::warden_query::Consistency::Latest)
                .await?;
            Ok(::axum::Json($crate::view::Items::of(parts)))
        }
    };
}
pub(crate) use part_lists;

list_query! {
    /// Paging only.
    pub(crate) struct PageQuery {}
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
