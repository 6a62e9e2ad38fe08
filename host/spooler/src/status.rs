//! What `/api/v1/projections` and `/metrics` show about each projection.

use std::fmt::Write as _;

use serde::Serialize;
use warden_eventstore::Cursor;

use crate::db::DbRow;

/// An event a projection failed to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedEvent {
    /// The projection.
    pub projection: String,
    /// The event's global position.
    pub position: i64,
    /// The event's commit group.
    pub tx_id: i64,
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
    /// First failure, ms since the Unix epoch.
    pub first_failed_at_ms: i64,
    /// Latest failure, ms since the Unix epoch.
    pub last_failed_at_ms: i64,
    /// When the next attempt is due, ms since the Unix epoch (meaningless once skipped).
    pub next_attempt_at_ms: i64,
    /// True once the projection gave up and moved past the event.
    pub skipped: bool,
}

impl FailedEvent {
    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            projection: row.get("projection")?,
            position: row.get("position")?,
            tx_id: row.get("tx_id")?,
            instance_id: row.get("instance_id")?,
            aggregate_type: row.get("aggregate_type")?,
            aggregate_id: row.get("aggregate_id")?,
            sequence: row.get("sequence")?,
            event_type: row.get("event_type")?,
            error: row.get("error")?,
            attempts: row.get("attempts")?,
            first_failed_at_ms: row.get::<i64>("first_failed_at")? / 1000,
            last_failed_at_ms: row.get::<i64>("last_failed_at")? / 1000,
            next_attempt_at_ms: row.get::<i64>("next_attempt_at")? / 1000,
            skipped: row.get("skipped")?,
        })
    }
}

/// The state of one projection, as seen from the database (shared by all nodes) and from this node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionStatus {
    /// The projection's name.
    pub name: String,
    /// The checkpoint: the view reflects every event it reads up to here.
    pub cursor: Cursor,
    /// The newest event of the stream readers can see now.
    pub head: Cursor,
    /// Events the projection reads that it has not applied yet.
    pub lag_events: i64,
    /// How long the oldest of those has been waiting, in ms (0 when caught up).
    pub lag_ms: i64,
    /// The node holding the lease, if the lease has not lapsed.
    pub holder: Option<String>,
    /// Whether this node holds the lease.
    pub held_here: bool,
    /// When the lease lapses unless renewed, ms since the Unix epoch (0 when free).
    pub lease_until_ms: i64,
    /// When the newest applied event was stored, ms since the Unix epoch (0 before the first).
    pub last_event_at_ms: i64,
    /// When the checkpoint last moved, ms since the Unix epoch.
    pub updated_at_ms: i64,
    /// How often the view was rebuilt.
    pub rebuilds: i64,
    /// Failed events still being retried.
    pub retrying_events: i64,
    /// Failed events given up on and skipped.
    pub skipped_events: i64,
    /// The failed events, retrying and skipped, oldest first.
    pub failed_events: Vec<FailedEvent>,
    /// Events applied by this node since it started.
    pub applied_here: u64,
    /// Batches committed by this node since it started.
    pub batches_here: u64,
    /// Catch-up requests answered by this node that had to wait.
    pub catch_up_waits_here: u64,
    /// Catch-up requests on this node that gave up after the bound.
    pub catch_up_timeouts_here: u64,
    /// Runs of the projection on this node that failed on the database (busy, unreachable, full, …) and
    /// were retried without counting against an event.
    pub run_failures_here: u64,
    /// Times this node found the checkpoint in the database behind what it knew (commits lost in a database
    /// crash) and went back to it.
    pub checkpoint_regressions_here: u64,
}

/// A figure of a projection's status: metric name, help text, value.
type Figure<T> = (&'static str, &'static str, fn(&ProjectionStatus) -> T);

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders projection figures in the Prometheus text exposition format, for `GET /metrics`.
pub fn render_prometheus(statuses: &[ProjectionStatus], node_id: &str) -> String {
    let mut out = String::new();
    let node = escape_label(node_id);
    let gauges: [Figure<String>; 4] = [
        (
            "warden_projection_position",
            "Global position of the projection's checkpoint.",
            |s| s.cursor.position.to_string(),
        ),
        (
            "warden_projection_lag_events",
            "Events the projection reads that it has not applied yet.",
            |s| s.lag_events.to_string(),
        ),
        (
            "warden_projection_lag_seconds",
            "How long the oldest unapplied event has been waiting.",
            |s| format!("{:.3}", s.lag_ms as f64 / 1000.0),
        ),
        (
            "warden_projection_rebuilds",
            "How often the projection's view was rebuilt.",
            |s| s.rebuilds.to_string(),
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for s in statuses {
            let _ = writeln!(
                out,
                "{name}{{projection=\"{}\"}} {}",
                escape_label(&s.name),
                value(s)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP warden_projection_failed_events Events the projection failed to apply, by state.\n\
         # TYPE warden_projection_failed_events gauge"
    );
    for s in statuses {
        let p = escape_label(&s.name);
        let _ = writeln!(
            out,
            "warden_projection_failed_events{{projection=\"{p}\",state=\"retrying\"}} {}",
            s.retrying_events
        );
        let _ = writeln!(
            out,
            "warden_projection_failed_events{{projection=\"{p}\",state=\"skipped\"}} {}",
            s.skipped_events
        );
    }
    let _ = writeln!(
        out,
        "# HELP warden_projection_held Whether this node holds the projection's lease.\n\
         # TYPE warden_projection_held gauge"
    );
    for s in statuses {
        let _ = writeln!(
            out,
            "warden_projection_held{{projection=\"{}\",node=\"{node}\"}} {}",
            escape_label(&s.name),
            u8::from(s.held_here)
        );
    }
    let counters: [Figure<u64>; 6] = [
        (
            "warden_projection_events_applied_total",
            "Events this node applied to the view.",
            |s| s.applied_here,
        ),
        (
            "warden_projection_batches_total",
            "Batches this node committed.",
            |s| s.batches_here,
        ),
        (
            "warden_projection_catch_up_waits_total",
            "Read-your-writes requests on this node that waited for the projection.",
            |s| s.catch_up_waits_here,
        ),
        (
            "warden_projection_catch_up_timeouts_total",
            "Read-your-writes requests on this node that gave up waiting.",
            |s| s.catch_up_timeouts_here,
        ),
        (
            "warden_projection_run_failures_total",
            "Runs on this node that failed on the database and were retried without counting against an event.",
            |s| s.run_failures_here,
        ),
        (
            "warden_projection_checkpoint_regressions_total",
            "Times this node found the checkpoint behind what it knew (commits lost) and went back to it.",
            |s| s.checkpoint_regressions_here,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for s in statuses {
            let _ = writeln!(
                out,
                "{name}{{projection=\"{}\",node=\"{node}\"}} {}",
                escape_label(&s.name),
                value(s)
            );
        }
    }
    out
}
