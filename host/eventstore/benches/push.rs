//! Pushes per second with 1, 4 and 16 concurrent writers, beside a raw baseline measured on the same
//! database in the same run: plain single-row INSERT transactions into a bare table.
//!
//! Two kinds of push: `event` (one event to one aggregate) and `unique` (one event and one unique value
//! claimed, as a user creation). Each is measured on the default write path (`subject`) and on the path it
//! replaces (`baseline`): on SQLite one transaction per push instead of group commit; on PostgreSQL a
//! transaction of several statements instead of one `warden_push` call (single-event pushes are one
//! statement on both paths there). Baseline and subject alternate over the rounds; the figures are means.
//!
//! On PostgreSQL a third row, `grouped`, measures group commit there: single-event pushes handed to a pool of
//! 4 committers, each writing whatever is queued (up to 64 pushes) in one transaction with a savepoint per
//! push (what each push keeping its own atomicity costs on PostgreSQL), against the one statement per push
//! the store uses.
//!
//! `cargo bench -p warden-eventstore --bench push` (PostgreSQL too when WARDEN_TEST_POSTGRES_URL is set;
//! BENCH_SECONDS sets the time per measurement, default 3; BENCH_ROUNDS the rounds, default 2;
//! BENCH_SKIP_SQLITE skips SQLite).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use warden_eventstore::{
    AggregateKey, Eventstore, Expected, NewEvent, Push, Store, UniqueChange, UniqueValue, testing,
};

const WRITERS: [usize; 3] = [1, 4, 16];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Event,
    Unique,
    Grouped,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let window = Duration::from_secs(env("BENCH_SECONDS", 3));
    let rounds = env("BENCH_ROUNDS", 2);
    println!(
        "backend   kind    writers  raw inserts/s  baseline pushes/s  subject pushes/s  baseline/raw  subject/raw  subject/baseline"
    );
    if std::env::var_os("BENCH_SKIP_SQLITE").is_none() {
        let sqlite = testing::sqlite().await;
        run(&sqlite.store, window, rounds).await;
    }
    match testing::postgres().await {
        Some(pg) => run(&pg.store, window, rounds).await,
        None => println!("postgres  (skipped: set WARDEN_TEST_POSTGRES_URL)"),
    }
}

/// The store on the path measured against: grouping off (SQLite), several statements (PostgreSQL).
fn baseline(store: &Store) -> Store {
    match store {
        Store::Sqlite(s) => Store::Sqlite(s.clone().group_commit(false)),
        Store::Postgres(s) => Store::Postgres(s.clone().one_statement(false)),
    }
}

async fn run(store: &Store, window: Duration, rounds: u64) {
    create_raw_table(store).await;
    let base = baseline(store);
    // Aggregate ids and unique values stay fresh across measurements.
    let generation = Arc::new(AtomicU64::new(0));
    let kinds: &[Kind] = match store {
        Store::Sqlite(_) => &[Kind::Event, Kind::Unique],
        Store::Postgres(_) => &[Kind::Event, Kind::Unique, Kind::Grouped],
    };
    for &kind in kinds {
        for writers in WRITERS {
            let (mut raw, mut old, mut new) = (0.0, 0.0, 0.0);
            for _ in 0..rounds {
                let shared = store.clone();
                raw += measure(writers, window, move |w, n| {
                    let store = shared.clone();
                    async move { raw_insert(&store, w, n).await }
                })
                .await;
                if let (Kind::Grouped, Store::Postgres(pg)) = (kind, store) {
                    old += pushes(store, Kind::Event, writers, window, &generation).await;
                    new += grouped::pushes(pg.pool(), writers, window, &generation).await;
                } else {
                    old += pushes(&base, kind, writers, window, &generation).await;
                    new += pushes(store, kind, writers, window, &generation).await;
                }
            }
            let r = rounds as f64;
            let (raw, old, new) = (raw / r, old / r, new / r);
            println!(
                "{:<9} {:<7} {writers:>7}  {raw:>13.0}  {old:>17.0}  {new:>16.0}  {:>12.2}  {:>11.2}  {:>16.2}",
                store.backend(),
                match kind {
                    Kind::Event => "event",
                    Kind::Unique => "unique",
                    Kind::Grouped => "grouped",
                },
                old / raw,
                new / raw,
                new / old
            );
        }
    }
}

async fn pushes(
    store: &Store,
    kind: Kind,
    writers: usize,
    window: Duration,
    generation: &AtomicU64,
) -> f64 {
    let g = generation.fetch_add(1, Ordering::SeqCst);
    let shared = store.clone();
    measure(writers, window, move |w, n| {
        let store = shared.clone();
        async move {
            let id = format!("g{g}-w{w}");
            let push = match kind {
                Kind::Event | Kind::Grouped => Push::new("bench").append(
                    AggregateKey::new("bench", "counter", id),
                    Expected::Exact(n as i64),
                    vec![NewEvent::new(
                        "counter.incremented",
                        1,
                        json!({ "writer": w, "n": n }),
                    )],
                ),
                Kind::Unique => Push::new("bench")
                    .append(
                        AggregateKey::new("bench", "user", format!("{id}-{n}")),
                        Expected::Exact(0),
                        vec![NewEvent::new(
                            "user.machine.added",
                            1,
                            json!({ "login_name": format!("{id}-{n}") }),
                        )],
                    )
                    .unique(UniqueChange::Add(UniqueValue::new(
                        "bench",
                        "login_name",
                        format!("{id}-{n}"),
                    ))),
            };
            store.push(push).await.unwrap();
        }
    })
    .await
}

/// Runs `writers` tasks calling `op(writer, n)` for n = 0, 1, … until `window` has passed; returns ops/s.
async fn measure<F, Fut>(writers: usize, window: Duration, op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (op, done, stop) = (op.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    op(w, n).await;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn create_raw_table(store: &Store) {
    let sql = "CREATE TABLE bench_raw (id TEXT NOT NULL, n BIGINT NOT NULL, payload TEXT NOT NULL)";
    match store {
        Store::Sqlite(s) => sqlx::query(sql)
            .execute(s.writer())
            .await
            .map(drop)
            .unwrap(),
        Store::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(drop).unwrap(),
    }
}

async fn raw_insert(store: &Store, writer: usize, n: u64) {
    let payload = json!({ "writer": writer, "n": n }).to_string();
    let id = format!("w{writer}");
    match store {
        Store::Sqlite(s) => {
            sqlx::query("INSERT INTO bench_raw (id, n, payload) VALUES (?, ?, ?)")
                .bind(id)
                .bind(n as i64)
                .bind(payload)
                .execute(s.writer())
                .await
                .unwrap();
        }
        Store::Postgres(s) => {
            sqlx::query("INSERT INTO bench_raw (id, n, payload) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(n as i64)
                .bind(payload)
                .execute(s.pool())
                .await
                .unwrap();
        }
    }
}

/// Group commit on PostgreSQL, as an experiment beside the store: a pool of committers, each taking the
/// queued single-event pushes and writing them in one transaction, a savepoint around each push.
mod grouped {
    use std::sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    };
    use std::time::Duration;

    use sqlx::PgPool;
    use tokio::sync::{Mutex, mpsc, oneshot};

    /// The store's statement for one aggregate (`postgres.rs`, `APPEND`).
    const APPEND: &str = "WITH guard AS (SELECT pg_advisory_xact_lock(hashtextextended($10, 0))),
        latest AS (
            SELECT (SELECT COALESCE(MAX(sequence), 0) FROM events
                    WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3) AS sequence
            FROM guard)
        INSERT INTO events (instance_id, aggregate_type, aggregate_id, sequence, event_type, revision,
                            payload, creator, created_at, org_id)
        SELECT $1, $2, $3, latest.sequence + e.ord, e.event_type, e.revision, e.payload::jsonb, $7, $8, $11
        FROM latest, UNNEST($4::text[], $5::int4[], $6::text[]) WITH ORDINALITY AS e(event_type, revision, payload, ord)
        WHERE $9::bigint IS NULL OR latest.sequence = $9
        RETURNING position, tx_id, sequence";

    const COMMITTERS: usize = 4;
    const MAX_GROUP: usize = 64;

    struct Job {
        id: String,
        n: u64,
        done: oneshot::Sender<()>,
    }

    pub(super) async fn pushes(
        pool: &PgPool,
        writers: usize,
        window: Duration,
        generation: &AtomicU64,
    ) -> f64 {
        let g = generation.fetch_add(1, Ordering::SeqCst);
        let (queue, jobs) = mpsc::unbounded_channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let committers: Vec<_> = (0..COMMITTERS)
            .map(|_| {
                let (jobs, pool) = (jobs.clone(), pool.clone());
                tokio::spawn(async move {
                    loop {
                        let mut group = Vec::new();
                        {
                            let mut jobs = jobs.lock().await;
                            match jobs.recv().await {
                                Some(job) => group.push(job),
                                None => return,
                            }
                            while group.len() < MAX_GROUP {
                                match jobs.try_recv() {
                                    Ok(job) => group.push(job),
                                    Err(_) => break,
                                }
                            }
                        }
                        let mut tx = pool.begin().await.unwrap();
                        for job in &group {
                            sqlx::query("SAVEPOINT push")
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                            let key =
                                format!("warden/aggregate\u{1f}bench\u{1f}counter\u{1f}{}", job.id);
                            let rows = sqlx::query(APPEND)
                                .bind("bench")
                                .bind("counter")
                                .bind(&job.id)
                                .bind(vec!["counter.incremented"])
                                .bind(vec![1_i32])
                                .bind(vec![format!("{{\"n\":{}}}", job.n)])
                                .bind("bench")
                                .bind(0_i64)
                                .bind(Some(job.n as i64))
                                .bind(key)
                                .bind(None::<String>)
                                .fetch_all(&mut *tx)
                                .await
                                .unwrap();
                            assert_eq!(rows.len(), 1);
                            sqlx::query("RELEASE SAVEPOINT push")
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        tx.commit().await.unwrap();
                        for job in group {
                            let _ = job.done.send(());
                        }
                    }
                })
            })
            .collect();
        let rate = super::measure(writers, window, move |w, n| {
            let queue = queue.clone();
            async move {
                let (done, finished) = oneshot::channel();
                queue
                    .send(Job {
                        id: format!("grouped-g{g}-w{w}"),
                        n,
                        done,
                    })
                    .ok()
                    .unwrap();
                finished.await.unwrap();
            }
        })
        .await;
        for committer in committers {
            committer.abort();
        }
        rate
    }
}
