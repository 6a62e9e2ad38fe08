//! `GET /api/v1/projections`: how far each projection is, who runs it, and the events it failed on.

use axum::{Json, extract::State, http::StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_domain::authz::{Permission, Target};
use warden_spooler::{FailedEvent, ProjectionStatus};

use crate::{
    ApiState, authz::authorize, error::ApiError, extract::Authenticated, openapi::Endpoint, time,
    view::ReadReply,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/projections",
            "listProjections",
            "The status of every projection: checkpoint, lag behind the stream head, lease holder and failed events",
            list,
        )
        .permission(Permission::EventsRead)
        .returns::<ProjectionsBody>(StatusCode::OK),
        Endpoint::post(
            "/api/v1/projections/{name}/rebuild",
            "rebuildProjection",
            "Retry a projection's failed events by rebuilding it: its view is emptied and the stream replayed from \
             the start by the node holding its lease (failed events are forgotten, and recorded again if they \
             fail again). Answers 202 at once; follow the progress in `GET /api/v1/projections`",
            rebuild,
        )
        .permission(Permission::InstanceWrite)
        .returns::<RebuildBody>(StatusCode::ACCEPTED),
    ]
}

/// The answer to a rebuild request.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RebuildBody {
    /// The projection being rebuilt.
    pub name: String,
    /// Always true: the replay has started (or will at the holder's next run).
    pub rebuilding: bool,
}

async fn rebuild(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    crate::extract::Path(name): crate::extract::Path<String>,
) -> Result<(StatusCode, Json<RebuildBody>), ApiError> {
    authorize(&api, &caller, Permission::InstanceWrite, &Target::Instance).await?;
    if !api.spoolers.projections().contains(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "projection.not_found",
            "no projection has this name",
        ));
    }
    api.spoolers.rebuild(&name).await.map_err(|error| {
        tracing::error!(%error, projection = %name, "rebuilding a projection failed");
        ApiError::failure(&error)
    })?;
    tracing::info!(projection = %name, "projection rebuild requested through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(RebuildBody {
            name,
            rebuilding: true,
        }),
    ))
}

/// The status of every projection.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectionsBody {
    /// The projections, by name.
    pub projections: Vec<ProjectionBody>,
}

/// The status of one projection (shared by all nodes, plus this node's figures).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectionBody {
    /// The projection's name.
    pub name: String,
    /// The global position of the checkpoint: the view reflects every event it reads up to here.
    pub position: i64,
    /// The global position of the newest event readers can see.
    pub head_position: i64,
    /// Events the projection reads that it has not applied yet.
    pub lag_events: i64,
    /// How long the oldest of those has been waiting, in ms (0 when caught up).
    pub lag_ms: i64,
    /// The node holding the lease, absent when the lease lapsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Whether the node answering holds the lease.
    pub held_here: bool,
    /// When the checkpoint last moved (RFC 3339, UTC).
    pub updated_at: String,
    /// How often the view was rebuilt.
    pub rebuilds: i64,
    /// Failed events still being retried.
    pub retrying_events: i64,
    /// Failed events given up on and skipped.
    pub skipped_events: i64,
    /// The failed events, retrying and skipped, oldest first.
    pub failed_events: Vec<FailedEventBody>,
}

/// An event a projection failed to apply.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FailedEventBody {
    /// The event's global position.
    pub position: i64,
    /// The instance the event belongs to.
    pub instance_id: String,
    /// The event's aggregate type.
    pub aggregate_type: String,
    /// The event's aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The error of the latest attempt.
    pub error: String,
    /// Attempts so far.
    pub attempts: i64,
    /// First failure (RFC 3339, UTC).
    pub first_failed_at: String,
    /// Latest failure (RFC 3339, UTC).
    pub last_failed_at: String,
    /// True once the projection gave up and moved past the event.
    pub skipped: bool,
}

impl From<FailedEvent> for FailedEventBody {
    fn from(e: FailedEvent) -> Self {
        Self {
            position: e.position,
            instance_id: e.instance_id,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            error: e.error,
            attempts: e.attempts,
            first_failed_at: time::format_millis(e.first_failed_at_ms),
            last_failed_at: time::format_millis(e.last_failed_at_ms),
            skipped: e.skipped,
        }
    }
}

impl From<ProjectionStatus> for ProjectionBody {
    fn from(s: ProjectionStatus) -> Self {
        Self {
            name: s.name,
            position: s.cursor.position,
            head_position: s.head.position,
            lag_events: s.lag_events,
            lag_ms: s.lag_ms,
            holder: s.holder,
            held_here: s.held_here,
            updated_at: time::format_millis(s.updated_at_ms),
            rebuilds: s.rebuilds,
            retrying_events: s.retrying_events,
            skipped_events: s.skipped_events,
            failed_events: s.failed_events.into_iter().map(Into::into).collect(),
        }
    }
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
) -> ReadReply<ProjectionsBody> {
    authorize(&api, &caller, Permission::EventsRead, &Target::Instance).await?;
    let statuses = api.spoolers.status().await.map_err(|error| {
        tracing::error!(%error, "reading the projections' status failed");
        ApiError::failure(&error)
    })?;
    Ok(Json(ProjectionsBody {
        projections: statuses.into_iter().map(Into::into).collect(),
    }))
}
