//! 10,000 hostile calls leave the process's memory flat.

mod common;

use std::time::{Duration, Instant};

use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{Binding, CallError, Limits};

use common::{load, new_user, runtime};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn ten_thousand_hostile_calls_leave_memory_flat() {
    let rt = runtime();
    let plugins = [
        (load("trap", fixtures::HOSTILE_TRAP).await, "trap"),
        (load("bomb", fixtures::HOSTILE_MEMORY_BOMB).await, "memory"),
        (
            load("overflow", fixtures::HOSTILE_STACK_OVERFLOW).await,
            "stack_overflow",
        ),
        (load("spin", fixtures::HOSTILE_SPIN).await, "timeout"),
    ];
    // The loop gets a short deadline so the run stays short; the others finish well before theirs.
    let spin_binding = Binding {
        limits: Limits {
            deadline: Duration::from_millis(1),
            memory: 4 << 20,
            ..Limits::default()
        },
        ..Binding::default()
    };
    let binding = Binding {
        limits: Limits {
            memory: 4 << 20,
            deadline: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Binding::default()
    };
    let input = new_user(Some("ada@example.com"));
    let round = async |calls: usize| {
        for i in 0..calls {
            let (plugin, kind) = &plugins[i % plugins.len()];
            let binding = if *kind == "timeout" {
                &spin_binding
            } else {
                &binding
            };
            let err: CallError = rt
                .validate(plugin, binding, &input)
                .await
                .expect_err("hostile");
            assert_eq!(err.kind(), *kind, "{err:?}");
        }
    };

    round(400).await;
    let before = rss_kib();
    let started = Instant::now();
    round(10_000).await;
    let after = rss_kib();
    let growth = after.saturating_sub(before);
    eprintln!(
        "RSS {before} KiB -> {after} KiB (+{growth} KiB) over 10,000 hostile calls in {:?}",
        started.elapsed()
    );
    assert!(growth < 32 << 10, "RSS grew by {growth} KiB");
    for (plugin, _) in &plugins {
        assert_eq!(plugin.metrics().failures, 2_600, "{}", plugin.name());
    }
}
