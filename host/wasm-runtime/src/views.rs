//! The rows a projection plugin writes, and the store the host keeps them in.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// A future returned by a [`ViewStore`].
pub type ViewFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ViewStoreError>> + Send + 'a>>;

/// Why the host's view store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ViewStoreError(pub String);

/// Where a projection plugin's rows live: implemented by the host (the spooler, over its transaction).
///
/// Tables are namespaced by the host per plugin; `table` here is the plugin's own name for it. Values
/// are JSON documents. The runtime reads through the store while a handler runs and writes to it only
/// after the handler succeeded, so a failed call leaves the store as it was.
pub trait ViewStore: Send + Sync {
    /// The row `key` of `table`.
    fn get<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, Option<String>>;
    /// Insert or replace the row `key` of `table`.
    fn upsert<'a>(&'a self, table: &'a str, key: &'a str, value: &'a str) -> ViewFuture<'a, ()>;
    /// Delete the row `key` of `table`; a missing row is not an error.
    fn delete<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, ()>;
}

/// A [`ViewStore`] in memory: for tests and `warden plugin test`.
#[derive(Debug, Default)]
pub struct MemoryViewStore {
    rows: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

impl MemoryViewStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// All rows: table → key → value.
    pub fn rows(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.lock().clone()
    }

    /// One row.
    pub fn row(&self, table: &str, key: &str) -> Option<String> {
        self.lock().get(table).and_then(|t| t.get(key)).cloned()
    }

    /// Sets a row directly, as a starting point.
    pub fn insert(&self, table: &str, key: &str, value: &str) {
        self.lock()
            .entry(table.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<String, String>>> {
        // A panic while holding the lock cannot leave the map half-updated: every change is one call.
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ViewStore for MemoryViewStore {
    fn get<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, Option<String>> {
        Box::pin(async move { Ok(self.row(table, key)) })
    }

    fn upsert<'a>(&'a self, table: &'a str, key: &'a str, value: &'a str) -> ViewFuture<'a, ()> {
        Box::pin(async move {
            self.insert(table, key, value);
            Ok(())
        })
    }

    fn delete<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, ()> {
        Box::pin(async move {
            let mut rows = self.lock();
            if let Some(t) = rows.get_mut(table) {
                t.remove(key);
                if t.is_empty() {
                    rows.remove(table);
                }
            }
            Ok(())
        })
    }
}

/// Longest table name.
pub const MAX_TABLE_NAME: usize = 63;
/// Longest row key, in bytes.
pub const MAX_KEY: usize = 512;
/// Largest row value, in bytes.
pub const MAX_VALUE: usize = 1 << 20;

/// Checks a table name: 1–63 characters of `a-z`, `0-9`, `_`, starting with a letter.
pub fn check_table(table: &str) -> Result<(), String> {
    let mut chars = table.chars();
    let valid = table.len() <= MAX_TABLE_NAME
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "table name `{}` must be 1-{MAX_TABLE_NAME} characters of a-z, 0-9 and _, starting with a letter",
            table.escape_debug()
        ))
    }
}

/// Checks a row key: 1–512 bytes.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY {
        Err(format!("a row key must be 1-{MAX_KEY} bytes"))
    } else {
        Ok(())
    }
}

/// Checks a row value: a JSON document of at most 1 MiB.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE {
        return Err(format!("a row value must be at most {MAX_VALUE} bytes"));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(value)
        .map(|_| ())
        .map_err(|e| format!("a row value must be a JSON document: {e}"))
}

/// The writes of one call, applied to the store only when the call succeeds.
///
/// Holds the final state of each touched row (`None`: deleted), so reads see the call's own writes.
#[derive(Debug, Default)]
pub(crate) struct PendingWrites {
    rows: BTreeMap<(String, String), Option<String>>,
}

impl PendingWrites {
    /// The pending state of a row: `None` if untouched, `Some(None)` if deleted.
    pub(crate) fn get(&self, table: &str, key: &str) -> Option<Option<&str>> {
        self.rows
            .get(&(table.to_owned(), key.to_owned()))
            .map(Option::as_deref)
    }

    pub(crate) fn upsert(&mut self, table: String, key: String, value: String) {
        self.rows.insert((table, key), Some(value));
    }

    pub(crate) fn delete(&mut self, table: String, key: String) {
        self.rows.insert((table, key), None);
    }

    /// Applies the writes to `store`, in table and key order.
    pub(crate) async fn flush(self, store: &dyn ViewStore) -> Result<(), ViewStoreError> {
        for ((table, key), value) in self.rows {
            match value {
                Some(value) => store.upsert(&table, &key, &value).await?,
                None => store.delete(&table, &key).await?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(check_table("org_daily_stats").is_ok());
        assert!(check_table("a1").is_ok());
        assert!(check_table("").is_err());
        assert!(check_table("1abc").is_err());
        assert!(check_table("Users").is_err());
        assert!(check_table("users; drop table x").is_err());
        assert!(check_table(&"a".repeat(64)).is_err());
    }

    #[test]
    fn values_must_be_json() {
        assert!(check_value(r#"{"a":1}"#).is_ok());
        assert!(check_value("3").is_ok());
        assert!(check_value("{").is_err());
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(513)).is_err());
    }
}
