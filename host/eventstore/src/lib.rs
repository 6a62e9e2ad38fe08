//! The eventstore: Warden's source of record.
//!
//! Every change to every resource is an [`Event`] appended to one table. A [`Push`] stores the events of
//! one command — for one or more aggregates, each with the sequence it expects — together with the
//! [`UniqueChange`]s the command claims or releases, in a single transaction: either all of it is
//! stored or nothing is.
//!
//! Readers follow the global stream in [`Cursor`] order. The stream never skips an event: an event that
//! commits late never becomes visible behind a cursor a reader has already passed.
//!
//! Two backends implement [`Eventstore`]: [`SqliteStore`] (embedded, the default) and [`PgStore`]
//! (production, several nodes). [`Store`] picks one from a database URL.

mod blobs;
mod error;
mod local_reads;
mod migrate;
mod postgres;
mod sqlite;
mod statements;
mod store;
#[cfg(feature = "test-support")]
pub mod testing;

use std::future::Future;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::{Error, is_transient, is_transient_source};
pub use postgres::{PgStore, PushAnnouncement};
pub use sqlite::{SqliteStore, Synchronous, WriterSync};
pub use statements::{Lease, StatementPool};
pub use store::{ConnectOptions, Store, redact};

/// Result of eventstore operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Identifies one aggregate: its instance (tenant), its type and its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AggregateKey {
    /// The instance (tenant) the aggregate lives in.
    pub instance_id: String,
    /// The aggregate type, e.g. `user`.
    pub aggregate_type: String,
    /// The aggregate id, unique within instance and type.
    pub aggregate_id: String,
}

impl AggregateKey {
    /// Builds a key from its three parts.
    pub fn new(
        instance_id: impl Into<String>,
        aggregate_type: impl Into<String>,
        aggregate_id: impl Into<String>,
    ) -> Self {
        Self {
            instance_id: instance_id.into(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
        }
    }
}

/// The sequence a push expects an aggregate to be at (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The aggregate's latest sequence must be exactly this; `Exact(0)` means it must not exist yet.
    Exact(i64),
    /// Append after whatever the latest sequence is (a concurrent append still conflicts).
    Any,
}

/// An event to append, before the store gives it a sequence and a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Stable name of the event type, e.g. `user.human.added`.
    pub event_type: String,
    /// Revision of the payload's shape for this event type.
    pub revision: u16,
    /// The payload, a JSON document.
    pub payload: Value,
}

impl NewEvent {
    /// Builds an event from its type, revision and payload.
    pub fn new(event_type: impl Into<String>, revision: u16, payload: Value) -> Self {
        Self {
            event_type: event_type.into(),
            revision,
            payload,
        }
    }
}

/// The events a push appends to one aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateChanges {
    /// The aggregate appended to.
    pub aggregate: AggregateKey,
    /// The sequence the aggregate must be at.
    pub expected: Expected,
    /// The events, in order; they get sequences `latest + 1 ..`.
    pub events: Vec<NewEvent>,
}

/// A change to a unique value, applied in the same transaction as the events.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UniqueChange {
    /// Claim a value; fails the push with [`Error::UniqueTaken`] if it is taken.
    Add(UniqueValue),
    /// Release a value (releasing a free value is not an error).
    Remove(UniqueValue),
}

/// A value that must be unique within an instance, e.g. login name `alice`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UniqueValue {
    /// The instance within which the value is unique.
    pub instance_id: String,
    /// What kind of value it is, e.g. `login_name`.
    pub unique_type: String,
    /// The value itself, already normalised by the caller (e.g. lower-cased).
    pub value: String,
}

impl UniqueValue {
    /// Builds a unique value from its three parts.
    pub fn new(
        instance_id: impl Into<String>,
        unique_type: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self {
            instance_id: instance_id.into(),
            unique_type: unique_type.into(),
            value: value.into(),
        }
    }
}

/// Everything one command stores: events for one or more aggregates and unique-value changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Push {
    /// Who caused the change (a user id, or `system`).
    pub creator: String,
    /// The organization the change belongs to, recorded on every event of the push (`None`: the instance,
    /// or no organization).
    pub org_id: Option<String>,
    /// Appends, at most one entry per aggregate.
    pub aggregates: Vec<AggregateChanges>,
    /// Unique values claimed or released.
    pub unique: Vec<UniqueChange>,
    /// Aggregates the push appends nothing to but expects at a sequence: the command's decision read them
    /// (a membership, an organization's state), so a change committed to them first makes the push conflict.
    pub unchanged: Vec<(AggregateKey, i64)>,
}

impl Push {
    /// Starts a push made by `creator`.
    pub fn new(creator: impl Into<String>) -> Self {
        Self {
            creator: creator.into(),
            ..Self::default()
        }
    }

    /// Records the organization the events belong to (see [`Event::org_id`]).
    pub fn in_org(mut self, org_id: Option<impl Into<String>>) -> Self {
        self.org_id = org_id.map(Into::into);
        self
    }

    /// Appends `events` to `aggregate`, which must be at `expected`.
    pub fn append(
        mut self,
        aggregate: AggregateKey,
        expected: Expected,
        events: Vec<NewEvent>,
    ) -> Self {
        self.aggregates.push(AggregateChanges {
            aggregate,
            expected,
            events,
        });
        self
    }

    /// Expects `aggregate` to be at `sequence` when the push commits, without appending to it. A push that
    /// commits is ordered after every change the expected state includes and before any later change of it.
    pub fn expect_unchanged(mut self, aggregate: AggregateKey, sequence: i64) -> Self {
        self.unchanged.push((aggregate, sequence));
        self
    }

    /// Adds a unique-value change.
    pub fn unique(mut self, change: UniqueChange) -> Self {
        self.unique.push(change);
        self
    }

    /// Checks the push is well formed, and sorts it so that concurrent pushes lock rows in one order.
    fn prepare(&mut self) -> Result<()> {
        if self.aggregates.is_empty() {
            return Err(Error::InvalidPush(
                "a push must append at least one event".into(),
            ));
        }
        if self.creator.is_empty() {
            return Err(Error::InvalidPush("a push must name its creator".into()));
        }
        if self.org_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::InvalidPush(
                "an organization id must not be empty".into(),
            ));
        }
        self.aggregates
            .sort_by(|a, b| a.aggregate.cmp(&b.aggregate));
        for pair in self.aggregates.windows(2) {
            if pair[0].aggregate == pair[1].aggregate {
                return Err(Error::InvalidPush(format!(
                    "aggregate {} {} appears twice in one push",
                    pair[0].aggregate.aggregate_type, pair[0].aggregate.aggregate_id
                )));
            }
        }
        for changes in &self.aggregates {
            if changes.events.is_empty() {
                return Err(Error::InvalidPush(format!(
                    "no events for aggregate {} {}",
                    changes.aggregate.aggregate_type, changes.aggregate.aggregate_id
                )));
            }
            if let Expected::Exact(seq) = changes.expected
                && seq < 0
            {
                return Err(Error::InvalidPush(
                    "expected sequence must not be negative".into(),
                ));
            }
        }
        self.unique.sort();
        self.unchanged.sort();
        self.unchanged.dedup();
        for pair in self.unchanged.windows(2) {
            if pair[0].0 == pair[1].0 {
                return Err(Error::InvalidPush(format!(
                    "aggregate {} {} is expected at two sequences",
                    pair[0].0.aggregate_type, pair[0].0.aggregate_id
                )));
            }
        }
        for (key, sequence) in &self.unchanged {
            if *sequence < 0 {
                return Err(Error::InvalidPush(
                    "expected sequence must not be negative".into(),
                ));
            }
            if self.aggregates.iter().any(|a| a.aggregate == *key) {
                return Err(Error::InvalidPush(format!(
                    "aggregate {} {} is both appended to and expected unchanged",
                    key.aggregate_type, key.aggregate_id
                )));
            }
        }
        Ok(())
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Global position, unique across the store.
    pub position: i64,
    /// The commit group the event was written in; the stream is ordered by `(tx_id, position)`.
    pub tx_id: i64,
    /// The aggregate the event belongs to.
    #[serde(flatten)]
    pub aggregate: AggregateKey,
    /// Sequence within the aggregate, starting at 1, without gaps.
    pub sequence: i64,
    /// Stable name of the event type.
    pub event_type: String,
    /// Revision of the payload's shape.
    pub revision: u16,
    /// The payload.
    pub payload: Value,
    /// Who caused the event.
    pub creator: String,
    /// The organization the event belongs to, as the command that stored it decided; `None` for events of
    /// the instance itself and for events stored before organizations were recorded, where none could be
    /// derived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// When it was stored, in microseconds since the Unix epoch.
    pub created_at: i64,
}

impl Event {
    /// The cursor just at this event: reading after it continues with the next event.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx_id: self.tx_id,
            position: self.position,
        }
    }
}

/// A place in the global stream. Streams are read in cursor order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Cursor {
    /// The commit group.
    pub tx_id: i64,
    /// The position within it.
    pub position: i64,
}

impl Cursor {
    /// Before the first event.
    pub const START: Cursor = Cursor {
        tx_id: 0,
        position: 0,
    };
}

/// A read of the global stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamQuery {
    /// Read events strictly after this cursor.
    pub after: Cursor,
    /// Only events of this instance, or of all instances.
    pub instance_id: Option<String>,
    /// Only these aggregate types (empty: all).
    pub aggregate_types: Vec<String>,
    /// Only these event types (empty: all).
    pub event_types: Vec<String>,
    /// Only events of this organization (`None`: of any organization or none).
    pub org_id: Option<String>,
    /// At most this many events.
    pub limit: u32,
}

impl StreamQuery {
    /// All events after `after`, at most `limit`.
    pub fn after(after: Cursor, limit: u32) -> Self {
        Self {
            after,
            instance_id: None,
            aggregate_types: Vec::new(),
            event_types: Vec::new(),
            org_id: None,
            limit,
        }
    }
}

/// What a scan of the whole stream found ([`Eventstore::scan_stream`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamScan {
    /// The events after the cursor, in cursor order, at most the limit.
    pub events: Vec<Event>,
    /// Whether committed events exist that the stream does not show yet. On PostgreSQL these are events of
    /// transactions at or above the horizon: they become readable once every older transaction has ended,
    /// which no push announces, so a reader that saw them pending looks again. Always `false` on SQLite, whose
    /// stream shows every committed event.
    pub pending: bool,
}

/// The operations every eventstore backend provides.
pub trait Eventstore: Send + Sync {
    /// Stores the events and unique changes of one command in one transaction and returns the stored
    /// events. A stale expected sequence fails with [`Error::Conflict`], a taken unique value with
    /// [`Error::UniqueTaken`]; in both cases nothing of the push is stored.
    fn push(&self, push: Push) -> impl Future<Output = Result<Vec<Event>>> + Send;

    /// The events of one aggregate with a sequence above `after_sequence`, in sequence order.
    fn read_aggregate(
        &self,
        aggregate: &AggregateKey,
        after_sequence: i64,
    ) -> impl Future<Output = Result<Vec<Event>>> + Send;

    /// Events of the global stream after a cursor, in cursor order, never skipping a committed event.
    fn read_stream(&self, query: &StreamQuery) -> impl Future<Output = Result<Vec<Event>>> + Send;

    /// Every event after `after` (at most `limit`: [`read_stream`](Self::read_stream) without filters), and
    /// whether committed events wait behind the horizon ([`StreamScan::pending`]). One statement.
    fn scan_stream(
        &self,
        after: Cursor,
        limit: u32,
    ) -> impl Future<Output = Result<StreamScan>> + Send;

    /// The cursor of the newest event a stream reader can see now ([`Cursor::START`] when empty).
    fn head(&self) -> impl Future<Output = Result<Cursor>> + Send;

    /// Whether a unique value is currently taken.
    fn is_taken(&self, value: &UniqueValue) -> impl Future<Output = Result<bool>> + Send;
}

/// Current time in microseconds since the Unix epoch.
fn now_micros() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn revision_from_db(revision: i32, position: i64) -> Result<u16> {
    u16::try_from(revision).map_err(|_| Error::Corrupt {
        position,
        reason: format!("revision {revision} out of range"),
    })
}
