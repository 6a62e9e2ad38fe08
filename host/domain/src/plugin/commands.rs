//! The plugin's commands as typed values ([`crate::command::Command`]). Plugins belong to the instance:
//! every command needs `plugin.write` on it, and no validator runs on them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AddPlugin, BindingSettings, Plugin, PluginWorld};
use crate::command::command;

command!(AddPlugin: Plugin, "plugin.add", PluginWrite, on Instance, |self, plugin, ctx| {
    plugin.add(self, ctx)
});

/// `plugin.version.upload`: records a new version of a plugin (its component already stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UploadPluginVersion {
    /// The world the component implements; the plugin's own.
    pub world: PluginWorld,
    /// SHA-256 of the component, lower-case hex.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// The new version becomes active at once.
    pub activate: bool,
}

command!(UploadPluginVersion: Plugin, "plugin.version.upload", PluginWrite, |self, plugin, ctx| {
    plugin.upload_version(self.world, &self.digest, self.size, self.activate, ctx)
});

/// `plugin.version.activate`: makes an uploaded version the active one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActivatePluginVersion {
    /// The version's digest.
    pub digest: String,
}

command!(ActivatePluginVersion: Plugin, "plugin.version.activate", PluginWrite, |self, plugin, ctx| {
    plugin.activate_version(&self.digest, ctx)
});

/// `plugin.binding.add`: binds a plugin (validator command types, projection, or action hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddPluginBinding {
    /// The binding's id, generated outside.
    pub binding_id: String,
    /// Where the plugin runs, with what configuration, limits and failure policy.
    pub settings: BindingSettings,
}

command!(AddPluginBinding: Plugin, "plugin.binding.add", PluginWrite, |self, plugin, ctx| {
    plugin.add_binding(&self.binding_id, &self.settings, ctx)
});

/// `plugin.binding.change`: replaces a binding's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangePluginBinding {
    /// The binding's id.
    pub binding_id: String,
    /// The settings from now on.
    pub settings: BindingSettings,
}

command!(ChangePluginBinding: Plugin, "plugin.binding.change", PluginWrite, |self, plugin, ctx| {
    plugin.change_binding(&self.binding_id, &self.settings, ctx)
});

/// `plugin.binding.remove`: removes a binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemovePluginBinding {
    /// The binding's id.
    pub binding_id: String,
}

command!(RemovePluginBinding: Plugin, "plugin.binding.remove", PluginWrite, |self, plugin, ctx| {
    plugin.remove_binding(&self.binding_id, ctx)
});

/// `plugin.remove`: removes a plugin with its versions and bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemovePlugin {}

command!(RemovePlugin: Plugin, "plugin.remove", PluginWrite, |self, plugin, ctx| plugin.remove(ctx));
