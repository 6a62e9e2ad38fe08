//! The spooler machinery, run against both backends: exactly-once application across crashes, failed events,
//! rebuilds, fencing, leases shared by several nodes, and read-your-writes.

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;
use warden_domain::{
    DomainEvent,
    org::{OrgEvent, OrgName},
    user::{HumanAdded, Profile, UserEvent},
};
use warden_eventstore::{
    AggregateKey, Cursor, Event, Eventstore, Expected, NewEvent, Push, Store, StreamQuery,
    testing::TestStore,
};
use warden_spooler::{
    BoxFuture, Db, Error, Projection, ProjectionError, SpoolerConfig, Spoolers, ViewTx, params,
};

warden_eventstore::both_backends!(
    ref:
    concurrent_writers_every_event_applied_once,
    crash_mid_batch_then_restart_applies_each_event_once,
    poison_event_retried_then_skipped_and_visible,
    batched_failure_is_counted_against_the_event_that_causes_it,
    rebuild_replays_from_the_start,
    node_that_lost_its_lease_cannot_write,
    read_your_writes_through_a_second_store,
    catch_up_on_an_event_the_projection_does_not_read,
    catch_up_gives_up_after_the_bound,
    lost_commits_and_transient_errors_skip_nothing,
    removing_a_projection_with_its_state_fences_out_its_holder,
    a_node_without_the_lease_notices_lost_commits,
    reacting_projection_pushes_outside_the_batch_with_checkpoint_and_failures,
    a_begin_abandoned_half_way_leaves_no_transaction_behind,
);

warden_eventstore::both_backends!(
    postgres_only ref:
    an_event_hidden_behind_an_older_transaction_is_applied_once_that_ends,
    pushes_on_one_node_wake_the_others,
    two_nodes_one_holder_each_and_takeover_after_shutdown,
    three_nodes_takeover_after_crash_and_views_converge,
);

const INSTANCE: &str = "inst-1";

/// A test projection recording every event it applies: a second application of an event breaks the primary
/// key of `{name}_events`, a missing one shows in the comparison with the stream.
struct Tally {
    name: String,
    /// Fails every attempt at events at these positions.
    poison: BTreeSet<i64>,
    /// Stops (forever) in the middle of a batch at this position, after telling `stalled`.
    stall_at: Option<i64>,
    stalled: Arc<Notify>,
    attempts: Mutex<BTreeMap<i64, u32>>,
    /// Failures the database would cause, injected at these positions, first to last, one per attempt.
    faults: Mutex<BTreeMap<i64, Vec<Fault>>>,
    /// Real statement timeouts the database raised for a [`Fault::StatementTimeout`].
    timeouts_seen: Mutex<u32>,
    /// Reports a failure in a batch at the batch's first event, as a statement covering them all would.
    batched: bool,
}

/// A failure of the database, not of the event, injected into a projection's `apply`.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// A database error with this code (SQLSTATE, or SQLite's extended result code).
    Code(&'static str),
    /// A real statement timeout (PostgreSQL's `statement_timeout`, SQLSTATE 57014).
    StatementTimeout,
}

/// A database error as a driver reports it, with the code of a transient condition.
#[derive(Debug)]
struct InjectedDbError(&'static str);

impl std::fmt::Display for InjectedDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "injected database error {}", self.0)
    }
}

impl std::error::Error for InjectedDbError {}

impl sqlx::error::DatabaseError for InjectedDbError {
    fn message(&self) -> &str {
        "injected database error"
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.0.into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

impl Tally {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            poison: BTreeSet::new(),
            stall_at: None,
            stalled: Arc::new(Notify::new()),
            attempts: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(BTreeMap::new()),
            timeouts_seen: Mutex::new(0),
            batched: false,
        }
    }

    /// Injected faults not raised yet.
    fn faults_left(&self) -> usize {
        self.faults
            .lock()
            .map(|f| f.values().map(Vec::len).sum())
            .unwrap_or(usize::MAX)
    }

    fn next_fault(&self, position: i64) -> Option<Fault> {
        let mut faults = self.faults.lock().ok()?;
        let queue = faults.get_mut(&position)?;
        (!queue.is_empty()).then(|| queue.remove(0))
    }

    fn events_table(&self) -> String {
        format!("{}_events", self.name)
    }

    fn counts_table(&self) -> String {
        format!("{}_counts", self.name)
    }
}

impl Projection for Tally {
    fn name(&self) -> &str {
        &self.name
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["user".to_owned()]
    }

    fn tables(&self) -> Vec<String> {
        vec![self.events_table(), self.counts_table()]
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            if let Ok(mut attempts) = self.attempts.lock() {
                *attempts.entry(event.position).or_default() += 1;
            }
            match self.next_fault(event.position) {
                Some(Fault::Code(code)) => {
                    return Err(ProjectionError::Database(sqlx::Error::Database(Box::new(
                        InjectedDbError(code),
                    ))));
                }
                Some(Fault::StatementTimeout) => {
                    tx.execute("SET LOCAL statement_timeout = 1", &[]).await?;
                    if let Err(err) = tx.execute("SELECT pg_sleep(1)", &[]).await {
                        if let Ok(mut seen) = self.timeouts_seen.lock() {
                            *seen += 1;
                        }
                        return Err(err.into());
                    }
                }
                None => {}
            }
            tx.execute(
                &format!(
                    "INSERT INTO {} (instance_id, position, aggregate_id, sequence) VALUES ($1, $2, $3, $4)",
                    self.events_table()
                ),
                &params![
                    event.aggregate.instance_id.as_str(),
                    event.position,
                    event.aggregate.aggregate_id.as_str(),
                    event.sequence
                ],
            )
            .await?;
            if self.stall_at == Some(event.position) {
                self.stalled.notify_one();
                std::future::pending::<()>().await;
            }
            if self.poison.contains(&event.position) {
                return Err(ProjectionError::event(format!(
                    "cannot apply event {}",
                    event.position
                )));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {t} (instance_id, aggregate_id, events) VALUES ($1, $2, 1) \
                     ON CONFLICT (instance_id, aggregate_id) DO UPDATE SET events = {t}.events + 1",
                    t = self.counts_table()
                ),
                &params![
                    event.aggregate.instance_id.as_str(),
                    event.aggregate.aggregate_id.as_str()
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), (usize, ProjectionError)>> {
        Box::pin(async move {
            for (index, event) in events.iter().enumerate() {
                if let Err(error) = self.apply(tx, event).await {
                    return Err((if self.batched { 0 } else { index }, error));
                }
            }
            Ok(())
        })
    }
}

async fn create_tally_tables(store: &Store, name: &str) {
    let db = Db::of(store);
    db.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS {name}_events (instance_id TEXT NOT NULL, position BIGINT PRIMARY KEY, \
             aggregate_id TEXT NOT NULL, sequence BIGINT NOT NULL)"
        ),
        &[],
    )
    .await
    .expect("create events table");
    db.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS {name}_counts (instance_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, \
             events BIGINT NOT NULL, PRIMARY KEY (instance_id, aggregate_id))"
        ),
        &[],
    )
    .await
    .expect("create counts table");
}

/// Positions recorded by a tally, and its per-aggregate counts.
async fn tally_contents(store: &Store, name: &str) -> (Vec<i64>, BTreeMap<String, i64>) {
    let db = Db::of(store);
    let positions = db
        .fetch_all(
            &format!("SELECT position FROM {name}_events ORDER BY position"),
            &[],
        )
        .await
        .expect("read tally")
        .iter()
        .map(|r| r.get::<i64>("position").expect("position"))
        .collect();
    let counts = db
        .fetch_all(
            &format!("SELECT aggregate_id, events FROM {name}_counts"),
            &[],
        )
        .await
        .expect("read counts")
        .iter()
        .map(|r| {
            (
                r.get("aggregate_id").expect("id"),
                r.get("events").expect("events"),
            )
        })
        .collect();
    (positions, counts)
}

/// Positions and per-aggregate counts a tally must have after applying every user event exactly once.
///
/// Read from the events table itself, not through the stream: on PostgreSQL the stream shows only events
/// below the horizon of the oldest running transaction of the whole server (other tests' too), and a view
/// equal to such a prefix has not converged yet.
async fn expected_tally(store: &Store, skip: &BTreeSet<i64>) -> (Vec<i64>, BTreeMap<String, i64>) {
    let events: Vec<(i64, String)> = Db::of(store)
        .fetch_all(
            "SELECT position, aggregate_id FROM events WHERE aggregate_type = 'user'",
            &[],
        )
        .await
        .expect("read events")
        .iter()
        .map(|r| {
            (
                r.get("position").expect("position"),
                r.get("aggregate_id").expect("aggregate id"),
            )
        })
        .filter(|(position, _)| !skip.contains(position))
        .collect();
    let mut positions: Vec<i64> = events.iter().map(|(p, _)| *p).collect();
    positions.sort_unstable();
    let mut counts = BTreeMap::new();
    for (_, aggregate_id) in events {
        *counts.entry(aggregate_id).or_insert(0) += 1;
    }
    (positions, counts)
}

fn human_added(login: &str) -> NewEvent {
    let event = UserEvent::HumanAdded(HumanAdded {
        org_id: "org-1".to_owned(),
        login_name: login.to_owned(),
        profile: Profile {
            given_name: "Given".to_owned(),
            family_name: "Family".to_owned(),
            display_name: "Given Family".to_owned(),
            preferred_language: "en".to_owned(),
        },
        email: format!("{login}@example.com"),
        email_verified: false,
        phone: None,
        password_hash: None,
        password_change_required: false,
    });
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

fn domain_event(event: &UserEvent) -> NewEvent {
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

/// Adds user `id` and locks and unlocks it `changes` times; returns the stored events.
async fn push_user(store: &Store, id: &str, changes: usize) -> Vec<Event> {
    let mut stored = store
        .push(Push::new("tester").append(
            AggregateKey::new(INSTANCE, "user", id),
            Expected::Exact(0),
            vec![human_added(id)],
        ))
        .await
        .expect("push user");
    for i in 0..changes {
        let event = if i % 2 == 0 {
            UserEvent::Locked
        } else {
            UserEvent::Unlocked
        };
        stored.extend(
            store
                .push(Push::new("tester").append(
                    AggregateKey::new(INSTANCE, "user", id),
                    Expected::Any,
                    vec![domain_event(&event)],
                ))
                .await
                .expect("push change"),
        );
    }
    stored
}

fn config(node: &str) -> SpoolerConfig {
    SpoolerConfig {
        batch_size: 16,
        lease_ttl: Duration::from_millis(1500),
        acquire_interval: Duration::from_millis(200),
        poll_interval: Duration::from_millis(500),
        max_attempts: 3,
        retry_backoff: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(200),
        catch_up_timeout: Duration::from_secs(5),
        ..SpoolerConfig::new(node)
    }
}

/// Waits until `check` holds, failing the test after `timeout`.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn caught_up(spoolers: &Spoolers, store: &Store, projection: &str) {
    let head = store.head().await.expect("head");
    spoolers
        .ensure_caught_up(projection, head)
        .await
        .expect("projection catches up");
}

/// Waits until the tally equals a replay of the stream (minus `skip`). On PostgreSQL an event becomes readable
/// only once older transactions (of any test sharing the server) end, so the stream may grow meanwhile.
async fn assert_converges(spoolers: &Spoolers, store: &Store, name: &str, skip: &BTreeSet<i64>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        caught_up(spoolers, store, name).await;
        let (actual, expected) = (
            tally_contents(store, name).await,
            expected_tally(store, skip).await,
        );
        if actual == expected {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(actual, expected, "{name} differs from a replay");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(
    store: &Store,
    projections: Vec<Arc<dyn Projection>>,
    config: SpoolerConfig,
) -> Spoolers {
    Spoolers::start(store.clone(), projections, config)
        .await
        .expect("start spoolers")
}

async fn concurrent_writers_every_event_applied_once(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let spoolers = start(store, vec![Arc::new(Tally::new("tally"))], config("node-a")).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for u in 0..10 {
                    push_user(&store, &format!("w{w}-u{u}"), 3).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;
    let status = spoolers.projection_status("tally").await.expect("status");
    assert_eq!(status.lag_events, 0);
    assert_eq!(status.holder.as_deref(), Some("node-a"));
    assert!(status.failed_events.is_empty());
    spoolers.shutdown().await;
}

async fn crash_mid_batch_then_restart_applies_each_event_once(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let mut all = Vec::new();
    for u in 0..12 {
        all.extend(push_user(store, &format!("u{u}"), 4).await);
    }
    // Stall in the middle of the fourth batch of 16.
    let stall_at = all[16 * 3 + 7].position;
    let mut stalling = Tally::new("tally");
    stalling.stall_at = Some(stall_at);
    let stalled = Arc::clone(&stalling.stalled);
    let first = start(store, vec![Arc::new(stalling)], config("node-a")).await;
    tokio::time::timeout(Duration::from_secs(10), stalled.notified())
        .await
        .expect("the spooler reaches the stall");
    let checkpoint = first
        .projection_status("tally")
        .await
        .expect("status")
        .cursor;
    first.abort();

    // Exactly the committed batches are in the view: every event up to the checkpoint, none of the
    // interrupted batch.
    let (positions, _) = tally_contents(store, "tally").await;
    let committed: Vec<i64> = all
        .iter()
        .filter(|e| e.cursor() <= checkpoint)
        .map(|e| e.position)
        .collect();
    assert!(!committed.is_empty() && checkpoint.position < stall_at);
    assert_eq!(
        positions, committed,
        "the interrupted batch left nothing behind"
    );

    // A new node takes over once the crashed node's lease lapses, and applies the rest exactly once.
    let second = start(store, vec![Arc::new(Tally::new("tally"))], config("node-b")).await;
    eventually(
        Duration::from_secs(5),
        "node-b to take the lease",
        || async { second.is_holder("tally").unwrap_or(false) },
    )
    .await;
    assert_converges(&second, store, "tally", &BTreeSet::new()).await;
    second.shutdown().await;
}

async fn poison_event_retried_then_skipped_and_visible(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let mut all = Vec::new();
    for u in 0..5 {
        all.extend(push_user(store, &format!("u{u}"), 2).await);
    }
    let poison = all[7].clone();
    let mut tally = Tally::new("tally");
    tally.poison.insert(poison.position);
    let tally = Arc::new(tally);
    let spoolers = start(
        store,
        vec![Arc::clone(&tally) as Arc<dyn Projection>],
        config("node-a"),
    )
    .await;
    let skip = BTreeSet::from([poison.position]);
    assert_converges(&spoolers, store, "tally", &skip).await;

    let status = spoolers.projection_status("tally").await.expect("status");
    assert_eq!(status.skipped_events, 1);
    assert_eq!(status.retrying_events, 0);
    let failed = &status.failed_events[0];
    assert_eq!(failed.position, poison.position);
    assert_eq!(failed.attempts, 3);
    assert!(failed.skipped);
    assert_eq!(failed.event_type, poison.event_type);
    assert_eq!(failed.aggregate_id, poison.aggregate.aggregate_id);
    assert!(failed.error.contains("cannot apply"), "{}", failed.error);
    let attempts = tally
        .attempts
        .lock()
        .map(|a| a.get(&poison.position).copied())
        .ok()
        .flatten();
    assert_eq!(attempts, Some(3), "tried exactly max_attempts times");

    // Every later event is applied exactly once too.
    push_user(store, "after", 1).await;
    assert_converges(&spoolers, store, "tally", &skip).await;

    let metrics = spoolers.metrics().await.expect("metrics");
    assert!(
        metrics
            .contains("warden_projection_failed_events{projection=\"tally\",state=\"skipped\"} 1"),
        "{metrics}"
    );
    spoolers.shutdown().await;
}

/// A projection that writes a batch with statements covering several events cannot tell which event failed;
/// the spooler retries event by event, so only the event that causes the failure is counted and skipped.
async fn batched_failure_is_counted_against_the_event_that_causes_it(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let mut all = Vec::new();
    for u in 0..5 {
        all.extend(push_user(store, &format!("u{u}"), 2).await);
    }
    let poison = all[7].clone();
    let mut tally = Tally::new("tally");
    tally.poison.insert(poison.position);
    tally.batched = true;
    let tally = Arc::new(tally);
    let spoolers = start(
        store,
        vec![Arc::clone(&tally) as Arc<dyn Projection>],
        config("node-a"),
    )
    .await;
    let skip = BTreeSet::from([poison.position]);
    assert_converges(&spoolers, store, "tally", &skip).await;

    let status = spoolers.projection_status("tally").await.expect("status");
    assert_eq!(status.skipped_events, 1);
    assert_eq!(status.retrying_events, 0);
    let failed: Vec<i64> = status.failed_events.iter().map(|f| f.position).collect();
    assert_eq!(failed, vec![poison.position], "only the poison is recorded");
    assert_eq!(status.failed_events[0].attempts, 3);
    assert!(status.failed_events[0].skipped);
    spoolers.shutdown().await;
}

async fn rebuild_replays_from_the_start(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    for u in 0..6 {
        push_user(store, &format!("u{u}"), 3).await;
    }
    let spoolers = start(store, vec![Arc::new(Tally::new("tally"))], config("node-a")).await;
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;
    let before = tally_contents(store, "tally").await;

    spoolers.rebuild("tally").await.expect("rebuild");
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;
    assert_eq!(tally_contents(store, "tally").await, before);
    let status = spoolers.projection_status("tally").await.expect("status");
    assert_eq!(status.rebuilds, 1);
    assert_eq!(status.lag_events, 0);
    spoolers.shutdown().await;
}

async fn node_that_lost_its_lease_cannot_write(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    push_user(store, "u0", 1).await;
    let spoolers = start(store, vec![Arc::new(Tally::new("tally"))], config("node-a")).await;
    caught_up(&spoolers, store, "tally").await;

    // Another node takes the lease over (as if node-a had been paused past its lease).
    let db = Db::of(store);
    db.execute(
        "UPDATE projection_state SET holder = 'intruder', lease_token = lease_token + 1, \
         lease_until = lease_until + 600000000 WHERE projection = 'tally'",
        &[],
    )
    .await
    .expect("steal lease");
    let before = tally_contents(store, "tally").await;
    push_user(store, "u1", 2).await;
    // A bound, not a measurement: renewal notices within a third of the lease, but a loaded shared
    // database server can hold the run back for a while.
    eventually(
        Duration::from_secs(60),
        "node-a to notice it lost the lease",
        || async { !spoolers.is_holder("tally").unwrap_or(true) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tally_contents(store, "tally").await,
        before,
        "a fenced node wrote to the view"
    );

    // Once the intruder lets go, node-a takes over again and the view converges.
    db.execute(
        "UPDATE projection_state SET holder = NULL, lease_until = 0 WHERE projection = 'tally'",
        &[],
    )
    .await
    .expect("free lease");
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;
    spoolers.shutdown().await;
}

async fn read_your_writes_through_a_second_store(t: &TestStore) {
    let store_a = &t.store;
    let store_b = t.connect_again().await;
    create_tally_tables(store_a, "tally").await;
    let node_a = start(
        store_a,
        vec![Arc::new(Tally::new("tally"))],
        config("node-a"),
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "node-a to take the lease",
        || async { node_a.is_holder("tally").unwrap_or(false) },
    )
    .await;
    let node_b = start(
        &store_b,
        vec![Arc::new(Tally::new("tally"))],
        config("node-b"),
    )
    .await;
    for i in 0..20 {
        // Write through B, read through B while A runs the projection, and the other way round.
        let (writer, reader) = if i % 2 == 0 {
            (&store_b, &node_b)
        } else {
            (store_a, &node_a)
        };
        let stored = push_user(writer, &format!("u{i}"), 0).await;
        let cursor = stored.last().expect("event").cursor();
        reader
            .ensure_caught_up("tally", cursor)
            .await
            .expect("caught up");
        let reader_store = if i % 2 == 0 { &store_b } else { store_a };
        let (positions, _) = tally_contents(reader_store, "tally").await;
        assert!(
            positions.contains(&cursor.position),
            "write {i} not readable right after it returned"
        );
    }
    assert!(!node_b.is_holder("tally").expect("known projection"));
    node_b.shutdown().await;
    node_a.shutdown().await;
    store_b.close().await;
}

async fn catch_up_on_an_event_the_projection_does_not_read(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let user = push_user(store, "u0", 0).await;
    let spoolers = start(store, vec![Arc::new(Tally::new("tally"))], config("node-a")).await;
    caught_up(&spoolers, store, "tally").await;
    let org = OrgEvent::Added(OrgName {
        name: "Acme".to_owned(),
    });
    let stored = store
        .push(Push::new("tester").append(
            AggregateKey::new(INSTANCE, "org", "org-1"),
            Expected::Exact(0),
            vec![NewEvent::new(
                org.event_type(),
                org.revision(),
                org.to_payload(),
            )],
        ))
        .await
        .expect("push org");
    spoolers
        .ensure_caught_up("tally", stored[0].cursor())
        .await
        .expect("nothing to wait for");
    // Caught up without the bound running out; the projection holds the user's event before it and
    // nothing of the organization's, which it does not read.
    let status = spoolers.projection_status("tally").await.expect("status");
    assert_eq!(status.catch_up_timeouts_here, 0);
    let (positions, _) = tally_contents(store, "tally").await;
    assert_eq!(positions, [user[0].position]);
    spoolers.shutdown().await;
}

/// A push that commits while an older transaction runs stays unreadable until that transaction ends, and
/// nothing announces the end (no push, no notification): the scanner, having found it pending, looks again.
async fn an_event_hidden_behind_an_older_transaction_is_applied_once_that_ends(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let spoolers = start(
        store,
        vec![Arc::new(Tally::new("tally"))],
        SpoolerConfig {
            // Neither the fallback timer nor a lease renewal (which reads the stream) comes during the test.
            poll_interval: Duration::from_secs(600),
            lease_ttl: Duration::from_secs(600),
            ..config("node-a")
        },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "node-a to take the lease",
        || async { spoolers.is_holder("tally").unwrap_or(false) },
    )
    .await;
    let applied = |position: i64| async move {
        let (positions, _) = tally_contents(store, "tally").await;
        positions.contains(&position)
    };
    let before = push_user(store, "u0", 0).await[0].position;
    eventually(Duration::from_secs(10), "a push to be applied", || {
        applied(before)
    })
    .await;

    // A transaction with an id of its own, older than the push below and running past it.
    let mut older = Db::of(store).begin().await.expect("begin");
    older
        .execute("SELECT pg_current_xact_id()", &[])
        .await
        .expect("take a transaction id");
    let hidden = push_user(store, "u1", 0).await[0].position;
    // Longer than the scanner's first rechecks.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !applied(hidden).await,
        "the push was readable while an older transaction ran: the test shows nothing"
    );
    older.commit().await.expect("commit");
    eventually(
        Duration::from_secs(10),
        "the push to be applied once the older transaction ended",
        || applied(hidden),
    )
    .await;
    spoolers.shutdown().await;
}

/// A push on one node wakes the node running the projection at once, whether the push carried the wake-up
/// itself (an isolated push) or left it to its node's notifier (pushes within the notification interval of
/// each other). Nobody polls: the fallback timer is longer than the test.
async fn pushes_on_one_node_wake_the_others(t: &TestStore) {
    let store_a = &t.store;
    let store_b = t.connect_again().await;
    create_tally_tables(store_a, "tally").await;
    let quiet = |node: &str| SpoolerConfig {
        poll_interval: Duration::from_secs(600),
        lease_ttl: Duration::from_secs(600),
        ..config(node)
    };
    let node_b = start(
        &store_b,
        vec![Arc::new(Tally::new("tally"))],
        quiet("node-b"),
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "node-b to take the lease",
        || async { node_b.is_holder("tally").unwrap_or(false) },
    )
    .await;
    let node_a = start(
        store_a,
        vec![Arc::new(Tally::new("tally"))],
        quiet("node-a"),
    )
    .await;
    let applied = |positions: Vec<i64>| async move {
        let (seen, _) = tally_contents(store_a, "tally").await;
        positions.iter().all(|p| seen.contains(p))
    };
    for i in 0..3 {
        let position = push_user(store_a, &format!("alone-{i}"), 0).await[0].position;
        eventually(
            Duration::from_secs(10),
            "an isolated push on node-a to reach node-b's view",
            || applied(vec![position]),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut pushes = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store_a.clone();
        pushes.spawn(async move { push_user(&store, &format!("burst-{i}"), 0).await[0].position });
    }
    let burst: Vec<i64> = pushes.join_all().await;
    eventually(
        Duration::from_secs(10),
        "a burst of pushes on node-a to reach node-b's view",
        || applied(burst.clone()),
    )
    .await;
    assert!(!node_a.is_holder("tally").expect("known projection"));
    node_a.shutdown().await;
    node_b.shutdown().await;
    store_b.close().await;
}

/// Polls `future` once; its output if it is ready.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *future).poll(cx) {
        std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// A batch transaction abandoned at any point of its begin (its spooler task aborted in a crash, a timeout)
/// leaves the connection it took clean: the next user of that connection is in no transaction, so a statement
/// after a failed one works (no "current transaction is aborted") and a new transaction begins.
async fn a_begin_abandoned_half_way_leaves_no_transaction_behind(t: &TestStore) {
    // One connection, so the one the abandoned begin took is the one used next.
    let db = match &t.store {
        Store::Postgres(_) => Db::postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&t.url)
                .await
                .expect("one-connection pool"),
        ),
        store => Db::of(store),
    };
    // Each begin is abandoned after one more poll than the last, so one of them stops between the database
    // running `BEGIN` and the transaction being handed out.
    for polls in (1..=64).chain(1..=64) {
        {
            let mut begin = std::pin::pin!(db.begin());
            for _ in 0..polls {
                if poll_once(&mut begin).await.is_some() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        assert!(
            db.execute_returning("SELECT no_such_column FROM projection_state", &[])
                .await
                .is_err()
        );
        db.execute_returning("SELECT 1 AS one", &[])
            .await
            .unwrap_or_else(|e| {
                panic!("a statement after a failed one, {polls} polls into an abandoned begin: {e}")
            });
        let tx = db.begin().await.unwrap_or_else(|e| {
            panic!("a transaction after one abandoned {polls} polls into its begin: {e}")
        });
        tx.rollback().await.expect("rollback");
    }
}

async fn catch_up_gives_up_after_the_bound(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let stored = push_user(store, "u0", 0).await;
    let mut stalling = Tally::new("tally");
    stalling.stall_at = Some(stored[0].position);
    let config = SpoolerConfig {
        catch_up_timeout: Duration::from_millis(300),
        ..config("node-a")
    };
    let spoolers = start(store, vec![Arc::new(stalling)], config).await;
    let result = spoolers.ensure_caught_up("tally", stored[0].cursor()).await;
    // The caller waited the whole bound for the stalled event, then got an answer naming it.
    match result {
        Err(Error::CatchUpTimeout {
            projection,
            target,
            waited_ms,
        }) => {
            assert_eq!(projection, "tally");
            assert_eq!(target, stored[0].cursor());
            assert!(
                waited_ms >= 300,
                "gave up after {waited_ms} ms, before the bound"
            );
        }
        other => panic!("expected a catch-up timeout, got {other:?}"),
    }
    let status = spoolers.projection_status("tally").await.expect("status");
    assert_eq!(status.catch_up_timeouts_here, 1);
    assert!(status.cursor < stored[0].cursor(), "{status:?}");
    assert!(matches!(
        spoolers.ensure_caught_up("nope", Cursor::START).await,
        Err(Error::UnknownProjection(_))
    ));
    spoolers.abort();
}

const PROJECTIONS: [&str; 3] = ["tally_a", "tally_b", "tally_c"];

async fn start_node(store: &Store, node: &str, ttl: Duration) -> Spoolers {
    let projections: Vec<Arc<dyn Projection>> = PROJECTIONS
        .iter()
        .map(|name| Arc::new(Tally::new(name)) as Arc<dyn Projection>)
        .collect();
    start(
        store,
        projections,
        SpoolerConfig {
            lease_ttl: ttl,
            ..config(node)
        },
    )
    .await
}

/// The holder of each projection according to each node; asserts no projection has two holders.
fn holders(nodes: &[(&str, &Spoolers)]) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for projection in PROJECTIONS {
        let held: Vec<String> = nodes
            .iter()
            .filter(|(_, s)| s.is_holder(projection).unwrap_or(false))
            .map(|(n, _)| (*n).to_owned())
            .collect();
        assert!(
            held.len() <= 1,
            "{projection} has several holders: {held:?}"
        );
        out.insert(projection, held);
    }
    out
}

async fn converged(store: &Store, any: &Spoolers) {
    for name in PROJECTIONS {
        assert_converges(any, store, name, &BTreeSet::new()).await;
    }
}

async fn two_nodes_one_holder_each_and_takeover_after_shutdown(t: &TestStore) {
    let store_a = &t.store;
    let store_b = t.connect_again().await;
    for name in PROJECTIONS {
        create_tally_tables(store_a, name).await;
    }
    let a = start_node(store_a, "node-a", Duration::from_secs(2)).await;
    let b = start_node(&store_b, "node-b", Duration::from_secs(2)).await;
    let writer = {
        let store = store_a.clone();
        tokio::spawn(async move {
            for u in 0..30 {
                push_user(&store, &format!("u{u}"), 2).await;
            }
        })
    };
    eventually(
        Duration::from_secs(5),
        "every projection to have a holder",
        || async {
            holders(&[("node-a", &a), ("node-b", &b)])
                .values()
                .all(|h| h.len() == 1)
        },
    )
    .await;
    for _ in 0..10 {
        holders(&[("node-a", &a), ("node-b", &b)]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writer.await.expect("writer");
    converged(store_a, &a).await;

    // Stop whichever node holds tally_a; the other takes every projection over.
    let (stopped, survivor, survivor_store) = if a.is_holder("tally_a").unwrap_or(false) {
        (&a, &b, &store_b)
    } else {
        (&b, &a, store_a)
    };
    stopped.shutdown().await;
    eventually(
        Duration::from_secs(30),
        "the survivor to hold every projection",
        || async {
            PROJECTIONS
                .iter()
                .all(|p| survivor.is_holder(p).unwrap_or(false))
        },
    )
    .await;
    for u in 0..5 {
        push_user(survivor_store, &format!("late{u}"), 1).await;
    }
    converged(survivor_store, survivor).await;
    for status in survivor.status().await.expect("status") {
        assert_eq!(status.holder.as_deref(), Some(survivor.node_id()));
        assert_eq!(status.lag_events, 0);
    }
    a.shutdown().await;
    b.shutdown().await;
    store_b.close().await;
}

async fn three_nodes_takeover_after_crash_and_views_converge(t: &TestStore) {
    let stores = [
        t.store.clone(),
        t.connect_again().await,
        t.connect_again().await,
    ];
    for name in PROJECTIONS {
        create_tally_tables(&stores[0], name).await;
    }
    let names = ["node-a", "node-b", "node-c"];
    let ttl = Duration::from_secs(2);
    let nodes = [
        start_node(&stores[0], names[0], ttl).await,
        start_node(&stores[1], names[1], ttl).await,
        start_node(&stores[2], names[2], ttl).await,
    ];
    let all = |nodes: &[Spoolers; 3]| -> Vec<(&'static str, Spoolers)> {
        names.iter().copied().zip(nodes.iter().cloned()).collect()
    };
    let writers: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(w, store)| {
            let store = store.clone();
            tokio::spawn(async move {
                for u in 0..15 {
                    push_user(&store, &format!("w{w}-u{u}"), 2).await;
                }
            })
        })
        .collect();
    eventually(
        Duration::from_secs(5),
        "every projection to have one holder",
        || async {
            let nodes = all(&nodes);
            let refs: Vec<(&str, &Spoolers)> = nodes.iter().map(|(n, s)| (*n, s)).collect();
            holders(&refs).values().all(|h| h.len() == 1)
        },
    )
    .await;
    for writer in writers {
        writer.await.expect("writer");
    }
    converged(&stores[0], &nodes[0]).await;

    // Crash the node holding tally_a: its leases lapse and the others take over.
    let crashed = (0..3)
        .find(|i| nodes[*i].is_holder("tally_a").unwrap_or(false))
        .expect("tally_a has a holder");
    nodes[crashed].abort();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != crashed).collect();
    eventually(
        Duration::from_secs(30),
        "survivors to hold every projection",
        || async {
            PROJECTIONS.iter().all(|p| {
                survivors
                    .iter()
                    .filter(|i| nodes[**i].is_holder(p).unwrap_or(false))
                    .count()
                    == 1
            })
        },
    )
    .await;
    let survivor = survivors[0];
    for u in 0..5 {
        push_user(&stores[survivors[1]], &format!("late{u}"), 1).await;
    }
    converged(&stores[survivor], &nodes[survivor]).await;
    for status in nodes[survivor].status().await.expect("status") {
        let holder = status.holder.expect("held");
        assert_ne!(holder, names[crashed]);
    }
    for node in &nodes {
        node.shutdown().await;
    }
    for store in &stores[1..] {
        store.close().await;
    }
}

/// Takes the tally's checkpoint back to `to` and forgets its view changes after it, in one transaction: what
/// a database crash leaves after losing the last (asynchronous) commits of the spooler's batches.
async fn lose_commits_after(store: &Store, name: &str, to: Cursor, all: &[Event]) {
    let db = Db::of(store);
    let mut tx = db.begin().await.expect("begin");
    tx.execute(
        "UPDATE projection_state SET tx_id = $1, position = $2 WHERE projection = $3",
        &params![to.tx_id, to.position, name],
    )
    .await
    .expect("move the checkpoint back");
    for event in all.iter().filter(|e| e.cursor() > to) {
        tx.execute(
            &format!("DELETE FROM {name}_events WHERE position = $1"),
            &params![event.position],
        )
        .await
        .expect("forget an applied event");
    }
    // The counts as they were at `to`: one per recorded event.
    tx.execute(&format!("DELETE FROM {name}_counts"), &[])
        .await
        .expect("forget counts");
    tx.execute(
        &format!(
            "INSERT INTO {name}_counts (instance_id, aggregate_id, events) \
             SELECT instance_id, aggregate_id, COUNT(*) FROM {name}_events GROUP BY instance_id, aggregate_id"
        ),
        &[],
    )
    .await
    .expect("recount");
    match tx {
        ViewTx::Sqlite(tx) => tx.commit().await,
        ViewTx::Postgres(tx) => tx.commit().await,
    }
    .expect("commit");
}

async fn lost_commits_and_transient_errors_skip_nothing(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let postgres = Db::of(store).backend() == warden_spooler::Backend::Postgres;
    let mut all = Vec::new();
    for u in 0..6 {
        all.extend(push_user(store, &format!("u{u}"), 3).await);
    }
    // Busy, locked, full, out of memory, read-only, I/O errors (SQLite); serialization failure, deadlock,
    // lost connection, too many connections, disk full, lock timeout, shutdown, statement timeout (PostgreSQL).
    let codes: &[&'static str] = if postgres {
        &[
            "40001", "40P01", "08006", "53300", "53100", "55P03", "57P01", "57014",
        ]
    } else {
        &["5", "517", "6", "13", "7", "8", "10", "266"]
    };
    let tally = Tally::new("tally");
    let max_attempts = config("node-a").max_attempts as usize;
    if let Ok(mut faults) = tally.faults.lock() {
        for (i, code) in codes.iter().enumerate() {
            // At the first, more faults in a row than an event may fail before it is skipped.
            let event = &all[(i * 3 + 1) % all.len()];
            let times = if i == 0 { max_attempts + 1 } else { 1 };
            faults
                .entry(event.position)
                .or_default()
                .extend(std::iter::repeat_n(Fault::Code(code), times));
        }
        if postgres {
            faults
                .entry(all[5].position)
                .or_default()
                .push(Fault::StatementTimeout);
        }
    }
    let tally = Arc::new(tally);
    let spoolers = start(
        store,
        vec![Arc::clone(&tally) as Arc<dyn Projection>],
        config("node-a"),
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "every injected fault to be raised",
        || async { tally.faults_left() == 0 },
    )
    .await;
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;
    if postgres {
        assert_eq!(tally.timeouts_seen.lock().map(|s| *s).ok(), Some(1));
    }
    let status = spoolers.projection_status("tally").await.expect("status");
    assert!(
        status.failed_events.is_empty(),
        "a database failure counted against an event: {:?}",
        status.failed_events
    );

    // The database loses the last commits of the holder, which goes on unaware: noticed at its next lease
    // renewal, the events after the surviving checkpoint are applied again.
    let checkpoint = status.cursor;
    let back_to = all[4].cursor();
    assert!(back_to < checkpoint);
    lose_commits_after(store, "tally", back_to, &all).await;
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;

    // Again, and this time a write follows at once: the holder's next batch finds the checkpoint behind it,
    // goes back to it, and a read of the new write sees every event before it.
    let status = spoolers.projection_status("tally").await.expect("status");
    let back_to = all[9].cursor();
    assert!(back_to < status.cursor);
    lose_commits_after(store, "tally", back_to, &all).await;
    let written = push_user(store, "after", 0).await;
    let cursor = written[0].cursor();
    spoolers
        .ensure_caught_up("tally", cursor)
        .await
        .expect("caught up");
    let (positions, _) = tally_contents(store, "tally").await;
    let missing: Vec<i64> = all
        .iter()
        .chain(&written)
        .map(|e| e.position)
        .filter(|p| !positions.contains(p))
        .collect();
    assert!(missing.is_empty(), "events skipped: {missing:?}");
    assert_converges(&spoolers, store, "tally", &BTreeSet::new()).await;
    let status = spoolers.projection_status("tally").await.expect("status");
    assert!(
        status.failed_events.is_empty(),
        "{:?}",
        status.failed_events
    );
    let injected = codes.len() + max_attempts + usize::from(postgres);
    assert!(
        status.run_failures_here >= injected as u64,
        "{} runs failed on the database, {injected} faults injected",
        status.run_failures_here
    );
    assert_eq!(
        status.checkpoint_regressions_here, 2,
        "both losses noticed once"
    );
    spoolers.shutdown().await;
}

async fn removing_a_projection_with_its_state_fences_out_its_holder(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    push_user(store, "u0", 2).await;
    let holder = start(store, vec![Arc::new(Tally::new("tally"))], config("node-a")).await;
    caught_up(&holder, store, "tally").await;
    // A second node, which never got the lease, removes the projection with its state while the holder
    // still runs it.
    let remover = start(
        store,
        vec![Arc::new(Tally::new("tally"))],
        SpoolerConfig {
            acquire_interval: Duration::from_secs(3600),
            ..config("node-b")
        },
    )
    .await;
    assert!(!remover.is_holder("tally").expect("known"));
    remover.remove("tally", true).await.expect("remove");
    assert_eq!(tally_contents(store, "tally").await.0, Vec::<i64>::new());
    // The holder's lease ended with the row: it cannot write to the emptied view any more.
    push_user(store, "u1", 2).await;
    eventually(
        Duration::from_secs(5),
        "the holder to notice its lease ended",
        || async { !holder.is_holder("tally").unwrap_or(true) },
    )
    .await;
    assert_eq!(tally_contents(store, "tally").await.0, Vec::<i64>::new());
    holder.abort();
    remover.shutdown().await;
}

async fn a_node_without_the_lease_notices_lost_commits(t: &TestStore) {
    let store = &t.store;
    create_tally_tables(store, "tally").await;
    let mut all = Vec::new();
    for u in 0..3 {
        all.extend(push_user(store, &format!("u{u}"), 3).await);
    }
    let first = start(store, vec![Arc::new(Tally::new("tally"))], config("node-a")).await;
    assert_converges(&first, store, "tally", &BTreeSet::new()).await;
    let checkpoint = first
        .projection_status("tally")
        .await
        .expect("status")
        .cursor;
    first.shutdown().await;

    // Another node holds the lease (and applies nothing); node-b only reads the checkpoint.
    let db = Db::of(store);
    db.execute(
        "UPDATE projection_state SET holder = 'elsewhere', lease_token = lease_token + 1, \
         lease_until = 253402300799000000 WHERE projection = 'tally'",
        &[],
    )
    .await
    .expect("lease held elsewhere");
    let reader = start(
        store,
        vec![Arc::new(Tally::new("tally"))],
        SpoolerConfig {
            catch_up_timeout: Duration::from_millis(300),
            ..config("node-b")
        },
    )
    .await;
    assert!(!reader.is_holder("tally").expect("known projection"));
    let applied = reader.applied("tally").expect("known projection");
    eventually(
        Duration::from_secs(5),
        "node-b to learn the checkpoint",
        || async { *applied.borrow() >= checkpoint },
    )
    .await;

    // The database loses the last batches: node-b must stop telling readers the view is there.
    lose_commits_after(store, "tally", all[3].cursor(), &all).await;
    eventually(
        Duration::from_secs(5),
        "node-b to notice the checkpoint went back",
        || async {
            reader
                .projection_status("tally")
                .await
                .is_ok_and(|s| s.checkpoint_regressions_here == 1)
        },
    )
    .await;
    let result = reader.ensure_caught_up("tally", checkpoint).await;
    assert!(
        matches!(result, Err(Error::CatchUpTimeout { .. })),
        "a read-your-writes check passed on a view that lost events: {result:?}"
    );

    // Once the lease is free, node-b takes it and applies the lost events again.
    db.execute(
        "UPDATE projection_state SET holder = NULL, lease_until = 0 WHERE projection = 'tally'",
        &[],
    )
    .await
    .expect("free lease");
    assert_converges(&reader, store, "tally", &BTreeSet::new()).await;
    reader.shutdown().await;
}

/// A process manager in miniature: for every user event it pushes a `reaction` event (as a process manager
/// issues commands, which on SQLite needs the writer a batch transaction would hold). It fails the first two
/// attempts at `flaky` and every attempt at `poison`.
struct Reactor {
    store: Store,
    flaky: i64,
    poison: i64,
    reacted: Mutex<Vec<i64>>,
    attempts: Mutex<BTreeMap<i64, u32>>,
}

impl Reactor {
    fn new(store: &Store, flaky: i64, poison: i64) -> Self {
        Self {
            store: store.clone(),
            flaky,
            poison,
            reacted: Mutex::new(Vec::new()),
            attempts: Mutex::new(BTreeMap::new()),
        }
    }

    fn reacted(&self) -> Vec<i64> {
        self.reacted.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Projection for Reactor {
    fn name(&self) -> &str {
        "reactor"
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["user".to_owned()]
    }

    fn tables(&self) -> Vec<String> {
        Vec::new()
    }

    fn apply<'a>(
        &'a self,
        _tx: &'a mut ViewTx,
        _event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async { Err(ProjectionError::event("a reactor has no view")) })
    }

    fn reacts(&self) -> bool {
        true
    }

    fn react<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let attempt = {
                let mut attempts = self.attempts.lock().expect("attempts");
                let n = attempts.entry(event.position).or_default();
                *n += 1;
                *n
            };
            if event.position == self.poison || (event.position == self.flaky && attempt <= 2) {
                return Err(ProjectionError::event("cannot react"));
            }
            let pushed = self
                .store
                .push(Push::new("system").append(
                    AggregateKey::new(INSTANCE, "reaction", event.position.to_string()),
                    Expected::Exact(0),
                    vec![NewEvent::new("reaction.done", 1, serde_json::json!({}))],
                ))
                .await;
            match pushed {
                Ok(_) => {}
                // Done before a crash: the reaction is idempotent.
                Err(error) if error.is_conflict() => {}
                Err(error) => return Err(ProjectionError::event(error.to_string())),
            }
            self.reacted.lock().expect("reacted").push(event.position);
            Ok(())
        })
    }
}

async fn reacting_projection_pushes_outside_the_batch_with_checkpoint_and_failures(t: &TestStore) {
    let store = &t.store;
    let mut all = Vec::new();
    for u in 0..4 {
        all.extend(push_user(store, &format!("u{u}"), 1).await);
    }
    let (flaky, poison) = (all[2].position, all[5].position);
    let reactor = Arc::new(Reactor::new(store, flaky, poison));
    let spoolers = start(
        store,
        vec![Arc::clone(&reactor) as Arc<dyn Projection>],
        config("node-a"),
    )
    .await;
    let expected: Vec<i64> = all
        .iter()
        .map(|e| e.position)
        .filter(|p| *p != poison)
        .collect();
    // A guard against hangs, not a measurement.
    eventually(Duration::from_secs(60), "every reaction", || {
        let reactor = Arc::clone(&reactor);
        let spoolers = spoolers.clone();
        let expected = expected.clone();
        async move {
            let skipped = spoolers
                .projection_status("reactor")
                .await
                .is_ok_and(|s| s.skipped_events == 1);
            skipped && reactor.reacted() == expected
        }
    })
    .await;
    let attempts = reactor
        .attempts
        .lock()
        .map(|a| a.clone())
        .expect("attempts");
    assert_eq!(attempts.get(&flaky), Some(&3), "retried until it worked");
    assert_eq!(attempts.get(&poison), Some(&3), "skipped after the bound");
    let status = spoolers.projection_status("reactor").await.expect("status");
    assert_eq!(status.retrying_events, 0);
    assert_eq!(status.failed_events[0].position, poison);
    spoolers.shutdown().await;

    // Restarted, it continues from its checkpoint: only what is new is handled.
    let after = push_user(store, "after", 0).await;
    let restarted = Arc::new(Reactor::new(store, 0, 0));
    let spoolers = start(
        store,
        vec![Arc::clone(&restarted) as Arc<dyn Projection>],
        config("node-b"),
    )
    .await;
    let new = vec![after[0].position];
    eventually(Duration::from_secs(60), "the new reaction", || {
        let restarted = Arc::clone(&restarted);
        let new = new.clone();
        async move { restarted.reacted() == new }
    })
    .await;
    // On PostgreSQL a push becomes readable once older transactions (of any test sharing the server) end:
    // wait until every reaction is readable, then check none was pushed twice.
    let deadline = Instant::now() + Duration::from_secs(60);
    let reactions = loop {
        let reactions = store
            .read_stream(&StreamQuery {
                aggregate_types: vec!["reaction".to_owned()],
                ..StreamQuery::after(Cursor::START, 1000)
            })
            .await
            .expect("reactions");
        if reactions.len() > expected.len() || Instant::now() > deadline {
            break reactions;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(reactions.len(), expected.len() + 1, "one push per reaction");
    spoolers.shutdown().await;
}
