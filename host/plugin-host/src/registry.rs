//! The registry of loaded plugins, kept current from the plugin events on every node.
//!
//! [`PluginRegistry`] follows the global event stream for aggregates of type `plugin`: it is woken by the
//! local store's change notifications and, for changes made through other nodes, by a timer
//! ([`SYNC_INTERVAL`]). For every plugin it rebuilds the state from the events, loads the active version's
//! bytes from the blob store through the runtime (compiled code is cached by content hash), drops plugins
//! that were removed, and indexes the bindings: validators by command type and organization, actions by hook
//! in their order, and the set of projection plugins ([`PluginRegistry::projections`]).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
    time::Duration,
};

use tokio::sync::watch;
use warden_domain::{
    Aggregate, DomainEvent,
    plugin::{ActionHook, BindingSettings, BindingTarget, Plugin, PluginEvent},
};
use warden_eventstore::{Cursor, Eventstore, Store, StreamQuery};
use warden_wasm_runtime::{
    ActionContext, ActionOutcome, Binding, CallError, Hook, LoadedPlugin, PluginRuntime,
};

use crate::error::RegistryError;

/// The longest time a change made through another node waits before this node sees it.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(400);

/// How long the follower waits after a local push before it reads, so a burst of pushes costs one read.
const PUSH_COALESCE: Duration = Duration::from_millis(100);

/// How many events one read of the stream returns at most.
const PAGE: u32 = 500;

/// A plugin bound somewhere, ready to be called.
#[derive(Debug, Clone)]
pub struct BoundPlugin {
    /// The plugin's id.
    pub plugin_id: String,
    /// The plugin's name (for errors and logs).
    pub name: String,
    /// The binding's id.
    pub binding_id: String,
    /// The loaded active version.
    pub loaded: Arc<LoadedPlugin>,
    /// How the plugin is called.
    pub binding: Binding,
}

/// A validator binding of the index.
#[derive(Debug, Clone)]
pub struct ValidatorBinding {
    /// The plugin and binding; `loaded` is `None` when the active version could not be loaded.
    pub plugin: Option<BoundPlugin>,
    /// The plugin's name.
    pub name: String,
    /// The binding's failure policy.
    pub failure_policy: warden_wasm_runtime::FailurePolicy,
    command_types: Vec<String>,
    org_id: Option<String>,
}

/// A projection plugin that is active in an instance: what the projection spooler runs.
#[derive(Debug, Clone)]
pub struct ProjectionPluginSpec {
    /// The plugin's id.
    pub plugin_id: String,
    /// The instance the plugin belongs to.
    pub instance_id: String,
    /// The binding's id.
    pub binding_id: String,
    /// The digest of the active version (a new digest means the views are rebuilt by replay).
    pub digest: String,
    /// The loaded active version.
    pub loaded: Arc<LoadedPlugin>,
    /// How the plugin is called.
    pub binding: Binding,
    /// How much its views may hold in all.
    pub quota: crate::projection::ViewQuota,
}

/// A plugin as the registry knows it.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    /// The instance.
    pub instance_id: String,
    /// The plugin's id.
    pub plugin_id: String,
    /// The plugin's state, rebuilt from its events.
    pub state: Plugin,
    /// The sequence of the plugin's latest event.
    pub sequence: i64,
    /// When the plugin was created, in microseconds since the Unix epoch.
    pub created_at: i64,
    /// When the plugin last changed, in microseconds since the Unix epoch.
    pub changed_at: i64,
    /// The active version, loaded; `None` while it is not (or cannot be) loaded.
    pub loaded: Option<Arc<LoadedPlugin>>,
    /// Why the active version could not be loaded: its digest and the reason. A version that failed is
    /// not tried again until another one is activated.
    pub load_error: Option<(String, String)>,
}

/// Everything the registry derived from the events, replaced as a whole after every change.
#[derive(Debug, Default)]
struct Index {
    /// Validator bindings by instance.
    validators: HashMap<String, Vec<ValidatorBinding>>,
    /// Action bindings by instance and hook, in ascending order.
    actions: HashMap<(String, ActionHook), Vec<ActionBinding>>,
}

#[derive(Debug, Clone)]
struct ActionBinding {
    order: i32,
    org_id: Option<String>,
    name: String,
    plugin: Option<BoundPlugin>,
    failure_policy: warden_wasm_runtime::FailurePolicy,
}

#[derive(Debug, Default)]
struct State {
    cursor: Cursor,
    plugins: BTreeMap<(String, String), PluginEntry>,
    /// The latest sequence applied per plugin, also of removed ones.
    sequences: HashMap<(String, String), i64>,
}

/// A plugin whose loaded version is not the one wanted.
struct PendingLoad {
    key: (String, String),
    instance_id: String,
    name: String,
    /// The version wanted; `None` to unload.
    digest: Option<String>,
}

/// Whether a sync loads plugins after applying the events.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// Not at all.
    No,
    /// Waiting for a load under way to end first.
    Wait,
    /// Waiting for a load under way until then, otherwise leaving the loading to the follower.
    Until(tokio::time::Instant),
}

#[derive(Debug)]
struct Inner {
    store: Store,
    runtime: PluginRuntime,
    state: tokio::sync::Mutex<State>,
    /// Held by the one sync that loads plugins.
    loader: tokio::sync::Mutex<()>,
    index: RwLock<Arc<Index>>,
    entries: RwLock<Arc<BTreeMap<(String, String), PluginEntry>>>,
    projections: watch::Sender<Vec<ProjectionPluginSpec>>,
    synced: watch::Sender<Cursor>,
}

/// The plugins of every instance, loaded from the plugin events. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PluginRegistry {
    inner: Arc<Inner>,
}

/// Why an action hook could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A plugin bound failing closed failed.
    #[error("plugin {plugin} failed at {hook}: {source}")]
    Failed {
        /// The plugin's name.
        plugin: String,
        /// The hook.
        hook: &'static str,
        /// The failure.
        #[source]
        source: CallError,
    },
    /// A plugin bound failing closed has no loaded version.
    #[error("plugin {plugin} is bound failing closed but is not loaded")]
    NotLoaded {
        /// The plugin's name.
        plugin: String,
    },
}

impl PluginRegistry {
    /// A registry over `store` that loads plugins with `runtime`. It is empty until [`sync`](Self::sync)
    /// or [`spawn`](Self::spawn) runs.
    pub fn new(store: Store, runtime: PluginRuntime) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                runtime,
                state: tokio::sync::Mutex::new(State::default()),
                loader: tokio::sync::Mutex::new(()),
                index: RwLock::new(Arc::new(Index::default())),
                entries: RwLock::new(Arc::new(BTreeMap::new())),
                projections: watch::Sender::new(Vec::new()),
                synced: watch::Sender::new(Cursor::default()),
            }),
        }
    }

    /// The runtime plugins are loaded and called with.
    pub fn runtime(&self) -> &PluginRuntime {
        &self.inner.runtime
    }

    /// Follows the plugin events until the returned task is aborted: shortly after local pushes (those of
    /// one [`PUSH_COALESCE`] window together) and at least every [`SYNC_INTERVAL`]. Failures are logged
    /// and retried.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut changes = registry.inner.store.subscribe();
            loop {
                if let Err(error) = registry.sync().await {
                    tracing::warn!(%error, "plugin registry could not catch up; retrying");
                }
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            // The store is gone; fall back to the timer.
                            tokio::time::sleep(SYNC_INTERVAL).await;
                        } else {
                            // Pushes come in bursts under load: one read covers those of the next moment
                            // too. A plugin change made here does not wait for it (`sync_until`).
                            tokio::time::sleep(PUSH_COALESCE).await;
                        }
                    }
                    () = tokio::time::sleep(SYNC_INTERVAL) => {}
                }
            }
        })
    }

    /// Reads the plugin events stored since the last sync, loads and unloads plugins accordingly and
    /// rebuilds the index. Plugins whose active version failed to load are tried again.
    ///
    /// The bindings are indexed before anything is compiled, so while plugins load the index already
    /// holds them (a plugin bound failing closed that is not loaded yet refuses its commands, it is never
    /// skipped) and the plugin list shows them as loading.
    pub async fn sync(&self) -> Result<(), RegistryError> {
        self.sync_inner(Load::Wait).await
    }

    /// As [`sync`](Self::sync), without loading: the bindings are known at once, plugins stay unloaded
    /// until a later sync (of [`spawn`](Self::spawn)) loads them. For a server that starts serving before
    /// every plugin is compiled.
    pub async fn sync_bindings(&self) -> Result<(), RegistryError> {
        self.sync_inner(Load::No).await
    }

    async fn sync_inner(&self, load: Load) -> Result<(), RegistryError> {
        self.apply_events().await?;
        // Compiling holds no lock on the state: binding changes (an unbinding, say) take effect while
        // another plugin compiles. One loader runs at a time.
        let loader = match load {
            Load::No => return Ok(()),
            Load::Wait => self.inner.loader.lock().await,
            Load::Until(deadline) => {
                match tokio::time::timeout_at(deadline, self.inner.loader.lock()).await {
                    Ok(loader) => loader,
                    // Another load is under way; the follower loads this change after it.
                    Err(_) => return Ok(()),
                }
            }
        };
        self.load_pending().await;
        drop(loader);
        Ok(())
    }

    /// Applies the plugin events stored since the last sync to the states and rebuilds the index.
    async fn apply_events(&self) -> Result<(), RegistryError> {
        let mut state = self.inner.state.lock().await;
        let mut changed = false;
        // Every event up to the head read first is final, so a read that comes back short holds every
        // plugin event up to it: the cursor moves there, and the next read starts after the other
        // aggregates' events rather than scanning them again.
        let head = self.inner.store.head().await?;
        loop {
            let query = StreamQuery {
                aggregate_types: vec![Plugin::TYPE.to_owned()],
                ..StreamQuery::after(state.cursor, PAGE)
            };
            let events = self.inner.store.read_stream(&query).await?;
            let Some(last) = events.last() else {
                state.cursor = state.cursor.max(head);
                break;
            };
            let cursor = last.cursor();
            let full = events.len() >= PAGE as usize;
            for event in &events {
                let key = (
                    event.aggregate.instance_id.clone(),
                    event.aggregate.aggregate_id.clone(),
                );
                state.sequences.insert(key.clone(), event.sequence);
                let entry = state.plugins.entry(key).or_insert_with(|| PluginEntry {
                    instance_id: event.aggregate.instance_id.clone(),
                    plugin_id: event.aggregate.aggregate_id.clone(),
                    state: Plugin::default(),
                    sequence: 0,
                    created_at: event.created_at,
                    changed_at: event.created_at,
                    loaded: None,
                    load_error: None,
                });
                let decoded =
                    PluginEvent::from_stored(&event.event_type, event.revision, &event.payload)?;
                entry.state.apply(&decoded);
                entry.sequence = event.sequence;
                entry.changed_at = event.created_at;
            }
            state.cursor = cursor;
            changed = true;
            if !full {
                state.cursor = state.cursor.max(head);
                break;
            }
        }
        changed |= unload_removed(&mut state);
        if changed {
            self.rebuild(&state);
        }
        self.inner.synced.send_replace(state.cursor);
        Ok(())
    }

    /// Syncs until the registry has applied the plugin's events up to `sequence` (a change just stored),
    /// for at most `timeout`; returns whether it got there. On PostgreSQL an event becomes readable in
    /// stream order only once earlier transactions have ended, which may take a moment.
    pub async fn sync_until(
        &self,
        instance_id: &str,
        plugin_id: &str,
        sequence: i64,
        timeout: Duration,
    ) -> Result<bool, RegistryError> {
        let key = (instance_id.to_owned(), plugin_id.to_owned());
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.sync_inner(Load::Until(deadline)).await?;
            let applied = self.inner.state.lock().await.sequences.get(&key).copied();
            if applied.is_some_and(|applied| applied >= sequence) {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Loads the active version of every plugin whose loaded version differs, one at a time, without
    /// holding the state while compiling; each result is applied (and the index rebuilt) if the plugin
    /// still wants that version.
    async fn load_pending(&self) {
        let pending: Vec<PendingLoad> = {
            let state = self.inner.state.lock().await;
            state
                .plugins
                .iter()
                .filter_map(|(key, entry)| {
                    let wanted = entry.state.active_digest.as_deref();
                    let current = entry.loaded.as_ref().map(|p| p.digest());
                    let failed = entry.load_error.as_ref().map(|(digest, _)| digest.as_str());
                    if wanted == current || (wanted.is_some() && wanted == failed) {
                        return None;
                    }
                    Some(PendingLoad {
                        key: key.clone(),
                        instance_id: entry.instance_id.clone(),
                        name: entry.state.name.clone(),
                        digest: wanted.map(str::to_owned),
                    })
                })
                .collect()
        };
        for PendingLoad {
            key,
            instance_id,
            name,
            digest,
        } in pending
        {
            let result = match &digest {
                Some(digest) => Some(self.load(&instance_id, &name, digest).await),
                None => None,
            };
            let mut state = self.inner.state.lock().await;
            let Some(entry) = state.plugins.get_mut(&key) else {
                continue;
            };
            if entry.state.active_digest != digest {
                // Changed while loading: the next sync loads what is wanted now.
                continue;
            }
            match (result, digest.as_deref()) {
                (Some(Ok(loaded)), Some(digest)) => {
                    tracing::info!(plugin = %entry.state.name, id = %entry.plugin_id, digest, "plugin loaded");
                    entry.loaded = Some(loaded);
                    entry.load_error = None;
                }
                (Some(Err(error)), Some(digest)) => {
                    tracing::warn!(plugin = %entry.state.name, id = %entry.plugin_id, digest, %error, "plugin version could not be loaded");
                    entry.loaded = None;
                    entry.load_error = Some((digest.to_owned(), error.to_string()));
                }
                _ => entry.loaded = None,
            }
            self.rebuild(&state);
            self.inner.synced.send_replace(state.cursor);
        }
    }

    async fn load(
        &self,
        instance_id: &str,
        name: &str,
        digest: &str,
    ) -> Result<Arc<LoadedPlugin>, RegistryError> {
        let bytes = self
            .inner
            .store
            .get_blob(instance_id, digest)
            .await?
            .ok_or_else(|| RegistryError::MissingBlob(digest.to_owned()))?;
        Ok(self.inner.runtime.load(name, &bytes).await?)
    }

    /// Rebuilds the index and the projection set from the plugins' states.
    fn rebuild(&self, state: &State) {
        let mut index = Index::default();
        let mut projections = Vec::new();
        for entry in state.plugins.values() {
            for (binding_id, settings) in &entry.state.bindings {
                let bound = entry.loaded.as_ref().map(|loaded| BoundPlugin {
                    plugin_id: entry.plugin_id.clone(),
                    name: entry.state.name.clone(),
                    binding_id: binding_id.clone(),
                    loaded: loaded.clone(),
                    binding: runtime_binding(settings),
                });
                let failure_policy = failure_policy(settings);
                match &settings.target {
                    BindingTarget::Validator { command_types } => index
                        .validators
                        .entry(entry.instance_id.clone())
                        .or_default()
                        .push(ValidatorBinding {
                            plugin: bound,
                            name: entry.state.name.clone(),
                            failure_policy,
                            command_types: command_types.clone(),
                            org_id: settings.org_id.clone(),
                        }),
                    BindingTarget::Action { hook, order } => index
                        .actions
                        .entry((entry.instance_id.clone(), *hook))
                        .or_default()
                        .push(ActionBinding {
                            order: *order,
                            org_id: settings.org_id.clone(),
                            name: entry.state.name.clone(),
                            plugin: bound,
                            failure_policy,
                        }),
                    BindingTarget::Projection => {
                        if let Some(bound) = bound {
                            projections.push(ProjectionPluginSpec {
                                plugin_id: bound.plugin_id,
                                instance_id: entry.instance_id.clone(),
                                binding_id: bound.binding_id,
                                digest: bound.loaded.digest().to_owned(),
                                loaded: bound.loaded,
                                binding: bound.binding,
                                quota: view_quota(settings),
                            });
                        }
                    }
                }
            }
        }
        for actions in index.actions.values_mut() {
            actions.sort_by_key(|a| a.order);
        }
        *self
            .inner
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(index);
        *self
            .inner
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(state.plugins.clone());
        self.inner.projections.send_replace(projections);
    }

    fn index(&self) -> Arc<Index> {
        self.inner
            .index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn entries(&self) -> Arc<BTreeMap<(String, String), PluginEntry>> {
        self.inner
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The plugins of an instance, by id.
    pub fn list(&self, instance_id: &str) -> Vec<PluginEntry> {
        self.entries()
            .values()
            .filter(|e| e.instance_id == instance_id)
            .cloned()
            .collect()
    }

    /// How many plugins of all instances this node is still loading, and how many failed to load.
    pub fn load_counts(&self) -> (usize, usize) {
        let entries = self.entries();
        let active = entries
            .values()
            .filter_map(|e| e.state.active_digest.as_deref().map(|d| (e, d)));
        let (mut loading, mut failed) = (0, 0);
        for (entry, digest) in active {
            if entry.loaded.as_ref().is_some_and(|l| l.digest() == digest) {
                continue;
            }
            match &entry.load_error {
                Some((failed_digest, _)) if failed_digest == digest => failed += 1,
                _ => loading += 1,
            }
        }
        (loading, failed)
    }

    /// One plugin of an instance.
    pub fn get(&self, instance_id: &str, plugin_id: &str) -> Option<PluginEntry> {
        self.entries()
            .get(&(instance_id.to_owned(), plugin_id.to_owned()))
            .cloned()
    }

    /// The position up to which the registry has applied plugin events; it changes after every sync.
    pub fn synced(&self) -> watch::Receiver<Cursor> {
        self.inner.synced.subscribe()
    }

    /// The projection plugins of all instances, updated whenever one is loaded, changed or removed.
    pub fn projections(&self) -> watch::Receiver<Vec<ProjectionPluginSpec>> {
        self.inner.projections.subscribe()
    }

    /// The validator bindings that apply to a command of `command_type` in `org_id` of `instance_id`; none
    /// for commands that manage plugins.
    pub fn validators_for(
        &self,
        instance_id: &str,
        org_id: Option<&str>,
        command_type: &str,
    ) -> Vec<ValidatorBinding> {
        if crate::validators::is_plugin_management(command_type) {
            return Vec::new();
        }
        self.index()
            .validators
            .get(instance_id)
            .map(|bindings| {
                bindings
                    .iter()
                    .filter(|b| org_matches(b.org_id.as_deref(), org_id))
                    .filter(|b| {
                        b.command_types
                            .iter()
                            .any(|pattern| command_type_matches(pattern, command_type))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether any action is bound to `hook` for a login in `org_id` of `instance_id` (callers skip building
    /// the hook's context when none is).
    pub fn has_actions(&self, instance_id: &str, org_id: Option<&str>, hook: &Hook) -> bool {
        self.index()
            .actions
            .get(&(instance_id.to_owned(), action_hook(hook)))
            .is_some_and(|actions| {
                actions
                    .iter()
                    .any(|a| org_matches(a.org_id.as_deref(), org_id))
            })
    }

    /// Runs the actions bound to `hook` for a login in `org_id` of `instance_id`, in their order, and
    /// returns their outcomes (one per action that ran). A failing action bound failing closed ends the run
    /// with an error (the login is refused); one allowed to fail is logged and skipped. A `Deny` outcome
    /// ends the run: later actions do not run.
    pub async fn run_hook(
        &self,
        instance_id: &str,
        org_id: Option<&str>,
        hook: &Hook,
        ctx: &ActionContext,
    ) -> Result<Vec<ActionOutcome>, HookError> {
        let index = self.index();
        let Some(actions) = index
            .actions
            .get(&(instance_id.to_owned(), action_hook(hook)))
        else {
            return Ok(Vec::new());
        };
        let mut outcomes = Vec::new();
        for action in actions
            .iter()
            .filter(|a| org_matches(a.org_id.as_deref(), org_id))
        {
            let Some(bound) = &action.plugin else {
                match action.failure_policy {
                    warden_wasm_runtime::FailurePolicy::FailClosed => {
                        return Err(HookError::NotLoaded {
                            plugin: action.name.clone(),
                        });
                    }
                    warden_wasm_runtime::FailurePolicy::AllowFailure => {
                        tracing::warn!(plugin = %action.name, "action is not loaded; the binding allows failure, going on");
                        continue;
                    }
                }
            };
            let result = self
                .inner
                .runtime
                .action(&bound.loaded, &bound.binding, hook, ctx)
                .await
                .map(Some);
            match bound
                .binding
                .failure_policy
                .resolve(&bound.name, result, || None)
            {
                Ok(Some(outcome)) => {
                    let deny = matches!(outcome, ActionOutcome::Deny { .. });
                    outcomes.push(outcome);
                    if deny {
                        break;
                    }
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(HookError::Failed {
                        plugin: bound.name.clone(),
                        hook: hook.name(),
                        source,
                    });
                }
            }
        }
        Ok(outcomes)
    }

    /// Per-plugin call metrics of every loaded plugin, in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let entries = self.entries();
        let snapshots: Vec<(String, warden_wasm_runtime::MetricsSnapshot)> = entries
            .values()
            .filter_map(|e| {
                e.loaded
                    .as_ref()
                    .map(|l| (e.state.name.clone(), l.metrics()))
            })
            .collect();
        let borrowed: Vec<(&str, warden_wasm_runtime::MetricsSnapshot)> = snapshots
            .iter()
            .map(|(name, snapshot)| (name.as_str(), snapshot.clone()))
            .collect();
        warden_wasm_runtime::render_prometheus(&borrowed)
    }
}

/// Drops removed plugins; returns whether there were any.
fn unload_removed(state: &mut State) -> bool {
    let mut changed = false;
    state.plugins.retain(|_, entry| {
        let keep = entry.state.exists();
        if !keep {
            tracing::info!(plugin = %entry.state.name, id = %entry.plugin_id, "plugin unloaded");
            changed = true;
        }
        keep
    });
    changed
}

/// The runtime's binding for a binding's settings; quotas left out take the defaults.
pub fn runtime_binding(settings: &BindingSettings) -> Binding {
    let limits = &settings.limits;
    let defaults = warden_wasm_runtime::Limits::default();
    Binding {
        config: Arc::new(settings.config.clone()),
        limits: warden_wasm_runtime::Limits {
            deadline: Duration::from_millis(u64::from(limits.deadline_ms)),
            memory: u64::from(limits.memory_mib) << 20,
            view_rows: limits
                .rows_per_event
                .map_or(defaults.view_rows, |rows| rows as usize),
            view_bytes: limits
                .kib_per_event
                .map_or(defaults.view_bytes, |kib| (kib as usize) << 10),
        },
        grants: warden_wasm_runtime::Capabilities::default(),
        failure_policy: failure_policy(settings),
    }
}

/// The quota of a projection binding's views; totals left out take the defaults.
pub fn view_quota(settings: &BindingSettings) -> crate::projection::ViewQuota {
    let defaults = crate::projection::ViewQuota::DEFAULT;
    crate::projection::ViewQuota {
        total_rows: settings.limits.total_rows.unwrap_or(defaults.total_rows),
        total_bytes: settings
            .limits
            .total_mib
            .map_or(defaults.total_bytes, |mib| mib << 20),
    }
}

fn failure_policy(settings: &BindingSettings) -> warden_wasm_runtime::FailurePolicy {
    match settings.failure_policy {
        warden_domain::plugin::FailurePolicy::FailClosed => {
            warden_wasm_runtime::FailurePolicy::FailClosed
        }
        warden_domain::plugin::FailurePolicy::AllowFailure => {
            warden_wasm_runtime::FailurePolicy::AllowFailure
        }
    }
}

fn action_hook(hook: &Hook) -> ActionHook {
    match hook {
        Hook::PreAuthentication => ActionHook::PreAuthentication,
        Hook::PostAuthentication => ActionHook::PostAuthentication,
        Hook::PreRegistration { .. } => ActionHook::PreRegistration,
        Hook::PreToken { .. } => ActionHook::PreToken,
        Hook::PreUserinfo { .. } => ActionHook::PreUserinfo,
        Hook::PostCreation { .. } => ActionHook::PostCreation,
    }
}

/// A binding for `bound` (or the whole instance, `None`) applies to a request in `request`.
fn org_matches(bound: Option<&str>, request: Option<&str>) -> bool {
    bound.is_none_or(|bound| request == Some(bound))
}

/// Whether a command type matches a binding's pattern: dotted parts compared one by one, where a `*` part
/// matches any one part and a trailing `*` part matches one or more parts (`user.*` matches
/// `user.human.add`; `*` matches every command).
pub fn command_type_matches(pattern: &str, command_type: &str) -> bool {
    let mut pattern = pattern.split('.').peekable();
    let mut parts = command_type.split('.');
    while let Some(p) = pattern.next() {
        let Some(part) = parts.next() else {
            return false;
        };
        if p == "*" && pattern.peek().is_none() {
            return true;
        }
        if p != "*" && p != part {
            return false;
        }
    }
    parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::command_type_matches;

    #[test]
    fn command_type_patterns() {
        assert!(command_type_matches("user.human.add", "user.human.add"));
        assert!(!command_type_matches("user.human.add", "user.human.add.x"));
        assert!(!command_type_matches("user.human", "user.human.add"));
        assert!(command_type_matches("user.*", "user.human.add"));
        assert!(command_type_matches("*", "org.add"));
        assert!(command_type_matches("user.*.add", "user.human.add"));
        assert!(!command_type_matches("user.*.add", "user.human.remove"));
        assert!(!command_type_matches("org.*", "user.human.add"));
    }
}
