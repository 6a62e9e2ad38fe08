//! Commands on plugins: adding a plugin with its first version, further versions, activation, bindings and
//! removal. Plugins belong to the instance: every command needs `plugin.write` on it.
//!
//! The component bytes are stored in the blob store before these commands run; the commands record the
//! digest, size and world the caller found by inspecting them.

use warden_domain::{
    authz::Target,
    command::{Change, Command},
    plugin::{
        ActivatePluginVersion, AddPlugin, AddPluginBinding, BindingSettings, ChangePluginBinding,
        Plugin, PluginWorld, RemovePlugin, RemovePluginBinding, UploadPluginVersion,
    },
};

use super::{Resource, payload};
use crate::{
    CallerCommands, CommandError, Details, new_id,
    pipeline::{Decided, decide},
};

impl Resource for Plugin {
    fn authz_target(&self, _id: &str) -> Option<Target> {
        self.exists().then_some(Target::Instance)
    }

    fn owner_org(&self, _id: &str) -> Option<String> {
        None
    }
}

impl CallerCommands<'_> {
    /// Creates a plugin with a new id and its first version, which is active at once.
    pub async fn add_plugin(&self, plugin: &AddPlugin) -> Result<Details, CommandError> {
        let id = new_id();
        let mut run = self.run(AddPlugin::TYPE, || payload(plugin));
        // A new id has no events yet: the target is created, not loaded.
        let (details, ()) = decide!(run, {
            run.authorize(AddPlugin::PERMISSION, &Target::Instance)
                .await?;
            let target = run.new_target::<Plugin>(&id).await?;
            let decision = plugin.decide(&target.state, run.ctx())?;
            Ok(Decided::new(target, decision, None))
        });
        Ok(details)
    }

    /// Records a new version of a plugin (a component of the plugin's world), and makes it the active one
    /// when `activate` is set.
    pub async fn upload_plugin_version(
        &self,
        plugin_id: &str,
        world: PluginWorld,
        digest: &str,
        size: u64,
        activate: bool,
    ) -> Result<Details, CommandError> {
        let command = UploadPluginVersion {
            world,
            digest: digest.to_owned(),
            size,
            activate,
        };
        self.execute(plugin_id, &command).await
    }

    /// Makes an uploaded version of a plugin the one that runs.
    pub async fn activate_plugin_version(
        &self,
        plugin_id: &str,
        digest: &str,
    ) -> Result<Details, CommandError> {
        let command = ActivatePluginVersion {
            digest: digest.to_owned(),
        };
        self.execute(plugin_id, &command).await
    }

    /// Adds a binding with the id `binding_id` (generate one with [`new_id`](crate::new_id)).
    pub async fn add_plugin_binding(
        &self,
        plugin_id: &str,
        binding_id: &str,
        settings: &BindingSettings,
    ) -> Result<Details, CommandError> {
        let command = AddPluginBinding {
            binding_id: binding_id.to_owned(),
            settings: settings.clone(),
        };
        self.execute(plugin_id, &command).await
    }

    /// Replaces the settings of a binding.
    pub async fn change_plugin_binding(
        &self,
        plugin_id: &str,
        binding_id: &str,
        settings: &BindingSettings,
    ) -> Result<Details, CommandError> {
        let command = ChangePluginBinding {
            binding_id: binding_id.to_owned(),
            settings: settings.clone(),
        };
        self.execute(plugin_id, &command).await
    }

    /// Removes a binding.
    pub async fn remove_plugin_binding(
        &self,
        plugin_id: &str,
        binding_id: &str,
    ) -> Result<Details, CommandError> {
        let command = RemovePluginBinding {
            binding_id: binding_id.to_owned(),
        };
        self.execute(plugin_id, &command).await
    }

    /// Removes a plugin with all its bindings; its name is free again. The stored versions stay in the blob
    /// store (they are content-addressed and may be shared).
    pub async fn remove_plugin(&self, plugin_id: &str) -> Result<Details, CommandError> {
        self.execute(plugin_id, &RemovePlugin {}).await
    }
}
