//! [`Spoolers`]: every spooler of one node, their wake-ups, and what readers ask of them.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::postgres::PgListener;
use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
};
use tracing::{Instrument, debug, info, info_span, warn};
use warden_eventstore::{Cursor, Event, Eventstore, PushAnnouncement, Store};

use crate::{
    Error, ProjectionStatus, SpoolerConfig,
    db::{Db, ViewTx},
    params,
    projection::{Projection, ProjectionError},
    spooler::{Runner, Slot},
    state::{StateSql, StreamSql},
};

/// The longest pause between two checks of a reader waiting on a projection another node runs.
const CATCH_UP_POLL_MAX: Duration = Duration::from_millis(20);
/// The shortest time between two wake-ups this node sends to the other nodes.
const NOTIFY_INTERVAL: Duration = Duration::from_millis(2);

/// What the spooler tasks of one node share.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) store: Store,
    pub(crate) db: Db,
    pub(crate) config: SpoolerConfig,
    pub(crate) sql: StateSql,
    /// The `LISTEN/NOTIFY` channel (PostgreSQL with `listen_notify`).
    channel: Option<String>,
    /// Bumped to make the notifier task send a wake-up to the other nodes.
    notify_others: watch::Sender<u64>,
    /// The wake-up the store's pushes carry to the other nodes (with `channel`); the notifier task sends it
    /// when a push left it owed.
    announcement: Option<Arc<PushAnnouncement>>,
    /// The newest stream head read on this node.
    head: Mutex<Option<Cursor>>,
    /// How far the scanner has looked at the stream.
    seen: watch::Sender<Cursor>,
    /// Wakes the scanner.
    pub(crate) scan_wake: Notify,
    /// Whether the scanner's last scan found committed events the stream does not show yet (PostgreSQL's
    /// horizon): it then looks again shortly, and so does it after a view batch on this node commits.
    pub(crate) pending: AtomicBool,
    /// The projections this node runs now.
    pub(crate) registry: Registry,
    /// Called with every batch of new events the scanner reads.
    pub(crate) observers: Observers,
}

/// The observers of one node's scanner.
#[derive(Default)]
pub(crate) struct Observers(RwLock<Vec<EventObserver>>);

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.read().map(|o| o.len()).unwrap_or_default();
        f.debug_struct("Observers").field("count", &count).finish()
    }
}

impl Observers {
    /// The current observers.
    pub(crate) fn all(&self) -> Vec<EventObserver> {
        self.0.read().map(|o| o.clone()).unwrap_or_default()
    }
}

/// A callback the scanner hands every batch of new events it reads (see [`Spoolers::observe`]).
pub type EventObserver = Arc<dyn Fn(&[Event]) + Send + Sync>;

/// The projections of one node, which [`Spoolers::add`] and [`Spoolers::remove`] change while they run.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    slots: RwLock<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    /// In registration order.
    order: Vec<Arc<Slot>>,
    by_name: HashMap<String, Arc<Slot>>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, RegistryInner> {
        // Every change is a single insertion or removal, so a poisoned lock holds a consistent registry.
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, RegistryInner> {
        self.slots.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Every projection's slot, in registration order.
    pub(crate) fn all(&self) -> Vec<Arc<Slot>> {
        self.read().order.clone()
    }

    /// The slot of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Slot>> {
        self.read().by_name.get(name).cloned()
    }

    fn insert(&self, slot: Arc<Slot>) -> Result<(), Error> {
        let mut inner = self.write();
        if inner.by_name.contains_key(&slot.name) {
            return Err(Error::DuplicateProjection(slot.name.clone()));
        }
        inner.by_name.insert(slot.name.clone(), Arc::clone(&slot));
        inner.order.push(slot);
        Ok(())
    }

    fn remove(&self, name: &str) -> Option<Arc<Slot>> {
        let mut inner = self.write();
        let slot = inner.by_name.remove(name)?;
        inner.order.retain(|s| s.name != name);
        Some(slot)
    }
}

impl Node {
    /// The lease duration in µs.
    pub(crate) fn ttl_us(&self) -> i64 {
        i64::try_from(self.config.lease_ttl.as_micros()).unwrap_or(i64::MAX)
    }

    /// `base` plus up to a quarter of it at random, so nodes do not all try at the same moment.
    pub(crate) fn jittered(&self, base: Duration) -> Duration {
        let quarter = base.as_micros() / 4;
        if quarter == 0 {
            return base;
        }
        let extra = uuid::Uuid::new_v4().as_u128() % quarter;
        base + Duration::from_micros(u64::try_from(extra).unwrap_or(0))
    }

    /// A stream head read on this node (at the latest by the scanner's last scan), reading one if none was.
    /// Any head read earlier is one read before the caller's next read of the stream.
    pub(crate) async fn head(&self) -> Result<Cursor, Error> {
        if let Some(head) = self.head.lock().ok().and_then(|h| *h) {
            return Ok(head);
        }
        let head = self.store.head().await?;
        self.set_head(head);
        Ok(head)
    }

    pub(crate) fn set_head(&self, head: Cursor) {
        if let Ok(mut cached) = self.head.lock() {
            *cached = Some(cached.map_or(head, |c| c.max(head)));
        }
    }

    /// How far the scanner has looked at the stream.
    pub(crate) fn seen(&self) -> Cursor {
        *self.seen.borrow()
    }

    pub(crate) fn set_seen(&self, seen: Cursor) {
        self.seen.send_replace(seen);
    }

    async fn send(&self, payload: String) {
        let Some(channel) = &self.channel else {
            return;
        };
        if let Err(err) = self
            .db
            .execute(
                "SELECT pg_notify($1, $2)",
                &params![channel.as_str(), payload],
            )
            .await
        {
            debug!(error = %err, "could not notify the other nodes");
        }
    }

    /// Has the store's pushes stop carrying this node's wake-up (unless another node's replaced it).
    fn stop_announcing(&self) {
        if let (Store::Postgres(pg), Some(announcement)) = (&self.store, &self.announcement) {
            pg.stop_announcing(announcement);
        }
    }

    /// Begins a batch transaction of a spooler.
    ///
    /// On PostgreSQL it commits without waiting for the WAL flush (`synchronous_commit = off`): the view and
    /// its checkpoint change in the same transaction, so a database crash can only lose the last batches as a
    /// whole (never one without the other), and they are applied again from the durable events.
    pub(crate) async fn begin_batch(&self) -> Result<ViewTx, sqlx::Error> {
        self.db.begin_async_commit().await
    }

    /// Tells the other nodes a lease is free.
    pub(crate) async fn announce_release(&self, projection: &str) {
        self.send(format!("released:{}:{projection}", self.config.node_id))
            .await;
    }
}

struct Inner {
    node: Arc<Node>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The spooler task of each projection.
    runners: Mutex<HashMap<String, JoinHandle<()>>>,
    /// Serializes [`Spoolers::add`] and [`Spoolers::remove`].
    changing: tokio::sync::Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The tasks end on their own and give their leases up.
        self.shutdown.send_replace(true);
    }
}

/// The spoolers of one node: one task per projection, running it while this node holds its lease.
///
/// Start them once per process with [`Spoolers::start`]; clones share the same tasks. Pushes through the
/// [`Store`] they were started with (and its clones) wake them at once, pushes of other nodes through
/// PostgreSQL `LISTEN/NOTIFY` (see the crate documentation); call [`Spoolers::notify`] after pushes through any
/// other handle. Dropping the last clone stops the tasks as [`Spoolers::shutdown`] does, without waiting.
#[derive(Clone)]
pub struct Spoolers {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Spoolers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spoolers")
            .field("node_id", &self.inner.node.config.node_id)
            .field("projections", &self.inner.node.registry.all())
            .finish()
    }
}

fn check_identifier(projection: &str, what: &str, name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidProjection {
            projection: projection.to_owned(),
            reason: format!(
                "{what} `{name}` must be 1-63 of a-z, 0-9 and _, not starting with a digit"
            ),
        })
    }
}

/// Checks a projection and builds its slot.
fn slot_of(db: &Db, projection: Arc<dyn Projection>) -> Result<Slot, Error> {
    let name = projection.name().to_owned();
    check_identifier(&name, "name", &name)?;
    let aggregate_types = projection.aggregate_types();
    if aggregate_types.is_empty() {
        return Err(Error::InvalidProjection {
            projection: name,
            reason: "it must read at least one aggregate type".to_owned(),
        });
    }
    for table in projection.tables() {
        check_identifier(&name, "table", &table)?;
    }
    let stream = StreamSql::new(db.backend(), &aggregate_types, &projection.event_types());
    Ok(Slot::new(projection, stream))
}

impl Spoolers {
    /// Starts a spooler for each projection on this node. The store must be migrated.
    pub async fn start(
        store: Store,
        projections: Vec<Arc<dyn Projection>>,
        config: SpoolerConfig,
    ) -> Result<Self, Error> {
        config.validate()?;
        let db = Db::of(&store);
        let sql = StateSql::new(&db);
        let registry = Registry::default();
        for projection in projections {
            let slot = Arc::new(slot_of(&db, projection)?);
            sql.ensure(&db, &slot.name).await?;
            registry.insert(slot)?;
        }
        let channel = match &db {
            Db::Postgres { .. } if config.listen_notify => {
                let schema = db
                    .fetch_optional("SELECT current_schema() AS schema", &[])
                    .await?
                    .map(|row| row.get::<String>("schema"))
                    .transpose()?
                    .unwrap_or_default();
                let schema: String = schema
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .take(40)
                    .collect();
                Some(format!("warden_spooler_{schema}"))
            }
            _ => None,
        };
        let announcement = channel.as_ref().map(|channel| {
            Arc::new(PushAnnouncement::new(
                channel.clone(),
                wake_payload(&config.node_id),
                NOTIFY_INTERVAL,
            ))
        });
        if let (Store::Postgres(pg), Some(announcement)) = (&store, &announcement) {
            pg.announce_pushes(Arc::clone(announcement));
        }
        let node = Arc::new(Node {
            store,
            db,
            config,
            sql,
            channel,
            notify_others: watch::channel(0).0,
            announcement,
            head: Mutex::new(None),
            seen: watch::channel(Cursor::START).0,
            scan_wake: Notify::new(),
            pending: AtomicBool::new(false),
            registry,
            observers: Observers::default(),
        });
        let (shutdown, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut runners = HashMap::new();
        let slots = node.registry.all();
        for slot in &slots {
            let runner = Runner::new(Arc::clone(slot), Arc::clone(&node));
            runners.insert(
                slot.name.clone(),
                tokio::spawn(runner.run(shutdown.subscribe())),
            );
        }
        tasks.push(tokio::spawn(
            crate::scanner::run(Arc::clone(&node), shutdown.subscribe())
                .instrument(info_span!("spooler_scanner", node = %node.config.node_id)),
        ));
        if let Some(channel) = node.channel.clone() {
            tasks.push(tokio::spawn(notify_others(
                Arc::clone(&node),
                shutdown.subscribe(),
            )));
            tasks.push(tokio::spawn(
                listen(Arc::clone(&node), channel, shutdown.subscribe())
                    .instrument(info_span!("spooler_listener", node = %node.config.node_id)),
            ));
        }
        info!(
            node = %node.config.node_id,
            backend = node.store.backend(),
            projections = slots.len(),
            "spoolers started"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                node,
                shutdown,
                tasks: Mutex::new(tasks),
                runners: Mutex::new(runners),
                changing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node.config.node_id
    }

    /// The configuration the spoolers run with.
    pub fn config(&self) -> &SpoolerConfig {
        &self.inner.node.config
    }

    /// The names of the projections, in registration order.
    pub fn projections(&self) -> Vec<String> {
        self.inner
            .node
            .registry
            .all()
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    fn slot(&self, projection: &str) -> Result<Arc<Slot>, Error> {
        self.inner
            .node
            .registry
            .get(projection)
            .ok_or_else(|| Error::UnknownProjection(projection.to_owned()))
    }

    /// Starts a spooler for a projection registered after [`Spoolers::start`] (a projection plugin, say).
    ///
    /// It runs under the same lease, checkpoint and failed-event machinery as the others: a projection whose
    /// name is new starts from the start of the stream; one whose name has state in the database (added
    /// on another node, or before a restart) continues from its checkpoint. Every node that should run it
    /// adds it; the lease makes one of them apply events.
    pub async fn add(&self, projection: Arc<dyn Projection>) -> Result<(), Error> {
        let _changing = self.inner.changing.lock().await;
        if *self.inner.shutdown.borrow() {
            return Err(Error::Config("the spoolers are shut down".to_owned()));
        }
        let node = &self.inner.node;
        let slot = Arc::new(slot_of(&node.db, projection)?);
        if node.registry.get(&slot.name).is_some() {
            return Err(Error::DuplicateProjection(slot.name.clone()));
        }
        node.sql.ensure(&node.db, &slot.name).await?;
        node.registry.insert(Arc::clone(&slot))?;
        let runner = Runner::new(Arc::clone(&slot), Arc::clone(node));
        let task = tokio::spawn(runner.run(self.inner.shutdown.subscribe()));
        if let Ok(mut runners) = self.inner.runners.lock() {
            runners.insert(slot.name.clone(), task);
        }
        info!(projection = %slot.name, "projection added");
        // The scanner learns of the new projection at its next scan; have it look now.
        node.scan_wake.notify_one();
        Ok(())
    }

    /// Stops `projection`'s spooler on this node and gives its lease up (another node that still runs it
    /// takes over).
    ///
    /// With `drop_state`, also empties its view ([`Projection::reset`]) and deletes its checkpoint, lease and
    /// failed events, so a projection later added under the same name starts from scratch. Drop the state
    /// only once no node runs the projection any more: a node that still does stops applying events.
    pub async fn remove(&self, projection: &str, drop_state: bool) -> Result<(), Error> {
        let _changing = self.inner.changing.lock().await;
        let node = &self.inner.node;
        let slot = node
            .registry
            .remove(projection)
            .ok_or_else(|| Error::UnknownProjection(projection.to_owned()))?;
        slot.stop.send_replace(true);
        slot.wake.notify_one();
        let task = self
            .inner
            .runners
            .lock()
            .ok()
            .and_then(|mut runners| runners.remove(projection));
        if let Some(task) = task
            && let Err(err) = task.await
            && err.is_panic()
        {
            warn!(projection, error = %err, "a spooler task panicked");
        }
        if drop_state {
            let mut tx = node.db.begin().await?;
            // The row first: emptying the view while another node's batch still writes to it would leave
            // that batch's rows behind.
            node.sql.lock_for_removal(&mut tx, projection).await?;
            slot.projection.reset(&mut tx).await.map_err(|e| match e {
                ProjectionError::Database(err) => Error::Database(err),
                ProjectionError::Unavailable(reason) => Error::Unavailable(reason),
                ProjectionError::Event(reason) => Error::InvalidProjection {
                    projection: projection.to_owned(),
                    reason,
                },
            })?;
            node.sql.forget(&mut tx, projection).await?;
            tx.commit().await?;
        }
        info!(projection, drop_state, "projection removed");
        Ok(())
    }

    /// Hands every event this node's scanner reads from now on to `observer`, in stream order, soon after it
    /// is stored on any node: pushes through this node's store wake the scanner at once, pushes of other nodes
    /// through PostgreSQL `NOTIFY`. Caches that must follow changes made elsewhere (accepted tokens, write
    /// models) invalidate themselves from it. The observer runs on the scanner's task, so it must be quick.
    pub fn observe(&self, observer: EventObserver) {
        if let Ok(mut observers) = self.inner.node.observers.0.write() {
            observers.push(observer);
        }
    }

    /// Wakes every spooler of this node and of the other nodes, e.g. after pushes made through another
    /// [`Store`] handle than the one the spoolers were started with. Pushes through that store wake them anyway.
    pub fn notify(&self) {
        self.inner.node.scan_wake.notify_one();
        self.inner
            .node
            .notify_others
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether this node currently holds the lease of `projection`.
    pub fn is_holder(&self, projection: &str) -> Result<bool, Error> {
        Ok(self.slot(projection)?.held.load(Ordering::SeqCst))
    }

    /// A receiver of the cursor `projection`'s view is known (on this node) to have reached.
    pub fn applied(&self, projection: &str) -> Result<watch::Receiver<Cursor>, Error> {
        Ok(self.slot(projection)?.subscribe_applied())
    }

    /// Makes sure `projection`'s view reflects every event it reads up to `target` (read-your-writes).
    ///
    /// Returns at once, without touching the database, when this node already knows the view is there.
    /// Otherwise wakes the projection's spooler (here, or on the node holding its lease) and waits, at most
    /// [`catch_up_timeout`](SpoolerConfig::catch_up_timeout), failing with [`Error::CatchUpTimeout`].
    pub async fn ensure_caught_up(&self, projection: &str, target: Cursor) -> Result<(), Error> {
        let slot = self.slot(projection)?;
        if slot.applied() >= target {
            return Ok(());
        }
        self.catch_up(&slot, target)
            .instrument(info_span!("catch_up", projection, target = target.position))
            .await
    }

    async fn catch_up(&self, slot: &Arc<Slot>, target: Cursor) -> Result<(), Error> {
        let node = &self.inner.node;
        slot.counters.catch_up_waits.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let deadline = started + node.config.catch_up_timeout;
        let _waiter = slot.wait_for(target);
        let mut applied = slot.subscribe_applied();
        slot.wake.notify_one();
        let mut asked_others = false;
        let mut relevance_known = false;
        let mut poll = Duration::from_millis(1);
        let mut round = 0u32;
        loop {
            round += 1;
            if *applied.borrow_and_update() >= target {
                return Ok(());
            }
            let held = slot.held.load(Ordering::SeqCst);
            if !held {
                // Another node runs the projection: read how far it got, and wake it once.
                let epoch = slot.epoch();
                let seen = slot.checkpoint_seen();
                if let Some(row) = node.sql.load(&node.db, &slot.name).await? {
                    slot.learn_checkpoint(row.cursor, row.rebuilds, epoch, seen);
                }
                if !asked_others {
                    asked_others = true;
                    node.notify_others.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            // Here the spooler usually gets there within a moment; ask the database only if it does not.
            if !held || (!relevance_known && round > 3) {
                // The target may be an event the projection does not read; then it only needs the events
                // the projection reads before it.
                let epoch = slot.epoch();
                let from = slot.applied();
                if from >= target {
                    return Ok(());
                }
                if let Some(found) = slot.stream.relevant_between(&node.db, from, target).await? {
                    relevance_known = true;
                    if !found {
                        slot.raise_applied(target, epoch);
                        return Ok(());
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                slot.counters
                    .catch_up_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                warn!(
                    projection = %slot.name,
                    target = target.position,
                    reached = slot.applied().position,
                    "projection did not catch up in time"
                );
                return Err(Error::CatchUpTimeout {
                    projection: slot.name.clone(),
                    target,
                    waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            let wait = poll.min(deadline - now);
            tokio::select! {
                changed = applied.changed() => {
                    if changed.is_err() {
                        return Err(Error::UnknownProjection(slot.name.clone()));
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
            poll = (poll * 2).min(CATCH_UP_POLL_MAX);
        }
    }

    /// The status of every projection: checkpoint, lag behind the stream head, lease holder, failed events.
    pub async fn status(&self) -> Result<Vec<ProjectionStatus>, Error> {
        let slots = self.inner.node.registry.all();
        let mut out = Vec::with_capacity(slots.len());
        for slot in &slots {
            out.push(self.slot_status(slot).await?);
        }
        Ok(out)
    }

    /// The status of one projection.
    pub async fn projection_status(&self, projection: &str) -> Result<ProjectionStatus, Error> {
        let slot = self.slot(projection)?;
        self.slot_status(&slot).await
    }

    async fn slot_status(&self, slot: &Slot) -> Result<ProjectionStatus, Error> {
        let node = &self.inner.node;
        let head = node.store.head().await?;
        let row = node
            .sql
            .load(&node.db, &slot.name)
            .await?
            .ok_or_else(|| Error::UnknownProjection(slot.name.clone()))?;
        let (lag_events, oldest) = slot.stream.lag(&node.db, row.cursor).await?;
        let now = node.sql.now(&node.db).await?;
        let failed_events = node.sql.failures(&node.db, &slot.name).await?;
        let skipped = failed_events.iter().filter(|f| f.skipped).count();
        let counters = &slot.counters;
        Ok(ProjectionStatus {
            name: slot.name.clone(),
            cursor: row.cursor,
            head,
            lag_events,
            lag_ms: if lag_events > 0 {
                (now - oldest).max(0) / 1000
            } else {
                0
            },
            holder: row.live_holder().map(str::to_owned),
            held_here: slot.held.load(Ordering::SeqCst),
            lease_until_ms: row.lease_until / 1000,
            last_event_at_ms: row.last_event_at / 1000,
            updated_at_ms: row.updated_at / 1000,
            rebuilds: row.rebuilds,
            retrying_events: i64::try_from(failed_events.len() - skipped).unwrap_or(i64::MAX),
            skipped_events: i64::try_from(skipped).unwrap_or(i64::MAX),
            failed_events,
            applied_here: counters.events_applied.load(Ordering::Relaxed),
            batches_here: counters.batches.load(Ordering::Relaxed),
            catch_up_waits_here: counters.catch_up_waits.load(Ordering::Relaxed),
            catch_up_timeouts_here: counters.catch_up_timeouts.load(Ordering::Relaxed),
            run_failures_here: counters.run_failures.load(Ordering::Relaxed),
            checkpoint_regressions_here: counters.checkpoint_regressions.load(Ordering::Relaxed),
        })
    }

    /// The projection figures in Prometheus text format, for `GET /metrics`.
    pub async fn metrics(&self) -> Result<String, Error> {
        let statuses = self.status().await?;
        Ok(crate::status::render_prometheus(&statuses, self.node_id()))
    }

    /// Empties `projection`'s view and resets its checkpoint, so its spooler (on whichever node holds the
    /// lease) replays the stream from the start. Failed events of the projection are forgotten.
    pub async fn rebuild(&self, projection: &str) -> Result<(), Error> {
        let slot = self.slot(projection)?;
        let node = &self.inner.node;
        // Cursors learnt before the reset must not be published after it.
        slot.reset_applied();
        let mut tx = node.db.begin().await?;
        node.sql.reset(&mut tx, &slot.name).await?;
        slot.projection.reset(&mut tx).await.map_err(|e| match e {
            ProjectionError::Database(err) => Error::Database(err),
            ProjectionError::Unavailable(reason) => Error::Unavailable(reason),
            ProjectionError::Event(reason) => Error::InvalidProjection {
                projection: projection.to_owned(),
                reason,
            },
        })?;
        tx.commit().await?;
        slot.reset_applied();
        info!(projection = %slot.name, "projection reset for a rebuild");
        node.send(format!("rebuild:{}:{}", node.config.node_id, slot.name))
            .await;
        slot.reload.store(true, Ordering::SeqCst);
        slot.wake.notify_one();
        Ok(())
    }

    /// Stops every spooler of this node and gives their leases up, so other nodes take over at once.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.node.stop_announcing();
        let mut tasks: Vec<JoinHandle<()>> = match self.inner.runners.lock() {
            Ok(mut runners) => runners.drain().map(|(_, task)| task).collect(),
            Err(_) => Vec::new(),
        };
        if let Ok(mut others) = self.inner.tasks.lock() {
            tasks.extend(others.drain(..));
        }
        for task in tasks {
            if let Err(err) = task.await
                && err.is_panic()
            {
                warn!(error = %err, "a spooler task panicked");
            }
        }
        info!(node = %self.node_id(), "spoolers stopped");
    }

    /// Stops every spooler of this node at once, in the middle of whatever it does, without giving leases up:
    /// what a crash does. Open batch transactions roll back; other nodes take over when the leases lapse.
    pub fn abort(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.node.stop_announcing();
        if let Ok(mut runners) = self.inner.runners.lock() {
            for (_, task) in runners.drain() {
                task.abort();
            }
        }
        if let Ok(mut tasks) = self.inner.tasks.lock() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
        for slot in &self.inner.node.registry.all() {
            slot.held.store(false, Ordering::SeqCst);
        }
    }
}

/// The notification that wakes the other nodes' scanners, sent by node `node_id` (see [`handle`]).
fn wake_payload(node_id: &str) -> String {
    format!("wake:{node_id}")
}

/// Sends one `NOTIFY` per burst of pushes (or explicit requests) to the other nodes. A push that carried the
/// notification itself (see [`PushAnnouncement`]) needs none from here.
async fn notify_others(node: Arc<Node>, mut shutdown: watch::Receiver<bool>) {
    let mut pushes = node.store.subscribe();
    let mut requests = node.notify_others.subscribe();
    let payload = wake_payload(&node.config.node_id);
    loop {
        tokio::select! {
            changed = pushes.changed() => {
                if changed.is_err() {
                    return;
                }
                if node.announcement.as_ref().is_some_and(|a| !a.take_owed()) {
                    continue;
                }
            }
            changed = requests.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = shutdown.changed() => return,
        }
        if let Some(announcement) = &node.announcement {
            // This notification follows every push committed so far.
            announcement.take_owed();
            announcement.sending();
        }
        node.send(payload.clone()).await;
        // At most one notification per interval: a burst of pushes costs the other nodes one scan.
        tokio::time::sleep(NOTIFY_INTERVAL).await;
    }
}

/// Listens for the other nodes' notifications and wakes the spoolers here.
async fn listen(node: Arc<Node>, channel: String, mut shutdown: watch::Receiver<bool>) {
    let Db::Postgres { pool, .. } = &node.db else {
        return;
    };
    let wake_all = || {
        node.scan_wake.notify_one();
        for slot in &node.registry.all() {
            slot.force_read.store(true, Ordering::SeqCst);
        }
    };
    let stopping = AtomicBool::new(false);
    while !stopping.load(Ordering::Relaxed) {
        let connected = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(&channel).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(err) => {
                warn!(error = %err, "cannot listen for other nodes; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        // Notifications sent while not listening are lost: look at the stream once.
        wake_all();
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => handle(notification.payload(), &node),
                    // The connection dropped and was re-established: notifications may have been lost.
                    Ok(None) => wake_all(),
                    Err(sqlx::Error::PoolClosed) => {
                        stopping.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(err) => {
                        warn!(error = %err, "lost the notification channel; reconnecting");
                        break;
                    }
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

fn handle(payload: &str, node: &Node) {
    let mut parts = payload.splitn(3, ':');
    let kind = parts.next().unwrap_or_default();
    let sender = parts.next().unwrap_or_default();
    if sender == node.config.node_id {
        return;
    }
    match (kind, parts.next().and_then(|name| node.registry.get(name))) {
        ("wake", _) => node.scan_wake.notify_one(),
        ("released", Some(slot)) => {
            slot.try_acquire_now.store(true, Ordering::SeqCst);
            slot.wake.notify_one();
        }
        ("rebuild", Some(slot)) => {
            slot.reset_applied();
            slot.reload.store(true, Ordering::SeqCst);
            slot.wake.notify_one();
        }
        _ => debug!(payload, "ignoring an unknown notification"),
    }
}
