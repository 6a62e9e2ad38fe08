//! Plugins: WebAssembly components uploaded by an administrator, kept in versions, and bound to commands
//! (validators), to their own spooler (projections) or to login-flow hooks (actions).
//!
//! The component bytes are stored content-addressed outside the eventstore; the events record which digest
//! was uploaded, by whom and when, which version is active, and every binding. A plugin's name is unique per
//! instance ([`unique::PLUGIN_NAME`]). Every version of a plugin targets the same world.
//!
//! A binding carries its failure policy (fail closed: the command or login is refused when the plugin fails;
//! allow failure: the failure is logged and the flow continues), its limits (CPU deadline and memory cap per
//! call, bounded by [`MAX_DEADLINE_MS`] and [`MAX_MEMORY_MIB`]) and its configuration values, which the plugin
//! reads through the `config` import. Nothing else is granted: plugins get no file system, network or
//! environment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{
    Aggregate, CommandContext, Decision, Lifecycle, UniqueChange, domain_events, no_upcast,
};
use crate::error::DomainError;
use crate::unique;
use crate::validate;

mod commands;

pub use commands::*;

/// Longest CPU deadline a binding may set, in milliseconds.
pub const MAX_DEADLINE_MS: u32 = 1_000;
/// Default CPU deadline per call, in milliseconds.
pub const DEFAULT_DEADLINE_MS: u32 = 50;
/// Largest memory cap a binding may set, in MiB.
pub const MAX_MEMORY_MIB: u32 = 256;
/// Default memory cap per call, in MiB.
pub const DEFAULT_MEMORY_MIB: u32 = 64;
/// Most bindings per plugin.
pub const MAX_BINDINGS: usize = 100;
/// Most versions kept per plugin.
pub const MAX_VERSIONS: usize = 100;
/// Most configuration entries per binding.
pub const MAX_CONFIG_ENTRIES: usize = 64;
/// Longest configuration value, in bytes.
pub const MAX_CONFIG_VALUE: usize = 4_096;

/// The WIT world a component implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PluginWorld {
    /// Checks commands before their events are stored.
    Validator,
    /// Builds its own views from the event stream.
    Projection,
    /// Runs at hooks of the login flow.
    Action,
}

impl PluginWorld {
    /// The world's name, as in the WIT package.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validator => "validator",
            Self::Projection => "projection",
            Self::Action => "action",
        }
    }
}

/// A login-flow hook an action plugin can be bound to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionHook {
    /// Before the password (or other first factor) is checked.
    PreAuthentication,
    /// After a successful first factor: may deny or require a second factor.
    PostAuthentication,
    /// Before a self-registered user is created: may deny or adjust the profile.
    PreRegistration,
    /// Before tokens are issued: may add or change claims.
    PreToken,
    /// Before the userinfo response: may add or change claims.
    PreUserinfo,
    /// After a user is created: may set metadata.
    PostCreation,
}

/// What happens to the command or login when a bound plugin fails (trap, timeout, memory cap).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// The command or login is refused.
    #[default]
    FailClosed,
    /// The failure is logged and the flow continues as if the plugin had not been bound.
    AllowFailure,
}

/// Most rows a projection plugin may write (upsert or delete) for one event.
pub const MAX_ROWS_PER_EVENT: u32 = 10_000;
/// Most bytes of rows a projection plugin may write for one event, in KiB.
/// Kept well below what the single SQLite writer stores in a moment: the writes are stored in the batch
/// transaction.
pub const MAX_KIB_PER_EVENT: u32 = 16 << 10;
/// Most rows a projection plugin's views may hold in all.
pub const MAX_TOTAL_ROWS: u64 = 100_000_000;
/// Most bytes a projection plugin's views may hold in all, in MiB.
pub const MAX_TOTAL_MIB: u64 = 64 << 10;

/// Per-call limits of a binding, and for projection plugins the quotas of their views.
///
/// A limit or quota left out takes the server's default; one given must be within the maximums above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Limits {
    /// CPU deadline per call, in milliseconds.
    pub deadline_ms: u32,
    /// Memory cap per call, in MiB.
    pub memory_mib: u32,
    /// Projections: most rows written for one event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_per_event: Option<u32>,
    /// Projections: most KiB of rows written for one event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kib_per_event: Option<u32>,
    /// Projections: most rows the views hold in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_rows: Option<u64>,
    /// Projections: most MiB the views hold in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_mib: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline_ms: DEFAULT_DEADLINE_MS,
            memory_mib: DEFAULT_MEMORY_MIB,
            rows_per_event: None,
            kib_per_event: None,
            total_rows: None,
            total_mib: None,
        }
    }
}

/// Where a binding attaches a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BindingTarget {
    /// A validator, called for these command types (e.g. `user.human.add`).
    Validator {
        /// The command types, at least one.
        command_types: Vec<String>,
    },
    /// A projection, run by its own spooler.
    Projection,
    /// An action at a login-flow hook; bindings of one hook run in ascending `order`.
    Action {
        /// The hook.
        hook: ActionHook,
        /// Position among the hook's actions.
        order: i32,
    },
}

impl BindingTarget {
    /// The world a plugin must implement to be bound here.
    pub fn world(&self) -> PluginWorld {
        match self {
            Self::Validator { .. } => PluginWorld::Validator,
            Self::Projection => PluginWorld::Projection,
            Self::Action { .. } => PluginWorld::Action,
        }
    }
}

/// A binding's settings, as given to [`Plugin::add_binding`] and [`Plugin::change_binding`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BindingSettings {
    /// Where the plugin runs.
    pub target: BindingTarget,
    /// Only for commands and logins of this organization; `None` for the whole instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// What a failure of the plugin does.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Per-call limits.
    #[serde(default)]
    pub limits: Limits,
    /// Configuration values the plugin reads.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// Payload of `plugin.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginAdded {
    /// The plugin's name, unique in the instance.
    pub name: String,
    /// What the plugin is for.
    #[serde(default)]
    pub description: String,
    /// The world every version implements.
    pub world: PluginWorld,
}

/// Payload of `plugin.version.uploaded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionUploaded {
    /// SHA-256 of the component bytes, lower-case hex.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: u64,
}

/// Payload of `plugin.version.activated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionActivated {
    /// The digest of the version that runs from now on.
    pub digest: String,
}

/// Payload of `plugin.binding.added` and `plugin.binding.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingSet {
    /// The binding's id.
    pub binding_id: String,
    /// Its settings.
    #[serde(flatten)]
    pub settings: BindingSettings,
}

/// Payload of `plugin.binding.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRemoved {
    /// The binding's id.
    pub binding_id: String,
}

domain_events! {
    /// Events of the plugin aggregate.
    pub enum PluginEvent {
        /// A plugin was created with its first upload.
        Added(PluginAdded) => "plugin.added" @ 1,
        /// A version (component) was uploaded.
        VersionUploaded(VersionUploaded) => "plugin.version.uploaded" @ 1,
        /// A version became the one that runs.
        VersionActivated(VersionActivated) => "plugin.version.activated" @ 1,
        /// A binding was added.
        BindingAdded(BindingSet) => "plugin.binding.added" @ 1,
        /// A binding's settings changed.
        BindingChanged(BindingSet) => "plugin.binding.changed" @ 1,
        /// A binding was removed.
        BindingRemoved(BindingRemoved) => "plugin.binding.removed" @ 1,
        /// The plugin and all its bindings were removed.
        Removed => "plugin.removed" @ 1,
    }
    upcast = no_upcast;
}

/// One uploaded version of a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginVersion {
    /// SHA-256 of the component, lower-case hex.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// State of a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plugin {
    /// Life cycle.
    pub lifecycle: Lifecycle,
    /// Name, unique in the instance.
    pub name: String,
    /// Description.
    pub description: String,
    /// The world every version implements.
    pub world: Option<PluginWorld>,
    /// Uploaded versions, oldest first.
    pub versions: Vec<PluginVersion>,
    /// Digest of the version that runs.
    pub active_digest: Option<String>,
    /// Bindings by id.
    pub bindings: BTreeMap<String, BindingSettings>,
}

impl Aggregate for Plugin {
    const TYPE: &'static str = "plugin";
    type Event = PluginEvent;

    fn apply(&mut self, event: &PluginEvent) {
        match event {
            PluginEvent::Added(e) => {
                self.lifecycle = Lifecycle::Active;
                self.name.clone_from(&e.name);
                self.description.clone_from(&e.description);
                self.world = Some(e.world);
            }
            PluginEvent::VersionUploaded(e) => {
                if !self.versions.iter().any(|v| v.digest == e.digest) {
                    self.versions.push(PluginVersion {
                        digest: e.digest.clone(),
                        size: e.size,
                    });
                }
            }
            PluginEvent::VersionActivated(e) => self.active_digest = Some(e.digest.clone()),
            PluginEvent::BindingAdded(e) | PluginEvent::BindingChanged(e) => {
                self.bindings
                    .insert(e.binding_id.clone(), e.settings.clone());
            }
            PluginEvent::BindingRemoved(e) => {
                self.bindings.remove(&e.binding_id);
            }
            PluginEvent::Removed => {
                self.lifecycle = Lifecycle::Removed;
                self.bindings.clear();
                self.active_digest = None;
            }
        }
    }
}

/// `plugin.add`: a new plugin with its first version, which becomes active ([`Plugin::add`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddPlugin {
    /// Name, unique in the instance.
    pub name: String,
    /// Description.
    pub description: String,
    /// The world the component implements (found by inspecting it).
    pub world: PluginWorld,
    /// SHA-256 of the component, lower-case hex.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

fn check_digest(digest: &str) -> Result<(), DomainError> {
    if digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "digest",
            "plugin.digest.invalid",
            "the digest must be a SHA-256 in lower-case hex (64 characters)",
        ))
    }
}

fn check_name(name: &str) -> Result<String, DomainError> {
    let name = validate::text("plugin.name", "name", name, 100)?;
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(name)
    } else {
        Err(DomainError::invalid(
            "name",
            "plugin.name.invalid",
            "a plugin name may contain only letters, digits, '-', '_' and '.'",
        ))
    }
}

fn check_settings(
    settings: &BindingSettings,
    world: Option<PluginWorld>,
) -> Result<BindingSettings, DomainError> {
    let mut settings = settings.clone();
    if Some(settings.target.world()) != world {
        return Err(DomainError::invalid(
            "target.kind",
            "plugin.binding.world_mismatch",
            format!(
                "a {} plugin cannot be bound as a {}",
                world.map_or("plugin", PluginWorld::as_str),
                settings.target.world().as_str()
            ),
        ));
    }
    if let BindingTarget::Validator { command_types } = &mut settings.target {
        if command_types.is_empty() {
            return Err(DomainError::invalid(
                "target.command_types",
                "plugin.binding.command_types.empty",
                "a validator binding needs at least one command type",
            ));
        }
        for (i, command_type) in command_types.iter().enumerate() {
            let ok = !command_type.is_empty()
                && command_type.len() <= 100
                && command_type.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '*')
                });
            if !ok {
                return Err(DomainError::invalid(
                    format!("target.command_types[{i}]"),
                    "plugin.binding.command_type.invalid",
                    "a command type is a dotted lower-case name such as `user.human.add` (`*` matches any part)",
                ));
            }
            if !crate::command::is_known_pattern(command_type) {
                return Err(DomainError::invalid(
                    format!("target.command_types[{i}]"),
                    "plugin.binding.command_type.unknown",
                    format!(
                        "`{command_type}` matches no command type (they are listed in wit/commands.schema.json)"
                    ),
                ));
            }
        }
        command_types.sort();
        command_types.dedup();
    }
    if let Some(org_id) = &settings.org_id {
        validate::identifier("plugin.binding.org_id", "org_id", org_id)?;
    }
    let limits = settings.limits;
    if limits.deadline_ms == 0 || limits.deadline_ms > MAX_DEADLINE_MS {
        return Err(DomainError::invalid(
            "limits.deadline_ms",
            "plugin.binding.deadline.out_of_range",
            format!("the deadline must be between 1 and {MAX_DEADLINE_MS} ms"),
        ));
    }
    if limits.memory_mib == 0 || limits.memory_mib > MAX_MEMORY_MIB {
        return Err(DomainError::invalid(
            "limits.memory_mib",
            "plugin.binding.memory.out_of_range",
            format!("the memory cap must be between 1 and {MAX_MEMORY_MIB} MiB"),
        ));
    }
    let quotas = [
        (
            "limits.rows_per_event",
            limits.rows_per_event.map(u64::from),
            u64::from(MAX_ROWS_PER_EVENT),
        ),
        (
            "limits.kib_per_event",
            limits.kib_per_event.map(u64::from),
            u64::from(MAX_KIB_PER_EVENT),
        ),
        ("limits.total_rows", limits.total_rows, MAX_TOTAL_ROWS),
        ("limits.total_mib", limits.total_mib, MAX_TOTAL_MIB),
    ];
    for (field, value, max) in quotas {
        if value.is_some_and(|v| v == 0 || v > max) {
            return Err(DomainError::invalid(
                field,
                "plugin.binding.quota.out_of_range",
                format!("`{field}` must be between 1 and {max}"),
            ));
        }
    }
    let has_quota = quotas.iter().any(|(_, value, _)| value.is_some());
    if has_quota && settings.target != BindingTarget::Projection {
        return Err(DomainError::invalid(
            "limits",
            "plugin.binding.quota.not_a_projection",
            "quotas of rows and bytes apply to projection bindings only",
        ));
    }
    if settings.config.len() > MAX_CONFIG_ENTRIES {
        return Err(DomainError::invalid(
            "config",
            "plugin.binding.config.too_many",
            format!("a binding has at most {MAX_CONFIG_ENTRIES} configuration values"),
        ));
    }
    for (key, value) in &settings.config {
        validate::metadata_key("plugin.binding.config", "config", key)?;
        if value.len() > MAX_CONFIG_VALUE {
            return Err(DomainError::invalid(
                format!("config.{key}"),
                "plugin.binding.config.too_long",
                format!("a configuration value is at most {MAX_CONFIG_VALUE} bytes"),
            ));
        }
    }
    Ok(settings)
}

impl Plugin {
    /// Added and not removed.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "plugin.not_found",
                "the plugin does not exist",
            ))
        }
    }

    /// Creates a plugin with its first version, active at once; claims the name.
    pub fn add(
        &self,
        cmd: &AddPlugin,
        _ctx: &CommandContext,
    ) -> Result<Decision<PluginEvent>, DomainError> {
        if self.lifecycle != Lifecycle::Unspecified {
            return Err(DomainError::already_exists(
                "plugin.already_exists",
                "a plugin with this id already exists",
            ));
        }
        let name = check_name(&cmd.name)?;
        let description =
            validate::optional_text("plugin.description", "description", &cmd.description, 500)?;
        check_digest(&cmd.digest)?;
        Ok(Decision::events(vec![
            PluginEvent::Added(PluginAdded {
                name: name.clone(),
                description,
                world: cmd.world,
            }),
            PluginEvent::VersionUploaded(VersionUploaded {
                digest: cmd.digest.clone(),
                size: cmd.size,
            }),
            PluginEvent::VersionActivated(VersionActivated {
                digest: cmd.digest.clone(),
            }),
        ])
        .with_unique(UniqueChange::add(
            unique::PLUGIN_NAME,
            name.to_lowercase(),
            "name",
        )))
    }

    /// Uploads a new version; it becomes active when `activate` is set. Uploading a known digest again only
    /// (re)activates it.
    pub fn upload_version(
        &self,
        world: PluginWorld,
        digest: &str,
        size: u64,
        activate: bool,
        _ctx: &CommandContext,
    ) -> Result<Decision<PluginEvent>, DomainError> {
        self.ensure_exists()?;
        check_digest(digest)?;
        if Some(world) != self.world {
            return Err(DomainError::invalid(
                "component",
                "plugin.version.world_mismatch",
                format!(
                    "this plugin is a {} plugin; the component implements the {} world",
                    self.world.map_or("?", PluginWorld::as_str),
                    world.as_str()
                ),
            ));
        }
        let mut decision = Decision::unchanged();
        if !self.versions.iter().any(|v| v.digest == digest) {
            if self.versions.len() >= MAX_VERSIONS {
                return Err(DomainError::precondition(
                    "plugin.version.too_many",
                    format!("a plugin keeps at most {MAX_VERSIONS} versions"),
                ));
            }
            decision = decision.and(PluginEvent::VersionUploaded(VersionUploaded {
                digest: digest.to_owned(),
                size,
            }));
        }
        if activate && self.active_digest.as_deref() != Some(digest) {
            decision = decision.and(PluginEvent::VersionActivated(VersionActivated {
                digest: digest.to_owned(),
            }));
        }
        Ok(decision)
    }

    /// Makes an uploaded version the one that runs.
    pub fn activate_version(
        &self,
        digest: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<PluginEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.versions.iter().any(|v| v.digest == digest) {
            return Err(DomainError::not_found(
                "plugin.version.not_found",
                "the plugin has no version with this digest",
            )
            .with_field("digest"));
        }
        if self.active_digest.as_deref() == Some(digest) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(PluginEvent::VersionActivated(
            VersionActivated {
                digest: digest.to_owned(),
            },
        )))
    }

    /// Binds the plugin; the target must match the plugin's world.
    pub fn add_binding(
        &self,
        binding_id: &str,
        settings: &BindingSettings,
        _ctx: &CommandContext,
    ) -> Result<Decision<PluginEvent>, DomainError> {
        self.ensure_exists()?;
        let binding_id = validate::identifier("plugin.binding.id", "binding_id", binding_id)?;
        if self.bindings.contains_key(&binding_id) {
            return Err(DomainError::already_exists(
                "plugin.binding.already_exists",
                "a binding with this id already exists",
            ));
        }
        if self.bindings.len() >= MAX_BINDINGS {
            return Err(DomainError::precondition(
                "plugin.binding.too_many",
                format!("a plugin has at most {MAX_BINDINGS} bindings"),
            ));
        }
        let settings = check_settings(settings, self.world)?;
        if settings.target == BindingTarget::Projection && !self.bindings.is_empty() {
            return Err(DomainError::precondition(
                "plugin.binding.projection_bound",
                "a projection plugin runs under one spooler: it is already bound",
            ));
        }
        Ok(Decision::event(PluginEvent::BindingAdded(BindingSet {
            binding_id,
            settings,
        })))
    }

    /// Replaces a binding's settings.
    pub fn change_binding(
        &self,
        binding_id: &str,
        settings: &BindingSettings,
        _ctx: &CommandContext,
    ) -> Result<Decision<PluginEvent>, DomainError> {
        self.ensure_exists()?;
        let Some(current) = self.bindings.get(binding_id) else {
            return Err(DomainError::not_found(
                "plugin.binding.not_found",
                "the plugin has no binding with this id",
            ));
        };
        let settings = check_settings(settings, self.world)?;
        if *current == settings {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(PluginEvent::BindingChanged(BindingSet {
            binding_id: binding_id.to_owned(),
            settings,
        })))
    }

    /// Removes a binding.
    pub fn remove_binding(
        &self,
        binding_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<PluginEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.bindings.contains_key(binding_id) {
            return Err(DomainError::not_found(
                "plugin.binding.not_found",
                "the plugin has no binding with this id",
            ));
        }
        Ok(Decision::event(PluginEvent::BindingRemoved(
            BindingRemoved {
                binding_id: binding_id.to_owned(),
            },
        )))
    }

    /// Removes the plugin and its bindings; frees the name.
    pub fn remove(&self, _ctx: &CommandContext) -> Result<Decision<PluginEvent>, DomainError> {
        self.ensure_exists()?;
        Ok(
            Decision::event(PluginEvent::Removed).with_unique(UniqueChange::remove(
                unique::PLUGIN_NAME,
                self.name.to_lowercase(),
            )),
        )
    }
}

#[cfg(test)]
mod tests;
