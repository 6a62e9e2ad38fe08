//! Warden's plugin runtime: business rules, projections and login-flow actions written as sandboxed
//! WebAssembly components (WIT package `warden:plugin@0.1.0`, see `wit/`).
//!
//! ```no_run
//! # async fn example(bytes: Vec<u8>, input: warden_wasm_runtime::ValidatorInput) -> anyhow::Result<()> {
//! use warden_wasm_runtime::{Binding, PluginRuntime, RuntimeConfig, ValidatorOutcome};
//!
//! let runtime = PluginRuntime::new(RuntimeConfig {
//!     cache_dir: Some("/var/lib/warden/plugin-cache".into()),
//!     ..RuntimeConfig::default()
//! })?;
//! let plugin = runtime.load("email-domains", &bytes).await?;
//! let binding = Binding::with_config([("allowed_domains", "example.com")]);
//! match runtime.validate(&plugin, &binding, &input).await? {
//!     ValidatorOutcome::Ok => {}
//!     ValidatorOutcome::Violations(violations) => println!("refused: {violations:?}"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Model
//!
//! * [`PluginRuntime::load`] validates that the bytes are a component targeting exactly one of the
//!   worlds ([`World`]), compiles it once (cached in memory by content hash, and on disk by content
//!   hash plus engine compatibility when [`RuntimeConfig::cache_dir`] is set) and pre-instantiates it.
//! * Every call ([`PluginRuntime::validate`], [`PluginRuntime::project`], [`PluginRuntime::action`])
//!   gets a fresh store and instance from the pooling allocator (copy-on-write memory images), so no
//!   state survives between calls, users or tenants. Creating the instance and calling costs tens of
//!   microseconds for a Rust plugin.
//! * Each call is limited by its [`Binding`]'s [`Limits`]: a CPU deadline counted in epoch ticks
//!   while the plugin runs, the same deadline plus [`RuntimeConfig::deadline_grace`] on the wall clock
//!   (whatever the plugin waits on, a WASI clock poll included), and a cap on its linear memory; instances, tables and memories are capped
//!   by the [`RuntimeConfig`]. WASI is present but empty: no files, environment, arguments or network
//!   unless the binding grants [`Capabilities`]. Stdout and stderr are captured (bounded) and logged
//!   with the plugin's name, as are its log records (bounded in number, size and length each).
//! * What a plugin hands back is bounded before it reaches a caller: at most [`MAX_VIOLATIONS`]
//!   violations with texts cut to [`MAX_VIOLATION_MESSAGE`] bytes (marked [`TRUNCATED`]), at most
//!   [`MAX_SUBSCRIPTIONS`] subscriptions. The bytes lifted out of a guest in one call can never exceed
//!   its memory cap, since they are read from its linear memory.
//! * A trap, timeout, exhausted memory or stack overflow fails that call with a [`CallError`]; the
//!   host goes on. [`FailurePolicy::resolve`] applies a binding's failure policy.
//! * Calls are `async`: the plugin runs on a fiber on the calling task and yields to the executor at
//!   every epoch tick, so a plugin that runs to its deadline does not hold a worker thread from other
//!   requests.
//!
//! # Local test input (`warden plugin test`)
//!
//! [`run_local_test`] reads one JSON document whose shape depends on the world; `config` is the
//! binding's configuration (optional, default empty) and `limits` optional
//! (`{"deadline_ms": 50, "memory_mib": 64}`):
//!
//! * validator: `{"config": {...}, "input": <ValidatorInput>}`, e.g.
//!   `{"config": {"allowed_domains": "example.com"}, "input": {"command": {"command_type":
//!   "user.human.add", "instance_id": "i1", "org_id": "o1", "aggregate_type": "user", "aggregate_id":
//!   "u1", "actor": {"user_id": "admin"}, "payload": {"add_human_user": {"username": "ada", "email":
//!   "ada@example.org"}}}}}`;
//! * projection: `{"config": {...}, "views": {"<table>": {"<key>": <JSON row>}}, "events": [<Event>,
//!   ...]}`; the result holds the rows after all events;
//! * action: `{"config": {...}, "hook": "pre_token", "claims": [...], "context": <ActionContext>}`,
//!   with `profile` for `pre_registration` and `user` for `post_creation`.

mod binding;
mod convert;
mod error;
mod host;
mod local_test;
mod metrics;
mod runtime;
mod types;
mod views;
mod wit;

pub use binding::{Binding, Capabilities, DirGrant, FailurePolicy, Limits};
pub use error::{CallError, PluginError};
pub use local_test::{
    LocalTestError, MAX_SAMPLE_EVENTS, SampleRun, TestReport, run_local_test, run_sample,
};
pub use metrics::{LATENCY_BUCKETS, MetricsSnapshot, render_prometheus};
pub use runtime::{
    LoadedPlugin, LogLine, MAX_CLAIM_VALUE, MAX_CLAIMS, MAX_GUEST_TRANSFER, MAX_SUBSCRIPTION_LEN,
    MAX_SUBSCRIPTIONS, MAX_VIOLATION_FIELD, MAX_VIOLATION_MESSAGE, MAX_VIOLATIONS, PluginRuntime,
    RECENT_LOG_LINES, RuntimeConfig, TRUNCATED, VIOLATIONS_TRUNCATED, WIT_VERSION, World,
    subscription_matches,
};
pub use types::{
    ActionContext, ActionOutcome, Actor, AuthMethod, Claim, Command, CommandPayload, Event, Hook,
    Metadata, Org, Profile, RESERVED_CLAIMS, User, UserState, ValidatorInput, ValidatorOutcome,
    Violation,
};
pub use views::{
    MAX_KEY, MAX_TABLE_NAME, MAX_VALUE, MemoryViewStore, ViewFuture, ViewStore, ViewStoreError,
    check_table,
};
