//! The Warden server: configuration, start-up and the HTTP surface.

pub mod config;
pub mod data_dir;
pub mod http;
pub mod metrics;
pub mod server;

pub use config::Config;
