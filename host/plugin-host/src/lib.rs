//! Plugins as resources of an instance: uploaded components stored content-addressed, versions and bindings
//! recorded as events, loaded and unloaded on every node from those events, and run where they are bound —
//! validators in the command pipeline, projections under their own spooler, actions in the login flow.
//!
//! # Wiring
//!
//! ```no_run
//! # async fn example(
//! #     store: warden_eventstore::Store,
//! #     read_side: warden_query::ReadSide,
//! #     instance_id: String,
//! # ) -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use warden_command::{Commands, CommandsConfig};
//! use warden_wasm_runtime::{PluginRuntime, RuntimeConfig};
//! use warden_plugin_host::{PluginApiState, PluginRegistry, PluginService, PluginValidators};
//!
//! let runtime = PluginRuntime::new(RuntimeConfig::default())?;
//! let registry = PluginRegistry::new(store.clone(), runtime);
//! registry.sync().await?; // plugins in effect before the first request
//! let _follower = registry.spawn(); // hot reload: changes from any node within a second
//! let commands = Commands::new(store, CommandsConfig {
//!     validators: vec![Arc::new(PluginValidators::new(registry.clone()))],
//!     ..CommandsConfig::default()
//! });
//! let service = PluginService::new(commands.clone(), registry.clone());
//! // The plugin endpoints join the management API's table: one router, one `/openapi.json`.
//! let plugin_endpoints = PluginApiState::new(service, instance_id.clone()).into_endpoints();
//! let api = warden_api::router_with(
//!     warden_api::ApiState::new(commands, instance_id, &read_side),
//!     plugin_endpoints,
//! );
//! let metrics = registry.render_metrics(); // append to `/metrics`
//! # let _ = (api, metrics); Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod actions;
mod error;
mod http;
mod openapi;
pub mod projection;
pub mod registry;
mod service;
pub mod subscriptions;
mod validators;

pub use error::{RegistryError, ServiceError};
pub use http::{MAX_JSON_BODY, PluginApiState, endpoints};
pub use registry::{
    BoundPlugin, HookError, PluginEntry, PluginRegistry, ProjectionPluginSpec, SYNC_INTERVAL,
    ValidatorBinding,
};
pub use service::{
    BindingAdded, BindingInfo, LoadState, MAX_COMPONENT_BYTES, PluginInfo, PluginService,
};
pub use validators::{PLUGIN_FAILED, PluginValidators, is_plugin_management, validator_input};
