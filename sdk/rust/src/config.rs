//! The configuration values of the binding a call runs under.
//!
//! An operator sets them when binding the plugin (for instance `allowed_domains = "example.com"`),
//! so one plugin serves many organizations with different settings.

use crate::wit::validator::warden::plugin::config as host;

/// The value for `key`, if the binding sets one.
pub fn get(key: &str) -> Option<String> {
    host::get(key)
}

/// The value for `key`, or an error naming the missing key.
pub fn require(key: &str) -> Result<String, crate::Error> {
    get(key).ok_or_else(|| format!("the binding sets no value for `{key}`"))
}

/// The value for `key` split at commas, with blanks trimmed and empty items dropped.
pub fn list(key: &str) -> Vec<String> {
    get(key)
        .map(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// All key/value pairs of the binding, sorted by key.
pub fn entries() -> Vec<(String, String)> {
    host::entries()
}
