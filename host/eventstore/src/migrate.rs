//! Schema migrations, embedded from `migrations/<backend>/NNNN_name.sql` and applied at start.

use sha2::{Digest, Sha256};
use sqlx::{PgPool, SqlitePool};

use crate::{Error, Result, WriterSync};

/// One migration file.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

impl Migration {
    /// The SHA-256 of the file, lower-case hex: recorded when the migration is applied, and compared at
    /// every start after.
    pub(crate) fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }

    /// The file the migration was embedded from, relative to the repository.
    fn file(&self, backend: &str) -> String {
        format!("migrations/{backend}/{:04}_{}.sql", self.version, self.name)
    }
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS warden_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL, checksum TEXT)";

/// Advisory lock key that serialises migrations of several nodes starting at once.
const PG_LOCK_KEY: i64 = 0x5741_5244_454e_0001;

/// One row of `warden_migrations`: the version and its recorded checksum.
#[derive(Debug)]
struct Applied {
    version: i64,
    checksum: Option<String>,
}

impl From<(i64, Option<String>)> for Applied {
    fn from((version, checksum): (i64, Option<String>)) -> Self {
        Self { version, checksum }
    }
}

/// What to do about the migrations already applied: refuse to start if the database is newer than this
/// binary or an applied migration's file changed since it ran; otherwise the versions whose checksum is to be
/// recorded (applied before checksums were kept).
fn check_applied(applied: &[Applied], known: &[Migration], backend: &str) -> Result<Vec<i64>> {
    let mut backfill = Vec::new();
    for row in applied {
        let Some(migration) = known.iter().find(|m| m.version == row.version) else {
            return Err(Error::UnknownMigration(row.version));
        };
        let actual = migration.checksum();
        match &row.checksum {
            None => backfill.push(row.version),
            Some(recorded) if *recorded == actual => {}
            Some(recorded) => {
                return Err(Error::MigrationChanged {
                    version: row.version,
                    file: migration.file(backend),
                    recorded: recorded.clone(),
                    actual,
                });
            }
        }
    }
    Ok(backfill)
}

fn known(list: &[Migration], version: i64) -> Option<&Migration> {
    list.iter().find(|m| m.version == version)
}

/// Applies pending SQLite migrations, each in its own transaction, after checking the applied ones against
/// their files. Returns how many ran.
///
/// The transactions commit without waiting for the disk (`sync`'s relaxed begin): SQLite's log keeps commits
/// in order, so a power loss can only lose the last migrations whole, and they run again at the next start;
/// the first durable write after them (or closing the database) puts them on disk.
pub(crate) async fn sqlite(pool: &SqlitePool, sync: &WriterSync) -> Result<usize> {
    let mut conn = pool.acquire().await?;
    // Every transaction here takes the write lock at once (`BEGIN IMMEDIATE`), so two processes never check
    // and apply together: one waits (busy timeout) for the other. A deferred transaction that read first would
    // instead fail with "database is locked" when it tried to write after the other committed.
    let begun = sqlx::Connection::begin_with(&mut *conn, sync.begin_relaxed()).await;
    sync.relaxed_begun();
    let mut tx = begun?;
    sqlx::query(CREATE_TABLE).execute(&mut *tx).await?;
    let has_checksum: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pragma_table_info('warden_migrations') WHERE name = 'checksum'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if has_checksum == 0 {
        sqlx::query("ALTER TABLE warden_migrations ADD COLUMN checksum TEXT")
            .execute(&mut *tx)
            .await?;
    }
    let applied: Vec<Applied> = sqlx::query_as::<_, (i64, Option<String>)>(
        "SELECT version, checksum FROM warden_migrations ORDER BY version",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(Applied::from)
    .collect();
    for version in check_applied(&applied, SQLITE, "sqlite")? {
        if let Some(migration) = known(SQLITE, version) {
            sqlx::query("UPDATE warden_migrations SET checksum = ? WHERE version = ?")
                .bind(migration.checksum())
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tracing::info!(
                version,
                name = migration.name,
                "recorded the checksum of an applied migration"
            );
        }
    }
    tx.commit().await?;
    let mut ran = 0;
    for migration in SQLITE
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
    {
        let begun = sqlx::Connection::begin_with(&mut *conn, sync.begin_relaxed()).await;
        sync.relaxed_begun();
        let mut tx = begun?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT version FROM warden_migrations WHERE version = ?")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
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
        sqlx::query(
            "INSERT INTO warden_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(crate::now_micros())
        .bind(migration.checksum())
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

/// Applies pending PostgreSQL migrations under an advisory lock, each in its own transaction, after
/// checking the applied ones against their files.
pub(crate) async fn postgres(pool: &PgPool) -> Result<usize> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PG_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let result: Result<usize> = async {
        sqlx::query(CREATE_TABLE).execute(&mut *conn).await?;
        sqlx::query("ALTER TABLE warden_migrations ADD COLUMN IF NOT EXISTS checksum TEXT")
            .execute(&mut *conn)
            .await?;
        let applied: Vec<Applied> = sqlx::query_as::<_, (i64, Option<String>)>(
            "SELECT version, checksum FROM warden_migrations ORDER BY version",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(Applied::from)
        .collect();
        for version in check_applied(&applied, POSTGRES, "postgres")? {
            if let Some(migration) = known(POSTGRES, version) {
                sqlx::query("UPDATE warden_migrations SET checksum = $1 WHERE version = $2")
                    .bind(migration.checksum())
                    .bind(version)
                    .execute(&mut *conn)
                    .await?;
                tracing::info!(
                    version,
                    name = migration.name,
                    "recorded the checksum of an applied migration"
                );
            }
        }
        let mut ran = 0;
        for migration in POSTGRES
            .iter()
            .filter(|m| !applied.iter().any(|a| a.version == m.version))
        {
            let failed = |source| Error::Migration {
                version: migration.version,
                name: migration.name.to_owned(),
                source,
            };
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            // Without waiting for the WAL flush: PostgreSQL's log keeps commits in order, so a crash can only
            // lose the last migrations whole (they run again at the next start), and the first durable commit
            // after them puts them on disk. A flush per migration was a large part of a first start.
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
            sqlx::raw_sql(migration.sql)
                .execute(&mut *tx)
                .await
                .map_err(failed)?;
            sqlx::query(
                "INSERT INTO warden_migrations (version, name, applied_at, checksum) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(crate::now_micros())
            .bind(migration.checksum())
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

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use crate::{ConnectOptions, Error, Store, testing, testing::TestStore};

    crate::both_backends!(
        applied_migrations_record_the_sha256_of_their_file,
        a_changed_applied_migration_stops_the_start_naming_its_file,
        checksums_are_backfilled_for_databases_migrated_without_them,
        nodes_migrating_one_database_at_once_apply_each_migration_once,
    );

    fn backend(store: &Store) -> &'static str {
        match store {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Runs `sql` against the store's database (its writer for SQLite).
    async fn execute(store: &Store, sql: &str) {
        match store {
            Store::Sqlite(s) => sqlx::raw_sql(sql).execute(s.writer()).await.map(drop),
            Store::Postgres(s) => sqlx::raw_sql(sql).execute(s.pool()).await.map(drop),
        }
        .expect("statement");
    }

    async fn checksums(store: &Store) -> Vec<(i64, Option<String>)> {
        let sql = "SELECT version, checksum FROM warden_migrations ORDER BY version";
        match store {
            Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.writer()).await,
            Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
        }
        .expect("read warden_migrations")
    }

    /// The SHA-256 of each migration file of `backend`, read from the repository.
    fn file_checksums(backend: &str) -> Vec<(i64, Option<String>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations")
            .join(backend);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("migrations directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
                let version = stem
                    .split('_')
                    .next()
                    .expect("number")
                    .parse()
                    .expect("number");
                let bytes = std::fs::read(path).expect("read migration");
                (version, Some(hex::encode(Sha256::digest(bytes))))
            })
            .collect()
    }

    async fn applied_migrations_record_the_sha256_of_their_file(t: TestStore) {
        let recorded = checksums(&t.store).await;
        assert!(!recorded.is_empty());
        assert_eq!(recorded, file_checksums(backend(&t.store)));
        // A second start applies nothing and accepts the recorded checksums.
        assert_eq!(t.store.migrate().await.expect("migrate again"), 0);
    }

    async fn a_changed_applied_migration_stops_the_start_naming_its_file(t: TestStore) {
        let (version, _) = checksums(&t.store).await[0].clone();
        let recorded = "0".repeat(64);
        execute(
            &t.store,
            &format!(
                "UPDATE warden_migrations SET checksum = '{recorded}' WHERE version = {version}"
            ),
        )
        .await;
        let error = t.store.migrate().await.expect_err("a changed migration");
        let Error::MigrationChanged {
            version: changed,
            file,
            recorded: seen,
            actual,
        } = &error
        else {
            panic!("unexpected error: {error}");
        };
        assert_eq!(*changed, version);
        assert_eq!(*seen, recorded);
        let backend = backend(&t.store);
        assert!(
            file.starts_with(&format!("migrations/{backend}/{version:04}_"))
                && file.ends_with(".sql"),
            "{file}"
        );
        let on_disk = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(file);
        assert!(on_disk.is_file(), "{} names no file", on_disk.display());
        assert_eq!(Some(actual.clone()), file_checksums(backend)[0].1);
        let message = error.to_string();
        assert!(message.contains(file.as_str()), "{message}");
        // Nothing was changed by the refused start: it refuses again.
        assert!(matches!(
            t.store.migrate().await,
            Err(Error::MigrationChanged { .. })
        ));
    }

    async fn checksums_are_backfilled_for_databases_migrated_without_them(t: TestStore) {
        // A database migrated before checksums were kept: the table has no checksum column.
        execute(
            &t.store,
            "ALTER TABLE warden_migrations DROP COLUMN checksum",
        )
        .await;
        assert_eq!(t.store.migrate().await.expect("migrate"), 0);
        assert_eq!(checksums(&t.store).await, file_checksums(backend(&t.store)));
        // And one whose column exists with some values missing.
        execute(&t.store, "UPDATE warden_migrations SET checksum = NULL").await;
        assert_eq!(t.store.migrate().await.expect("migrate"), 0);
        assert_eq!(checksums(&t.store).await, file_checksums(backend(&t.store)));
    }

    /// Nodes starting together on one new database: every node's start succeeds, and together they apply each
    /// migration exactly once (PostgreSQL serialises them with an advisory lock, SQLite with its write lock).
    async fn nodes_migrating_one_database_at_once_apply_each_migration_once(t: TestStore) {
        let fresh = match &t.store {
            Store::Sqlite(_) => testing::sqlite_unmigrated().await,
            Store::Postgres(_) => testing::postgres_unmigrated()
                .await
                .expect("PostgreSQL runs this variant"),
        };
        let options = ConnectOptions {
            max_connections: 2,
            ..Default::default()
        };
        let connect = || Store::connect(&fresh.url, &options);
        let nodes = [
            fresh.store.clone(),
            connect().await.expect("node b"),
            connect().await.expect("node c"),
            connect().await.expect("node d"),
        ];
        // All four start at once, on one task: their statements interleave at every await.
        let starts = tokio::join!(
            nodes[0].migrate(),
            nodes[1].migrate(),
            nodes[2].migrate(),
            nodes[3].migrate(),
        );
        let mut ran = 0;
        for start in [starts.0, starts.1, starts.2, starts.3] {
            ran += start.expect("every node starts");
        }
        let recorded = checksums(&fresh.store).await;
        let backend = backend(&fresh.store);
        assert_eq!(recorded, file_checksums(backend));
        assert_eq!(ran, recorded.len(), "each migration ran exactly once");
        for node in &nodes {
            assert!(
                node.ready().await.expect("ready"),
                "a node sees its schema incomplete"
            );
        }
    }
}
