//! Fresh stores for tests: SQLite in a temporary directory, PostgreSQL in a fresh schema.
//!
//! PostgreSQL variants run when `WARDEN_TEST_POSTGRES_URL` is set. When `CI` is set they are required:
//! a missing URL or an unreachable server fails the test instead of skipping it. Elsewhere they are skipped
//! without it, and the sentinel test [`postgres_is_set_up_or_skipped_on_purpose`] fails unless
//! `WARDEN_TEST_SKIP_POSTGRES=1` says the skipping is wanted.
//!
//! [`both_backends!`](crate::both_backends) declares a test once for both backends.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

use crate::{PgStore, SqliteStore, Store};

/// A fresh, migrated store and whatever keeps it alive (the temporary directory for SQLite).
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// A URL that reaches the same database (and, for PostgreSQL, the same schema).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// Another store on the same database (and schema), with pools of its own: what a second node has.
    pub async fn connect_again(&self) -> Store {
        Store::connect(
            &self.url,
            &crate::ConnectOptions {
                max_connections: 8,
                ..Default::default()
            },
        )
        .await
        .expect("second connection")
    }
}

/// A fresh SQLite store in a temporary directory.
pub async fn sqlite() -> TestStore {
    let t = sqlite_unmigrated().await;
    t.store.migrate().await.expect("migrate SQLite");
    t
}

/// A SQLite store on a new, empty database file in a temporary directory: nothing is migrated yet.
pub async fn sqlite_unmigrated() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    let store = SqliteStore::connect(&url, 4).await.expect("open SQLite");
    TestStore {
        store: Store::Sqlite(store),
        url,
        _dir: Some(dir),
    }
}

/// The PostgreSQL server tests use, or `None` when PostgreSQL tests are not enabled here.
///
/// # Panics
/// When `CI` is set and `WARDEN_TEST_POSTGRES_URL` is not: CI must never skip the PostgreSQL variants.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WARDEN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but WARDEN_TEST_POSTGRES_URL is not: PostgreSQL tests must run in CI")
        }
        _ => None,
    }
}

/// A fresh, migrated PostgreSQL store in a new schema, or `None` when PostgreSQL tests are disabled.
pub async fn postgres() -> Option<TestStore> {
    let t = postgres_unmigrated().await?;
    t.store.migrate().await.expect("migrate PostgreSQL");
    Some(t)
}

/// A PostgreSQL store in a new, empty schema (nothing is migrated yet), or `None` when PostgreSQL tests are
/// disabled.
pub async fn postgres_unmigrated() -> Option<TestStore> {
    let base = postgres_url()?;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgStore::connect(&base, 2)
        .await
        .expect("connect to WARDEN_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .expect("create test schema");
    admin.close().await;
    let url = with_search_path(&base, &schema);
    let options = PgConnectOptions::from_str(&url).expect("valid PostgreSQL URL");
    let store = PgStore::connect_with(options, 24)
        .await
        .expect("connect to test schema");
    Some(TestStore {
        store: Store::Postgres(store),
        url,
        _dir: None,
    })
}

/// `url` with `options=-c search_path=SCHEMA` added, so every connection works in that schema.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Whether PostgreSQL tests were asked to be skipped (`WARDEN_TEST_SKIP_POSTGRES=1`).
pub fn postgres_skip_requested() -> bool {
    std::env::var("WARDEN_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// Fails unless PostgreSQL tests run here (`WARDEN_TEST_POSTGRES_URL` set) or skipping them was asked for
/// (`WARDEN_TEST_SKIP_POSTGRES=1`): without it, a missing database would only show as skipped tests that count
/// as passed.
///
/// # Panics
/// When neither variable is set.
pub fn postgres_is_set_up_or_skipped_on_purpose() {
    let url = std::env::var("WARDEN_TEST_POSTGRES_URL").unwrap_or_default();
    assert!(
        !url.is_empty() || postgres_skip_requested(),
        "WARDEN_TEST_POSTGRES_URL is not set, so every PostgreSQL variant of the tests is skipped. Point it \
         at a database (e.g. postgres://postgres@127.0.0.1:5432/warden_test), or set \
         WARDEN_TEST_SKIP_POSTGRES=1 to skip them on purpose"
    );
}

/// Declares async tests that run once on SQLite and once on PostgreSQL, in modules `sqlite` and `postgres`.
///
/// Each named function is called with a fresh [`TestStore`]: by value (`both_backends!(a, b)`), by reference
/// (`both_backends!(ref: a, b)`), or as a clone of its [`Store`] (`both_backends!(store: a, b)`). The
/// PostgreSQL variants are skipped (and say so) when `WARDEN_TEST_POSTGRES_URL` is not set, outside CI.
///
/// Scenarios that only PostgreSQL can run (several nodes, i.e. several processes, sharing one database) are
/// declared with `postgres_only` before the mode, in a module `multi_node`:
/// `both_backends!(postgres_only ref: a, b)`.
///
/// The PostgreSQL variants of one test binary hold one of [`POSTGRES_SLOTS`] while they run, so a binary whose
/// tests run as threads of one process does not open more connections than the shared server accepts.
#[macro_export]
macro_rules! both_backends {
    (@pass owned $t:ident) => { $t };
    (@pass ref $t:ident) => { &$t };
    (@pass store $t:ident) => { $t.store.clone() };
    (@postgres $module:ident $mode:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let _slot = $crate::testing::postgres_slot().await;
                    let Some(t) = $crate::testing::postgres().await else {
                        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
                        return;
                    };
                    super::$name($crate::both_backends!(@pass $mode t)).await;
                }
            )*
        }
    };
    (@tests $mode:ident; $($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let t = $crate::testing::sqlite().await;
                    super::$name($crate::both_backends!(@pass $mode t)).await;
                }
            )*
        }
        $crate::both_backends!(@postgres postgres $mode; $($name),*);
    };
    (postgres_only ref: $($name:ident),* $(,)?) => { $crate::both_backends!(@postgres multi_node ref; $($name),*); };
    (postgres_only store: $($name:ident),* $(,)?) => { $crate::both_backends!(@postgres multi_node store; $($name),*); };
    (postgres_only $($name:ident),* $(,)?) => { $crate::both_backends!(@postgres multi_node owned; $($name),*); };
    (ref: $($name:ident),* $(,)?) => { $crate::both_backends!(@tests ref; $($name),*); };
    (store: $($name:ident),* $(,)?) => { $crate::both_backends!(@tests store; $($name),*); };
    ($($name:ident),* $(,)?) => { $crate::both_backends!(@tests owned; $($name),*); };
}

/// How many PostgreSQL scenarios of one process run at once (see [`both_backends!`](crate::both_backends)).
/// Each opens pools of its own; beyond the server's connection limit, connections fail with "too many
/// clients", and everything retrying them slows down.
pub static POSTGRES_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Waits for one of [`POSTGRES_SLOTS`], held until the returned permit is dropped.
///
/// # Panics
/// Never: the semaphore is never closed.
pub async fn postgres_slot() -> tokio::sync::SemaphorePermit<'static> {
    POSTGRES_SLOTS
        .acquire()
        .await
        .expect("the PostgreSQL slots are never closed")
}

#[cfg(test)]
mod tests {
    /// Outside CI, a missing PostgreSQL would otherwise pass unseen as skipped tests.
    #[test]
    fn postgres_tests_run_or_are_skipped_on_purpose() {
        super::postgres_is_set_up_or_skipped_on_purpose();
    }
}
