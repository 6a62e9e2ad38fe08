//! Fresh stores for tests: SQLite in a temporary directory, PostgreSQL in a fresh schema.
//!
//! PostgreSQL variants run when `WARDEN_TEST_POSTGRES_URL` is set. When `CI` is set they are required:
//! a missing URL or an unreachable server fails the test instead of skipping it.

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

/// A fresh SQLite store in a temporary directory.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    let store = SqliteStore::connect(&url, 4).await.expect("open SQLite");
    store.migrate().await.expect("migrate SQLite");
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
    store.migrate().await.expect("migrate PostgreSQL");
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
