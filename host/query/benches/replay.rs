//! Projection catch-up: the built-in users view replayed from the start of a stream of 1,000,000 events, on
//! SQLite and (when `WARDEN_TEST_POSTGRES_URL` is set) PostgreSQL. Prints events/s and the rebuild time
//! beside the targets (≥ 50,000 events/s on SQLite, ≥ 20,000 on PostgreSQL).
//!
//! The stream: users created, then for every user a profile change, an email change and a metadata entry
//! (in rounds over all users, so creations and changes of different users are interleaved as in a live
//! stream). Two measurements per backend: the first replay by a fresh spooler, then a rebuild (empty the view,
//! replay again).
//!
//! `cargo bench -p warden-query --bench replay`. `WARDEN_BENCH_EVENTS` (default 1000000) sets the stream's
//! length, `WARDEN_BENCH_EVENTS_PER_USER` (1–4, default 4) the mix, `WARDEN_BENCH_BATCH` (default 256) the
//! spooler's batch size, `WARDEN_BENCH_SKIP_SQLITE` skips SQLite, `WARDEN_BENCH_SKIP_REBUILD` the second
//! measurement.

#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use warden_domain::{
    DomainEvent,
    user::{EmailChanged, HumanAdded, MetadataSet, Profile, UserEvent},
};
use warden_eventstore::{
    AggregateKey, Cursor, Eventstore, Expected, NewEvent, Push, Store, testing,
};
use warden_query::projections::{self, UsersProjection};
use warden_spooler::{Db, SpoolerConfig, Spoolers};

const INSTANCE: &str = "bench";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn new_event(event: &impl DomainEvent) -> NewEvent {
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

/// The `round`-th event of user `i`.
fn event(i: usize, round: usize) -> NewEvent {
    match round {
        0 => new_event(&UserEvent::HumanAdded(HumanAdded {
            org_id: format!("org-{}", i % 10),
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
        })),
        1 => new_event(&UserEvent::ProfileChanged(Profile {
            given_name: format!("Changed{i}"),
            family_name: "Bench".to_owned(),
            display_name: format!("Changed{i} Bench"),
            preferred_language: "de".to_owned(),
        })),
        2 => new_event(&UserEvent::EmailChanged(EmailChanged {
            email: format!("changed{i}@example.com"),
        })),
        _ => new_event(&UserEvent::MetadataSet(MetadataSet {
            key: "team".to_owned(),
            value: format!("team-{}", i % 7),
        })),
    }
}

/// Stores `users × rounds` events, in pushes of 500 aggregates.
async fn prefill(store: &Store, users: usize, rounds: usize) -> Duration {
    let started = Instant::now();
    const CHUNK: usize = 500;
    for round in 0..rounds {
        let mut i = 0;
        while i < users {
            let mut push = Push::new("bench");
            for j in i..(i + CHUNK).min(users) {
                push = push.append(
                    AggregateKey::new(INSTANCE, "user", format!("u{j}")),
                    Expected::Exact(round as i64),
                    vec![event(j, round)],
                );
            }
            store.push(push).await.unwrap();
            i += CHUNK;
        }
    }
    started.elapsed()
}

async fn wait_for(spoolers: &Spoolers, target: Cursor) {
    let mut applied = spoolers.applied(projections::USERS).unwrap();
    while *applied.borrow_and_update() < target {
        applied.changed().await.unwrap();
    }
}

fn report(label: &str, events: usize, took: Duration, target: f64) {
    let rate = events as f64 / took.as_secs_f64();
    let verdict = if rate >= target { "met" } else { "MISSED" };
    println!(
        "  {label:<22} {rate:>9.0} events/s   {events} events in {:>7.2} s   (target ≥ {target:.0}/s: {verdict})",
        took.as_secs_f64()
    );
}

async fn run(name: &str, store: Store, events: usize, rounds: usize, batch: u32, target: f64) {
    let users = events / rounds;
    let events = users * rounds;
    println!(
        "\nreplay — {name}: {events} events ({users} users × {rounds}), batch {batch}, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let fill = prefill(&store, users, rounds).await;
    println!(
        "  pre-fill               {events} events in {:.2} s",
        fill.as_secs_f64()
    );
    let head = store.head().await.unwrap();

    let config = SpoolerConfig {
        batch_size: batch,
        ..SpoolerConfig::new("bench-node")
    };
    let started = Instant::now();
    let spoolers = Spoolers::start(store.clone(), vec![Arc::new(UsersProjection)], config)
        .await
        .unwrap();
    wait_for(&spoolers, head).await;
    report("replay from zero", events, started.elapsed(), target);

    if std::env::var_os("WARDEN_BENCH_SKIP_REBUILD").is_none() {
        let started = Instant::now();
        spoolers.rebuild(projections::USERS).await.unwrap();
        wait_for(&spoolers, head).await;
        report("rebuild", events, started.elapsed(), target);
    }

    let db = Db::of(&store);
    let rows: i64 = db
        .fetch_optional("SELECT COUNT(*) AS n FROM users", &[])
        .await
        .unwrap()
        .unwrap()
        .get("n")
        .unwrap();
    assert_eq!(rows, users as i64, "every user in the view");
    spoolers.shutdown().await;
}

fn main() {
    let events = env_usize("WARDEN_BENCH_EVENTS", 1_000_000);
    let rounds = env_usize("WARDEN_BENCH_EVENTS_PER_USER", 4).clamp(1, 4);
    let batch = u32::try_from(env_usize("WARDEN_BENCH_BATCH", 256)).unwrap_or(256);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if std::env::var_os("WARDEN_BENCH_SKIP_SQLITE").is_none() {
            let sqlite = testing::sqlite().await;
            run(
                "SQLite",
                sqlite.store.clone(),
                events,
                rounds,
                batch,
                50_000.0,
            )
            .await;
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
                run(
                    "PostgreSQL",
                    pg.store.clone(),
                    events,
                    rounds,
                    batch,
                    20_000.0,
                )
                .await;
                db.execute(&format!("DROP SCHEMA {schema} CASCADE"), &[])
                    .await
                    .unwrap();
                pg.store.close().await;
            }
            None => println!("\nPostgreSQL skipped: WARDEN_TEST_POSTGRES_URL is not set"),
        }
    });
}
