//! The plugin service: uploads (checked, stored content-addressed, recorded by a command), versions,
//! bindings, reads and removal, for one caller at a time.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use sha2::{Digest, Sha256};
use warden_command::{Caller, Commands, Details, Model, new_id};
use warden_domain::{
    authz::{Permission, Target},
    command::Command,
    org::Organization,
    plugin::{
        AddPlugin, AddPluginBinding, BindingSettings, BindingTarget, Plugin, PluginVersion,
        PluginWorld, UploadPluginVersion,
    },
};
use warden_wasm_runtime::World;

use crate::{
    error::ServiceError,
    registry::{PluginEntry, PluginRegistry},
    subscriptions::check_subscriptions,
};

/// The largest component accepted by default, in bytes (32 MiB).
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// How long a change waits for this node's registry to apply it.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// A plugin as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginInfo {
    /// The plugin's id.
    pub id: String,
    /// Its name, unique in the instance.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The world every version implements.
    pub world: Option<PluginWorld>,
    /// The uploaded versions, oldest first.
    pub versions: Vec<PluginVersion>,
    /// The digest of the version that runs.
    pub active_digest: Option<String>,
    /// The bindings.
    pub bindings: Vec<BindingInfo>,
    /// The plugin's sequence (its `ETag`).
    pub sequence: i64,
    /// Whether this node has the active version loaded.
    pub loaded: bool,
    /// Where loading the active version stands on this node.
    pub load_state: LoadState,
    /// Why the active version could not be loaded, when `load_state` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_error: Option<String>,
    /// Calls of the loaded version on this node since it was loaded.
    pub metrics: PluginMetricsBody,
    /// The last lines the loaded version logged on this node, oldest first.
    pub recent_logs: Vec<warden_wasm_runtime::LogLine>,
}

/// A plugin's call counters on the node answering.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PluginMetricsBody {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed, for any reason.
    pub failures: u64,
    /// Calls that ran out of time.
    pub timeouts: u64,
    /// Calls that hit their memory cap.
    pub memory_exhausted: u64,
    /// Calls that trapped.
    pub traps: u64,
    /// Mean time of a call (fresh instance plus call), in microseconds.
    pub mean_latency_us: f64,
}

impl From<warden_wasm_runtime::MetricsSnapshot> for PluginMetricsBody {
    fn from(m: warden_wasm_runtime::MetricsSnapshot) -> Self {
        let mean = if m.calls == 0 {
            0.0
        } else {
            m.latency_sum.as_secs_f64() * 1e6 / m.calls as f64
        };
        Self {
            calls: m.calls,
            failures: m.failures,
            timeouts: m.timeouts,
            memory_exhausted: m.memory_exhausted,
            traps: m.traps,
            mean_latency_us: mean,
        }
    }
}

/// Where loading a plugin's active version stands on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadState {
    /// Loaded: its bindings run it.
    Loaded,
    /// Not loaded yet (being compiled, or waiting for it): a binding failing closed refuses what it is
    /// bound to meanwhile, one allowed to fail is skipped.
    Loading,
    /// Could not be loaded (see `load_error`); tried again when another version is activated.
    Failed,
    /// No active version.
    Inactive,
}

impl LoadState {
    /// The load state of a plugin whose active version is `active`, as the registry's `entry` knows it.
    fn of(active: Option<&str>, entry: Option<&PluginEntry>) -> (Self, Option<String>) {
        let Some(active) = active else {
            return (Self::Inactive, None);
        };
        let Some(entry) = entry else {
            return (Self::Loading, None);
        };
        if entry.loaded.as_ref().is_some_and(|l| l.digest() == active) {
            return (Self::Loaded, None);
        }
        match &entry.load_error {
            Some((digest, why)) if digest == active => (Self::Failed, Some(why.clone())),
            _ => (Self::Loading, None),
        }
    }
}

/// A binding as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BindingInfo {
    /// The binding's id.
    pub id: String,
    /// Its settings.
    #[serde(flatten)]
    pub settings: BindingSettings,
}

/// What adding a binding produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingAdded {
    /// The new binding's id.
    pub binding_id: String,
    /// The plugin after the change.
    pub details: Details,
}

/// Plugins as resources of an instance. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PluginService {
    commands: Commands,
    registry: PluginRegistry,
    max_component_bytes: usize,
}

fn world_of(world: World) -> PluginWorld {
    match world {
        World::Validator => PluginWorld::Validator,
        World::Projection => PluginWorld::Projection,
        World::Action => PluginWorld::Action,
    }
}

impl PluginService {
    /// The service over `commands`, loading through `registry`, accepting components up to
    /// [`MAX_COMPONENT_BYTES`].
    pub fn new(commands: Commands, registry: PluginRegistry) -> Self {
        Self {
            commands,
            registry,
            max_component_bytes: MAX_COMPONENT_BYTES,
        }
    }

    /// The same service with another upload size limit.
    #[must_use]
    pub fn with_max_component_bytes(mut self, max: usize) -> Self {
        self.max_component_bytes = max;
        self
    }

    /// The upload size limit in bytes.
    pub fn max_component_bytes(&self) -> usize {
        self.max_component_bytes
    }

    /// The command pipeline.
    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    /// The registry.
    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    /// Checks that the caller may upload plugins, before the body of an upload is read.
    pub async fn may_upload(&self, caller: &Caller) -> Result<(), ServiceError> {
        self.commands
            .for_caller(caller)
            .authorize(AddPlugin::PERMISSION, &Target::Instance)
            .await?;
        Ok(())
    }

    /// Checks that the caller may upload a version of the plugin and that it exists, before the body of
    /// the upload is read.
    pub async fn may_upload_version(
        &self,
        caller: &Caller,
        plugin_id: &str,
    ) -> Result<(), ServiceError> {
        self.plugin(caller, plugin_id).await?;
        self.may_upload(caller).await
    }

    /// Checks the caller's permission, the size, and the component (compiled by the runtime, which finds
    /// its world), then stores the bytes. Returns the world, digest and size.
    async fn accept(
        &self,
        caller: &Caller,
        name: &str,
        bytes: &[u8],
    ) -> Result<(PluginWorld, String, u64), ServiceError> {
        self.commands
            .for_caller(caller)
            .authorize(UploadPluginVersion::PERMISSION, &Target::Instance)
            .await?;
        if bytes.len() > self.max_component_bytes {
            return Err(ServiceError::TooLarge {
                size: bytes.len(),
                max: self.max_component_bytes,
            });
        }
        let digest = hex::encode(Sha256::digest(bytes));
        let loaded = self.registry.runtime().load(name, bytes).await?;
        check_subscriptions(loaded.subscriptions())?;
        self.commands
            .store()
            .put_blob(&caller.instance_id, &digest, bytes)
            .await?;
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok((world_of(loaded.world()), digest, size))
    }

    /// Brings this node's registry up to date with a change, so the change is in effect here when the
    /// request returns (other nodes follow within the registry's sync interval).
    async fn settle(&self, caller: &Caller, details: &Details) {
        match self
            .registry
            .sync_until(
                &caller.instance_id,
                &details.id,
                details.sequence,
                SETTLE_TIMEOUT,
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(plugin = %details.id, "plugin registry did not catch up with a change in time");
            }
            Err(error) => {
                tracing::warn!(%error, "plugin registry could not catch up after a change");
            }
        }
    }

    /// Uploads a new plugin: its first version is active at once.
    pub async fn upload(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
        bytes: &[u8],
    ) -> Result<Details, ServiceError> {
        let (world, digest, size) = self.accept(caller, name, bytes).await?;
        // The same bytes under the same name again (a retried upload) answer with the plugin they made.
        let existing = self
            .registry
            .list(&caller.instance_id)
            .into_iter()
            .find(|e| e.state.name == name && e.state.versions.iter().any(|v| v.digest == digest));
        if let Some(entry) = existing {
            let model = self.plugin(caller, &entry.plugin_id).await;
            if let Ok(model) = model
                && model.state.name == name
                && model.state.versions.iter().any(|v| v.digest == digest)
            {
                return Ok(Details {
                    id: entry.plugin_id,
                    sequence: model.sequence,
                    position: model.position,
                    change_date: model.change_date,
                });
            }
        }
        let details = self
            .commands
            .for_caller(caller)
            .add_plugin(&AddPlugin {
                name: name.to_owned(),
                description: description.to_owned(),
                world,
                digest,
                size,
            })
            .await?;
        self.settle(caller, &details).await;
        Ok(details)
    }

    /// Uploads a new version of a plugin, made active when `activate` is set.
    pub async fn upload_version(
        &self,
        caller: &Caller,
        plugin_id: &str,
        bytes: &[u8],
        activate: bool,
    ) -> Result<Details, ServiceError> {
        let plugin = self.plugin(caller, plugin_id).await?;
        let (world, digest, size) = self.accept(caller, &plugin.state.name, bytes).await?;
        let details = self
            .commands
            .for_caller(caller)
            .upload_plugin_version(plugin_id, world, &digest, size, activate)
            .await?;
        self.settle(caller, &details).await;
        Ok(details)
    }

    /// Makes an uploaded version the one that runs.
    pub async fn activate_version(
        &self,
        caller: &Caller,
        plugin_id: &str,
        digest: &str,
    ) -> Result<Details, ServiceError> {
        let details = self
            .commands
            .for_caller(caller)
            .activate_plugin_version(plugin_id, digest)
            .await?;
        self.settle(caller, &details).await;
        Ok(details)
    }

    /// Binds a plugin; the binding gets a new id.
    pub async fn add_binding(
        &self,
        caller: &Caller,
        plugin_id: &str,
        settings: &BindingSettings,
    ) -> Result<BindingAdded, ServiceError> {
        check_binding(settings)?;
        self.check_org(caller, settings).await?;
        let binding_id = new_id();
        let details = self
            .commands
            .for_caller(caller)
            .add_plugin_binding(plugin_id, &binding_id, settings)
            .await?;
        self.settle(caller, &details).await;
        Ok(BindingAdded {
            binding_id,
            details,
        })
    }

    /// Replaces a binding's settings.
    pub async fn change_binding(
        &self,
        caller: &Caller,
        plugin_id: &str,
        binding_id: &str,
        settings: &BindingSettings,
    ) -> Result<Details, ServiceError> {
        check_binding(settings)?;
        self.check_org(caller, settings).await?;
        let details = self
            .commands
            .for_caller(caller)
            .change_plugin_binding(plugin_id, binding_id, settings)
            .await?;
        self.settle(caller, &details).await;
        Ok(details)
    }

    /// Removes a binding.
    pub async fn remove_binding(
        &self,
        caller: &Caller,
        plugin_id: &str,
        binding_id: &str,
    ) -> Result<Details, ServiceError> {
        let details = self
            .commands
            .for_caller(caller)
            .remove_plugin_binding(plugin_id, binding_id)
            .await?;
        self.settle(caller, &details).await;
        Ok(details)
    }

    /// Removes a plugin and its bindings.
    pub async fn remove(&self, caller: &Caller, plugin_id: &str) -> Result<Details, ServiceError> {
        let details = self
            .commands
            .for_caller(caller)
            .remove_plugin(plugin_id)
            .await?;
        self.settle(caller, &details).await;
        Ok(details)
    }

    /// The current state of a plugin (read from the store), after checking `plugin.read`.
    /// Refuses a binding scoped to an organization the instance does not have: it could never run, and
    /// nothing else would say so.
    async fn check_org(
        &self,
        caller: &Caller,
        settings: &BindingSettings,
    ) -> Result<(), ServiceError> {
        let Some(org_id) = settings.org_id.as_deref() else {
            return Ok(());
        };
        let org = self
            .commands
            .load::<Organization>(&caller.instance_id, org_id)
            .await?;
        if org.state.exists() {
            Ok(())
        } else {
            Err(ServiceError::UnknownReference {
                field: "org_id",
                code: "binding.org_id.unknown",
                message: format!("the instance has no organization `{org_id}`"),
            })
        }
    }

    async fn plugin(
        &self,
        caller: &Caller,
        plugin_id: &str,
    ) -> Result<Arc<Model<Plugin>>, ServiceError> {
        self.commands
            .for_caller(caller)
            .authorize(Permission::PluginRead, &Target::Instance)
            .await?;
        let model = self
            .commands
            .load::<Plugin>(&caller.instance_id, plugin_id)
            .await?;
        if model.state.exists() {
            Ok(model)
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Runs the plugin's loaded version once against `sample` (the format of `warden plugin test` for its
    /// world; see [`warden_wasm_runtime::run_sample`]) and reports the answer, the time and the log lines. Nothing
    /// is stored and the plugin's own counters are left alone. A `binding_id` lends that binding's
    /// configuration and limits to a sample that sets none. Needs the permission to bind plugins.
    pub async fn test_run(
        &self,
        caller: &Caller,
        plugin_id: &str,
        binding_id: Option<&str>,
        mut sample: serde_json::Value,
    ) -> Result<warden_wasm_runtime::SampleRun, ServiceError> {
        let model = self.plugin(caller, plugin_id).await?;
        self.commands
            .for_caller(caller)
            .authorize(AddPluginBinding::PERMISSION, &Target::Instance)
            .await?;
        let Some(object) = sample.as_object_mut() else {
            return Err(ServiceError::Invalid {
                field: "sample",
                code: "plugin.test.invalid_sample",
                message: "sample must be a JSON object".into(),
            });
        };
        if let Some(binding_id) = binding_id {
            let Some(settings) = model.state.bindings.get(binding_id) else {
                return Err(ServiceError::Invalid {
                    field: "binding_id",
                    code: "plugin.test.unknown_binding",
                    message: "the plugin has no binding with this id".into(),
                });
            };
            object
                .entry("config")
                .or_insert_with(|| serde_json::json!(settings.config));
            object.entry("limits").or_insert_with(|| {
                serde_json::json!({
                    "deadline_ms": settings.limits.deadline_ms,
                    "memory_mib": settings.limits.memory_mib,
                })
            });
        }
        let entry = self.registry.get(&caller.instance_id, plugin_id);
        let active = model.state.active_digest.as_deref();
        let loaded = entry
            .and_then(|e| e.loaded)
            .filter(|l| Some(l.digest()) == active)
            .ok_or_else(|| {
                ServiceError::NotLoaded(
                    "the plugin's active version is not loaded on this node yet (or failed to load); \
                     see its load_state"
                        .into(),
                )
            })?;
        warden_wasm_runtime::run_sample(self.registry.runtime(), &loaded, sample)
            .await
            .map_err(|error| match error {
                warden_wasm_runtime::LocalTestError::Plugin(e) => e.into(),
                other => ServiceError::Invalid {
                    field: "sample",
                    code: "plugin.test.invalid_sample",
                    message: other.to_string(),
                },
            })
    }

    /// One plugin, read from the store (it reflects every change stored before the request).
    pub async fn get(&self, caller: &Caller, plugin_id: &str) -> Result<PluginInfo, ServiceError> {
        let model = self.plugin(caller, plugin_id).await?;
        let plugin = model.state.clone();
        let entry = self.registry.get(&caller.instance_id, plugin_id);
        let load = LoadState::of(plugin.active_digest.as_deref(), entry.as_ref());
        Ok(info(
            plugin_id,
            plugin,
            model.sequence,
            load,
            entry.as_ref(),
        ))
    }

    /// The plugins of the caller's instance, as this node's registry knows them, ordered by id (creation).
    pub async fn list(&self, caller: &Caller) -> Result<Vec<PluginInfo>, ServiceError> {
        self.commands
            .for_caller(caller)
            .authorize(Permission::PluginRead, &Target::Instance)
            .await?;
        Ok(self
            .registry
            .list(&caller.instance_id)
            .into_iter()
            .map(|e| {
                let load = LoadState::of(e.state.active_digest.as_deref(), Some(&e));
                info(&e.plugin_id, e.state.clone(), e.sequence, load, Some(&e))
            })
            .collect())
    }
}

/// What the service refuses of a binding beyond the domain's rules.
///
/// A projection binding cannot be scoped to an organization: a projection plugin keeps one set of views per
/// plugin, read by whoever may read plugins in the instance, so a binding limited to one organization would
/// suggest an isolation the views do not have. A projection that wants one organization filters on the
/// event's `org_id` (or takes it from its configuration).
fn check_binding(settings: &BindingSettings) -> Result<(), ServiceError> {
    if matches!(settings.target, BindingTarget::Projection) && settings.org_id.is_some() {
        return Err(ServiceError::Invalid {
            field: "org_id",
            code: "binding.org_id_unsupported",
            message: "a projection binding applies to the whole instance: its views are shared by the \
                      instance, so `org_id` is not accepted; filter on the event's `org_id` in the plugin \
                      instead"
                .into(),
        });
    }
    Ok(())
}

fn info(
    id: &str,
    plugin: Plugin,
    sequence: i64,
    (load_state, load_error): (LoadState, Option<String>),
    entry: Option<&PluginEntry>,
) -> PluginInfo {
    let loaded = entry.and_then(|e| e.loaded.as_ref());
    PluginInfo {
        id: id.to_owned(),
        name: plugin.name,
        description: plugin.description,
        world: plugin.world,
        versions: plugin.versions,
        active_digest: plugin.active_digest,
        bindings: plugin
            .bindings
            .into_iter()
            .map(|(id, settings)| BindingInfo { id, settings })
            .collect(),
        sequence,
        loaded: load_state == LoadState::Loaded,
        load_state,
        load_error,
        metrics: loaded.map(|l| l.metrics().into()).unwrap_or_default(),
        recent_logs: loaded.map(|l| l.recent_logs()).unwrap_or_default(),
    }
}
