//! [`Store`]: the backend chosen by the database URL.

use tokio::sync::watch;

use crate::{
    AggregateKey, Cursor, Error, Event, Eventstore, PgStore, Push, Result, SqliteStore,
    StreamQuery, StreamScan, Synchronous, UniqueValue,
};

/// Pool sizes and similar knobs of a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections to PostgreSQL (SQLite: most reader connections; there is always one writer).
    pub max_connections: u32,
    /// SQLite: how far a commit is durable (PostgreSQL's own setting applies there).
    pub sqlite_synchronous: Synchronous,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 20,
            sqlite_synchronous: Synchronous::default(),
        }
    }
}

/// The eventstore of a running Warden: SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

impl Store {
    /// Connects to `url`: `sqlite://path` (created if missing) or `postgres://…`/`postgresql://…`.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(
                SqliteStore::connect_with(
                    url,
                    options.max_connections.min(8),
                    options.sqlite_synchronous,
                )
                .await?,
            ))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(
                PgStore::connect(url, options.max_connections).await?,
            ))
        } else {
            Err(Error::Config(format!(
                "unsupported database URL `{}`: use sqlite://PATH or postgres://USER@HOST:PORT/DB",
                redact(url)
            )))
        }
    }

    /// Applies pending migrations; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        match self {
            Store::Sqlite(s) => s.migrate().await,
            Store::Postgres(s) => s.migrate().await,
        }
    }

    /// Whether the database answers and is fully migrated.
    pub async fn ready(&self) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.ready().await,
            Store::Postgres(s) => s.ready().await,
        }
    }

    /// A receiver that changes after every successful push in this process.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        match self {
            Store::Sqlite(s) => s.subscribe(),
            Store::Postgres(s) => s.subscribe(),
        }
    }

    /// The backend's name, for logs and metrics.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the connections.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

impl Eventstore for Store {
    async fn push(&self, push: Push) -> Result<Vec<Event>> {
        match self {
            Store::Sqlite(s) => s.push(push).await,
            Store::Postgres(s) => s.push(push).await,
        }
    }

    async fn read_aggregate(
        &self,
        aggregate: &AggregateKey,
        after_sequence: i64,
    ) -> Result<Vec<Event>> {
        match self {
            Store::Sqlite(s) => s.read_aggregate(aggregate, after_sequence).await,
            Store::Postgres(s) => s.read_aggregate(aggregate, after_sequence).await,
        }
    }

    async fn read_stream(&self, query: &StreamQuery) -> Result<Vec<Event>> {
        match self {
            Store::Sqlite(s) => s.read_stream(query).await,
            Store::Postgres(s) => s.read_stream(query).await,
        }
    }

    async fn scan_stream(&self, after: Cursor, limit: u32) -> Result<StreamScan> {
        match self {
            Store::Sqlite(s) => s.scan_stream(after, limit).await,
            Store::Postgres(s) => s.scan_stream(after, limit).await,
        }
    }

    async fn head(&self) -> Result<Cursor> {
        match self {
            Store::Sqlite(s) => s.head().await,
            Store::Postgres(s) => s.head().await,
        }
    }

    async fn is_taken(&self, value: &UniqueValue) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.is_taken(value).await,
            Store::Postgres(s) => s.is_taken(value).await,
        }
    }
}

/// The URL without its password, safe to print.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
