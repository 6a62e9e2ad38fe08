//! Commands per second through the management API, in process (`oneshot` on a cloned router, no socket).
//!
//! Run with `cargo bench -p warden-api --bench commands`; PostgreSQL is measured too when
//! `WARDEN_TEST_POSTGRES_URL` is set. Each backend gets a fresh, bootstrapped store. Workloads:
//!
//! * add human user without password, at concurrency 1 and 32;
//! * add user grant (of a project role to one of those users), at concurrency 1 and 32;
//! * add human user with password (Argon2id), at concurrency 32, beside the raw Argon2id hash rate of the
//!   same hasher at the same concurrency, measured in the same run.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use warden_api::{ApiState, router};
use warden_command::{Commands, CommandsConfig, FirstInstance, SecretString, bootstrap};
use warden_eventstore::{Store, testing};

/// One measured line of the table.
struct Row {
    backend: &'static str,
    workload: &'static str,
    concurrency: usize,
    operations: usize,
    elapsed: Duration,
    /// CPU time this process spent, when the platform tells.
    cpu: Option<Duration>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64()
    }

    /// Operations per CPU-second of this process: unlike the wall-clock rate, not lowered by other
    /// processes competing for the cores.
    fn cpu_rate(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| self.operations as f64 / cpu.as_secs_f64().max(1e-3))
    }
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (Linux).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces); utime and stime are the
    // 14th and 15th fields, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// A wall-clock and CPU-time measurement.
#[derive(Default, Clone, Copy)]
struct Spent {
    wall: Duration,
    cpu: Option<Duration>,
}

impl std::ops::AddAssign for Spent {
    fn add_assign(&mut self, other: Self) {
        self.wall += other.wall;
        self.cpu = match (self.cpu, other.cpu) {
            (Some(a), Some(b)) => Some(a + b),
            (None, b) => b,
            (a, None) => a,
        };
    }
}

/// The API of a freshly bootstrapped instance.
struct Target {
    app: Router,
    token: String,
    org_id: String,
    project_id: String,
    commands: Commands,
    _dir: tempfile::TempDir,
}

impl Target {
    async fn start(store: Store) -> Self {
        let commands = Commands::new(store.clone(), CommandsConfig::default());
        let read_side =
            warden_query::ReadSide::start(store, warden_spooler::SpoolerConfig::new("bench"))
                .await
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
            .await
            .unwrap();
        let token = std::fs::read_to_string(report.admin_token_path.unwrap())
            .unwrap()
            .trim()
            .to_owned();
        let app = router(ApiState::new(
            commands.clone(),
            report.instance_id,
            &read_side,
        ));
        let mut target = Self {
            app,
            token,
            org_id: report.org_id,
            project_id: String::new(),
            commands,
            _dir: dir,
        };
        let project = target
            .send(
                Method::POST,
                "/api/v1/projects",
                json!({ "org_id": target.org_id, "name": "Bench" }),
            )
            .await;
        target.project_id = project["id"].as_str().unwrap().to_owned();
        target
            .send(
                Method::POST,
                &format!("/api/v1/projects/{}/roles", target.project_id),
                json!({ "key": "member", "display_name": "Member" }),
            )
            .await;
        target
    }

    /// Sends one request and returns the JSON body; panics unless the answer is a success.
    async fn send(&self, method: Method, path: &str, body: Value) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).unwrap()
    }
}

/// Runs `total` operations `op(i)` on `concurrency` tasks; returns the wall-clock and CPU time.
async fn drive<F, Fut>(concurrency: usize, total: usize, op: F) -> Spent
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let op = op.clone();
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    op(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let wall = started.elapsed();
    let cpu = cpu_before
        .zip(process_cpu())
        .map(|(before, after)| after.saturating_sub(before));
    Spent { wall, cpu }
}

fn human(org_id: &str, login_name: &str, password: Option<&str>) -> Value {
    let mut body = json!({
        "org_id": org_id,
        "login_name": login_name,
        "given_name": "Bench",
        "family_name": "User",
        "email": format!("{login_name}@example.com"),
    });
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    body
}

/// Creates `total` users without password; returns the time and their ids.
async fn add_users(
    target: &Arc<Target>,
    tag: &str,
    concurrency: usize,
    total: usize,
) -> (Spent, Vec<String>) {
    let ids = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let (t, collected, tag) = (target.clone(), ids.clone(), tag.to_owned());
    let elapsed = drive(concurrency, total, move |i| {
        let (t, collected, login) = (t.clone(), collected.clone(), format!("{tag}-{i}"));
        async move {
            let body = t
                .send(
                    Method::POST,
                    "/api/v1/users/human",
                    human(&t.org_id, &login, None),
                )
                .await;
            collected
                .lock()
                .unwrap()
                .push(body["id"].as_str().unwrap().to_owned());
        }
    })
    .await;
    let ids = std::mem::take(&mut *ids.lock().unwrap());
    (elapsed, ids)
}

/// Grants the project role to each user of `users`.
async fn add_grants(target: &Arc<Target>, concurrency: usize, users: Vec<String>) -> Spent {
    let users = Arc::new(users);
    let total = users.len();
    let t = target.clone();
    drive(concurrency, total, move |i| {
        let (t, users) = (t.clone(), users.clone());
        async move {
            let body =
                json!({ "user_id": users[i], "project_id": t.project_id, "role_keys": ["member"] });
            t.send(Method::POST, "/api/v1/user-grants", body).await;
        }
    })
    .await
}

/// Argon2id rates: wall-clock and per CPU-second of this process.
struct Rates {
    raw: f64,
    with_password: f64,
    /// The rates of each round, to show the spread.
    raw_rounds: Vec<f64>,
    with_password_rounds: Vec<f64>,
    raw_cpu: Option<f64>,
    with_password_cpu: Option<f64>,
}

async fn bench_backend(
    backend: &'static str,
    store: Store,
    sizes: &Sizes,
    rows: &mut Vec<Row>,
) -> Rates {
    let target = Arc::new(Target::start(store).await);
    let row = |workload, concurrency, operations, spent: Spent| Row {
        backend,
        workload,
        concurrency,
        operations,
        elapsed: spent.wall,
        cpu: spent.cpu,
    };
    // Warm up connections and caches.
    let (_, warm) = add_users(&target, "warm", 8, 64).await;
    add_grants(&target, 8, warm).await;

    let (elapsed, serial_users) = add_users(&target, "serial", 1, sizes.serial).await;
    rows.push(row("add human user, no password", 1, sizes.serial, elapsed));
    let (elapsed, parallel_users) = add_users(&target, "parallel", 32, sizes.parallel).await;
    rows.push(row(
        "add human user, no password",
        32,
        sizes.parallel,
        elapsed,
    ));

    let elapsed = add_grants(&target, 1, serial_users).await;
    rows.push(row("add user grant", 1, sizes.serial, elapsed));
    let elapsed = add_grants(&target, 32, parallel_users).await;
    rows.push(row("add user grant", 32, sizes.parallel, elapsed));

    // Argon2id: the raw rate of the pipeline's hasher and user creations with a password, at the same
    // concurrency, measured in alternating rounds so that a change in the machine's load affects both alike.
    let rounds = 4;
    let per_round = sizes.hashed / rounds;
    let (mut raw, mut with_password) = (Spent::default(), Spent::default());
    let (mut raw_rounds, mut with_password_rounds) = (Vec::new(), Vec::new());
    let per_second = |spent: Spent| per_round as f64 / spent.wall.as_secs_f64();
    for round in 0..rounds {
        let hasher = target.commands.hasher().clone();
        let spent = drive(32, per_round, move |_| {
            let hasher = hasher.clone();
            async move {
                hasher
                    .hash(SecretString::new("Bench-Passw0rd!"))
                    .await
                    .unwrap();
            }
        })
        .await;
        raw_rounds.push(per_second(spent));
        raw += spent;
        let t = target.clone();
        let spent = drive(32, per_round, move |i| {
            let t = t.clone();
            async move {
                let body = human(
                    &t.org_id,
                    &format!("pw-{round}-{i}"),
                    Some("Bench-Passw0rd!"),
                );
                t.send(Method::POST, "/api/v1/users/human", body).await;
            }
        })
        .await;
        with_password_rounds.push(per_second(spent));
        with_password += spent;
    }
    let raw = row(
        "raw Argon2id hash (m=19456,t=2,p=1)",
        32,
        per_round * rounds,
        raw,
    );
    let with_password = row(
        "add human user, with password",
        32,
        per_round * rounds,
        with_password,
    );
    let rates = Rates {
        raw: raw.rate(),
        with_password: with_password.rate(),
        raw_rounds,
        with_password_rounds,
        raw_cpu: raw.cpu_rate(),
        with_password_cpu: with_password.cpu_rate(),
    };
    rows.push(raw);
    rows.push(with_password);
    rates
}

/// The lowest and highest of `rates`, as "low-high".
fn range(rates: &[f64]) -> String {
    let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let high = rates.iter().copied().fold(0.0, f64::max);
    format!("{low:.1}-{high:.1}")
}

struct Sizes {
    serial: usize,
    parallel: usize,
    hashed: usize,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let sizes = Sizes {
            serial: 1_000,
            parallel: 5_000,
            hashed: 60 * cores,
        };
        println!("warden-api command benchmark: {cores} cores, in-process router (oneshot), release build");
        let mut rows = Vec::new();
        let mut ratios = Vec::new();

        let sqlite = testing::sqlite().await;
        let rates = bench_backend("sqlite", sqlite.store.clone(), &sizes, &mut rows).await;
        ratios.push(("sqlite", rates));
        if testing::postgres_url().is_some() {
            let postgres = testing::postgres().await.unwrap();
            let rates = bench_backend("postgres", postgres.store.clone(), &sizes, &mut rows).await;
            ratios.push(("postgres", rates));
        } else {
            println!("(PostgreSQL skipped: set WARDEN_TEST_POSTGRES_URL to measure it)");
        }

        println!();
        println!(
            "| backend  | workload                            | concurrency | operations | seconds | ops/s   | ops/CPU-s |"
        );
        println!(
            "|----------|-------------------------------------|-------------|------------|---------|---------|-----------|"
        );
        for row in &rows {
            println!(
                "| {:<8} | {:<35} | {:>11} | {:>10} | {:>7.2} | {:>7.0} | {:>9} |",
                row.backend,
                row.workload,
                row.concurrency,
                row.operations,
                row.elapsed.as_secs_f64(),
                row.rate(),
                row.cpu_rate().map_or("-".to_owned(), |r| format!("{r:.0}")),
            );
        }
        println!();
        println!("ops/CPU-s: operations per CPU-second of this process (the database server's CPU not counted).");
        for (backend, rates) in ratios {
            println!(
                "{backend}: user creations with password at {:.1}/s = {:.1}% of the raw Argon2id rate ({:.1}/s)",
                rates.with_password,
                100.0 * rates.with_password / rates.raw,
                rates.raw
            );
            println!(
                "{backend}: per round (alternating), raw Argon2id {} /s; user creations with password {} /s",
                range(&rates.raw_rounds),
                range(&rates.with_password_rounds)
            );
            if let (Some(raw), Some(with_password)) = (rates.raw_cpu, rates.with_password_cpu) {
                println!(
                    "{backend}: per CPU-second, {with_password:.1} user creations with password = {:.1}% of {raw:.1} raw hashes",
                    100.0 * with_password / raw
                );
            }
        }
    });
}
