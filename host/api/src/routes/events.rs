//! `GET /api/v1/events`: the audit trail, every change to every resource of the instance.
//!
//! Every event carries the organization it belongs to (`org_id`, recorded by the command that stored it).
//! Who reads what follows from where the caller holds `events.read`: on the instance, every event (filtered
//! by `org_id` when asked); on an organization only (`ORG_OWNER`, `ORG_OWNER_VIEWER`), exactly that
//! organization's events — `org_id` defaults to the caller's own organization, and naming an organization
//! where the caller holds no `events.read` is refused.

use axum::{extract::State, http::StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_command::{Caller, Identity};
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
            "The audit trail: events of the instance (or, for organization owners, of one organization: `org_id`, by default their own or the one they own) in \
             stream order, filtered and paged",
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
    /// Only events of this organization. Callers who hold `events.read` only through an organization
    /// membership read only that organization's events; for them it defaults to their own organization.
    #[schemars(length(max = crate::schema::ID_LEN), regex(pattern = crate::schema::IDENTIFIER))]
    org_id: Option<String>,
    /// Only these event types (comma-separated), e.g. `user.human.added`.
    event_type: Option<String>,
    /// Only events caused by this actor (the `creator`: a user id, or `system`).
    creator: Option<String>,
    /// Only events stored at or after this time (RFC 3339, UTC).
    #[schemars(schema_with = "crate::schema::optional_timestamp")]
    from: Option<String>,
    /// Only events stored before this time (RFC 3339, UTC).
    #[schemars(schema_with = "crate::schema::optional_timestamp")]
    to: Option<String>,
    /// Only events at or after this global position.
    from_position: Option<i64>,
    /// Only events at or before this global position.
    to_position: Option<i64>,
    /// Continue after the page that returned this `next_cursor`.
    #[schemars(regex(pattern = r"^[0-9]{1,18}-[0-9]{1,18}$"))]
    cursor: Option<String>,
    /// Events per page (1 to 1000, default 100).
    #[schemars(range(min = 1, max = 1000))]
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
    /// Who caused it: a user id, or `system` (Warden itself, e.g. the follow-up removals after an organization
    /// was removed).
    pub creator: String,
    /// The organization the event belongs to; absent for events of the instance itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
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
    creator: Option<String>,
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
            && self
                .creator
                .as_ref()
                .is_none_or(|creator| *creator == event.creator)
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
    let org_id = readable_org(&api, &caller, query.org_id.as_deref()).await?;
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
        creator: query.creator.clone().filter(|c| !c.is_empty()),
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
    stream.org_id = org_id;

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

/// The organization whose events `caller` reads (`None`: every event), refusing a caller without
/// `events.read` on what it asked for.
async fn readable_org(
    api: &ApiState,
    caller: &Caller,
    asked: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if asked.is_some_and(str::is_empty) {
        return Err(ApiError::invalid(
            "org_id",
            "invalid_org_id",
            "org_id must name an organization",
        ));
    }
    let commands = api.commands.for_caller(caller);
    let on_instance = commands
        .authorize(Permission::EventsRead, &Target::Instance)
        .await;
    match on_instance {
        Ok(()) => Ok(asked.map(str::to_owned)),
        Err(error) if error.as_refusal().is_none() => Err(error.into()),
        Err(refusal) => {
            let org_id = match (asked, &caller.identity) {
                (Some(asked), _) => asked.to_owned(),
                (None, Identity::User { user_id, org_id }) => {
                    default_org(api, caller, user_id, org_id).await?
                }
                (None, Identity::System) => return Err(refusal.into()),
            };
            let target = Target::Org {
                org_id: org_id.clone(),
            };
            match commands.authorize(Permission::EventsRead, &target).await {
                Ok(()) => Ok(Some(org_id)),
                // An organization named that the caller cannot even see answers like one that does not exist.
                Err(refusal)
                    if asked.is_some()
                        && refusal.as_refusal().is_some()
                        && !commands.may_see(Permission::OrgRead, &target).await? =>
                {
                    Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "org.not_found",
                        "no org has this id",
                    ))
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

/// The organization whose events a caller without `events.read` on the instance reads when it names none:
/// its own organization if it may read that one's, else the one organization it may read (an owner from
/// another organization). Several are ambiguous: the caller must name one. With none, its own organization
/// is returned and the caller's check refuses it.
async fn default_org(
    api: &ApiState,
    caller: &Caller,
    user_id: &str,
    own_org: &str,
) -> Result<String, ApiError> {
    let commands = api.commands.for_caller(caller);
    let may_read = |org_id: String| async {
        let target = Target::Org { org_id };
        match commands.authorize(Permission::EventsRead, &target).await {
            Ok(()) => Ok(true),
            Err(error) if error.as_refusal().is_some() => Ok(false),
            Err(error) => Err(ApiError::from(error)),
        }
    };
    if may_read(own_org.to_owned()).await? {
        return Ok(own_org.to_owned());
    }
    let user = api
        .commands
        .load::<warden_domain::user::User>(&caller.instance_id, user_id)
        .await?;
    let mut readable = Vec::new();
    for (scope_id, kind) in &user.state.member_of {
        if *kind == warden_domain::authz::ScopeKind::Org && may_read(scope_id.clone()).await? {
            readable.push(scope_id.clone());
        }
    }
    match readable.len() {
        0 => Ok(own_org.to_owned()),
        1 => Ok(readable.remove(0)),
        _ => Err(ApiError::invalid(
            "org_id",
            "org_id_required",
            "you read the events of several organizations: name one with org_id",
        )),
    }
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
        org_id: event.org_id,
        created_at: time::format_micros(event.created_at),
        payload: redact_secrets(&event.payload),
    }
}
