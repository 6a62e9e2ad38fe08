//! Spoolers: the read side's engine. Each query view has one [`Projection`]; each projection has one spooler,
//! which reads the global event stream after its checkpoint, applies a batch of events to the view and moves
//! the checkpoint **in the same transaction**, so no event is applied twice and none is lost across crashes.
//! On PostgreSQL these transactions commit asynchronously (`synchronous_commit = off`): a crash of the
//! database can lose the last batches, view changes and checkpoint together, and they are applied again:
//! whenever the holder meets a checkpoint in the database behind its own progress (taking or renewing the
//! lease, a refused fence, the first run after a failed one), it goes back to it, and so does what readers
//! are told the view reached. A spooler never reads on from memory past the database's checkpoint.
//!
//! # Several nodes
//! Every node runs a spooler task per projection, but only the node holding the projection's **lease** (a row
//! in `projection_state`: holder, fencing token, expiry on the database clock) applies events. The holder
//! renews the lease after a third of its time to live; when a node dies, another takes the projection over
//! once the lease lapses (at once if the node shut down cleanly and released it). Every batch transaction
//! starts by moving the checkpoint with a conditional `UPDATE` that checks the lease (holder, token, expiry)
//! and the checkpoint the batch was read after: a node that lost its lease cannot commit, and while a batch
//! runs it holds the row, so the lease cannot change hands under it.
//!
//! # Wake-ups
//! A push through the node's [`Store`](warden_eventstore::Store) wakes the node's **scanner** at once
//! ([`Store::subscribe`](warden_eventstore::Store::subscribe)). The scanner reads the new events once for all
//! projections and wakes only the spoolers whose projections read one of them; for the others it records that
//! their views are current up to the new point, which keeps read-your-writes checks in memory. On PostgreSQL a
//! notifier task sends one `NOTIFY` per burst of local pushes (at most one every 2 ms) and every node listens,
//! so the scanners of the other nodes wake too; a trigger on the events table would make every push take
//! PostgreSQL's global notification lock at commit, so there is none. A long fallback timer
//! ([`SpoolerConfig::poll_interval`], 10 s by default) makes every spooler read the stream anyway, in case a
//! wake-up was lost; idle spoolers read nothing in between (only the lease renewals run).
//!
//! # Failures
//! An event a projection cannot apply is recorded in `projection_failures` (projection, event, error,
//! attempts) and retried with exponential back-off; after [`SpoolerConfig::max_attempts`] it is skipped and
//! stays listed as failed in [`ProjectionStatus`]. Database failures that are not the event's fault (lost
//! connection, busy, locked or full database, out of memory, statement timeout, deadlock: see
//! [`is_transient`]) are retried with back-off without counting, and never make an event skipped.
//!
//! # Read-your-writes
//! [`Spoolers::ensure_caught_up`] returns at once when the node already knows the view reached a cursor (an
//! in-memory comparison), and otherwise wakes the spooler and waits with a bound.
//!
//! # Projections added while running
//! [`Spoolers::add`] starts a spooler for a projection registered after start (a projection plugin) under the
//! same machinery; [`Spoolers::remove`] stops it and, optionally, drops its view ([`Projection::reset`]),
//! checkpoint and failed events. The scanner and the listener pick the current set up on every wake-up.
//!
//! # Process managers
//! A projection that [`reacts`](Projection::reacts) runs under the same lease, checkpoint and failed-event
//! handling, but its events are handed to [`Projection::react`] one at a time with no transaction open (so it
//! can issue commands, whose pushes need SQLite's single writer), and the checkpoint moves after each event in
//! a transaction of its own. Reactions are at least once, so they must be idempotent.
//!
//! # Backends
//! Projections write each statement once for both backends: `$1, $2, …` placeholders (SQLite understands them
//! too), [`SqlValue`] parameters built with [`params!`], rows read through [`DbRow`]; the batch transaction is a
//! [`ViewTx`]. On SQLite every batch runs on the store's single writer connection, so pushes wait for it;
//! [`SpoolerConfig::batch_size`] bounds how long.
//!
//! # Usage
//! ```no_run
//! # async fn run(store: warden_eventstore::Store, projections: Vec<std::sync::Arc<dyn warden_spooler::Projection>>)
//! # -> Result<(), warden_spooler::Error> {
//! use warden_spooler::{SpoolerConfig, Spoolers};
//!
//! let spoolers = Spoolers::start(store, projections, SpoolerConfig::new("node-1")).await?;
//! // … after a push that returned `cursor`, before reading the view by id:
//! # let cursor = warden_eventstore::Cursor::START;
//! spoolers.ensure_caught_up("users", cursor).await?;
//! // … on shutdown:
//! spoolers.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod db;
mod error;
mod node;
mod projection;
mod scanner;
mod spooler;
mod state;
mod status;

pub use config::SpoolerConfig;
pub use db::{Backend, Db, DbRow, Rows, SqlValue, ViewTx, is_transient};
pub use error::Error;
pub use node::{EventObserver, Spoolers};
pub use projection::{BoxFuture, Projection, ProjectionError};
pub use status::{FailedEvent, ProjectionStatus, render_prometheus};
