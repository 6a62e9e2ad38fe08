//! Read-side benchmark: projection throughput, spooler lag under a steady write load, by-id (read-your-writes)
//! and list query latency, on SQLite and (when `WARDEN_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! Run: `cargo bench -p warden-query --bench read_side`. `WARDEN_BENCH_USERS` (default 100000) sets the size
//! of the pre-filled stream and of the user view, `WARDEN_BENCH_LOAD_SECS` (default 10) the length of the load.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use warden_domain::{
    DomainEvent,
    org::{OrgEvent, OrgName},
    user::{HumanAdded, Profile, UserEvent},
};
use warden_eventstore::{
    AggregateKey, Cursor, Eventstore, Expected, NewEvent, Push, Store, testing,
};
use warden_query::{Consistency, Page, ReadSide, UserQuery, projections};
use warden_spooler::{Db, SpoolerConfig};

const INSTANCE: &str = "bench";
const ORGS: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_event(event: &impl DomainEvent) -> NewEvent {
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

fn human(i: usize) -> NewEvent {
    new_event(&UserEvent::HumanAdded(HumanAdded {
        org_id: format!("org-{}", i % ORGS),
        login_name: format!("user{i:07}"),
        profile: Profile {
            given_name: format!("Given{i}"),
            family_name: "Bench".to_owned(),
            display_name: format!("Given{i} Bench"),
            preferred_language: "en".to_owned(),
        },
        email: format!("user{i}@example.com"),
        email_verified: true,
        phone: None,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        password_change_required: false,
    }))
}

fn profile_change(i: usize, round: usize) -> NewEvent {
    new_event(&UserEvent::ProfileChanged(Profile {
        given_name: format!("Given{i}r{round}"),
        family_name: "Bench".to_owned(),
        display_name: format!("Given{i} Bench"),
        preferred_language: "en".to_owned(),
    }))
}

fn user_key(i: usize) -> AggregateKey {
    AggregateKey::new(INSTANCE, "user", format!("u{i}"))
}

/// A small, fast pseudo-random generator (xorshift), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}

fn line(label: &str, samples: &mut [Duration], target: Option<f64>) {
    let p50 = percentile(samples, 0.50);
    let p99 = percentile(samples, 0.99);
    let verdict = match target {
        Some(t) if p99 < t => format!("  (target p99 < {t} ms: met)"),
        Some(t) => format!("  (target p99 < {t} ms: MISSED)"),
        None => String::new(),
    };
    println!(
        "  {label:<34} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   ({} samples){verdict}",
        samples.len()
    );
}

async fn prefill(store: &Store, users: usize) -> Duration {
    let started = Instant::now();
    for org in 0..ORGS {
        let event = OrgEvent::Added(OrgName {
            name: format!("Org {org}"),
        });
        store
            .push(Push::new("bench").append(
                AggregateKey::new(INSTANCE, "org", format!("org-{org}")),
                Expected::Exact(0),
                vec![new_event(&event)],
            ))
            .await
            .unwrap();
    }
    let chunk = 200;
    let mut i = 0;
    while i < users {
        let mut push = Push::new("bench");
        for j in i..(i + chunk).min(users) {
            push = push.append(user_key(j), Expected::Exact(0), vec![human(j)]);
        }
        store.push(push).await.unwrap();
        i += chunk;
    }
    started.elapsed()
}

async fn wait_for(read_side: &ReadSide, target: Cursor) {
    let mut applied = read_side.spoolers().applied(projections::USERS).unwrap();
    while *applied.borrow_and_update() < target {
        applied.changed().await.unwrap();
    }
}

/// Writers pushing in parallel (as request handlers do), together one event per millisecond.
const WRITERS: usize = 8;

/// Pushes 1,000 events per second for `secs` seconds and measures how long each takes to reach the view (from
/// the moment its push returned).
async fn lag_under_load(
    store: &Store,
    read_side: &ReadSide,
    users: usize,
    secs: u64,
) -> (Vec<Duration>, usize) {
    let pending: Arc<Mutex<BTreeMap<Cursor, Instant>>> = Arc::default();
    let lags: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let mut applied = read_side.spoolers().applied(projections::USERS).unwrap();
    let observer = {
        let pending = Arc::clone(&pending);
        let lags = Arc::clone(&lags);
        tokio::spawn(async move {
            while applied.changed().await.is_ok() {
                let now = Instant::now();
                let reached = *applied.borrow_and_update();
                let mut pending = pending.lock().unwrap();
                let later = pending.split_off(&Cursor {
                    tx_id: reached.tx_id,
                    position: reached.position + 1,
                });
                let done = std::mem::replace(&mut *pending, later);
                lags.lock()
                    .unwrap()
                    .extend(done.values().map(|pushed| now - *pushed));
            }
        })
    };
    let end = Instant::now() + Duration::from_secs(secs);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let pending = Arc::clone(&pending);
            let lags = Arc::clone(&lags);
            let applied = read_side.spoolers().applied(projections::USERS).unwrap();
            tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
                let mut ticker = tokio::time::interval(Duration::from_millis(WRITERS as u64));
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut pushed = 0;
                while Instant::now() < end {
                    ticker.tick().await;
                    let i = rng.below(users);
                    let stored = loop {
                        let push = Push::new("bench").append(
                            user_key(i),
                            Expected::Any,
                            vec![profile_change(i, pushed)],
                        );
                        match store.push(push).await {
                            Ok(stored) => break stored,
                            // Two writers changed the same user at once: retry, as the command pipeline does.
                            Err(e) if e.is_conflict() => continue,
                            Err(e) => panic!("push failed: {e}"),
                        }
                    };
                    let now = Instant::now();
                    let cursor = stored[0].cursor();
                    let mut pending = pending.lock().unwrap();
                    if *applied.borrow() >= cursor {
                        // Applied before the push even returned here.
                        lags.lock().unwrap().push(Duration::ZERO);
                    } else {
                        pending.insert(cursor, now);
                    }
                    pushed += 1;
                }
                pushed
            })
        })
        .collect();
    let mut pushed = 0;
    for writer in writers {
        pushed += writer.await.unwrap();
    }
    let head = store.head().await.unwrap();
    wait_for(read_side, head).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    observer.abort();
    let lags = lags.lock().unwrap().clone();
    (lags, pushed)
}

async fn run(name: &str, store: Store, users: usize, load_secs: u64) {
    println!(
        "\nread side — {name}: {users} users, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let fill = prefill(&store, users).await;
    let head = store.head().await.unwrap();
    println!(
        "  pre-fill                           {} events in {:.2} s",
        users + ORGS,
        fill.as_secs_f64()
    );

    // Projection throughput: every built-in projection starts at once; the users view applies the stream.
    let started = Instant::now();
    let read_side = ReadSide::start(store.clone(), SpoolerConfig::new("bench-node"))
        .await
        .unwrap();
    wait_for(&read_side, head).await;
    let took = started.elapsed();
    println!(
        "  projection throughput (users)      {:.0} events/s   ({users} events in {:.2} s)",
        users as f64 / took.as_secs_f64(),
        took.as_secs_f64()
    );

    let (mut lags, pushed) = lag_under_load(&store, &read_side, users, load_secs).await;
    println!(
        "  steady load                        {pushed} events in {load_secs} s ({:.0} events/s)",
        pushed as f64 / load_secs as f64
    );
    line("spooler lag", &mut lags, Some(100.0));

    let queries = read_side.queries();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut by_id = Vec::new();
    for _ in 0..10_000 {
        let id = format!("u{}", rng.below(users));
        let started = Instant::now();
        let user = queries
            .user(INSTANCE, &id, Consistency::Latest)
            .await
            .unwrap();
        by_id.push(started.elapsed());
        assert!(user.is_some());
    }
    line("by id (read-your-writes check)", &mut by_id, Some(5.0));

    let mut after_write = Vec::new();
    for round in 0..1_000 {
        let i = rng.below(users);
        store
            .push(Push::new("bench").append(
                user_key(i),
                Expected::Any,
                vec![profile_change(i, round)],
            ))
            .await
            .unwrap();
        let started = Instant::now();
        let user = queries
            .user(INSTANCE, &format!("u{i}"), Consistency::Latest)
            .await
            .unwrap();
        after_write.push(started.elapsed());
        let given = user.and_then(|u| u.human).map(|h| h.given_name);
        assert_eq!(given, Some(format!("Given{i}r{round}")), "read-your-writes");
    }
    line("by id right after own write", &mut after_write, None);

    let mut list = Vec::new();
    for _ in 0..2_000 {
        let query = UserQuery {
            org_id: Some(format!("org-{}", rng.below(ORGS))),
            ..UserQuery::default()
        };
        let page = Page {
            offset: rng.below((users / ORGS).saturating_sub(50).clamp(1, 1_000)) as u64,
            limit: 50,
        };
        let started = Instant::now();
        let result = queries.users(INSTANCE, &query, page).await.unwrap();
        list.push(started.elapsed());
        assert_eq!(result.items.len(), 50);
    }
    line("list 50 users (org, by login name)", &mut list, Some(20.0));

    read_side.shutdown().await;
}

fn main() {
    let users = env_usize("WARDEN_BENCH_USERS", 100_000);
    let load_secs = env_usize("WARDEN_BENCH_LOAD_SECS", 10) as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if std::env::var_os("WARDEN_BENCH_SKIP_SQLITE").is_none() {
            let sqlite = testing::sqlite().await;
            run("SQLite", sqlite.store.clone(), users, load_secs).await;
            sqlite.store.close().await;
        }

        match testing::postgres().await {
            Some(pg) => {
                let db = Db::of(&pg.store);
                let schema: String = db
                    .fetch_optional("SELECT current_schema() AS s", &[])
                    .await
                    .unwrap()
                    .unwrap()
                    .get("s")
                    .unwrap();
                run("PostgreSQL", pg.store.clone(), users, load_secs).await;
                db.execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
                    .await
                    .unwrap();
                pg.store.close().await;
            }
            None => println!("\nPostgreSQL skipped: WARDEN_TEST_POSTGRES_URL is not set"),
        }
    });
}
