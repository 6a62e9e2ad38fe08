//! Schema migrations, embedded from `migrations/<backend>/NNNN_name.sql` and applied at start.

use sqlx::{PgPool, SqlitePool};

use crate::{Error, Result};

/// One migration file.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS warden_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Advisory lock key that serialises migrations of several nodes starting at once.
const PG_LOCK_KEY: i64 = 0x5741_5244_454e_0001;

fn check_known(applied: &[i64], known: &[Migration]) -> Result<()> {
    match applied
        .iter()
        .find(|v| !known.iter().any(|m| m.version == **v))
    {
        Some(v) => Err(Error::UnknownMigration(*v)),
        None => Ok(()),
    }
}

/// Applies pending SQLite migrations, each in its own transaction. Returns how many ran.
pub(crate) async fn sqlite(pool: &SqlitePool) -> Result<usize> {
    sqlx::query(CREATE_TABLE).execute(pool).await?;
    let mut ran = 0;
    for migration in SQLITE {
        let mut tx = pool.begin().await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM warden_migrations")
            .fetch_all(&mut *tx)
            .await?;
        check_known(&applied, SQLITE)?;
        if applied.contains(&migration.version) {
            continue;
        }
        let failed = |source| Error::Migration {
            version: migration.version,
            name: migration.name.to_owned(),
            source,
        };
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO warden_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(crate::now_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        ran += 1;
    }
    Ok(ran)
}

/// Applies pending PostgreSQL migrations under an advisory lock, each in its own transaction.
pub(crate) async fn postgres(pool: &PgPool) -> Result<usize> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let result: Result<usize> = async {
        sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM warden_migrations")
            .fetch_all(&mut *conn)
            .await?;
        check_known(&applied, POSTGRES)?;
        let mut ran = 0;
        for migration in POSTGRES.iter().filter(|m| !applied.contains(&m.version)) {
            let failed = |source| Error::Migration {
                version: migration.version,
                name: migration.name.to_owned(),
                source,
            };
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            sqlx::query(
                "INSERT INTO warden_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(crate::now_micros())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
            ran += 1;
        }
        Ok(ran)
    }
    .await;
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await;
    let ran = result?;
    unlock?;
    Ok(ran)
}

/// The newest migration version this binary knows, per backend.
pub(crate) fn latest(postgres: bool) -> i64 {
    let list = if postgres { POSTGRES } else { SQLITE };
    list.iter().map(|m| m.version).max().unwrap_or(0)
}
