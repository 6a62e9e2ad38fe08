//! The [`Projection`] trait: what a view needs from the stream and how one event changes it.

use std::{future::Future, pin::Pin};

use warden_eventstore::Event;

use crate::db::{Db, ViewTx, is_transient};

/// A boxed, sendable future, as returned by [`Projection::apply`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a projection could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The event cannot be applied as stored (undecodable payload, impossible state). Retrying later will
    /// not help unless the projection's code changes; after the configured attempts it is skipped.
    #[error("{0}")]
    Event(String),
    /// A statement failed. Transient failures (lost connection, busy database, deadlock) are retried without
    /// counting against the event; others count as a failure of the event.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Something outside the event is unavailable for now (e.g. every plugin instance slot is in use): retried
    /// with back-off without counting against the event, like a transient database failure.
    #[error("{0}")]
    Unavailable(String),
}

impl ProjectionError {
    /// An event that cannot be applied, with the reason.
    pub fn event(reason: impl Into<String>) -> Self {
        Self::Event(reason.into())
    }

    /// Whether retrying the same event as is can succeed (the database, not the event, failed).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Event(_) => false,
            Self::Database(e) => is_transient(e),
            Self::Unavailable(_) => true,
        }
    }
}

/// A projection: the code that keeps one view (one or more tables) up to date from the event stream.
///
/// Each projection has a unique [`name`](Projection::name), which keys its checkpoint, lease and failed events.
/// Its spooler reads the events of the declared aggregate (and optionally event) types after its checkpoint
/// and calls [`apply`](Projection::apply) for each inside one transaction per batch; the checkpoint moves in
/// the same transaction. `apply` must be deterministic in the event (no wall clock, no randomness), so that a
/// rebuild gives the same view.
///
/// ```
/// use warden_spooler::{BoxFuture, Projection, ProjectionError, ViewTx, params};
/// use warden_eventstore::Event;
///
/// /// Counts events per aggregate.
/// struct EventCounts;
///
/// impl Projection for EventCounts {
///     fn name(&self) -> &str { "event_counts" }
///     fn aggregate_types(&self) -> Vec<String> { vec!["user".into()] }
///     fn tables(&self) -> Vec<String> { vec!["event_counts".into()] }
///     fn apply<'a>(&'a self, tx: &'a mut ViewTx, event: &'a Event) -> BoxFuture<'a, Result<(), ProjectionError>> {
///         Box::pin(async move {
///             tx.execute(
///                 "INSERT INTO event_counts (instance_id, aggregate_id, events) VALUES ($1, $2, 1) \
///                  ON CONFLICT (instance_id, aggregate_id) DO UPDATE SET events = event_counts.events + 1",
///                 &params![event.aggregate.instance_id.as_str(), event.aggregate.aggregate_id.as_str()],
///             )
///             .await?;
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Projection: Send + Sync + 'static {
    /// The stable name of the projection (and of its view).
    fn name(&self) -> &str;

    /// The aggregate types whose events the projection reads; must not be empty.
    fn aggregate_types(&self) -> Vec<String>;

    /// Only these event types are read (empty: every event of the aggregate types).
    fn event_types(&self) -> Vec<String> {
        Vec::new()
    }

    /// The tables of the view; a rebuild empties them before replaying from the start of the stream.
    fn tables(&self) -> Vec<String>;

    /// Empties the view inside `tx`, before a rebuild replays the stream from the start, or when the projection
    /// is removed with its state. By default deletes every row of every table in
    /// [`tables`](Projection::tables); a projection whose rows share a table with others overrides it.
    fn reset<'a>(&'a self, tx: &'a mut ViewTx) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            for table in self.tables() {
                tx.execute(&format!("DELETE FROM \"{table}\""), &[]).await?;
            }
            Ok(())
        })
    }

    /// Prepares a batch before its transaction opens, and says how many of its first events are ready.
    ///
    /// For work that must not run while the batch holds a write transaction (on SQLite the single writer):
    /// a projection plugin calls its plugin here, reading committed rows through `db`, and
    /// [`apply`](Projection::apply) then only stores what the calls wrote. The spooler applies the ready
    /// events (at least one) and leaves the rest for the next batch, so a projection can bound a batch in
    /// time or memory. By default nothing is prepared and every event is ready.
    fn prepare<'a>(&'a self, db: &'a Db, events: &'a [Event]) -> BoxFuture<'a, usize> {
        let _ = db;
        Box::pin(async move { events.len() })
    }

    /// Applies one event to the view inside the batch transaction `tx`. Not called for a projection that
    /// [`reacts`](Projection::reacts).
    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;

    /// Applies `events` in order inside the batch transaction `tx`, with the same result as
    /// [`apply`](Projection::apply) for each; on failure, the index of the failed event and why.
    ///
    /// By default calls [`apply`](Projection::apply) event by event. A projection overrides it to write a
    /// batch with fewer statements (e.g. one multi-row `INSERT` for the creations of a batch, see
    /// [`Rows`](crate::Rows)), merging the changes several events make to one row into one write. When a
    /// statement that covers several events fails, the failure may be reported at the first of them: a
    /// projection that does so says it with [`merges_events`](Projection::merges_events), and the spooler
    /// rolls a failed batch back and applies it again event by event, so a failure is only ever counted
    /// against the event that causes it, and the events before it are applied.
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), (usize, ProjectionError)>> {
        Box::pin(apply_each(self, tx, events))
    }

    /// Whether [`apply_batch`](Projection::apply_batch) writes several events with one statement, so that a
    /// failure may be reported at another event than the one that causes it. The spooler then applies a
    /// failed batch again event by event, in a new transaction, before it counts the failure against an
    /// event. By default false: the failure is counted against the event `apply_batch` reported.
    fn merges_events(&self) -> bool {
        false
    }

    /// Whether this is a process manager rather than a view: its spooler calls
    /// [`react`](Projection::react) for each event with no transaction open (so it can issue commands, which
    /// push through the store), and moves the checkpoint after each event in a transaction of its own, fenced
    /// by the lease as usual. Reactions are therefore at least once: after a crash between a reaction and its
    /// checkpoint the event is handled again, so a reaction must be idempotent.
    fn reacts(&self) -> bool {
        false
    }

    /// Reacts to one event (only called when [`reacts`](Projection::reacts) is true). An error counts as a
    /// failed event like one of [`apply`](Projection::apply): retried with back-off, skipped after the bound.
    fn react<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            Err(ProjectionError::event(format!(
                "{} does not react to {}",
                self.name(),
                event.event_type
            )))
        })
    }
}

/// Applies `events` one by one through [`Projection::apply`]; on failure, the index of the failed event.
pub(crate) async fn apply_each<P: Projection + ?Sized>(
    projection: &P,
    tx: &mut ViewTx,
    events: &[Event],
) -> Result<(), (usize, ProjectionError)> {
    for (index, event) in events.iter().enumerate() {
        projection
            .apply(tx, event)
            .await
            .map_err(|error| (index, error))?;
    }
    Ok(())
}
