//! Command throughput with one Wasm validator bound (the Rust `email-domains` example on `user.human.add`)
//! against none, in one run on the same backend: "add human user" through the API router, in process.
//!
//! Baseline and subject alternate over rounds (BENCH_ROUNDS, default 5), so that drift of the machine affects
//! both alike; each prints its median rate and the spread (lowest to highest round). A call answered with
//! anything but 201 counts as a failure, is reported, and fails the run: it is never a fast sample.
//!
//! `cargo bench -p warden-plugin-host --bench validator_overhead` (PostgreSQL too when WARDEN_TEST_POSTGRES_URL
//! is set; BENCH_SECONDS sets the time per round and side, default 2; BENCH_CONCURRENCY the callers, default 8).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::json;
use tower::ServiceExt;
use warden_api::ApiState;
use warden_command::{Commands, CommandsConfig, FirstInstance, bootstrap};
use warden_domain::plugin::{BindingSettings, BindingTarget, FailurePolicy, Limits};
use warden_eventstore::testing::{self, TestStore};
use warden_plugin_host::{PluginRegistry, PluginService, PluginValidators};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;
use warden_wasm_runtime::{PluginRuntime, RuntimeConfig};

struct Setup {
    app: Router,
    token: String,
    org_id: String,
    _read_side: ReadSide,
    _dir: tempfile::TempDir,
    _store: TestStore,
}

async fn setup(test_store: TestStore, runtime: &PluginRuntime, with_validator: bool) -> Setup {
    let store = test_store.store.clone();
    let registry = PluginRegistry::new(store.clone(), runtime.clone());
    registry.sync().await.unwrap();
    let _follower = registry.spawn();
    let validators: Vec<Arc<dyn warden_command::CommandValidator>> = if with_validator {
        vec![Arc::new(PluginValidators::new(registry.clone()))]
    } else {
        Vec::new()
    };
    let commands = Commands::new(
        store.clone(),
        CommandsConfig {
            validators,
            ..CommandsConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
        .await
        .unwrap();
    let token = std::fs::read_to_string(report.admin_token_path.unwrap())
        .unwrap()
        .trim()
        .to_owned();
    if with_validator {
        let caller = commands
            .authenticate(&report.instance_id, &token)
            .await
            .unwrap();
        let service = PluginService::new(commands.clone(), registry.clone());
        let bytes = std::fs::read(warden_plugin_fixtures::EMAIL_DOMAINS).unwrap();
        let details = service
            .upload(&caller, "email-domains", "", &bytes)
            .await
            .unwrap();
        let settings = BindingSettings {
            target: BindingTarget::Validator {
                command_types: vec!["user.human.add".into()],
            },
            org_id: None,
            failure_policy: FailurePolicy::FailClosed,
            limits: Limits::default(),
            config: [("allowed_domains".to_owned(), "example.com".to_owned())].into(),
        };
        service
            .add_binding(&caller, &details.id, &settings)
            .await
            .unwrap();
    }
    let read_side = ReadSide::start(store.clone(), SpoolerConfig::generated())
        .await
        .unwrap();
    let app = warden_api::router(ApiState::new(
        commands,
        report.instance_id.clone(),
        &read_side,
    ));
    Setup {
        app,
        token,
        org_id: report.org_id,
        _read_side: read_side,
        _dir: dir,
        _store: test_store,
    }
}

/// Makes every login name of the run unique, across measurements.
static NEXT_USER: AtomicU64 = AtomicU64::new(0);

/// Adds one user; whether it was created.
async fn add_user(setup: &Setup) -> bool {
    let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
    let body = json!({
        "org_id": setup.org_id,
        "login_name": format!("user-{n}"),
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": format!("user-{n}@example.com"),
    });
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/users/human")
        .header(header::AUTHORIZATION, format!("Bearer {}", setup.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = setup.app.clone().oneshot(request).await.unwrap();
    response.status() == StatusCode::CREATED
}

/// One measurement: created users per second, and the calls that failed.
struct Rate {
    per_second: f64,
    failures: u64,
}

async fn measure(setup: Arc<Setup>, concurrency: usize, window: Duration) -> Rate {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (setup, done, failed, stop) =
                (setup.clone(), done.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if add_user(&setup).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    Rate {
        per_second: done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        failures: failed.load(Ordering::Relaxed),
    }
}

/// The median, lowest and highest of `rates`.
fn spread(rates: &mut [f64]) -> (f64, f64, f64) {
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    (median, rates[0], rates[rates.len() - 1])
}

async fn run(
    backend: &str,
    stores: (TestStore, TestStore),
    runtime: &PluginRuntime,
    window: Duration,
    rounds: usize,
    concurrency: usize,
) -> u64 {
    let without = Arc::new(setup(stores.0, runtime, false).await);
    let with = Arc::new(setup(stores.1, runtime, true).await);
    // Warm up both (compiled code, caches, prepared statements).
    measure(without.clone(), concurrency, Duration::from_millis(500)).await;
    measure(with.clone(), concurrency, Duration::from_millis(500)).await;
    let (mut none, mut one, mut failures) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds {
        let base = measure(without.clone(), concurrency, window).await;
        let subject = measure(with.clone(), concurrency, window).await;
        none.push(base.per_second);
        one.push(subject.per_second);
        failures += base.failures + subject.failures;
    }
    let (none, none_low, none_high) = spread(&mut none);
    let (one, one_low, one_high) = spread(&mut one);
    println!(
        "{backend:<9} {concurrency:>11}  {none:>7.0} ({none_low:.0}-{none_high:.0})  \
         {one:>7.0} ({one_low:.0}-{one_high:.0})  {:>5.2}  {failures}",
        one / none
    );
    failures
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let concurrency = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let window = Duration::from_secs(seconds);
    let runtime = PluginRuntime::new(RuntimeConfig::default()).unwrap();
    println!(
        "add human user through the API: no validator vs the email-domains Wasm validator bound"
    );
    println!(
        "{rounds} alternating rounds of {seconds} s each; median users/s (lowest-highest round)"
    );
    println!(
        "backend   concurrency  no validator/s        one validator/s       ratio  failed calls"
    );
    let mut failures = run(
        "sqlite",
        (testing::sqlite().await, testing::sqlite().await),
        &runtime,
        window,
        rounds,
        concurrency,
    )
    .await;
    match (testing::postgres().await, testing::postgres().await) {
        (Some(a), Some(b)) => {
            failures += run("postgres", (a, b), &runtime, window, rounds, concurrency).await;
        }
        _ => println!("postgres  (skipped: set WARDEN_TEST_POSTGRES_URL)"),
    }
    assert_eq!(
        failures, 0,
        "{failures} calls failed: the figures above are not valid"
    );
}
