//! One spooler: the task that runs one projection on this node while it holds the projection's lease.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, watch};
use tracing::{Instrument, debug, error, info, info_span, warn};
use warden_eventstore::{Cursor, Event, Eventstore, StreamQuery};

use crate::{
    Error,
    node::Node,
    projection::{Projection, ProjectionError, apply_each},
    state::{Lease, StreamSql},
};

/// While a reader waits for this projection, read this often.
const WAITER_POLL: Duration = Duration::from_millis(3);
/// When only events the projection does not read arrived, persist the skipped-over checkpoint this often.
const IDLE_PERSIST: Duration = Duration::from_secs(1);
/// Bounds of the back-off after a failed run (database unreachable and the like).
const ERROR_BACKOFF_MIN: Duration = Duration::from_millis(100);
const ERROR_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Counters of one projection on this node.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events_applied: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) catch_up_waits: AtomicU64,
    pub(crate) catch_up_timeouts: AtomicU64,
    pub(crate) run_failures: AtomicU64,
    pub(crate) checkpoint_regressions: AtomicU64,
}

/// Events the scanner read for a projection: every event of ours in `(from, to]`.
#[derive(Debug)]
struct Delivery {
    from: Cursor,
    to: Cursor,
    events: Vec<Event>,
}

/// The most events kept for a spooler between two of its runs; beyond, it reads them itself.
const MAX_DELIVERY: usize = 4096;

/// Readers waiting for the projection to reach a cursor.
#[derive(Debug, Default)]
struct Wanted {
    waiters: usize,
    target: Cursor,
}

/// A checkpoint this node saw in the database, with the rebuild it belongs to.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Seen {
    rebuilds: i64,
    cursor: Cursor,
}

/// What this node shares about one projection between its spooler task and its readers.
pub(crate) struct Slot {
    pub(crate) projection: Arc<dyn Projection>,
    pub(crate) name: String,
    pub(crate) aggregate_types: Vec<String>,
    pub(crate) event_types: Vec<String>,
    pub(crate) stream: StreamSql,
    /// The view reflects every event the projection reads up to here (as far as this node knows).
    applied: watch::Sender<Cursor>,
    /// Changes on every rebuild; a cursor learnt before a rebuild is not published after it.
    epoch: AtomicU64,
    /// The rebuild count last seen in the database.
    rebuilds: AtomicI64,
    /// The highest checkpoint this node has seen in the database (read or committed) since the last rebuild:
    /// one read lower later means commits were lost (an asynchronous commit lost in a database crash).
    checkpoint_seen: Mutex<Seen>,
    wanted: Mutex<Wanted>,
    /// Wakes the spooler task.
    pub(crate) wake: Notify,
    /// Set when another node released the lease: try to take it now rather than at the next interval.
    pub(crate) try_acquire_now: AtomicBool,
    /// Set when the projection was reset for a rebuild: the holder reloads its checkpoint.
    pub(crate) reload: AtomicBool,
    /// Set when the spooler must read the stream itself rather than rely on the scanner.
    pub(crate) force_read: AtomicBool,
    /// The events of ours the scanner read most recently, so the spooler need not read them again.
    mailbox: Mutex<Option<Delivery>>,
    /// Whether this node's spooler holds the lease.
    pub(crate) held: AtomicBool,
    pub(crate) counters: Counters,
    /// Turns true when the projection is removed from this node: its spooler stops and gives its lease up.
    pub(crate) stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("name", &self.name)
            .field("applied", &*self.applied.borrow())
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Slot {
    pub(crate) fn new(projection: Arc<dyn Projection>, stream: StreamSql) -> Self {
        Self {
            name: projection.name().to_owned(),
            aggregate_types: projection.aggregate_types(),
            event_types: projection.event_types(),
            projection,
            stream,
            applied: watch::channel(Cursor::START).0,
            epoch: AtomicU64::new(0),
            rebuilds: AtomicI64::new(0),
            checkpoint_seen: Mutex::new(Seen::default()),
            wanted: Mutex::new(Wanted::default()),
            wake: Notify::new(),
            try_acquire_now: AtomicBool::new(false),
            reload: AtomicBool::new(false),
            force_read: AtomicBool::new(false),
            mailbox: Mutex::new(None),
            held: AtomicBool::new(false),
            counters: Counters::default(),
            stop: watch::channel(false).0,
        }
    }

    /// The cursor the view is known to have reached.
    pub(crate) fn applied(&self) -> Cursor {
        *self.applied.borrow()
    }

    /// A receiver of the cursor the view is known to have reached.
    pub(crate) fn subscribe_applied(&self) -> watch::Receiver<Cursor> {
        self.applied.subscribe()
    }

    /// The current epoch, to pass to [`Slot::raise_applied`] for a cursor learnt from now on.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Publishes that the view reached `to`, unless a rebuild happened since `epoch` was read.
    pub(crate) fn raise_applied(&self, to: Cursor, epoch: u64) {
        self.applied.send_if_modified(|current| {
            if self.epoch.load(Ordering::SeqCst) == epoch && to > *current {
                *current = to;
                true
            } else {
                false
            }
        });
    }

    /// Publishes that the view reached `to`, given that none of the events it reads lie in `(from, to]`:
    /// if the view is known to reach `from`, it reaches `to`.
    pub(crate) fn raise_applied_over(&self, from: Cursor, to: Cursor, epoch: u64) {
        self.applied.send_if_modified(|current| {
            if self.epoch.load(Ordering::SeqCst) == epoch && *current >= from && to > *current {
                *current = to;
                true
            } else {
                false
            }
        });
    }

    /// Hands the spooler the events of ours the scanner found in `(from, to]` (all of them).
    pub(crate) fn deliver(&self, from: Cursor, to: Cursor, events: Vec<Event>) {
        let Ok(mut mailbox) = self.mailbox.lock() else {
            return;
        };
        match mailbox.as_mut() {
            Some(delivery)
                if delivery.to == from && delivery.events.len() + events.len() <= MAX_DELIVERY =>
            {
                delivery.events.extend(events);
                delivery.to = to;
            }
            _ => *mailbox = Some(Delivery { from, to, events }),
        }
    }

    /// The delivered events after `after` (at most `limit`), with the cursor up to which they are all of ours
    /// and whether more may follow; `None` when the delivery does not start at or before `after`.
    fn take_delivery(&self, after: Cursor, limit: u32) -> Option<(Vec<Event>, Cursor, bool)> {
        let delivery = self.mailbox.lock().ok()?.take()?;
        if delivery.from > after || after >= delivery.to {
            return None;
        }
        let mut events: Vec<Event> = delivery
            .events
            .into_iter()
            .filter(|e| e.cursor() > after)
            .collect();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let full = events.len() >= limit;
        events.truncate(limit);
        Some((events, delivery.to, full))
    }

    /// Whether the projection reads `event`.
    pub(crate) fn reads(&self, event: &Event) -> bool {
        self.aggregate_types
            .contains(&event.aggregate.aggregate_type)
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }

    /// Forgets what the view reached: it is being rebuilt.
    pub(crate) fn reset_applied(&self) {
        self.applied.send_modify(|current| {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            *current = Cursor::START;
        });
        if let Ok(mut seen) = self.checkpoint_seen.lock() {
            seen.cursor = Cursor::START;
        }
    }

    /// The highest checkpoint this node has seen in the database, to pass to [`Slot::learn_checkpoint`] for a
    /// row read from now on.
    pub(crate) fn checkpoint_seen(&self) -> Seen {
        self.checkpoint_seen
            .lock()
            .map(|seen| *seen)
            .unwrap_or_default()
    }

    /// Takes back what the view is known to reach down to `to` (the checkpoint in the database), if it is
    /// beyond: what was learnt beyond the checkpoint may not be in the view. Cursors learnt before are not
    /// published after.
    pub(crate) fn lower_applied(&self, to: Cursor) {
        self.applied.send_if_modified(|current| {
            if *current > to {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                *current = to;
                true
            } else {
                false
            }
        });
    }

    /// Notes a checkpoint this node committed or read in the database.
    pub(crate) fn note_checkpoint(&self, cursor: Cursor) {
        if let Ok(mut seen) = self.checkpoint_seen.lock() {
            seen.cursor = seen.cursor.max(cursor);
        }
    }

    /// Learns where the view stands from the projection's row, read by a node that does not hold the lease:
    /// a new rebuild forgets what the view reached; a checkpoint lower than one seen before (commits lost
    /// in a database crash) takes it back to the checkpoint; a higher one is published. `before` is what
    /// [`Slot::checkpoint_seen`] said before the row was read: a checkpoint only moves forward, so a row read
    /// after one was seen is never below it unless commits were lost.
    pub(crate) fn learn_checkpoint(&self, cursor: Cursor, rebuilds: i64, epoch: u64, before: Seen) {
        self.observe_rebuilds(rebuilds);
        // Taken meanwhile: the holder checks its checkpoint itself.
        let held = self.held.load(Ordering::SeqCst);
        let regressed = !held && before.rebuilds == rebuilds && cursor < before.cursor;
        if let Ok(mut seen) = self.checkpoint_seen.lock()
            && seen.rebuilds == rebuilds
        {
            seen.cursor = if regressed {
                cursor
            } else {
                seen.cursor.max(cursor)
            };
        }
        if regressed {
            self.counters
                .checkpoint_regressions
                .fetch_add(1, Ordering::Relaxed);
            warn!(
                position = cursor.position,
                "the checkpoint in the database went back; the view is taken back to it"
            );
            self.lower_applied(cursor);
        }
        self.raise_applied(cursor, epoch);
    }

    /// Notes the rebuild count read from the database; a new rebuild resets what the view is known to reach.
    pub(crate) fn observe_rebuilds(&self, rebuilds: i64) {
        if let Ok(mut seen) = self.checkpoint_seen.lock()
            && seen.rebuilds < rebuilds
        {
            *seen = Seen {
                rebuilds,
                cursor: Cursor::START,
            };
        }
        if self.rebuilds.fetch_max(rebuilds, Ordering::SeqCst) < rebuilds {
            self.reset_applied();
        }
    }

    /// Registers a reader waiting for `target`; the returned guard unregisters it.
    pub(crate) fn wait_for(self: &Arc<Self>, target: Cursor) -> WaiterGuard {
        if let Ok(mut wanted) = self.wanted.lock() {
            wanted.waiters += 1;
            wanted.target = wanted.target.max(target);
        }
        WaiterGuard {
            slot: Arc::clone(self),
        }
    }

    /// Whether a reader waits for a cursor the view has not reached.
    fn waited_for(&self) -> bool {
        let applied = self.applied();
        self.wanted
            .lock()
            .map(|w| w.waiters > 0 && w.target > applied)
            .unwrap_or(false)
    }
}

/// Unregisters a waiting reader when dropped.
#[derive(Debug)]
pub(crate) struct WaiterGuard {
    slot: Arc<Slot>,
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        if let Ok(mut wanted) = self.slot.wanted.lock() {
            wanted.waiters = wanted.waiters.saturating_sub(1);
            if wanted.waiters == 0 {
                wanted.target = Cursor::START;
            }
        }
    }
}

/// The lease held, and when to renew it.
#[derive(Debug, Clone, Copy)]
struct Held {
    lease: Lease,
    renew_at: Instant,
}

/// A failed event waiting for its next attempt.
#[derive(Debug, Clone, Copy)]
struct Retry {
    cursor: Cursor,
    attempts: i64,
    not_before: Instant,
}

/// What the loop does after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Run again at once (more events are waiting).
    Now,
    /// Wait for a wake-up, at most this long.
    After(Duration),
}

/// The outcome of applying a batch.
#[derive(Debug)]
enum Applied {
    Done,
    /// The fence refused the batch: the lease or the checkpoint changed under us.
    Fenced,
    Failed {
        index: usize,
        error: ProjectionError,
    },
    /// A reacting projection failed at `index`; the events before it were handled and checkpointed.
    FailedAfterCheckpoint {
        index: usize,
        error: ProjectionError,
    },
}

/// The spooler of one projection on this node.
#[derive(Debug)]
pub(crate) struct Runner {
    slot: Arc<Slot>,
    node: Arc<Node>,
    held: Option<Held>,
    next_acquire: Instant,
    /// The checkpoint in the database, as the fence expects it.
    persisted: Cursor,
    /// Where the next read starts: at or after `persisted` (events in between are not ours).
    scan_from: Cursor,
    last_persist: Instant,
    /// The rebuild count the checkpoint belongs to.
    rebuilds: i64,
    retry: Option<Retry>,
    /// Failures that are not skipped may exist and must be cleared once their event is applied.
    unresolved: bool,
    /// Read the stream at the next run even if the scanner saw nothing for us.
    must_read: bool,
    /// A run failed (the database may have crashed or failed over): compare the checkpoint in the database
    /// with ours before going on.
    verify: bool,
    error_backoff: Duration,
}

impl Runner {
    pub(crate) fn new(slot: Arc<Slot>, node: Arc<Node>) -> Self {
        let now = Instant::now();
        Self {
            slot,
            node,
            held: None,
            next_acquire: now,
            persisted: Cursor::START,
            scan_from: Cursor::START,
            last_persist: now,
            rebuilds: 0,
            retry: None,
            unresolved: true,
            must_read: true,
            verify: false,
            error_backoff: Duration::ZERO,
        }
    }

    /// Runs until `shutdown` or the slot's own stop signal turns true (or its sender is dropped), then gives
    /// the lease up.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let span =
            info_span!("spooler", projection = %self.slot.name, node = %self.node.config.node_id);
        let mut stop = self.slot.stop.subscribe();
        async {
            loop {
                if *shutdown.borrow() || *stop.borrow() {
                    break;
                }
                let run_span = info_span!("projection_run", projection = %self.slot.name);
                let next = match self.tick().instrument(run_span).await {
                    Ok(next) => {
                        self.error_backoff = Duration::ZERO;
                        next
                    }
                    Err(err) => {
                        // Never the event's fault (those are recorded as failed events): retried as is,
                        // after a back-off, without counting against any event.
                        self.verify = true;
                        self.slot.counters.run_failures.fetch_add(1, Ordering::Relaxed);
                        self.error_backoff = (self.error_backoff * 2).clamp(ERROR_BACKOFF_MIN, ERROR_BACKOFF_MAX);
                        warn!(error = %err, retry_in_ms = self.error_backoff.as_millis() as u64, "projection run failed");
                        Next::After(self.error_backoff)
                    }
                };
                let wait = match next {
                    Next::Now => {
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Next::After(wait) => self.cap_wait(wait),
                };
                tokio::select! {
                    () = self.slot.wake.notified() => {}
                    // The timer: read even if the scanner reported nothing.
                    () = tokio::time::sleep(wait) => self.must_read = true,
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                    changed = stop.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
            self.stop().await;
        }
        .instrument(span)
        .await;
    }

    /// A wait never runs past the lease renewal.
    fn cap_wait(&self, wait: Duration) -> Duration {
        match self.held {
            Some(held) => wait.min(held.renew_at.saturating_duration_since(Instant::now())),
            None => wait,
        }
    }

    async fn tick(&mut self) -> Result<Next, Error> {
        let now = Instant::now();
        match self.held {
            None => {
                let forced = self.slot.try_acquire_now.swap(false, Ordering::SeqCst);
                if now < self.next_acquire && !forced {
                    return Ok(Next::After(self.next_acquire - now));
                }
                self.next_acquire = now + self.node.jittered(self.node.config.acquire_interval);
                if !self.acquire().await? {
                    return Ok(Next::After(
                        self.next_acquire.saturating_duration_since(Instant::now()),
                    ));
                }
            }
            Some(held) if now >= held.renew_at => {
                let ttl = self.node.ttl_us();
                let renewed = self
                    .node
                    .sql
                    .renew(
                        &self.node.db,
                        &self.slot.name,
                        &self.node.config.node_id,
                        held.lease,
                        ttl,
                    )
                    .await?;
                match renewed {
                    Some((rebuilds, checkpoint)) => {
                        self.held = Some(Held {
                            lease: held.lease,
                            renew_at: now + self.node.config.lease_ttl / 3,
                        });
                        // A checkpoint behind ours: our last commits were lost (an asynchronous commit in a
                        // database crash); go back to it rather than read on from memory.
                        if rebuilds != self.rebuilds || checkpoint != self.persisted {
                            return self.refence().await;
                        }
                    }
                    None => {
                        self.lose("lease renewal refused");
                        return Ok(Next::After(self.node.config.acquire_interval));
                    }
                }
            }
            Some(_) => {}
        }
        if self.held.is_some() && self.slot.reload.swap(false, Ordering::SeqCst) {
            return self.refence().await;
        }
        if self.held.is_some() && std::mem::take(&mut self.verify) {
            return self.refence().await;
        }
        if let Some(retry) = self.retry
            && now < retry.not_before
        {
            return Ok(Next::After(retry.not_before - now));
        }
        self.step().await
    }

    /// Tries to take the lease; on success, continues from the checkpoint in the database.
    async fn acquire(&mut self) -> Result<bool, Error> {
        let node = &self.node;
        let epoch = self.slot.epoch();
        let acquired = node
            .sql
            .acquire(
                &node.db,
                &self.slot.name,
                &node.config.node_id,
                node.ttl_us(),
            )
            .await?;
        let Some((lease, cursor, rebuilds)) = acquired else {
            // Not ours: still learn how far the view is, for cheap read-your-writes checks on this node.
            let seen = self.slot.checkpoint_seen();
            if let Some(row) = node.sql.load(&node.db, &self.slot.name).await? {
                self.slot
                    .learn_checkpoint(row.cursor, row.rebuilds, epoch, seen);
            }
            return Ok(false);
        };
        info!(
            token = lease.token,
            position = cursor.position,
            "took the projection's lease"
        );
        self.held = Some(Held {
            lease,
            renew_at: Instant::now() + node.config.lease_ttl / 3,
        });
        self.persisted = cursor;
        self.scan_from = cursor;
        self.rebuilds = rebuilds;
        self.retry = None;
        self.unresolved = true;
        self.must_read = true;
        self.slot.reload.store(false, Ordering::SeqCst);
        self.verify = false;
        self.slot.held.store(true, Ordering::SeqCst);
        self.slot.observe_rebuilds(rebuilds);
        // Whatever this node learnt beyond the checkpoint (from an earlier lease, or from commits since lost)
        // is not trusted: the view is where the checkpoint is, and the stream is read on from there.
        self.slot.lower_applied(cursor);
        self.slot.note_checkpoint(cursor);
        self.slot.raise_applied(cursor, self.slot.epoch());
        Ok(true)
    }

    fn lose(&mut self, why: &str) {
        if self.held.take().is_some() {
            info!(reason = why, "lost the projection's lease");
        }
        self.slot.held.store(false, Ordering::SeqCst);
        self.retry = None;
        self.next_acquire = Instant::now() + self.node.config.acquire_interval;
    }

    /// Gives the lease up on shutdown, so another node can take over at once.
    async fn stop(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        self.slot.held.store(false, Ordering::SeqCst);
        let node = &self.node;
        match node
            .sql
            .release(&node.db, &self.slot.name, &node.config.node_id, held.lease)
            .await
        {
            Ok(()) => {
                info!("released the projection's lease");
                node.announce_release(&self.slot.name).await;
            }
            Err(err) => {
                warn!(error = %err, "could not release the projection's lease; it lapses on its own")
            }
        }
    }

    /// Reads the next batch after the checkpoint and applies it.
    async fn step(&mut self) -> Result<Next, Error> {
        let node = Arc::clone(&self.node);
        let limit = node.config.batch_size;
        let forced = self.slot.force_read.swap(false, Ordering::SeqCst);
        // What the scanner learnt: the view reflects every event it reads up to `applied`.
        let applied = self.slot.applied();
        if applied > self.scan_from {
            self.scan_from = applied;
        }
        if !self.must_read && !forced && !self.slot.waited_for() && applied >= node.seen() {
            // Nothing of ours arrived since the scanner last looked.
            if self.scan_from > self.persisted && self.last_persist.elapsed() >= IDLE_PERSIST {
                self.persist_skipped_over().await?;
            }
            return Ok(self.idle());
        }
        let epoch = self.slot.epoch();
        let delivered = if self.must_read || forced {
            None
        } else {
            self.slot.take_delivery(self.scan_from, limit)
        };
        self.must_read = false;
        // `head`: every event of ours up to it is in `events` unless the batch is full. A delivery holds every
        // event of ours up to its end; a head read before the stream is: every event up to it is final.
        let (mut events, head, mut full) = match delivered {
            Some(delivered) => delivered,
            None => {
                let head = node.head().await?;
                let events = node
                    .store
                    .read_stream(&StreamQuery {
                        after: self.scan_from,
                        instance_id: None,
                        aggregate_types: self.slot.aggregate_types.clone(),
                        event_types: self.slot.event_types.clone(),
                        org_id: None,
                        limit,
                    })
                    .await?;
                let full = u32::try_from(events.len()).unwrap_or(u32::MAX) >= limit;
                (events, head, full)
            }
        };
        if events.is_empty() {
            if head > self.scan_from {
                self.scan_from = head;
                self.slot.raise_applied(head, epoch);
            }
            if self.scan_from > self.persisted && self.last_persist.elapsed() >= IDLE_PERSIST {
                self.persist_skipped_over().await?;
            }
            return Ok(self.idle());
        }
        // Work a projection does outside the batch transaction (a plugin's calls); it may take fewer events.
        let ready = self
            .slot
            .projection
            .prepare(&node.db, &events)
            .await
            .clamp(1, events.len());
        if ready < events.len() {
            events.truncate(ready);
            full = true;
        }
        let Some(last) = events.last() else {
            return Ok(self.idle());
        };
        let end = if full {
            last.cursor()
        } else {
            last.cursor().max(head)
        };
        debug!(
            events = events.len(),
            from = self.scan_from.position,
            to = end.position,
            "applying batch"
        );
        match self.apply(&events, end).await? {
            Applied::Done => self.committed(end, events.len(), epoch),
            Applied::Fenced => return self.refence().await,
            Applied::FailedAfterCheckpoint { index, error } => {
                if index > 0 {
                    self.committed(events[index - 1].cursor(), index, epoch);
                }
                return self.failed(&events[index], &error).await;
            }
            Applied::Failed { index, error } => {
                if index > 0 {
                    let prefix_end = events[index - 1].cursor();
                    match self.apply(&events[..index], prefix_end).await? {
                        Applied::Done => self.committed(prefix_end, index, epoch),
                        Applied::Fenced => return self.refence().await,
                        Applied::FailedAfterCheckpoint {
                            index: earlier,
                            error,
                        } => return self.failed(&events[earlier], &error).await,
                        // The events before the failing one failed on their own this time.
                        Applied::Failed {
                            index: earlier,
                            error,
                        } => return self.failed(&events[earlier], &error).await,
                    }
                }
                return self.failed(&events[index], &error).await;
            }
        }
        if full {
            self.must_read = true;
            return Ok(Next::Now);
        }
        Ok(self.idle())
    }

    /// How long to wait when the stream has nothing more for us.
    fn idle(&mut self) -> Next {
        if self.slot.waited_for() {
            return Next::After(WAITER_POLL);
        }
        Next::After(self.node.config.poll_interval)
    }

    /// Applies `events` and moves the checkpoint to `end`, in one transaction.
    ///
    /// The projection writes the batch as a whole ([`Projection::apply_batch`]); when that fails and the
    /// projection [merges events](Projection::merges_events), the batch is applied again event by event in a
    /// new transaction, so that the failure is reported at the event that causes it (a statement covering
    /// several events reports it at the first of them) and the events before it are applied. While a failed
    /// event is being retried, batches are applied event by event at once.
    async fn apply(&mut self, events: &[Event], end: Cursor) -> Result<Applied, Error> {
        if self.slot.projection.reacts() {
            return self.react(events, end).await;
        }
        let mut each = self.retry.is_some() || events.len() == 1;
        // Only a projection whose statements cover several events needs the second, event-by-event attempt.
        let exact = !self.slot.projection.merges_events();
        loop {
            match self.apply_once(events, end, each).await? {
                Applied::Failed { .. } if !each && !exact => each = true,
                applied => return Ok(applied),
            }
        }
    }

    /// One attempt of [`Runner::apply`]: the batch as a whole, or `each` event on its own.
    async fn apply_once(
        &mut self,
        events: &[Event],
        end: Cursor,
        each: bool,
    ) -> Result<Applied, Error> {
        let Some(held) = self.held else {
            return Ok(Applied::Fenced);
        };
        let node = &self.node;
        let last_event_at = events.last().map_or(0, |e| e.created_at);
        let mut tx = node.begin_batch().await?;
        let fenced = !node
            .sql
            .fence(
                &mut tx,
                &self.slot.name,
                &node.config.node_id,
                held.lease,
                self.persisted,
                end,
                last_event_at,
            )
            .await?;
        if fenced {
            tx.rollback().await?;
            return Ok(Applied::Fenced);
        }
        let applied = if each {
            apply_each(self.slot.projection.as_ref(), &mut tx, events).await
        } else {
            self.slot.projection.apply_batch(&mut tx, events).await
        };
        if let Err((index, error)) = applied {
            if let Err(rollback) = tx.rollback().await {
                debug!(error = %rollback, "rollback after a failed event failed");
            }
            return match error {
                ProjectionError::Database(err) if crate::db::is_transient(&err) => {
                    Err(Error::Database(err))
                }
                ProjectionError::Unavailable(reason) => Err(Error::Unavailable(reason)),
                error => Ok(Applied::Failed { index, error }),
            };
        }
        if self.unresolved {
            node.sql.resolve(&mut tx, &self.slot.name, end).await?;
        }
        tx.commit().await?;
        Ok(Applied::Done)
    }

    /// Hands `events` one by one to a reacting projection, outside any transaction, moving the checkpoint
    /// after each; at the end moves it to `end`.
    async fn react(&mut self, events: &[Event], end: Cursor) -> Result<Applied, Error> {
        for (index, event) in events.iter().enumerate() {
            if self.held.is_none() {
                return Ok(Applied::Fenced);
            }
            if let Err(error) = self.slot.projection.react(event).await {
                return match error {
                    ProjectionError::Database(err) if crate::db::is_transient(&err) => {
                        Err(Error::Database(err))
                    }
                    ProjectionError::Unavailable(reason) => Err(Error::Unavailable(reason)),
                    error => Ok(Applied::FailedAfterCheckpoint { index, error }),
                };
            }
            if !self.checkpoint(event.cursor(), event.created_at).await? {
                return Ok(Applied::Fenced);
            }
        }
        if end > self.persisted && !self.checkpoint(end, 0).await? {
            return Ok(Applied::Fenced);
        }
        Ok(Applied::Done)
    }

    /// Moves the checkpoint to `to` in a transaction of its own; false when the fence refused it.
    async fn checkpoint(&mut self, to: Cursor, last_event_at: i64) -> Result<bool, Error> {
        let Some(held) = self.held else {
            return Ok(false);
        };
        let node = Arc::clone(&self.node);
        let mut tx = node.begin_batch().await?;
        let moved = node
            .sql
            .fence(
                &mut tx,
                &self.slot.name,
                &node.config.node_id,
                held.lease,
                self.persisted,
                to,
                last_event_at,
            )
            .await?;
        if !moved {
            tx.rollback().await?;
            return Ok(false);
        }
        if self.unresolved {
            node.sql.resolve(&mut tx, &self.slot.name, to).await?;
        }
        tx.commit().await?;
        self.persisted = to;
        self.scan_from = to;
        Ok(true)
    }

    /// Bookkeeping after a batch of `count` events committed with the checkpoint at `end`.
    fn committed(&mut self, end: Cursor, count: usize, epoch: u64) {
        if self.node.pending.load(Ordering::SeqCst) {
            // Committed pushes were unreadable at the last scan, perhaps kept so by this batch's transaction
            // (PostgreSQL's horizon): have the scanner look again now that it ended.
            self.node.scan_wake.notify_one();
        }
        self.persisted = end;
        self.scan_from = end;
        self.slot.note_checkpoint(end);
        self.last_persist = Instant::now();
        self.unresolved = false;
        if self.retry.is_some_and(|r| r.cursor <= end) {
            self.retry = None;
        }
        let counters = &self.slot.counters;
        counters
            .events_applied
            .fetch_add(count as u64, Ordering::Relaxed);
        counters.batches.fetch_add(1, Ordering::Relaxed);
        self.slot.raise_applied(end, epoch);
    }

    /// Records a failed attempt at `event`; skips the event once it failed too often.
    async fn failed(&mut self, event: &Event, error: &ProjectionError) -> Result<Next, Error> {
        let Some(held) = self.held else {
            return Ok(Next::Now);
        };
        let node = Arc::clone(&self.node);
        let config = &node.config;
        let previous = self
            .retry
            .filter(|r| r.cursor == event.cursor())
            .map_or(0, |r| r.attempts);
        let backoff = config.backoff(previous + 1);
        let backoff_us = i64::try_from(backoff.as_micros()).unwrap_or(i64::MAX);
        let message = error.to_string();
        let mut tx = node.begin_batch().await?;
        let name = self.slot.name.as_str();
        let node_id = config.node_id.as_str();
        if !node
            .sql
            .fence(
                &mut tx,
                name,
                node_id,
                held.lease,
                self.persisted,
                self.persisted,
                0,
            )
            .await?
        {
            tx.rollback().await?;
            return self.refence().await;
        }
        let attempts = node
            .sql
            .record_failure(&mut tx, name, event, &message, backoff_us)
            .await?;
        let skip = attempts >= i64::from(config.max_attempts);
        if skip {
            node.sql.skip(&mut tx, name, event.position).await?;
            let moved = node
                .sql
                .fence(
                    &mut tx,
                    name,
                    node_id,
                    held.lease,
                    self.persisted,
                    event.cursor(),
                    event.created_at,
                )
                .await?;
            if !moved {
                tx.rollback().await?;
                return self.refence().await;
            }
        }
        tx.commit().await?;
        if skip {
            error!(
                position = event.position,
                event_type = %event.event_type,
                aggregate_id = %event.aggregate.aggregate_id,
                attempts,
                error = %message,
                "skipping an event the projection cannot apply"
            );
            let epoch = self.slot.epoch();
            self.persisted = event.cursor();
            self.scan_from = event.cursor();
            self.slot.note_checkpoint(event.cursor());
            self.last_persist = Instant::now();
            self.retry = None;
            self.slot.raise_applied(event.cursor(), epoch);
            return Ok(Next::Now);
        }
        warn!(
            position = event.position,
            event_type = %event.event_type,
            aggregate_id = %event.aggregate.aggregate_id,
            attempts,
            retry_in_ms = backoff.as_millis() as u64,
            error = %message,
            "projection failed to apply an event"
        );
        self.unresolved = true;
        self.retry = Some(Retry {
            cursor: event.cursor(),
            attempts,
            not_before: Instant::now() + backoff,
        });
        Ok(Next::After(backoff))
    }

    /// Persists a checkpoint moved over events the projection does not read.
    async fn persist_skipped_over(&mut self) -> Result<(), Error> {
        let Some(held) = self.held else {
            return Ok(());
        };
        let node = &self.node;
        let mut tx = node.begin_batch().await?;
        let to = self.scan_from;
        let moved = node
            .sql
            .fence(
                &mut tx,
                &self.slot.name,
                &node.config.node_id,
                held.lease,
                self.persisted,
                to,
                0,
            )
            .await?;
        if moved {
            tx.commit().await?;
            self.persisted = to;
            self.slot.note_checkpoint(to);
            self.last_persist = Instant::now();
        } else {
            tx.rollback().await?;
            self.refence().await?;
        }
        Ok(())
    }

    /// The fence refused a batch, or the projection was reset: learn where we stand from the database.
    async fn refence(&mut self) -> Result<Next, Error> {
        let node = Arc::clone(&self.node);
        let row = node.sql.load(&node.db, &self.slot.name).await?;
        let ours = match (&row, self.held) {
            (Some(row), Some(held)) => {
                row.holder.as_deref() == Some(node.config.node_id.as_str())
                    && row.lease_token == held.lease.token
                    && row.lease_until > row.now
            }
            _ => false,
        };
        match row {
            Some(row) if ours => {
                // Still ours: the checkpoint was reset (a rebuild), or went back because our last commits
                // were lost (an asynchronous commit in a database crash); continue from it, and take back
                // what readers were told beyond it, so none of the events after it is skipped.
                if row.cursor < self.persisted && row.rebuilds == self.rebuilds {
                    self.slot
                        .counters
                        .checkpoint_regressions
                        .fetch_add(1, Ordering::Relaxed);
                    warn!(
                        position = row.cursor.position,
                        ours = self.persisted.position,
                        "the checkpoint in the database is behind ours (commits lost); going back to it"
                    );
                } else if row.cursor != self.persisted {
                    info!(
                        position = row.cursor.position,
                        "checkpoint moved under us; continuing from it"
                    );
                }
                self.slot.observe_rebuilds(row.rebuilds);
                self.slot.lower_applied(row.cursor);
                self.slot.note_checkpoint(row.cursor);
                self.rebuilds = row.rebuilds;
                self.persisted = row.cursor;
                self.scan_from = row.cursor;
                self.retry = None;
                self.unresolved = true;
                self.must_read = true;
                Ok(Next::Now)
            }
            Some(row)
                if row.holder.as_deref() == Some(node.config.node_id.as_str())
                    && self.held.is_some() =>
            {
                // Our lease lapsed without anyone taking it: take it again.
                self.lose("lease lapsed");
                self.next_acquire = Instant::now();
                Ok(Next::Now)
            }
            _ => {
                self.lose("lease taken by another node");
                Ok(Next::After(node.config.acquire_interval))
            }
        }
    }
}
