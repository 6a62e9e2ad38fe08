//! Per-call cost of validators in fresh instances: `cargo bench -p warden-wasm-runtime`.
//!
//! Prints p50/p99 of "fresh instance + call" for the Rust, Python and JavaScript example validators
//! (the last two when `examples/plugins/build.sh` has built them), and compares the runtime's async calls
//! with plain synchronous calls, on the calling thread and through `spawn_blocking`, which is what a
//! synchronous runtime would need to keep tokio's workers free. The call modes are measured in alternating
//! rounds (so that a change in the machine's load affects each alike), with the spread of their per-round
//! medians. A call that fails is counted and reported, never a sample, and fails the run.

// A benchmark's report is its output.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{
    Actor, Binding, Command, CommandPayload, Limits, PluginRuntime, Profile, RuntimeConfig,
    ValidatorInput, ValidatorOutcome,
};

fn input() -> ValidatorInput {
    ValidatorInput {
        command: Command {
            command_type: "user.human.add".into(),
            instance_id: "inst-1".into(),
            org_id: Some("org-1".into()),
            aggregate_type: "user".into(),
            aggregate_id: "user-1".into(),
            actor: Actor {
                user_id: "admin-1".into(),
                org_id: Some("org-1".into()),
            },
            payload: CommandPayload::AddHumanUser(Profile {
                username: "ada".into(),
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
                email: Some("ada@example.com".into()),
                ..Profile::default()
            }),
        },
        state: None,
        events: Vec::new(),
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Stats {
        p50: at(0.5),
        p99: at(0.99),
        mean,
    }
}

fn report(label: &str, s: &Stats, runs: usize) {
    println!(
        "{label:<44} p50 {:>9.1} µs   p99 {:>9.1} µs   mean {:>9.1} µs   ({runs} calls)",
        s.p50.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.mean.as_secs_f64() * 1e6
    );
}

async fn bench_validator(
    runtime: &PluginRuntime,
    label: &str,
    bytes: &[u8],
    binding: &Binding,
    runs: usize,
) {
    let started = Instant::now();
    let plugin = runtime.load(label, bytes).await.expect("load");
    let compile = started.elapsed();
    let input = input();
    let first = runtime.validate(&plugin, binding, &input).await;
    assert_eq!(first, Ok(ValidatorOutcome::Ok), "{label}");
    for _ in 0..runs / 10 {
        let outcome = runtime.validate(&plugin, binding, &input).await;
        assert_eq!(
            outcome,
            Ok(ValidatorOutcome::Ok),
            "{label}: a warm-up call failed"
        );
    }
    let mut samples = Vec::with_capacity(runs);
    let mut failures = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let outcome = runtime.validate(&plugin, binding, &input).await;
        let took = t.elapsed();
        if outcome == Ok(ValidatorOutcome::Ok) {
            samples.push(took);
        } else {
            failures += 1;
        }
    }
    assert_eq!(failures, 0, "{label}: {failures} of {runs} calls failed");
    println!(
        "{label}: {} KiB component, compiled in {:.0} ms",
        bytes.len() / 1024,
        compile.as_secs_f64() * 1e3
    );
    report(
        &format!("  {label} (async, fresh instance + call)"),
        &stats(samples),
        runs,
    );
}

mod sync {
    //! The same validator called synchronously, for comparison only.

    use std::time::{Duration, Instant};

    use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
    use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "warden:plugin/validator@0.1.0",
    });

    use exports::warden::plugin::validation::ValidationInput;
    use warden::plugin::types::*;

    pub(crate) struct State {
        wasi: WasiCtx,
        table: ResourceTable,
    }

    impl WasiView for State {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            }
        }
    }

    impl warden::plugin::types::Host for State {}

    impl warden::plugin::log::Host for State {
        fn log(&mut self, _: warden::plugin::log::Level, _: String, _: Vec<(String, String)>) {}
    }

    impl warden::plugin::config::Host for State {
        fn get(&mut self, key: String) -> Option<String> {
            (key == "allowed_domains").then(|| "example.com".to_owned())
        }
        fn entries(&mut self) -> Vec<(String, String)> {
            vec![("allowed_domains".into(), "example.com".into())]
        }
    }

    pub(crate) struct Sync {
        engine: Engine,
        pre: ValidatorPre<State>,
        input: ValidationInput,
    }

    impl Sync {
        pub(crate) fn new(bytes: &[u8]) -> Self {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(64)
                .total_memories(128)
                .total_tables(256)
                .total_stacks(64)
                .max_memory_size(256 << 20);
            let mut config = Config::new();
            config
                .epoch_interruption(true)
                .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            let engine = Engine::new(&config).expect("engine");
            let component = Component::new(&engine, bytes).expect("component");
            let mut linker = Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
            Validator::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).expect("link");
            let pre =
                ValidatorPre::new(linker.instantiate_pre(&component).expect("pre")).expect("pre");
            let input = ValidationInput {
                command: Command {
                    command_type: "user.human.add".into(),
                    instance_id: "inst-1".into(),
                    org_id: Some("org-1".into()),
                    aggregate_type: "user".into(),
                    aggregate_id: "user-1".into(),
                    actor: Actor {
                        user_id: "admin-1".into(),
                        org_id: Some("org-1".into()),
                    },
                    payload: CommandPayload::AddHumanUser(Profile {
                        username: "ada".into(),
                        given_name: None,
                        family_name: None,
                        display_name: None,
                        preferred_language: None,
                        email: Some("ada@example.com".into()),
                        phone: None,
                    }),
                },
                state: None,
                events: Vec::new(),
            };
            Self { engine, pre, input }
        }

        pub(crate) fn call(&self) -> Duration {
            let t = Instant::now();
            let state = State {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
            };
            let mut store = Store::new(&self.engine, state);
            store.set_epoch_deadline(50);
            store.epoch_deadline_trap();
            let instance = self.pre.instantiate(&mut store).expect("instantiate");
            let violations = instance
                .warden_plugin_validation()
                .call_validate(&mut store, &self.input)
                .expect("call")
                .expect("plugin");
            assert!(violations.is_empty());
            t.elapsed()
        }
    }
}

/// Rounds of the call-mode comparison.
const ROUNDS: usize = 5;

fn main() {
    let rust = fixtures::bytes(fixtures::EMAIL_DOMAINS);
    let runs = 5_000;
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let domains = Binding::with_config([("allowed_domains", "example.com")]);

    println!(
        "# fresh instance + call of a validator, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    tokio.block_on(bench_validator(
        &runtime,
        "rust email-domains",
        &rust,
        &domains,
        runs,
    ));

    for (label, file, config) in [
        (
            "python blocked-usernames",
            "python-validator.wasm",
            ("blocked", "root, admin"),
        ),
        (
            "javascript profile-names",
            "js-validator.wasm",
            ("min_length", "2"),
        ),
    ] {
        match fixtures::dist(file) {
            Ok(path) => {
                let bytes = std::fs::read(path).expect("read");
                let binding = Binding {
                    limits: Limits {
                        deadline: Duration::from_secs(1),
                        memory: 256 << 20,
                        ..Limits::default()
                    },
                    ..Binding::with_config([config])
                };
                tokio.block_on(bench_validator(&runtime, label, &bytes, &binding, 1_000));
            }
            Err(why) => println!("{label}: skipped, {why}"),
        }
    }

    println!("# call modes, rust email-domains, in {ROUNDS} alternating rounds");
    let sync = std::sync::Arc::new(sync::Sync::new(&rust));
    let workers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let plugin = tokio.block_on(runtime.load("rust", &rust)).expect("load");
    let input = input();
    for _ in 0..500 {
        sync.call();
    }
    let per_round = runs / ROUNDS;
    let mut modes: [(&str, Vec<Duration>, Vec<Duration>); 3] = [
        ("  sync, on the calling thread", Vec::new(), Vec::new()),
        ("  sync, through spawn_blocking", Vec::new(), Vec::new()),
        (
            "  async, on a multi-thread runtime's task",
            Vec::new(),
            Vec::new(),
        ),
    ];
    let mut failures = 0;
    for _ in 0..ROUNDS {
        let on_thread: Vec<Duration> = (0..per_round).map(|_| sync.call()).collect();
        let blocking = workers.block_on(async {
            let mut samples = Vec::with_capacity(per_round);
            for _ in 0..per_round {
                let sync = sync.clone();
                let t = Instant::now();
                tokio::task::spawn_blocking(move || sync.call())
                    .await
                    .expect("join");
                samples.push(t.elapsed());
            }
            samples
        });
        let (on_task, failed) = workers.block_on(async {
            let mut samples = Vec::with_capacity(per_round);
            let mut failed = 0;
            for _ in 0..per_round {
                let t = Instant::now();
                let outcome = runtime.validate(&plugin, &domains, &input).await;
                let took = t.elapsed();
                if outcome == Ok(ValidatorOutcome::Ok) {
                    samples.push(took);
                } else {
                    failed += 1;
                }
            }
            (samples, failed)
        });
        failures += failed;
        for ((_, all, medians), round) in modes.iter_mut().zip([on_thread, blocking, on_task]) {
            medians.push(stats(round.clone()).p50);
            all.extend(round);
        }
    }
    for (label, all, medians) in modes {
        let runs = all.len();
        report(label, &stats(all), runs);
        let low = medians.iter().min().copied().unwrap_or_default();
        let high = medians.iter().max().copied().unwrap_or_default();
        println!(
            "{:<44} p50 per round {:.1}-{:.1} µs",
            "",
            low.as_secs_f64() * 1e6,
            high.as_secs_f64() * 1e6
        );
    }
    assert_eq!(failures, 0, "{failures} async calls failed");
}
