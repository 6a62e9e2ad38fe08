//! The rows of a projection's own views (only in the projection world).
//!
//! Tables are created by Warden on first write and belong to the plugin; they are readable through the
//! query API. Table names are 1–63 characters of `a-z`, `0-9` and `_`, starting with a letter; keys are
//! 1–512 bytes; values are JSON documents of at most 1 MiB. Writes are visible to [`get`] at once and are
//! stored only if the handler returns `Ok`. One call may write a bounded number of rows and bytes (by
//! default 100 rows and 4 MiB, set by the binding); a write past it returns `ViewError::Invalid` and the
//! call fails whatever it returns, as does an event after which the views would hold more than the
//! binding's totals.

use crate::wit::projection::warden::plugin::views as host;

pub use host::ViewError;

/// Insert or replace the row `key` of `table` with the JSON document `value`.
pub fn upsert(table: &str, key: &str, value: &str) -> Result<(), ViewError> {
    host::upsert(table, key, value)
}

/// Delete the row `key` of `table`; deleting a missing row is not an error.
pub fn delete(table: &str, key: &str) -> Result<(), ViewError> {
    host::delete(table, key)
}

/// Read the row `key` of `table` as a JSON document.
pub fn get(table: &str, key: &str) -> Result<Option<String>, ViewError> {
    host::get(table, key)
}

impl From<ViewError> for String {
    fn from(err: ViewError) -> Self {
        match err {
            ViewError::Invalid(why) => format!("invalid view operation: {why}"),
            ViewError::Unavailable(why) => format!("views unavailable: {why}"),
        }
    }
}
