//! Hostile plugins fail their own call cleanly, with the right error, and the host goes on.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{
    Binding, CallError, Capabilities, DirGrant, FailurePolicy, Limits, PluginRuntime,
    RuntimeConfig, ValidatorOutcome, Violation,
};

use common::{load, new_user, runtime};

/// A normal call right after a hostile one still works.
async fn host_still_serves() {
    let plugin = load("email-domains", fixtures::EMAIL_DOMAINS).await;
    let outcome = runtime()
        .validate(
            &plugin,
            &Binding::with_config([("allowed_domains", "example.com")]),
            &new_user(Some("ada@example.com")),
        )
        .await;
    assert_eq!(outcome, Ok(ValidatorOutcome::Ok));
}

async fn call(path: &str, binding: &Binding) -> Result<ValidatorOutcome, CallError> {
    let plugin = load("hostile", path).await;
    runtime()
        .validate(&plugin, binding, &new_user(Some("ada@example.com")))
        .await
}

/// A runtime whose only way to stop a spinning plugin is its CPU deadline: the wall-clock bound (deadline
/// plus grace) is a minute away, so a timeout here was counted in epoch ticks, whatever the machine's load.
fn ticking_runtime() -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        deadline_grace: Duration::from_secs(60),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

/// Spins `binding`'s deadline away and answers how many epoch ticks the call ran through.
async fn ticks_to_timeout(binding: &Binding) -> u64 {
    let rt = ticking_runtime();
    let spin = rt
        .load("spin", &fixtures::bytes(fixtures::HOSTILE_SPIN))
        .await
        .expect("load");
    let outcome = rt
        .validate(&spin, binding, &new_user(Some("ada@example.com")))
        .await;
    assert_eq!(outcome, Err(CallError::Timeout));
    let metrics = spin.metrics();
    assert_eq!((metrics.calls, metrics.timeouts), (1, 1));
    metrics.epoch_ticks
}

#[tokio::test]
async fn an_infinite_loop_times_out_at_its_deadline() {
    let binding = Binding {
        limits: Limits {
            deadline: Duration::from_millis(20),
            ..Limits::default()
        },
        ..Binding::default()
    };
    let tick = RuntimeConfig::default().epoch_tick;
    assert_eq!(tick, Duration::from_millis(1));
    // Interrupted at the tick after its 20 ticks of 1 ms ran out: not before, not later.
    assert_eq!(ticks_to_timeout(&binding).await, 21);
    host_still_serves().await;
}

#[tokio::test]
async fn the_default_deadline_is_50_ms() {
    assert_eq!(Limits::default().deadline, Duration::from_millis(50));
    assert_eq!(
        Binding::default().limits.deadline,
        Duration::from_millis(50)
    );
    // 50 ticks of 1 ms of CPU time, then the interrupt.
    assert_eq!(ticks_to_timeout(&Binding::default()).await, 51);
}

#[tokio::test]
async fn a_memory_bomb_hits_its_memory_cap() {
    for memory in [Limits::DEFAULT_MEMORY, 8 << 20] {
        let binding = Binding {
            // A generous deadline: on a busy machine page faults are slow, and this is about memory.
            limits: Limits {
                memory,
                deadline: Duration::from_secs(1),
                ..Limits::default()
            },
            ..Binding::default()
        };
        assert_eq!(
            call(fixtures::HOSTILE_MEMORY_BOMB, &binding).await,
            Err(CallError::MemoryExhausted)
        );
    }
    host_still_serves().await;
}

#[tokio::test]
async fn a_panic_is_a_trap() {
    let err = call(fixtures::HOSTILE_TRAP, &Binding::default())
        .await
        .expect_err("trap");
    assert!(
        matches!(&err, CallError::Trap(m) if m.contains("unreachable")),
        "{err:?}"
    );
    assert!(err.is_plugin_fault());
    host_still_serves().await;
}

#[tokio::test]
async fn unbounded_recursion_overflows_the_stack() {
    assert_eq!(
        call(fixtures::HOSTILE_STACK_OVERFLOW, &Binding::default()).await,
        Err(CallError::StackOverflow)
    );
    host_still_serves().await;
}

#[tokio::test]
async fn floods_of_output_and_logs_are_bounded_and_the_call_completes() {
    let binding = Binding {
        config: Arc::new(BTreeMap::from([
            // Within what the host copies in the deadline of 1 s on the wall clock, even unoptimized.
            ("megabytes".to_owned(), "4".to_owned()),
            ("records".to_owned(), "5000".to_owned()),
        ])),
        limits: Limits {
            deadline: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Binding::default()
    };
    let started = Instant::now();
    assert_eq!(
        call(fixtures::HOSTILE_NOISY, &binding).await,
        Ok(ValidatorOutcome::Ok)
    );
    eprintln!(
        "8 MiB of output and 5,000 log records in {:?}",
        started.elapsed()
    );
    host_still_serves().await;
}

fn report(outcome: Result<ValidatorOutcome, CallError>) -> Vec<Violation> {
    match outcome {
        Ok(ValidatorOutcome::Violations(v)) => v,
        other => panic!("expected a report, got {other:?}"),
    }
}

#[tokio::test]
async fn files_sockets_and_environment_are_out_of_reach() {
    let attempts = report(call(fixtures::HOSTILE_ESCAPE, &Binding::default()).await);
    assert_eq!(attempts.len(), 9, "{attempts:#?}");
    for attempt in &attempts {
        assert_eq!(attempt.code, "denied", "{attempt:?}");
    }
    host_still_serves().await;
}

#[tokio::test]
async fn a_granted_directory_and_environment_are_reachable_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("secret.txt"), "granted contents").expect("write");
    let binding = Binding {
        config: Arc::new(BTreeMap::from([(
            "read_file".to_owned(),
            "/data/secret.txt".to_owned(),
        )])),
        grants: Capabilities {
            env: BTreeMap::from([("REGION".to_owned(), "eu".to_owned())]),
            dirs: vec![DirGrant {
                host_path: dir.path().to_owned(),
                guest_path: "/data".into(),
                writable: false,
            }],
            ..Capabilities::default()
        },
        ..Binding::default()
    };
    let attempts = report(call(fixtures::HOSTILE_ESCAPE, &binding).await);
    let by_field = |f: &str| {
        attempts
            .iter()
            .find(|a| a.field == f)
            .unwrap_or_else(|| panic!("no attempt {f} in {attempts:#?}"))
    };
    assert_eq!(by_field("/data/secret.txt").code, "read");
    assert_eq!(by_field("/data/secret.txt").message, "granted contents");
    assert_eq!(by_field("environment").code, "allowed");
    assert_eq!(by_field("environment").message, "REGION");
    for still_denied in [
        "read /etc/passwd",
        "connect tcp 127.0.0.1:5432",
        "resolve localhost",
    ] {
        assert_eq!(by_field(still_denied).code, "denied", "{attempts:#?}");
    }
}

#[tokio::test]
async fn the_failure_policy_maps_plugin_faults_only() {
    let trap = call(fixtures::HOSTILE_TRAP, &Binding::default()).await;
    assert!(trap.is_err());
    let allowed =
        FailurePolicy::AllowFailure.resolve("hostile", trap.clone(), || ValidatorOutcome::Ok);
    assert_eq!(allowed, Ok(ValidatorOutcome::Ok));
    let closed =
        FailurePolicy::FailClosed.resolve("hostile", trap.clone(), || ValidatorOutcome::Ok);
    assert_eq!(closed, trap);
    // A host fault is never skipped, whatever the policy.
    let busy: Result<ValidatorOutcome, CallError> = Err(CallError::Busy);
    assert_eq!(
        FailurePolicy::AllowFailure.resolve("hostile", busy, || ValidatorOutcome::Ok),
        Err(CallError::Busy)
    );
}

#[tokio::test]
async fn limits_beyond_the_runtime_maximums_are_refused() {
    for limits in [
        Limits {
            deadline: Duration::from_secs(5),
            ..Limits::default()
        },
        Limits {
            memory: 1 << 40,
            ..Limits::default()
        },
        Limits {
            deadline: Duration::ZERO,
            ..Limits::default()
        },
    ] {
        let binding = Binding {
            limits,
            ..Binding::default()
        };
        let outcome = call(fixtures::EMAIL_DOMAINS, &binding).await;
        assert!(
            matches!(outcome, Err(CallError::InvalidBinding(_))),
            "{outcome:?}"
        );
    }
}

/// A plugin spinning to its deadline yields at every epoch tick, so other requests on the same
/// (single) executor thread are served while it spins, not after it.
#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_does_not_stall_other_requests() {
    let rt = ticking_runtime();
    let spin = rt
        .load("spin", &fixtures::bytes(fixtures::HOSTILE_SPIN))
        .await
        .expect("load");
    let domains = rt
        .load("email-domains", &fixtures::bytes(fixtures::EMAIL_DOMAINS))
        .await
        .expect("load");
    let long = Binding {
        limits: Limits {
            deadline: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Binding::default()
    };
    let input = new_user(Some("ada@example.com"));
    let spin_done = AtomicBool::new(false);
    let spinning = async {
        let outcome = rt.validate(&spin, &long, &input).await;
        spin_done.store(true, Ordering::SeqCst);
        outcome
    };
    let others = async {
        // Start once the spinning call is on the thread and has yielded at a tick.
        while spin.metrics().epoch_ticks == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            let outcome = rt
                .validate(
                    &domains,
                    &Binding::with_config([("allowed_domains", "example.com")]),
                    &input,
                )
                .await;
            assert_eq!(outcome, Ok(ValidatorOutcome::Ok));
        }
        (spin_done.load(Ordering::SeqCst), spin.metrics().epoch_ticks)
    };
    let (spun, (spin_was_done, ticks_meanwhile)) = tokio::join!(spinning, others);
    assert_eq!(spun, Err(CallError::Timeout));
    assert!(
        !spin_was_done,
        "the other calls were served only after the spinning plugin stopped"
    );
    assert!(
        ticks_meanwhile < 1001,
        "the spinning plugin had used up its deadline ({ticks_meanwhile} ticks)"
    );
    assert_eq!(spin.metrics().epoch_ticks, 1001);
}

/// With every instance slot taken, a call fails fast with `Busy` (a host fault, never skipped).
#[tokio::test(flavor = "current_thread")]
async fn a_full_pool_fails_calls_with_busy() {
    let small = warden_wasm_runtime::PluginRuntime::new(warden_wasm_runtime::RuntimeConfig {
        max_instances: 1,
        ..warden_wasm_runtime::RuntimeConfig::default()
    })
    .expect("runtime");
    let spin = small
        .load("spin", &fixtures::bytes(fixtures::HOSTILE_SPIN))
        .await
        .expect("load");
    let input = new_user(Some("ada@example.com"));
    let long = Binding {
        limits: Limits {
            deadline: Duration::from_millis(200),
            ..Limits::default()
        },
        ..Binding::default()
    };
    let first = small.validate(&spin, &long, &input);
    let second = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        small.validate(&spin, &long, &input).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first, Err(CallError::Timeout));
    assert_eq!(second, Err(CallError::Busy));
    assert!(!CallError::Busy.is_plugin_fault());
}

/// Each call gets a fresh instance: nothing a plugin keeps in memory reaches the next caller.
#[tokio::test]
async fn nothing_survives_from_one_call_to_the_next() {
    let plugin = load("remember", fixtures::HOSTILE_REMEMBER).await;
    let rt = runtime();
    for (instance, user) in [
        ("tenant-a", "user-1"),
        ("tenant-b", "user-2"),
        ("tenant-a", "user-3"),
    ] {
        let mut input = new_user(Some("ada@example.com"));
        input.command.instance_id = instance.into();
        input.command.aggregate_id = user.into();
        let outcome = rt.validate(&plugin, &Binding::default(), &input).await;
        assert_eq!(outcome, Ok(ValidatorOutcome::Ok), "{instance}/{user}");
    }
}

/// A binding of the plain wit-bindgen hostile validator in `mode`, with more room than the default.
fn hostile(mode: &str, extra: &[(&str, &str)]) -> Binding {
    let mut binding =
        Binding::with_config(std::iter::once(("mode", mode)).chain(extra.iter().copied()));
    binding.limits.memory = 128 << 20;
    binding
}

#[tokio::test]
async fn a_plugin_sleeping_in_a_wasi_clock_poll_times_out_on_the_wall_clock() {
    // `std::thread::sleep` in the guest is a WASI clock poll the host awaits: no Wasm code runs, so the
    // CPU deadline alone would let it wait its 20 s and answer. The call must end with a timeout instead.
    let plugin = load("sleeper", fixtures::HOSTILE_VALIDATOR).await;
    let outcome = runtime()
        .validate(
            &plugin,
            &hostile("sleep", &[]),
            &new_user(Some("ada@example.com")),
        )
        .await;
    assert_eq!(outcome, Err(CallError::Timeout));
    assert_eq!(plugin.metrics().timeouts, 1);
    let outcome = runtime()
        .validate(
            &plugin,
            &hostile("none", &[]),
            &new_user(Some("ada@example.com")),
        )
        .await;
    assert_eq!(outcome, Ok(ValidatorOutcome::Ok), "the next call succeeds");
    host_still_serves().await;
}

#[tokio::test]
async fn a_result_larger_than_one_transfer_allows_fails_the_call() {
    let plugin = load("violations", fixtures::HOSTILE_VALIDATOR).await;
    // 40 violations of 1 MiB: 40 MiB the host would have to copy out of the guest.
    let binding = hostile("violations", &[("count", "40"), ("kib", "1024")]);
    let outcome = runtime()
        .validate(&plugin, &binding, &new_user(Some("ada@example.com")))
        .await;
    assert!(
        matches!(&outcome, Err(CallError::InvalidOutput(reason)) if reason.contains("MiB")),
        "{outcome:?}"
    );
    let outcome = runtime()
        .validate(
            &plugin,
            &hostile("none", &[]),
            &new_user(Some("ada@example.com")),
        )
        .await;
    assert_eq!(outcome, Ok(ValidatorOutcome::Ok), "the next call succeeds");
    host_still_serves().await;
}

#[tokio::test]
async fn huge_violations_are_capped_in_number_and_length() {
    let plugin = load("violations", fixtures::HOSTILE_VALIDATOR).await;
    // 40 violations of 64 KiB: within one transfer, cut down by the host's own caps.
    let binding = hostile("violations", &[("count", "40"), ("kib", "64")]);
    let outcome = runtime()
        .validate(&plugin, &binding, &new_user(Some("ada@example.com")))
        .await;
    let Ok(ValidatorOutcome::Violations(violations)) = outcome else {
        panic!("expected violations, got {outcome:?}");
    };
    assert_eq!(violations.len(), warden_wasm_runtime::MAX_VIOLATIONS + 1);
    for v in &violations[..warden_wasm_runtime::MAX_VIOLATIONS] {
        assert!(v.message.len() <= warden_wasm_runtime::MAX_VIOLATION_MESSAGE);
        assert!(
            v.message.ends_with(warden_wasm_runtime::TRUNCATED),
            "{}",
            &v.message[..40]
        );
    }
    let last = &violations[warden_wasm_runtime::MAX_VIOLATIONS];
    assert_eq!(last.code, warden_wasm_runtime::VIOLATIONS_TRUNCATED);
    assert!(last.message.contains("8 more"), "{}", last.message);
    host_still_serves().await;
}

#[tokio::test]
async fn a_flood_of_huge_log_records_completes_and_the_host_goes_on() {
    let plugin = load("log", fixtures::HOSTILE_VALIDATOR).await;
    let binding = hostile("log", &[("count", "64"), ("kib", "1024")]);
    let outcome = runtime()
        .validate(&plugin, &binding, &new_user(Some("ada@example.com")))
        .await;
    assert_eq!(outcome, Ok(ValidatorOutcome::Ok));
    host_still_serves().await;
}

#[tokio::test]
async fn a_projection_whose_subscriptions_sleep_fails_to_load() {
    let bytes = fixtures::bytes(fixtures::HOSTILE_SLOW_SUBSCRIPTIONS);
    let error = runtime()
        .load("slow-subscriptions", &bytes)
        .await
        .expect_err("the load must not wait 20 s for the subscriptions");
    assert!(
        matches!(
            error,
            warden_wasm_runtime::PluginError::Subscriptions(CallError::Timeout)
        ),
        "{error}"
    );
    host_still_serves().await;
}

#[tokio::test]
async fn a_projection_writing_past_its_quota_fails_and_writes_nothing() {
    let plugin = load("flood", fixtures::HOSTILE_PROJECTION).await;
    let views = warden_wasm_runtime::MemoryViewStore::new();
    let mut binding = Binding::with_config([("mode", "flood"), ("rows", "64"), ("kib", "1000")]);
    binding.limits.memory = 128 << 20;
    let event = warden_wasm_runtime::Event {
        instance_id: "inst-1".into(),
        org_id: None,
        aggregate_type: "user".into(),
        aggregate_id: "user-1".into(),
        sequence: 1,
        position: 1,
        event_type: "user.human.added".into(),
        revision: 1,
        creator: "admin-1".into(),
        created_at: 0,
        payload: serde_json::json!({}),
    };
    let outcome = runtime()
        .project(&plugin, &binding, &event, views.clone())
        .await;
    assert!(
        matches!(outcome, Err(CallError::QuotaExceeded(_))),
        "{outcome:?}"
    );
    assert!(views.rows().is_empty(), "a failed call writes nothing");

    binding.config = Arc::new(BTreeMap::from([("mode".to_owned(), "copy".to_owned())]));
    let outcome = runtime()
        .project(&plugin, &binding, &event, views.clone())
        .await;
    assert_eq!(outcome, Ok(()));
    assert_eq!(views.rows().len(), 1, "the next call succeeds");
}

#[tokio::test]
async fn compilations_beyond_the_queue_are_refused_at_once() {
    let runtime = warden_wasm_runtime::PluginRuntime::new(warden_wasm_runtime::RuntimeConfig {
        max_compiles: 1,
        max_compile_queue: 1,
        ..warden_wasm_runtime::RuntimeConfig::default()
    })
    .expect("runtime");
    let first = fixtures::bytes(fixtures::HOSTILE_TRAP);
    let second = fixtures::bytes(fixtures::HOSTILE_SPIN);
    // The first load holds the only place in the queue while it compiles.
    let (first, second) = tokio::join!(runtime.load("a", &first), runtime.load("b", &second));
    assert!(first.is_ok(), "{first:?}");
    assert!(
        matches!(second, Err(warden_wasm_runtime::PluginError::CompileBusy)),
        "{second:?}"
    );
    let again = runtime
        .load("b", &fixtures::bytes(fixtures::HOSTILE_SPIN))
        .await;
    assert!(again.is_ok(), "once the queue is free: {again:?}");
}

#[tokio::test]
async fn the_compile_cache_on_disk_keeps_a_bounded_number_of_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let runtime = warden_wasm_runtime::PluginRuntime::new(warden_wasm_runtime::RuntimeConfig {
        cache_dir: Some(cache.clone()),
        max_cached_files: 2,
        ..warden_wasm_runtime::RuntimeConfig::default()
    })
    .expect("runtime");
    for path in [
        fixtures::HOSTILE_TRAP,
        fixtures::HOSTILE_SPIN,
        fixtures::HOSTILE_NOISY,
    ] {
        runtime
            .load("cached", &fixtures::bytes(path))
            .await
            .expect("load");
    }
    let files = std::fs::read_dir(&cache)
        .expect("cache dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(files, 2);
}
