//! Per-plugin call metrics: counts and a latency histogram, rendered as Prometheus text.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::CallError;

/// Upper bounds of the latency histogram's buckets, in seconds (the last, `+Inf`, is implied).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1.0,
];

/// Counters of one loaded plugin, updated by every call.
#[derive(Debug, Default)]
pub(crate) struct PluginMetrics {
    calls: AtomicU64,
    failures: AtomicU64,
    timeouts: AtomicU64,
    memory_exhausted: AtomicU64,
    traps: AtomicU64,
    /// Epoch ticks the calls ran through, counted live by each call's store.
    ticks: Arc<AtomicU64>,
    latency_sum_nanos: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
}

impl PluginMetrics {
    /// The counter of epoch ticks, for a call's store to count into.
    pub(crate) fn ticks(&self) -> Arc<AtomicU64> {
        self.ticks.clone()
    }

    pub(crate) fn record(&self, elapsed: Duration, error: Option<&CallError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(err) = error {
            self.failures.fetch_add(1, Ordering::Relaxed);
            let counter = match err {
                CallError::Timeout => Some(&self.timeouts),
                CallError::MemoryExhausted => Some(&self.memory_exhausted),
                CallError::Trap(_) | CallError::StackOverflow => Some(&self.traps),
                _ => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let mut cumulative = 0;
        let buckets = self
            .buckets
            .iter()
            .map(|b| {
                cumulative += b.load(Ordering::Relaxed);
                cumulative
            })
            .collect();
        MetricsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            memory_exhausted: self.memory_exhausted.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            epoch_ticks: self.ticks.load(Ordering::Relaxed),
            latency_sum: Duration::from_nanos(self.latency_sum_nanos.load(Ordering::Relaxed)),
            latency_buckets: buckets,
        }
    }
}

/// A point-in-time copy of one plugin's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed, for any reason.
    pub failures: u64,
    /// Calls that ran out of time.
    pub timeouts: u64,
    /// Calls that hit their memory cap.
    pub memory_exhausted: u64,
    /// Calls that trapped or overflowed their stack.
    pub traps: u64,
    /// Epoch ticks ([`RuntimeConfig::epoch_tick`](crate::RuntimeConfig::epoch_tick)) the calls ran
    /// through: the CPU time counted against their deadlines, updated while a call runs.
    pub epoch_ticks: u64,
    /// Total latency of all calls (fresh instance plus call).
    pub latency_sum: Duration,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then `+Inf` (equal to `calls`).
    pub latency_buckets: Vec<u64>,
}

/// Renders the snapshots of several plugins as Prometheus text exposition, one series per plugin
/// labelled `plugin="<name>"`.
pub fn render_prometheus(plugins: &[(&str, MetricsSnapshot)]) -> String {
    let mut out = String::new();
    let counters: [Counter; 5] = [
        ("warden_plugin_calls_total", "Plugin calls made.", |m| {
            m.calls
        }),
        (
            "warden_plugin_failures_total",
            "Plugin calls that failed.",
            |m| m.failures,
        ),
        (
            "warden_plugin_timeouts_total",
            "Plugin calls that ran out of time.",
            |m| m.timeouts,
        ),
        (
            "warden_plugin_memory_exhausted_total",
            "Plugin calls that hit their memory cap.",
            |m| m.memory_exhausted,
        ),
        (
            "warden_plugin_traps_total",
            "Plugin calls that trapped.",
            |m| m.traps,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (plugin, m) in plugins {
            let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {}", escape(plugin), value(m));
        }
    }
    let name = "warden_plugin_call_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Latency of plugin calls, fresh instance included.\n# TYPE {name} histogram"
    );
    for (plugin, m) in plugins {
        let plugin = escape(plugin);
        for (i, count) in m.latency_buckets.iter().enumerate() {
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "{name}_bucket{{plugin=\"{plugin}\",le=\"{le}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_sum{{plugin=\"{plugin}\"}} {}\n{name}_count{{plugin=\"{plugin}\"}} {}",
            m.latency_sum.as_secs_f64(),
            m.calls
        );
    }
    out
}

/// A counter's name, help text and value.
type Counter = (&'static str, &'static str, fn(&MetricsSnapshot) -> u64);

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = PluginMetrics::default();
        m.record(Duration::from_micros(20), None);
        m.record(Duration::from_micros(700), Some(&CallError::Timeout));
        m.record(Duration::from_secs(3), Some(&CallError::Trap("x".into())));
        let s = m.snapshot();
        assert_eq!((s.calls, s.failures, s.timeouts, s.traps), (3, 2, 1, 1));
        assert_eq!(s.latency_buckets[0], 1);
        assert_eq!(s.latency_buckets[5], 2); // <= 1 ms
        assert_eq!(s.latency_buckets[LATENCY_BUCKETS.len() - 1], 2); // <= 1 s
        assert_eq!(*s.latency_buckets.last().unwrap_or(&0), 3);

        let text = render_prometheus(&[("email\"domains", s)]);
        assert!(text.contains("warden_plugin_calls_total{plugin=\"email\\\"domains\"} 3"));
        assert!(text.contains(
            "warden_plugin_call_duration_seconds_bucket{plugin=\"email\\\"domains\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("warden_plugin_timeouts_total{plugin=\"email\\\"domains\"} 1"));
    }
}
