//! `GET /api/v1/events`: the audit trail, every change to every resource of the instance.

use axum::{extract::State, http::StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_domain::{
    audit::redact_secrets,
    authz::{Permission, Target},
};
use warden_eventstore::{Cursor, Event, Eventstore, StreamQuery};

use crate::{
    ApiState,
    error::ApiError,
    extract::{Authenticated, Query},
    openapi::Endpoint,
    time,
};

/// The most events one page holds.
const MAX_LIMIT: u32 = 1000;
/// The page size when none is asked for.
const DEFAULT_LIMIT: u32 = 100;
/// Events read from the store per batch.
const BATCH: u32 = 500;
/// The most events examined for one page: a page whose filters match rarely ends early, with a cursor.
const SCAN_BUDGET: usize = 20_000;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/events",
            "listEvents",
            "The audit trail: events of the instance in stream order, filtered and paged",
            list,
        )
        .permission(Permission::EventsRead)
        .query::<EventsQuery>()
        .returns::<EventsPage>(StatusCode::OK),
    ]
}

/// Filters and paging of the audit trail.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Only these aggregate types (comma-separated), e.g. `user,org`.
    aggregate_type: Option<String>,
    /// Only events of the aggregate with this id.
    aggregate_id: Option<String>,
    /// Only these event types (comma-separated), e.g. `user.human.added`.
    event_type: Option<String>,
    /// Only events stored at or after this time (RFC 3339, UTC).
    from: Option<String>,
    /// Only events stored before this time (RFC 3339, UTC).
    to: Option<String>,
    /// Only events at or after this global position.
    from_position: Option<i64>,
    /// Only events at or before this global position.
    to_position: Option<i64>,
    /// Continue after the page that returned this `next_cursor`.
    cursor: Option<String>,
    /// Events per page (1 to 1000, default 100).
    limit: Option<u32>,
}

/// One event of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEvent {
    /// Global position.
    pub position: i64,
    /// Type of the aggregate changed, e.g. `user`.
    pub aggregate_type: String,
    /// Id of the aggregate changed.
    pub aggregate_id: String,
    /// Sequence within the aggregate.
    pub sequence: i64,
    /// What happened, e.g. `user.human.added`.
    pub event_type: String,
    /// Revision of the payload's shape.
    pub revision: u16,
    /// Who caused it: a user id, or `system`.
    pub creator: String,
    /// When it was stored (RFC 3339, UTC).
    pub created_at: String,
    /// The payload, with hashes of secrets redacted.
    pub payload: Value,
}

/// A page of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventsPage {
    /// The events, in stream order.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` to read on; absent when the end of the trail was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn list_param(value: Option<&str>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_cursor(cursor: &str) -> Result<Cursor, ApiError> {
    cursor
        .split_once('-')
        .and_then(|(tx, position)| {
            Some(Cursor {
                tx_id: tx.parse().ok()?,
                position: position.parse().ok()?,
            })
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "cursor",
                "invalid_cursor",
                "cursor must be a next_cursor of an earlier page",
            )
        })
}

fn format_cursor(cursor: Cursor) -> String {
    format!("{}-{}", cursor.tx_id, cursor.position)
}

struct Filter {
    aggregate_id: Option<String>,
    from_micros: Option<i64>,
    to_micros: Option<i64>,
    from_position: Option<i64>,
    to_position: Option<i64>,
}

impl Filter {
    fn matches(&self, event: &Event) -> bool {
        self.aggregate_id
            .as_ref()
            .is_none_or(|id| *id == event.aggregate.aggregate_id)
            && self.from_micros.is_none_or(|from| event.created_at >= from)
            && self.to_micros.is_none_or(|to| event.created_at < to)
            && self.from_position.is_none_or(|from| event.position >= from)
            && self.to_position.is_none_or(|to| event.position <= to)
    }
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<EventsQuery>,
) -> Result<axum::Json<EventsPage>, ApiError> {
    api.commands
        .for_caller(&caller)
        .authorize(Permission::EventsRead, &Target::Instance)
        .await?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let filter = Filter {
        aggregate_id: query.aggregate_id.clone(),
        from_micros: query
            .from
            .as_deref()
            .map(|v| time::parse_micros("from", v))
            .transpose()?,
        to_micros: query
            .to
            .as_deref()
            .map(|v| time::parse_micros("to", v))
            .transpose()?,
        from_position: query.from_position,
        to_position: query.to_position,
    };
    let mut after = query
        .cursor
        .as_deref()
        .map(parse_cursor)
        .transpose()?
        .unwrap_or(Cursor::START);

    let mut stream = StreamQuery::after(after, BATCH);
    stream.instance_id = Some(api.instance_id.to_string());
    stream.aggregate_types = list_param(query.aggregate_type.as_deref());
    stream.event_types = list_param(query.event_type.as_deref());

    let mut events = Vec::new();
    let mut scanned = 0;
    let next_cursor = 'pages: loop {
        stream.after = after;
        let batch = api
            .commands
            .store()
            .read_stream(&stream)
            .await
            .map_err(|error| {
                tracing::error!(%error, "reading the audit trail failed");
                ApiError::failure(&error)
            })?;
        let complete = batch.len() < BATCH as usize;
        for event in batch {
            after = event.cursor();
            scanned += 1;
            if filter.matches(&event) {
                events.push(audit_event(event));
                if events.len() == limit as usize {
                    break 'pages Some(after);
                }
            }
        }
        if complete {
            break None;
        }
        if scanned >= SCAN_BUDGET {
            break Some(after);
        }
    };
    Ok(axum::Json(EventsPage {
        events,
        next_cursor: next_cursor.map(format_cursor),
    }))
}

fn audit_event(event: Event) -> AuditEvent {
    AuditEvent {
        position: event.position,
        aggregate_type: event.aggregate.aggregate_type,
        aggregate_id: event.aggregate.aggregate_id,
        sequence: event.sequence,
        event_type: event.event_type,
        revision: event.revision,
        creator: event.creator,
        created_at: time::format_micros(event.created_at),
        payload: redact_secrets(&event.payload),
    }
}
