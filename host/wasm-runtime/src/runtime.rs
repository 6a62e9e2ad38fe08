//! The plugin runtime: one engine, compiled plugins, and a fresh sandboxed instance per call.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, OptLevel, PoolConcurrencyLimitError,
    PoolingAllocationConfig, Store, Trap, UpdateDeadline,
};

use crate::binding::Binding;
use crate::error::{CallError, PluginError};
use crate::host::{CallLimiter, HostState, OutputBudget, ViewAccess};
use crate::metrics::{MetricsSnapshot, PluginMetrics};
use crate::types::{
    ActionContext, ActionOutcome, Claim, Event, Hook, Metadata, RESERVED_CLAIMS, ValidatorInput,
    ValidatorOutcome, Violation,
};
use crate::views::ViewStore;
use crate::wit::action::{Action, ActionPre};
use crate::wit::projection::{Projection, ProjectionPre};
use crate::wit::validator::warden::plugin::types as wit;
use crate::wit::validator::{Validator, ValidatorPre};

/// The WIT package version this runtime serves.
pub const WIT_VERSION: &str = "0.1.0";

/// The kind of plugin a component is: the WIT world it targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum World {
    /// Checks commands in the command pipeline (`warden:plugin/validator`).
    Validator,
    /// Turns events into rows of its own views (`warden:plugin/projection`).
    Projection,
    /// Hooks of the login flow (`warden:plugin/action`).
    Action,
}

impl World {
    /// All worlds.
    pub const ALL: [World; 3] = [World::Validator, World::Projection, World::Action];

    /// The world's name: `validator`, `projection` or `action`.
    pub fn name(self) -> &'static str {
        match self {
            World::Validator => "validator",
            World::Projection => "projection",
            World::Action => "action",
        }
    }

    /// The interface a component of this world exports, without version.
    fn export(self) -> &'static str {
        match self {
            World::Validator => "warden:plugin/validation",
            World::Projection => "warden:plugin/projector",
            World::Action => "warden:plugin/login-hooks",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for World {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        World::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown world `{s}`: expected validator, projection or action"))
    }
}

/// Settings of the runtime, fixed at start.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled plugins are cached across restarts; `None` keeps them in memory only. The
    /// directory is created with owner-only permissions and must not be shared with anything else.
    pub cache_dir: Option<PathBuf>,
    /// Plugin instances alive at once (calls in flight); a call beyond it fails with
    /// [`CallError::Busy`]. Sizes the pooling allocator.
    pub max_instances: u32,
    /// The largest CPU deadline a binding may set.
    pub max_deadline: Duration,
    /// The largest memory cap a binding may set, in bytes.
    pub max_memory: u64,
    /// Core instances, tables and memories one call may create (interpreted languages ship several
    /// core modules per component).
    pub max_core_instances: u32,
    /// Tables one call may create.
    pub max_tables: u32,
    /// Linear memories one call may create.
    pub max_memories: u32,
    /// How often the epoch advances; the granularity of CPU deadlines.
    pub epoch_tick: Duration,
    /// Bytes of stdout, and of stderr, kept per call; the rest is dropped.
    pub max_output_bytes: usize,
    /// Log records kept per call.
    pub max_log_records: usize,
    /// Bytes of log messages and fields kept per call.
    pub max_log_bytes: usize,
    /// Real time a call may take beyond its binding's deadline before it is abandoned. The CPU deadline
    /// counts only time the plugin runs; this bound also covers time it waits (a WASI clock poll, a
    /// `std::thread::sleep`), so no call outlasts deadline plus grace, whatever it waits on.
    pub deadline_grace: Duration,
    /// Longest time compiling one component may take before its load fails.
    pub compile_timeout: Duration,
    /// Components compiled at once; more wait their turn.
    pub max_compiles: usize,
    /// Loads that may wait for or run a compilation at once; a load beyond it fails with
    /// [`PluginError::CompileBusy`] at once.
    pub max_compile_queue: usize,
    /// Compiled components kept in [`cache_dir`](Self::cache_dir); the least recently written go first.
    pub max_cached_files: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 64,
            max_deadline: Duration::from_secs(1),
            max_memory: 256 << 20,
            max_core_instances: 64,
            max_tables: 64,
            max_memories: 8,
            epoch_tick: Duration::from_millis(1),
            max_output_bytes: 16 << 10,
            max_log_records: 256,
            max_log_bytes: 64 << 10,
            deadline_grace: Duration::from_millis(100),
            compile_timeout: Duration::from_secs(120),
            max_compiles: 2,
            max_compile_queue: 16,
            max_cached_files: 256,
        }
    }
}

/// Runs plugins: compiles and caches them, and calls them in fresh sandboxed instances.
///
/// Cheap to clone; clones share the engine, the caches and the epoch ticker, which stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct PluginRuntime {
    inner: Arc<Inner>,
}

impl fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    engine: Engine,
    config: RuntimeConfig,
    validator_linker: Linker<HostState>,
    projection_linker: Linker<HostState>,
    action_linker: Linker<HostState>,
    /// Identifies the engine's code format: compiled code is cached under the content hash plus this.
    compat: String,
    compiled: Mutex<HashMap<String, Weak<Compiled>>>,
    /// One permit per compilation that may run at once; held by the compiling thread until it ends.
    compile_slots: Arc<tokio::sync::Semaphore>,
    /// Loads waiting for or running a compilation.
    compile_queue: AtomicUsize,
    /// Components compiled from their bytes (not taken from the memory or disk cache).
    compilations: AtomicU64,
    ticker: EpochTicker,
}

/// A compiled plugin, shared by every [`LoadedPlugin`] with the same bytes.
struct Compiled {
    digest: String,
    world: World,
    pre: Pre,
    subscriptions: Vec<String>,
}

enum Pre {
    Validator(ValidatorPre<HostState>),
    Projection(ProjectionPre<HostState>),
    Action(ActionPre<HostState>),
}

/// A plugin ready to be called: compiled, linked and pre-instantiated.
pub struct LoadedPlugin {
    name: Arc<str>,
    compiled: Arc<Compiled>,
    metrics: PluginMetrics,
    logs: RecentLogs,
}

/// How many log lines a loaded plugin keeps ([`LoadedPlugin::recent_logs`]).
pub const RECENT_LOG_LINES: usize = 200;

/// One line a plugin logged (through the `log` interface) or printed (stdout, stderr) during a call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// When the call ended, in ms since the Unix epoch.
    pub at_unix_ms: i64,
    /// `trace`, `debug`, `info`, `warn`, `error`, or `stdout` / `stderr` for printed text.
    pub level: String,
    /// The message (bounded as the log records are).
    pub message: String,
    /// The record's fields.
    pub fields: Vec<(String, String)>,
}

impl LogLine {
    pub(crate) fn new(level: &str, message: String, fields: Vec<(String, String)>) -> Self {
        let at_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            at_unix_ms,
            level: level.to_owned(),
            message,
            fields,
        }
    }
}

/// The last [`RECENT_LOG_LINES`] lines of a loaded plugin.
#[derive(Debug, Default)]
struct RecentLogs(std::sync::Mutex<std::collections::VecDeque<LogLine>>);

impl RecentLogs {
    fn keep(&self, lines: Vec<LogLine>) {
        if lines.is_empty() {
            return;
        }
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in lines {
            if kept.len() == RECENT_LOG_LINES {
                kept.pop_front();
            }
            kept.push_back(line);
        }
    }

    fn snapshot(&self) -> Vec<LogLine> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("digest", &self.compiled.digest)
            .field("world", &self.compiled.world)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// The name it was loaded under; its log records and metrics carry it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256 of the component's bytes, in hex.
    pub fn digest(&self) -> &str {
        &self.compiled.digest
    }

    /// The world the component targets.
    pub fn world(&self) -> World {
        self.compiled.world
    }

    /// For a projection, the event types it subscribes to (a trailing `*` matches a prefix); empty
    /// for other worlds.
    pub fn subscriptions(&self) -> &[String] {
        &self.compiled.subscriptions
    }

    /// Whether a projection wants events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.compiled
            .subscriptions
            .iter()
            .any(|pattern| subscription_matches(pattern, event_type))
    }

    /// The plugin's call counters so far.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    /// Whether this plugin and `other` run the same compiled code (loaded from the same bytes while
    /// one of them was alive).
    pub fn shares_code_with(&self, other: &LoadedPlugin) -> bool {
        Arc::ptr_eq(&self.compiled, &other.compiled)
    }

    /// The last lines the plugin logged or printed, oldest first (at most [`RECENT_LOG_LINES`]).
    pub fn recent_logs(&self) -> Vec<LogLine> {
        self.logs.snapshot()
    }

    /// The same compiled plugin under another name, with its own counters and log lines: a trial run
    /// through it (e.g. a test run from the API) leaves this plugin's figures alone. Costs no compilation.
    pub fn detached(&self, name: &str) -> Arc<LoadedPlugin> {
        Arc::new(LoadedPlugin {
            name: name.into(),
            compiled: self.compiled.clone(),
            metrics: PluginMetrics::default(),
            logs: RecentLogs::default(),
        })
    }
}

impl PluginRuntime {
    /// Components this runtime compiled from their bytes so far; a load served from the memory or
    /// disk cache does not count.
    pub fn compilations(&self) -> u64 {
        self.inner.compilations.load(Ordering::Relaxed)
    }

    /// Builds the engine (pooling allocator, epoch interruption) and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Self, PluginError> {
        if config.epoch_tick.is_zero() {
            return Err(PluginError::Config("epoch_tick must not be zero".into()));
        }
        if config.max_deadline < config.epoch_tick {
            return Err(PluginError::Config(
                "max_deadline must be at least one epoch tick".into(),
            ));
        }
        let max_memory = usize::try_from(config.max_memory)
            .map_err(|_| PluginError::Config("max_memory does not fit this platform".into()))?;

        let mut pool = PoolingAllocationConfig::new();
        let n = config.max_instances;
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(config.max_core_instances).min(10_000))
            .max_core_instances_per_component(config.max_core_instances)
            .total_memories(n.saturating_mul(2))
            .max_memories_per_component(config.max_memories)
            .total_tables(n.saturating_mul(4))
            .max_tables_per_component(config.max_tables)
            .total_stacks(n)
            .max_memory_size(max_memory)
            // Interpreters keep big function tables and instances; allow them, still bounded.
            .max_core_instance_size(4 << 20)
            .max_component_instance_size(4 << 20)
            .table_elements(100_000);

        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| PluginError::Config(format!("{e:#}")))?;

        let compat = {
            let mut hasher = Sha256Hasher(Sha256::new());
            std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
            hasher.0.update(env!("CARGO_PKG_VERSION"));
            hex::encode(&hasher.0.finalize()[..8])
        };

        if let Some(dir) = &config.cache_dir {
            create_private_dir(dir)?;
        }

        let link_err = |e: wasmtime::Error| PluginError::Internal(format!("linker: {e:#}"));
        let mut validator_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut validator_linker).map_err(link_err)?;
        Validator::add_to_linker::<_, HasSelf<_>>(&mut validator_linker, |s| s)
            .map_err(link_err)?;
        let mut projection_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut projection_linker).map_err(link_err)?;
        Projection::add_to_linker::<_, HasSelf<_>>(&mut projection_linker, |s| s)
            .map_err(link_err)?;
        let mut action_linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut action_linker).map_err(link_err)?;
        Action::add_to_linker::<_, HasSelf<_>>(&mut action_linker, |s| s).map_err(link_err)?;

        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick)?;
        let compiles = config.max_compiles.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                config,
                validator_linker,
                projection_linker,
                action_linker,
                compat,
                compile_slots: Arc::new(tokio::sync::Semaphore::new(compiles)),
                compile_queue: AtomicUsize::new(0),
                compilations: AtomicU64::new(0),
                compiled: Mutex::new(HashMap::new()),
                ticker,
            }),
        })
    }

    /// The runtime's settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Loads a plugin: validates that `bytes` are a component of exactly one plugin world that links
    /// against what the server provides, compiles it (or takes it from the cache), and
    /// pre-instantiates it. For a projection it also reads its subscriptions.
    ///
    /// Compilation runs on a blocking thread. Loading the same bytes again reuses the compiled code
    /// while any plugin loaded from them is alive, and the disk cache otherwise.
    pub async fn load(&self, name: &str, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, PluginError> {
        let digest = hex::encode(Sha256::digest(bytes));
        let compiled = match self.inner.cached(&digest) {
            Some(compiled) => compiled,
            None => {
                let inner = self.inner.clone();
                let bytes = bytes.to_vec();
                let key = digest.clone();
                let _queued = QueueTicket::take(
                    &self.inner.compile_queue,
                    self.inner.config.max_compile_queue,
                )
                .ok_or(PluginError::CompileBusy)?;
                let limit = self.inner.config.compile_timeout;
                let started = tokio::time::Instant::now();
                let permit =
                    tokio::time::timeout(limit, self.inner.compile_slots.clone().acquire_owned())
                        .await
                        .map_err(|_| PluginError::CompileTimeout(limit))?
                        .map_err(|e| PluginError::Internal(format!("compilation slots: {e}")))?;
                let compiling = tokio::task::spawn_blocking(move || {
                    // The slot stays taken until the compilation ends, even one nobody waits for.
                    let _permit = permit;
                    inner.compile(&key, &bytes)
                });
                // Compilation cannot be interrupted: past the limit the load fails and the thread
                // finishes on its own, its result dropped.
                let left = limit.saturating_sub(started.elapsed());
                let (world, pre) = tokio::time::timeout(left, compiling)
                    .await
                    .map_err(|_| PluginError::CompileTimeout(limit))?
                    .map_err(|e| PluginError::Internal(format!("compilation task: {e}")))??;
                let subscriptions = match &pre {
                    Pre::Projection(pre) => self.read_subscriptions(name, pre).await?,
                    Pre::Validator(_) | Pre::Action(_) => Vec::new(),
                };
                let compiled = Arc::new(Compiled {
                    digest: digest.clone(),
                    world,
                    pre,
                    subscriptions,
                });
                self.inner.remember(&compiled);
                compiled
            }
        };
        tracing::debug!(plugin = name, digest = %compiled.digest, world = %compiled.world, "plugin loaded");
        Ok(Arc::new(LoadedPlugin {
            name: name.into(),
            compiled,
            metrics: PluginMetrics::default(),
            logs: RecentLogs::default(),
        }))
    }

    /// Calls a validator with one command.
    pub async fn validate(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        input: &ValidatorInput,
    ) -> Result<ValidatorOutcome, CallError> {
        self.measured(plugin, binding, self.validate_inner(plugin, binding, input))
            .await
    }

    async fn validate_inner(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        input: &ValidatorInput,
    ) -> Result<ValidatorOutcome, CallError> {
        let Pre::Validator(pre) = &plugin.compiled.pre else {
            return Err(wrong_world(World::Validator, plugin));
        };
        let input = input.into();
        let mut store = self.store(&plugin.name, binding, None, plugin.metrics.ticks())?;
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .warden_plugin_validation()
                .call_validate(&mut store, &input)
                .await
        }
        .await;
        let violations = finish_for(plugin, &mut store, result)?.map_err(CallError::Plugin)?;
        Ok(if violations.is_empty() {
            ValidatorOutcome::Ok
        } else {
            ValidatorOutcome::Violations(bounded_violations(violations))
        })
    }

    /// Applies one event to a projection's views.
    ///
    /// The plugin reads rows through `views` while it runs; its writes are applied to `views` only
    /// after it succeeded, so a plugin that fails changes nothing. If applying them fails, the call
    /// fails with [`CallError::ViewStore`]; a store over a transaction (as the spooler's) rolls back.
    pub async fn project(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        event: &Event,
        views: Arc<dyn ViewStore>,
    ) -> Result<(), CallError> {
        self.measured(
            plugin,
            binding,
            self.project_inner(plugin, binding, event, views),
        )
        .await
    }

    async fn project_inner(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        event: &Event,
        views: Arc<dyn ViewStore>,
    ) -> Result<(), CallError> {
        let Pre::Projection(pre) = &plugin.compiled.pre else {
            return Err(wrong_world(World::Projection, plugin));
        };
        let event = wit::Event::from(event);
        let access = ViewAccess::new(
            views.clone(),
            binding.limits.view_rows,
            binding.limits.view_bytes,
        );
        let mut store = self.store(&plugin.name, binding, Some(access), plugin.metrics.ticks())?;
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .warden_plugin_projector()
                .call_handle(&mut store, &event)
                .await
        }
        .await;
        let outcome = finish_for(plugin, &mut store, result)?;
        let Some(access) = store.into_data().views else {
            return Err(CallError::ViewStore("the call lost its views".into()));
        };
        if let Some(failure) = access.failure {
            return Err(CallError::ViewStore(failure));
        }
        if let Some(why) = access.over_quota {
            return Err(CallError::QuotaExceeded(why));
        }
        outcome.map_err(CallError::Plugin)?;
        access
            .pending
            .flush(views.as_ref())
            .await
            .map_err(|e| CallError::ViewStore(e.0))
    }

    /// The event types a projection subscribes to (the same as [`LoadedPlugin::subscriptions`]).
    pub fn subscriptions<'a>(&self, plugin: &'a LoadedPlugin) -> &'a [String] {
        plugin.subscriptions()
    }

    /// Calls an action's hook.
    ///
    /// Claims returned by pre-token and pre-userinfo hooks are checked: a reserved claim fails the call
    /// with [`CallError::ReservedClaim`], a value that is not JSON with [`CallError::InvalidOutput`].
    pub async fn action(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        hook: &Hook,
        ctx: &ActionContext,
    ) -> Result<ActionOutcome, CallError> {
        self.measured(
            plugin,
            binding,
            self.action_inner(plugin, binding, hook, ctx),
        )
        .await
    }

    async fn action_inner(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        hook: &Hook,
        ctx: &ActionContext,
    ) -> Result<ActionOutcome, CallError> {
        let Pre::Action(pre) = &plugin.compiled.pre else {
            return Err(wrong_world(World::Action, plugin));
        };
        let ctx = wit::AuthContext::from(ctx);
        let mut store = self.store(&plugin.name, binding, None, plugin.metrics.ticks())?;
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let hooks = instance.warden_plugin_login_hooks();
            let outcome: Result<Result<ActionOutcome, CallError>, String> = match hook {
                Hook::PreAuthentication => hooks
                    .call_pre_authentication(&mut store, &ctx)
                    .await?
                    .map(|d| Ok(d.into())),
                Hook::PostAuthentication => hooks
                    .call_post_authentication(&mut store, &ctx)
                    .await?
                    .map(|d| Ok(d.into())),
                Hook::PreRegistration { profile } => hooks
                    .call_pre_registration(&mut store, &ctx, &profile.into())
                    .await?
                    .map(|d| Ok(d.into())),
                Hook::PreToken { claims } => {
                    let claims: Vec<wit::Claim> = claims.iter().map(Into::into).collect();
                    hooks
                        .call_pre_token(&mut store, &ctx, &claims)
                        .await?
                        .map(checked_claims)
                }
                Hook::PreUserinfo { claims } => {
                    let claims: Vec<wit::Claim> = claims.iter().map(Into::into).collect();
                    hooks
                        .call_pre_userinfo(&mut store, &ctx, &claims)
                        .await?
                        .map(checked_claims)
                }
                Hook::PostCreation { user } => hooks
                    .call_post_creation(&mut store, &ctx, &user.into())
                    .await?
                    .map(|metadata| {
                        let oversized = metadata.len() > MAX_CLAIMS
                            || metadata.iter().any(|m| {
                                m.key.len() > MAX_VIOLATION_FIELD || m.value.len() > MAX_CLAIM_VALUE
                            });
                        if oversized {
                            return Err(CallError::InvalidOutput(format!(
                                "at most {MAX_CLAIMS} metadata entries, keys of at most \
                                 {MAX_VIOLATION_FIELD} bytes and values of at most \
                                 {MAX_CLAIM_VALUE} bytes are accepted"
                            )));
                        }
                        Ok(ActionOutcome::Metadata {
                            metadata: metadata
                                .into_iter()
                                .map(|m| Metadata {
                                    key: m.key,
                                    value: m.value,
                                })
                                .collect(),
                        })
                    }),
            };
            wasmtime::Result::Ok(outcome)
        }
        .await;
        finish_for(plugin, &mut store, result)?.map_err(CallError::Plugin)?
    }

    /// A call of `plugin` under `binding`'s deadline, counted in the plugin's metrics (time and outcome).
    async fn measured<T>(
        &self,
        plugin: &LoadedPlugin,
        binding: &Binding,
        call: impl std::future::Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let started = Instant::now();
        let result = self.within_deadline(binding, call).await;
        plugin
            .metrics
            .record(started.elapsed(), result.as_ref().err());
        result
    }

    /// Runs one call on the wall clock: past the binding's deadline plus
    /// [`RuntimeConfig::deadline_grace`] it is abandoned, which drops its store and instance, and fails
    /// with [`CallError::Timeout`]. The CPU deadline (epoch ticks) stops a plugin that computes; this
    /// stops one that waits, on a WASI clock poll or anything else the host awaits for it.
    async fn within_deadline<T>(
        &self,
        binding: &Binding,
        call: impl std::future::Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let config = &self.inner.config;
        let limit = binding.limits.deadline.min(config.max_deadline) + config.deadline_grace;
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }

    /// A fresh store for one call: the sandbox, the limits and the CPU deadline.
    fn store(
        &self,
        plugin: &Arc<str>,
        binding: &Binding,
        views: Option<ViewAccess>,
        ticks_used: Arc<AtomicU64>,
    ) -> Result<Store<HostState>, CallError> {
        let config = &self.inner.config;
        let limits = binding.limits;
        if limits.deadline.is_zero() || limits.deadline > config.max_deadline {
            return Err(CallError::InvalidBinding(format!(
                "the deadline must be between 1 ms and {} ms",
                config.max_deadline.as_millis()
            )));
        }
        if limits.memory == 0 || limits.memory > config.max_memory {
            return Err(CallError::InvalidBinding(format!(
                "the memory limit must be between 1 byte and {} MiB",
                config.max_memory >> 20
            )));
        }
        let limiter = CallLimiter::new(
            usize::try_from(limits.memory).unwrap_or(usize::MAX),
            config.max_core_instances as usize,
            config.max_tables as usize,
            config.max_memories as usize,
            100_000,
        );
        let budget = OutputBudget {
            stream_bytes: config.max_output_bytes,
            log_records: config.max_log_records,
            log_bytes: config.max_log_bytes,
        };
        let state = HostState::new(plugin.clone(), binding, budget, limiter, views)
            .map_err(CallError::InvalidBinding)?;
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.limits);
        // Bounds what the host allocates for one transfer out of the guest (a call's result, or the
        // arguments of one host call such as a view write or a log record), before any cap of ours sees it.
        store.set_hostcall_fuel(MAX_GUEST_TRANSFER);

        // The deadline counts ticks while the plugin runs: at every tick it yields to the executor
        // so other tasks on this thread go on, and after the last one it is interrupted.
        let tick = config.epoch_tick.as_nanos().max(1);
        let ticks = limits.deadline.as_nanos().div_ceil(tick) as u64 + 1;
        let mut used = 0;
        // The epoch advances while the store (which owns the callback) exists.
        let running = self.inner.ticker.running();
        store.epoch_deadline_callback(move |_| {
            let _running = &running;
            used += 1;
            ticks_used.fetch_add(1, Ordering::Relaxed);
            if used >= ticks {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        Ok(store)
    }

    async fn read_subscriptions(
        &self,
        name: &str,
        pre: &ProjectionPre<HostState>,
    ) -> Result<Vec<String>, PluginError> {
        let access = ViewAccess::new(Arc::new(crate::views::MemoryViewStore::default()), 0, 0);
        // Interpreted plugins take a while to start: loading allows the longest deadline there is.
        let binding = Binding {
            limits: crate::Limits {
                deadline: self.inner.config.max_deadline,
                ..crate::Limits::default()
            },
            ..Binding::default()
        };
        let call = async {
            let mut store = self.store(&name.into(), &binding, Some(access), Arc::default())?;
            let result = async {
                let instance = pre.instantiate_async(&mut store).await?;
                instance
                    .warden_plugin_projector()
                    .call_subscriptions(&mut store)
                    .await
            }
            .await;
            finish(&mut store, result)
        };
        let subscriptions = self
            .within_deadline(&binding, call)
            .await
            .map_err(PluginError::Subscriptions)?;
        check_subscriptions(&subscriptions).map_err(PluginError::Subscriptions)?;
        Ok(subscriptions)
    }
}

impl Inner {
    fn cached(&self, digest: &str) -> Option<Arc<Compiled>> {
        self.lock_compiled().get(digest).and_then(Weak::upgrade)
    }

    fn remember(&self, compiled: &Arc<Compiled>) {
        let mut map = self.lock_compiled();
        map.retain(|_, weak| weak.strong_count() > 0);
        map.insert(compiled.digest.clone(), Arc::downgrade(compiled));
    }

    fn lock_compiled(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Compiled>>> {
        self.compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Compiles (or loads from the disk cache), detects the world and pre-instantiates.
    fn compile(&self, digest: &str, bytes: &[u8]) -> Result<(World, Pre), PluginError> {
        let cache_file = self
            .config
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.cwasm", self.compat)));
        let cached = cache_file.as_deref().and_then(|path| {
            if !path.exists() {
                return None;
            }
            match deserialize_cached(&self.engine, path) {
                Ok(component) => Some(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable compiled plugin in the cache; recompiling");
                    let _ = std::fs::remove_file(path);
                    None
                }
            }
        });
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => {
                self.compilations.fetch_add(1, Ordering::Relaxed);
                Component::new(&self.engine, bytes)
                    .map_err(|e| PluginError::InvalidComponent(format!("{e:#}")))?
            }
        };
        let world = detect_world(&self.engine, &component)?;
        let linker = match world {
            World::Validator => &self.validator_linker,
            World::Projection => &self.projection_linker,
            World::Action => &self.action_linker,
        };
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Link {
                world,
                reason: format!("{e:#}"),
            })?;
        let link = |e: wasmtime::Error| PluginError::Link {
            world,
            reason: format!("{e:#}"),
        };
        let pre = match world {
            World::Validator => Pre::Validator(ValidatorPre::new(instance_pre).map_err(link)?),
            World::Projection => Pre::Projection(ProjectionPre::new(instance_pre).map_err(link)?),
            World::Action => Pre::Action(ActionPre::new(instance_pre).map_err(link)?),
        };
        if let Some(path) = cache_file.filter(|_| !from_cache) {
            match write_cache(&component, &path) {
                Ok(()) => {
                    if let Some(dir) = &self.config.cache_dir {
                        prune_cache(dir, self.config.max_cached_files);
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not cache a compiled plugin");
                }
            }
        }
        Ok((world, pre))
    }
}

/// Which world a component targets, from the interfaces it exports.
fn detect_world(engine: &Engine, component: &Component) -> Result<World, PluginError> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let mut found = Vec::new();
    for export in &exports {
        let (interface, version) = export.split_once('@').unwrap_or((export, ""));
        if let Some(world) = World::ALL.into_iter().find(|w| w.export() == interface) {
            if version != WIT_VERSION {
                return Err(PluginError::UnknownWorld(format!(
                    "the component exports {export}, but this server serves warden:plugin@{WIT_VERSION}"
                )));
            }
            found.push(world);
        }
    }
    match found.as_slice() {
        [world] => Ok(*world),
        [] => Err(PluginError::UnknownWorld(format!(
            "the component is not a Warden plugin: it exports [{}], but a plugin exports one of \
             {v}/validation (validator), {v}/projector (projection) or {v}/login-hooks (action) at @{WIT_VERSION}",
            exports.join(", "),
            v = "warden:plugin",
        ))),
        several => Err(PluginError::UnknownWorld(format!(
            "the component targets several worlds ({}); a plugin targets exactly one",
            several
                .iter()
                .map(|w| w.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Loads compiled code this runtime wrote to its cache directory.
///
/// Deserializing skips validation and compilation: the file must come from a trusted serializer.
#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: files in the cache directory are written only by `write_cache` of this runtime from a
    // `Component::serialize` of a component compiled by a compatible engine: the name carries the
    // content hash of the original bytes and the engine's compatibility hash, the directory is
    // created owner-only by `create_private_dir`, and wasmtime itself checks the header and the
    // engine compatibility before using the code. Uploaded bytes are never deserialized, only
    // compiled by `Component::new`.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Writes a compiled component to the cache atomically (temporary file, then rename).
fn write_cache(component: &Component, path: &Path) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Deletes the least recently written compiled components beyond `keep` from the cache directory.
fn prune_cache(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|ext| ext == "cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    for (_, path) in &files[..files.len() - keep] {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "could not evict a compiled plugin from the cache");
        }
    }
}

/// A place in the compile queue, given back when dropped.
struct QueueTicket<'a>(&'a AtomicUsize);

impl<'a> QueueTicket<'a> {
    fn take(queue: &'a AtomicUsize, max: usize) -> Option<Self> {
        queue
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max.max(1)).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(queue))
    }
}

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn create_private_dir(dir: &Path) -> Result<(), PluginError> {
    let err = |source| PluginError::Cache {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Turns the outcome of instantiating and calling into the call's result, and logs the plugin's
/// output.
fn finish<T>(store: &mut Store<HostState>, result: wasmtime::Result<T>) -> Result<T, CallError> {
    let state = store.data_mut();
    state.flush_output();
    result.map_err(|err| classify(&err, &state.limits))
}

/// [`finish`], keeping what the plugin logged in its recent log lines.
fn finish_for<T>(
    plugin: &LoadedPlugin,
    store: &mut Store<HostState>,
    result: wasmtime::Result<T>,
) -> Result<T, CallError> {
    let finished = finish(store, result);
    plugin
        .logs
        .keep(std::mem::take(&mut store.data_mut().lines));
    finished
}

fn classify(err: &wasmtime::Error, limits: &CallLimiter) -> CallError {
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => CallError::Timeout,
            Trap::StackOverflow => CallError::StackOverflow,
            _ if limits.memory_refused => CallError::MemoryExhausted,
            trap => CallError::Trap(trap.to_string()),
        };
    }
    if err.is::<PoolConcurrencyLimitError>() {
        return CallError::Busy;
    }
    if limits.memory_refused {
        return CallError::MemoryExhausted;
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return CallError::Trap(format!("the plugin exited with status {}", exit.0));
    }
    let cause = err.root_cause().to_string();
    // wasmtime's error for a transfer past `set_hostcall_fuel` is not a public type: its text is the contract.
    if cause.contains("fuel allocated for hostcalls has been exhausted") {
        return CallError::InvalidOutput(format!(
            "the plugin passed more than {} MiB to the host at once",
            MAX_GUEST_TRANSFER >> 20
        ));
    }
    CallError::Trap(cause)
}

/// Whether an event type matches a subscription pattern: the same event type, or for a pattern ending in
/// `*` any event type starting with what comes before it (`user.*` matches `user.human.added`, `*` alone
/// matches every event type). The one rule for subscriptions, wherever they are checked.
///
/// ```
/// use warden_wasm_runtime::subscription_matches;
///
/// assert!(subscription_matches("user.human.added", "user.human.added"));
/// assert!(subscription_matches("user.*", "user.human.added"));
/// assert!(subscription_matches("*", "org.added"));
/// assert!(!subscription_matches("user.*", "user_grant.added"));
/// assert!(!subscription_matches("user.human", "user.human.added"));
/// ```
pub fn subscription_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// Most subscriptions a projection may return.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Longest subscription pattern, in bytes.
pub const MAX_SUBSCRIPTION_LEN: usize = 128;

/// Checks what a projection's `subscriptions` returned: a bounded list of event types or prefixes.
fn check_subscriptions(subscriptions: &[String]) -> Result<(), CallError> {
    if subscriptions.len() > MAX_SUBSCRIPTIONS {
        return Err(CallError::InvalidOutput(format!(
            "{} subscriptions; at most {MAX_SUBSCRIPTIONS} are accepted",
            subscriptions.len()
        )));
    }
    for s in subscriptions {
        if s.len() > MAX_SUBSCRIPTION_LEN {
            return Err(CallError::InvalidOutput(format!(
                "a subscription is {} bytes long; at most {MAX_SUBSCRIPTION_LEN} are accepted",
                s.len()
            )));
        }
        let pattern = s.strip_suffix('*').unwrap_or(s);
        if s.is_empty() || pattern.contains('*') {
            return Err(CallError::InvalidOutput(format!(
                "`{}` is not an event type or a prefix ending in `*`",
                s.escape_debug()
            )));
        }
    }
    Ok(())
}

/// Most bytes the host copies out of a guest in one transfer: a call's result or one host call's arguments.
/// A larger transfer fails the call. Above every legitimate transfer (a view row is at most 1 MiB).
pub const MAX_GUEST_TRANSFER: usize = 4 << 20;

/// Most violations passed on from one call; the rest are summed up in one last violation.
pub const MAX_VIOLATIONS: usize = 32;
/// Longest violation message passed on, in bytes; a longer one is cut and marked.
pub const MAX_VIOLATION_MESSAGE: usize = 1024;
/// Longest violation field or code passed on, in bytes.
pub const MAX_VIOLATION_FIELD: usize = 128;
/// What ends a text the host cut short.
pub const TRUNCATED: &str = "… [truncated]";
/// The code of the violation that stands for those over [`MAX_VIOLATIONS`].
pub const VIOLATIONS_TRUNCATED: &str = "plugin.violations_truncated";

/// The violations of a call as callers get them: at most [`MAX_VIOLATIONS`], each text bounded, so a
/// plugin cannot make an answer of the server large.
fn bounded_violations(violations: Vec<wit::Violation>) -> Vec<Violation> {
    let total = violations.len();
    let mut kept: Vec<Violation> = violations
        .into_iter()
        .take(MAX_VIOLATIONS)
        .map(|v| Violation {
            field: truncated(v.field, MAX_VIOLATION_FIELD),
            code: truncated(v.code, MAX_VIOLATION_FIELD),
            message: truncated(v.message, MAX_VIOLATION_MESSAGE),
        })
        .collect();
    if total > MAX_VIOLATIONS {
        kept.push(Violation {
            field: String::new(),
            code: VIOLATIONS_TRUNCATED.into(),
            message: format!("{} more violations were left out", total - MAX_VIOLATIONS),
        });
    }
    kept
}

/// `text` cut to at most `max` bytes (on a character boundary) and marked with [`TRUNCATED`] when cut.
pub(crate) fn truncated(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(TRUNCATED.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(TRUNCATED);
    text
}

fn wrong_world(expected: World, plugin: &LoadedPlugin) -> CallError {
    CallError::WrongWorld {
        expected,
        actual: plugin.world(),
    }
}

/// Most claims, or metadata entries, an action may return from one call.
pub const MAX_CLAIMS: usize = 64;
/// Largest claim value (JSON text) or metadata value an action may return, in bytes.
pub const MAX_CLAIM_VALUE: usize = 16 << 10;

/// Checks the claims an action returned: a bounded number, no reserved claim, a name, a JSON value of
/// bounded size (they end up in every token the hook runs for).
fn checked_claims(claims: Vec<wit::Claim>) -> Result<ActionOutcome, CallError> {
    if claims.len() > MAX_CLAIMS {
        return Err(CallError::InvalidOutput(format!(
            "{} claims; at most {MAX_CLAIMS} are accepted",
            claims.len()
        )));
    }
    claims
        .into_iter()
        .map(|c| {
            if c.name.len() > MAX_VIOLATION_FIELD || c.value.len() > MAX_CLAIM_VALUE {
                return Err(CallError::InvalidOutput(format!(
                    "a claim name is at most {MAX_VIOLATION_FIELD} bytes and its value at most \
                     {MAX_CLAIM_VALUE} bytes"
                )));
            }
            if RESERVED_CLAIMS.contains(&c.name.as_str()) {
                return Err(CallError::ReservedClaim(c.name));
            }
            if c.name.is_empty() {
                return Err(CallError::InvalidOutput("a claim has no name".into()));
            }
            let value = serde_json::from_str(&c.value).map_err(|e| {
                CallError::InvalidOutput(format!("claim `{}` is not JSON: {e}", c.name))
            })?;
            Ok(Claim {
                name: c.name,
                value,
            })
        })
        .collect::<Result<_, _>>()
        .map(|claims| ActionOutcome::Claims { claims })
}

/// Feeds `Hash` output into SHA-256.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Advances the engine's epoch at a fixed interval, on its own thread, while any call's store exists (see
/// [`EpochTicker::running`]); between calls the thread sleeps without waking. Stops when dropped.
///
/// A store's deadline counts the ticks after it was made, so ticks only matter while a store exists; the first
/// tick after an idle spell comes one full interval after the store that ended it, which the one tick of margin
/// in every deadline covers as it covers the partial first tick of a ticker that never stops.
struct EpochTicker {
    shared: Arc<TickerShared>,
    thread: Option<JoinHandle<()>>,
}

struct TickerShared {
    /// Stores alive (calls running).
    running: AtomicUsize,
    stop: AtomicBool,
}

/// Keeps the ticker going while it lives: one per call's store.
struct Running {
    shared: Arc<TickerShared>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Result<Self, PluginError> {
        let shared = Arc::new(TickerShared {
            running: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("warden-plugin-epoch".into())
            .spawn(move || {
                while !state.stop.load(Ordering::SeqCst) {
                    if state.running.load(Ordering::SeqCst) == 0 {
                        // Woken by the first store (or on drop); a wake-up that came first is not lost.
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Internal(format!("epoch ticker thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Makes the epoch advance until the returned guard is dropped.
    fn running(&self) -> Running {
        if self.shared.running.fetch_add(1, Ordering::SeqCst) == 0
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
        Running {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(name: &str, value: &str) -> wit::Claim {
        wit::Claim {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn claims_are_bounded_in_number_and_size() {
        let many: Vec<wit::Claim> = (0..=MAX_CLAIMS)
            .map(|i| claim(&format!("c{i}"), "1"))
            .collect();
        assert!(matches!(
            checked_claims(many),
            Err(CallError::InvalidOutput(_))
        ));
        let big = format!("\"{}\"", "x".repeat(MAX_CLAIM_VALUE));
        assert!(matches!(
            checked_claims(vec![claim("big", &big)]),
            Err(CallError::InvalidOutput(_))
        ));
        assert!(checked_claims(vec![claim("org", "\"acme\"")]).is_ok());
    }

    #[test]
    fn texts_are_cut_on_a_character_boundary_and_marked() {
        assert_eq!(truncated("short".into(), 100), "short");
        let cut = truncated("é".repeat(1000), 101);
        assert!(cut.len() <= 101);
        assert!(cut.ends_with(TRUNCATED));
    }
}
