//! Running a plugin against a sample input without a server: `warden plugin test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    ActionContext, Binding, CallError, Event, Hook, Limits, LoadedPlugin, MemoryViewStore,
    PluginError, PluginRuntime, RuntimeConfig, ValidatorInput, World,
};

/// What a local test found: the plugin's answer and how long things took.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// The world the component targets.
    pub world: World,
    /// SHA-256 of the component, hex.
    pub digest: String,
    /// The answer of the first run as JSON; a failed call is `{"error": <kind>, "message": ...}`.
    pub result: Value,
    /// Time to validate, compile and pre-instantiate the component.
    #[serde(serialize_with = "micros")]
    pub compile: Duration,
    /// Calls timed (for a projection: events applied).
    pub runs: usize,
    /// Median of fresh instance plus call.
    #[serde(serialize_with = "micros")]
    pub call_p50: Duration,
    /// 99th percentile of fresh instance plus call.
    #[serde(serialize_with = "micros")]
    pub call_p99: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e6)
}

/// Why a local test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LocalTestError {
    /// The component file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The input document does not fit the world's input format.
    #[error("invalid test input for a {world}: {message}")]
    Input {
        /// The world whose format was expected.
        world: World,
        /// What is wrong.
        message: String,
    },
    /// The component could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestLimits {
    deadline_ms: Option<u64>,
    memory_mib: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorTest {
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    limits: TestLimits,
    input: ValidatorInput,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectionTest {
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    limits: TestLimits,
    #[serde(default)]
    views: BTreeMap<String, BTreeMap<String, Value>>,
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct ActionTest {
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    limits: TestLimits,
    #[serde(default)]
    context: ActionContext,
    #[serde(flatten)]
    hook: Hook,
}

fn binding(config: BTreeMap<String, String>, limits: &TestLimits) -> Binding {
    let defaults = Limits::default();
    Binding {
        config: Arc::new(config),
        limits: Limits {
            deadline: limits
                .deadline_ms
                .map_or(defaults.deadline, Duration::from_millis),
            memory: limits.memory_mib.map_or(defaults.memory, |m| m << 20),
            ..defaults
        },
        ..Binding::default()
    }
}

fn outcome<T: Serialize>(result: Result<T, CallError>) -> Value {
    match result {
        Ok(value) => serde_json::to_value(value).unwrap_or(Value::Null),
        Err(err) => json!({ "error": err.kind(), "message": err.to_string() }),
    }
}

/// Loads the component at `path`, checks it targets `world`, runs it against `input_json` (see the
/// crate documentation for the format) `runs` times (at least once) in fresh instances, and reports
/// the first answer with timings.
pub async fn run_local_test(
    path: &Path,
    world: World,
    input_json: &str,
    runs: usize,
) -> Result<TestReport, LocalTestError> {
    let bytes = std::fs::read(path).map_err(|source| LocalTestError::Read {
        path: path.to_owned(),
        source,
    })?;
    let input_err = |e: serde_json::Error| LocalTestError::Input {
        world,
        message: e.to_string(),
    };
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let name = path
        .file_stem()
        .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());

    let started = Instant::now();
    let plugin = runtime.load(&name, &bytes).await?;
    let compile = started.elapsed();
    if plugin.world() != world {
        return Err(PluginError::WrongWorld {
            expected: world,
            actual: plugin.world(),
        }
        .into());
    }

    let runs = runs.max(1);
    let mut timings = Vec::with_capacity(runs);
    let result = match world {
        World::Validator => {
            let test: ValidatorTest = serde_json::from_str(input_json).map_err(input_err)?;
            let binding = binding(test.config, &test.limits);
            let mut first = None;
            for _ in 0..runs {
                let t = Instant::now();
                let r = runtime.validate(&plugin, &binding, &test.input).await;
                timings.push(t.elapsed());
                first.get_or_insert_with(|| outcome(r));
            }
            first.unwrap_or(Value::Null)
        }
        World::Projection => {
            let mut test: ProjectionTest = serde_json::from_str(input_json).map_err(input_err)?;
            let binding = binding(std::mem::take(&mut test.config), &test.limits);
            let mut first = None;
            while timings.len() < runs {
                let report = project_all(&runtime, &plugin, &binding, &test, &mut timings).await;
                first.get_or_insert(report);
            }
            first.unwrap_or(Value::Null)
        }
        World::Action => {
            let test: ActionTest = serde_json::from_str(input_json).map_err(input_err)?;
            let binding = binding(test.config, &test.limits);
            let mut first = None;
            for _ in 0..runs {
                let t = Instant::now();
                let r = runtime
                    .action(&plugin, &binding, &test.hook, &test.context)
                    .await;
                timings.push(t.elapsed());
                first.get_or_insert_with(|| outcome(r));
            }
            first.unwrap_or(Value::Null)
        }
    };

    timings.sort();
    let pick = |q: f64| {
        let i = ((timings.len() as f64 - 1.0) * q).round() as usize;
        timings.get(i).copied().unwrap_or_default()
    };
    Ok(TestReport {
        world,
        digest: plugin.digest().to_owned(),
        result,
        compile,
        runs: timings.len(),
        call_p50: pick(0.5),
        call_p99: pick(0.99),
    })
}

/// The most events a projection sample may hold ([`run_sample`]).
pub const MAX_SAMPLE_EVENTS: usize = 100;

/// What one run of a plugin against a sample found.
#[derive(Debug, Clone, Serialize)]
pub struct SampleRun {
    /// The world the plugin targets.
    pub world: World,
    /// The digest of the version run.
    pub digest: String,
    /// The plugin's answer as JSON, as [`TestReport::result`]; for a projection, the rows its views would
    /// hold and each event's outcome (nothing is written anywhere).
    pub result: Value,
    /// Whether the call succeeded (for a projection: every event).
    pub ok: bool,
    /// Time of the call(s), fresh instance included, in microseconds.
    #[serde(serialize_with = "micros")]
    pub duration: Duration,
    /// What the plugin logged and printed during the run.
    pub logs: Vec<crate::LogLine>,
}

/// Runs a loaded plugin once against `sample`, in the format [`run_local_test`] reads for its world
/// (`config` and `limits` of the sample stand for a binding's). The run goes through a detached copy of
/// the plugin, so its counters and log lines are those of the run only; a projection writes to views in
/// memory seeded from the sample's `views`, never to the plugin's real ones.
pub async fn run_sample(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    sample: Value,
) -> Result<SampleRun, LocalTestError> {
    let world = plugin.world();
    let input_err = |e: serde_json::Error| LocalTestError::Input {
        world,
        message: e.to_string(),
    };
    let trial = plugin.detached(&format!("{} (test run)", plugin.name()));
    let mut timings = Vec::new();
    let (result, ok) = match world {
        World::Validator => {
            let test: ValidatorTest = serde_json::from_value(sample).map_err(input_err)?;
            let binding = binding(test.config, &test.limits);
            let t = Instant::now();
            let r = runtime.validate(&trial, &binding, &test.input).await;
            timings.push(t.elapsed());
            let ok = r.is_ok();
            (outcome(r), ok)
        }
        World::Projection => {
            let mut test: ProjectionTest = serde_json::from_value(sample).map_err(input_err)?;
            if test.events.len() > MAX_SAMPLE_EVENTS {
                return Err(LocalTestError::Input {
                    world,
                    message: format!("a sample holds at most {MAX_SAMPLE_EVENTS} events"),
                });
            }
            let binding = binding(std::mem::take(&mut test.config), &test.limits);
            let report = project_all(runtime, &trial, &binding, &test, &mut timings).await;
            let ok = report["events"]
                .as_array()
                .is_some_and(|events| events.iter().all(|e| e.get("error").is_none()));
            (report, ok)
        }
        World::Action => {
            let test: ActionTest = serde_json::from_value(sample).map_err(input_err)?;
            let binding = binding(test.config, &test.limits);
            let t = Instant::now();
            let r = runtime
                .action(&trial, &binding, &test.hook, &test.context)
                .await;
            timings.push(t.elapsed());
            let ok = r.is_ok();
            (outcome(r), ok)
        }
    };
    Ok(SampleRun {
        world,
        digest: plugin.digest().to_owned(),
        result,
        ok,
        duration: timings.iter().sum(),
        logs: trial.recent_logs(),
    })
}

/// Applies every event of the test to fresh views seeded from the input; returns the rows and each
/// event's outcome.
async fn project_all(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    binding: &Binding,
    test: &ProjectionTest,
    timings: &mut Vec<Duration>,
) -> Value {
    let views = MemoryViewStore::new();
    for (table, rows) in &test.views {
        for (key, value) in rows {
            views.insert(table, key, &value.to_string());
        }
    }
    let mut events = Vec::new();
    for event in &test.events {
        if !plugin.wants(&event.event_type) {
            events.push(json!({ "event_type": event.event_type, "skipped": "not subscribed" }));
            continue;
        }
        let t = Instant::now();
        let r = runtime.project(plugin, binding, event, views.clone()).await;
        timings.push(t.elapsed());
        events.push(match r {
            Ok(()) => json!({ "event_type": event.event_type, "ok": true }),
            Err(err) => {
                json!({ "event_type": event.event_type, "error": err.kind(), "message": err.to_string() })
            }
        });
    }
    if timings.is_empty() {
        // Nothing to time: record the empty pass so the caller's loop ends.
        timings.push(Duration::ZERO);
    }
    let rows: BTreeMap<String, BTreeMap<String, Value>> = views
        .rows()
        .into_iter()
        .map(|(table, rows)| {
            let rows = rows
                .into_iter()
                .map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v))))
                .collect();
            (table, rows)
        })
        .collect();
    json!({ "subscriptions": plugin.subscriptions(), "events": events, "rows": rows })
}
