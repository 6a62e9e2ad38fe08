//! Structured logging to the server's log; each record carries the plugin's name.
//!
//! ```no_run
//! warden_plugin_sdk::log::info("domain refused", &[("domain", "example.org")]);
//! ```
//!
//! The host keeps a bounded amount of log output per call and drops the rest.

use crate::wit::validator::warden::plugin::log as host;

pub use host::Level;

/// Write one record at `level` with key/value `fields`.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    host::log(level, message, &fields);
}

/// Write a trace record.
pub fn trace(message: &str, fields: &[(&str, &str)]) {
    log(Level::Trace, message, fields);
}

/// Write a debug record.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields);
}

/// Write an info record.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields);
}

/// Write a warning.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields);
}

/// Write an error record.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields);
}
