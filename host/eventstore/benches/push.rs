//! Single-event pushes per second with 1, 4 and 16 concurrent writers, beside a raw baseline measured on
//! the same database in the same run: plain single-row INSERT transactions into a bare table.
//!
//! `cargo bench -p warden-eventstore --bench push` (PostgreSQL too when WARDEN_TEST_POSTGRES_URL is set;
//! BENCH_SECONDS sets the time per measurement, default 3).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use warden_eventstore::{AggregateKey, Eventstore, Expected, NewEvent, Push, Store, testing};

const WRITERS: [usize; 3] = [1, 4, 16];

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let window = Duration::from_secs(seconds);
    println!("backend   writers  raw inserts/s  eventstore pushes/s  ratio");
    let sqlite = testing::sqlite().await;
    run(&sqlite.store, window).await;
    match testing::postgres().await {
        Some(pg) => run(&pg.store, window).await,
        None => println!("postgres  (skipped: set WARDEN_TEST_POSTGRES_URL)"),
    }
}

async fn run(store: &Store, window: Duration) {
    create_raw_table(store).await;
    for writers in WRITERS {
        let shared = store.clone();
        let raw = measure(writers, window, move |w, n| {
            let store = shared.clone();
            async move { raw_insert(&store, w, n).await }
        })
        .await;
        let shared = store.clone();
        let pushes = measure(writers, window, move |w, n| {
            let store = shared.clone();
            async move {
                store
                    .push(Push::new("bench").append(
                        AggregateKey::new("bench", "counter", format!("w{writers}-{w}")),
                        Expected::Exact(n as i64),
                        vec![NewEvent::new(
                            "counter.incremented",
                            1,
                            json!({ "writer": w, "n": n }),
                        )],
                    ))
                    .await
                    .unwrap();
            }
        })
        .await;
        println!(
            "{:<9} {writers:>7}  {raw:>13.0}  {pushes:>19.0}  {:>5.2}",
            store.backend(),
            pushes / raw
        );
    }
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
