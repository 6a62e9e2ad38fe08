//! One SQL dialect for both backends: statements use `$1, $2, …` placeholders (which SQLite also understands),
//! values are [`SqlValue`]s, rows are [`DbRow`]s. Projections and query services write each statement once;
//! only the few places where the dialects really differ (column types in migrations, the clock) branch.

use std::sync::Arc;

use serde_json::Value;
use sqlx::{
    ColumnIndex, Decode, PgPool, Postgres, Row, Sqlite, SqlitePool, Transaction, Type,
    postgres::{PgArguments, PgRow},
    query::Query,
    sqlite::{SqliteArguments, SqliteRow},
    types::Json,
};
use warden_eventstore::{StatementPool, Store, WriterSync};

/// A statement connection idle for longer is tested before it is used again: the server or the network may
/// have closed it meanwhile.
const CHECK_IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value bound to a `$n` placeholder. Nulls are typed, so PostgreSQL knows the parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// A boolean.
    Bool(Option<bool>),
    /// A 64-bit integer.
    Int(Option<i64>),
    /// Text.
    Text(Option<String>),
    /// A JSON document (`JSONB` on PostgreSQL, `TEXT` on SQLite).
    Json(Option<Value>),
    /// An array of booleans (`BOOLEAN[]`; PostgreSQL only, see [`Rows`]).
    Bools(Vec<Option<bool>>),
    /// An array of 64-bit integers (`BIGINT[]`; PostgreSQL only, see [`Rows`]).
    Ints(Vec<Option<i64>>),
    /// An array of texts (`TEXT[]`; PostgreSQL only, see [`Rows`]).
    Texts(Vec<Option<String>>),
}

impl SqlValue {
    /// A JSON value from anything serializable (`null` if it cannot be serialized).
    pub fn json<T: serde::Serialize>(value: &T) -> Self {
        Self::Json(Some(serde_json::to_value(value).unwrap_or(Value::Null)))
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        Self::Bool(Some(v))
    }
}
impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<i32> for SqlValue {
    fn from(v: i32) -> Self {
        Self::Int(Some(i64::from(v)))
    }
}
impl From<u32> for SqlValue {
    fn from(v: u32) -> Self {
        Self::Int(Some(i64::from(v)))
    }
}
impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}
impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<Option<&str>> for SqlValue {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}
impl From<&Option<String>> for SqlValue {
    fn from(v: &Option<String>) -> Self {
        Self::Text(v.clone())
    }
}
impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<Value> for SqlValue {
    fn from(v: Value) -> Self {
        Self::Json(Some(v))
    }
}

/// Builds an array of [`SqlValue`]s from expressions that convert into one; pass it as `&params![…]`.
#[macro_export]
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        [$($crate::SqlValue::from($value)),*]
    };
}

fn bind_sqlite<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    params: &'q [SqlValue],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for value in params {
        query = match value {
            SqlValue::Bool(v) => query.bind(*v),
            SqlValue::Int(v) => query.bind(*v),
            SqlValue::Text(v) => query.bind(v.as_deref()),
            SqlValue::Json(v) => query.bind(v.as_ref().map(Json)),
            // SQLite has no arrays: a JSON array, for `json_each`.
            SqlValue::Bools(v) => query.bind(Json(v)),
            SqlValue::Ints(v) => query.bind(Json(v)),
            SqlValue::Texts(v) => query.bind(Json(v)),
        };
    }
    query
}

fn bind_pg<'q>(
    mut query: Query<'q, Postgres, PgArguments>,
    params: &'q [SqlValue],
) -> Query<'q, Postgres, PgArguments> {
    for value in params {
        query = match value {
            SqlValue::Bool(v) => query.bind(*v),
            SqlValue::Int(v) => query.bind(*v),
            SqlValue::Text(v) => query.bind(v.as_deref()),
            SqlValue::Json(v) => query.bind(v.as_ref().map(Json)),
            SqlValue::Bools(v) => query.bind(v),
            SqlValue::Ints(v) => query.bind(v),
            SqlValue::Texts(v) => query.bind(v),
        };
    }
    query
}

/// Rows of named values, written by one statement that reads them as the table `v`: a batch of view changes
/// in one round trip instead of one statement per row.
///
/// Every row names its columns next to their values; the first row sets the columns and their types (a typed
/// null included), and every other row must name the same columns in the same order. The statement's text
/// does not depend on the number of rows, so it is prepared once per connection:
///
/// - PostgreSQL: `UNNEST($1::TEXT[], $2::BIGINT[], …) AS v(col, …)`, one array parameter per column;
/// - SQLite: `(SELECT j.value ->> 0 AS col, … FROM json_each($1) AS j) AS v`, the rows as one JSON array.
///
/// ```
/// use warden_spooler::{Backend, Rows, SqlValue};
///
/// let mut rows = Rows::default();
/// rows.push([("id", SqlValue::from("u1")), ("events", SqlValue::from(3_i64))]);
/// rows.push([("id", SqlValue::from("u2")), ("events", SqlValue::from(1_i64))]);
/// let (table, params) = rows.table(Backend::Postgres).unwrap();
/// assert_eq!(table, "UNNEST($1::TEXT[], $2::BIGINT[]) AS v(id, events)");
/// assert_eq!(params.len(), 2);
/// ```
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rows {
    columns: Vec<&'static str>,
    /// Row after row.
    values: Vec<SqlValue>,
    /// The first row that did not name the table's columns, if any.
    mismatch: Option<String>,
}

impl Rows {
    /// Adds a row: `(column, value)` pairs.
    pub fn push(&mut self, row: impl IntoIterator<Item = (&'static str, SqlValue)>) {
        let first = self.columns.is_empty() && self.values.is_empty();
        let mut width = 0;
        for (column, value) in row {
            if first {
                self.columns.push(column);
            } else if self.columns.get(width) != Some(&column) && self.mismatch.is_none() {
                self.mismatch = Some(format!(
                    "row {} names column `{column}` where `{}` is expected",
                    self.len(),
                    self.columns.get(width).copied().unwrap_or("nothing")
                ));
            }
            width += 1;
            self.values.push(value);
        }
        if width != self.columns.len() && self.mismatch.is_none() {
            self.mismatch = Some(format!(
                "row {} has {width} columns, the first has {}",
                self.len(),
                self.columns.len()
            ));
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        match self.columns.len() {
            0 => 0,
            width => self.values.len() / width,
        }
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The column names, separated by commas.
    pub fn columns(&self) -> String {
        self.columns.join(", ")
    }

    /// The rows as a table expression named `v`, with its parameters (`$1` on). Fails when a row did not name
    /// the first row's columns.
    pub fn table(&self, backend: Backend) -> Result<(String, Vec<SqlValue>), sqlx::Error> {
        if let Some(mismatch) = &self.mismatch {
            return Err(sqlx::Error::Encode(mismatch.clone().into()));
        }
        let width = self.columns.len();
        match backend {
            Backend::Postgres => {
                let mut arrays = Vec::with_capacity(width);
                let mut casts = Vec::with_capacity(width);
                for (column, first) in self.values.iter().take(width).enumerate() {
                    let cells = self.values.iter().skip(column).step_by(width.max(1));
                    let (array, cast) = match first {
                        SqlValue::Bool(_) => (
                            SqlValue::Bools(
                                cells
                                    .map(|v| match v {
                                        SqlValue::Bool(b) => *b,
                                        _ => None,
                                    })
                                    .collect(),
                            ),
                            "BOOLEAN[]",
                        ),
                        SqlValue::Int(_) => (
                            SqlValue::Ints(
                                cells
                                    .map(|v| match v {
                                        SqlValue::Int(i) => *i,
                                        _ => None,
                                    })
                                    .collect(),
                            ),
                            "BIGINT[]",
                        ),
                        SqlValue::Text(_) => (
                            SqlValue::Texts(
                                cells
                                    .map(|v| match v {
                                        SqlValue::Text(t) => t.clone(),
                                        _ => None,
                                    })
                                    .collect(),
                            ),
                            "TEXT[]",
                        ),
                        SqlValue::Json(_) => (
                            SqlValue::Texts(
                                cells
                                    .map(|v| match v {
                                        SqlValue::Json(j) => j.as_ref().map(Value::to_string),
                                        _ => None,
                                    })
                                    .collect(),
                            ),
                            "TEXT[]::JSONB[]",
                        ),
                        SqlValue::Bools(_) | SqlValue::Ints(_) | SqlValue::Texts(_) => {
                            return Err(sqlx::Error::Encode(
                                format!("column `{}` holds an array", self.columns[column]).into(),
                            ));
                        }
                    };
                    casts.push(format!("${}::{cast}", column + 1));
                    arrays.push(array);
                }
                Ok((
                    format!("UNNEST({}) AS v({})", casts.join(", "), self.columns()),
                    arrays,
                ))
            }
            Backend::Sqlite => {
                let mut json = String::with_capacity(self.values.len() * 16 + 2);
                json.push('[');
                for (index, value) in self.values.iter().enumerate() {
                    let column = index % width.max(1);
                    if index > 0 {
                        json.push_str(if column == 0 { "],[" } else { "," });
                    } else {
                        json.push('[');
                    }
                    let cell = match value {
                        SqlValue::Bool(v) => v.map_or(Value::Null, Value::from),
                        SqlValue::Int(v) => v.map_or(Value::Null, Value::from),
                        SqlValue::Text(v) => v.clone().map_or(Value::Null, Value::from),
                        // Stored as its text, as SQLite keeps JSON.
                        SqlValue::Json(v) => v
                            .as_ref()
                            .map_or(Value::Null, |v| Value::from(v.to_string())),
                        SqlValue::Bools(_) | SqlValue::Ints(_) | SqlValue::Texts(_) => {
                            return Err(sqlx::Error::Encode(
                                format!("column `{}` holds an array", self.columns[column]).into(),
                            ));
                        }
                    };
                    json.push_str(&cell.to_string());
                }
                if !self.values.is_empty() {
                    json.push(']');
                }
                json.push(']');
                let select: Vec<String> = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, column)| format!("j.value ->> {i} AS {column}"))
                    .collect();
                Ok((
                    format!(
                        "(SELECT {} FROM json_each($1) AS j) AS v",
                        select.join(", ")
                    ),
                    vec![SqlValue::Text(Some(json))],
                ))
            }
        }
    }
}

/// A result row of either backend.
pub enum DbRow {
    /// A SQLite row.
    Sqlite(SqliteRow),
    /// A PostgreSQL row.
    Postgres(PgRow),
}

impl std::fmt::Debug for DbRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbRow::Sqlite(_) => f.write_str("DbRow::Sqlite(..)"),
            DbRow::Postgres(row) => f.debug_tuple("DbRow::Postgres").field(row).finish(),
        }
    }
}

impl DbRow {
    /// The value of column `column`, decoded as `T`.
    pub fn get<T>(&self, column: &str) -> Result<T, sqlx::Error>
    where
        T: for<'r> Decode<'r, Sqlite>
            + Type<Sqlite>
            + for<'r> Decode<'r, Postgres>
            + Type<Postgres>,
    {
        match self {
            DbRow::Sqlite(row) => row.try_get(column),
            DbRow::Postgres(row) => row.try_get(column),
        }
    }

    /// The value of the column at `index`, decoded as `T`.
    pub fn get_at<T>(&self, index: usize) -> Result<T, sqlx::Error>
    where
        T: for<'r> Decode<'r, Sqlite>
            + Type<Sqlite>
            + for<'r> Decode<'r, Postgres>
            + Type<Postgres>,
        usize: ColumnIndex<SqliteRow> + ColumnIndex<PgRow>,
    {
        match self {
            DbRow::Sqlite(row) => row.try_get(index),
            DbRow::Postgres(row) => row.try_get(index),
        }
    }

    /// A JSON column decoded into `T`.
    pub fn json<T>(&self, column: &str) -> Result<T, sqlx::Error>
    where
        T: serde::de::DeserializeOwned,
    {
        let value: Json<Value> = self.get(column)?;
        serde_json::from_value(value.0).map_err(|e| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(e),
        })
    }
}

/// An open transaction on either backend, in which a projection changes its view.
///
/// The spooler begins it, checks its lease and moves the checkpoint in it, hands it to the projection for
/// each event of the batch, and commits it; a projection never commits or rolls back itself.
#[derive(Debug)]
pub enum ViewTx {
    /// A transaction on SQLite's single writer connection.
    Sqlite(Transaction<'static, Sqlite>),
    /// A PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

impl ViewTx {
    /// The backend the transaction runs on.
    pub fn backend(&self) -> Backend {
        match self {
            ViewTx::Sqlite(_) => Backend::Sqlite,
            ViewTx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<u64, sqlx::Error> {
        match self {
            ViewTx::Sqlite(tx) => Ok(bind_sqlite(sqlx::query(sql), params)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
            ViewTx::Postgres(tx) => Ok(bind_pg(sqlx::query(sql), params)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
        }
    }

    /// Runs a query returning at most one row.
    pub async fn fetch_optional(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<DbRow>, sqlx::Error> {
        match self {
            ViewTx::Sqlite(tx) => Ok(bind_sqlite(sqlx::query(sql), params)
                .fetch_optional(&mut **tx)
                .await?
                .map(DbRow::Sqlite)),
            ViewTx::Postgres(tx) => Ok(bind_pg(sqlx::query(sql), params)
                .fetch_optional(&mut **tx)
                .await?
                .map(DbRow::Postgres)),
        }
    }

    /// Runs a query returning rows.
    pub async fn fetch_all(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<DbRow>, sqlx::Error> {
        match self {
            ViewTx::Sqlite(tx) => Ok(bind_sqlite(sqlx::query(sql), params)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect()),
            ViewTx::Postgres(tx) => Ok(bind_pg(sqlx::query(sql), params)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect()),
        }
    }

    /// Inserts `rows` into `table` with one statement; `conflict` is its `ON CONFLICT …` clause (or empty).
    pub async fn insert_rows(
        &mut self,
        table: &str,
        rows: &Rows,
        conflict: &str,
    ) -> Result<u64, sqlx::Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (source, params) = rows.table(self.backend())?;
        let columns = rows.columns();
        // `WHERE TRUE`: SQLite would otherwise read the `ON` of `ON CONFLICT` as a join's.
        let sql = format!(
            "INSERT INTO {table} ({columns}) SELECT {columns} FROM {source} WHERE TRUE {conflict}"
        );
        self.execute(&sql, &params).await
    }

    /// Updates rows of `table` with one statement: each row of `rows` is matched on the `key` columns and
    /// sets its other columns, where `guard` (a condition on `table` and `v`; empty: always) holds.
    pub async fn update_rows(
        &mut self,
        table: &str,
        key: &[&str],
        rows: &Rows,
        guard: &str,
    ) -> Result<u64, sqlx::Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        let (source, params) = rows.table(self.backend())?;
        let set: Vec<String> = rows
            .columns
            .iter()
            .filter(|c| !key.contains(c))
            .map(|c| format!("{c} = v.{c}"))
            .collect();
        let mut matched: Vec<String> = key.iter().map(|k| format!("{table}.{k} = v.{k}")).collect();
        if !guard.is_empty() {
            matched.push(format!("({guard})"));
        }
        let sql = format!(
            "UPDATE {table} SET {} FROM {source} WHERE {}",
            set.join(", "),
            matched.join(" AND ")
        );
        self.execute(&sql, &params).await
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            ViewTx::Sqlite(tx) => tx.commit().await,
            ViewTx::Postgres(tx) => tx.commit().await,
        }
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            ViewTx::Sqlite(tx) => tx.rollback().await,
            ViewTx::Postgres(tx) => tx.rollback().await,
        }
    }
}

/// Runs `begin` (a pool's `begin`) on a task of its own and waits for it.
///
/// sqlx counts a transaction on a connection only once its `BEGIN` has been answered (on SQLite, once the
/// connection has also been checked to be in a transaction): a `begin` future dropped between the database
/// running `BEGIN` and that point returns the connection to the pool still inside a transaction that nothing
/// tracks, so it is never rolled back. The next user's statements then run inside it (holding their locks,
/// never committing), and after any error fail with "current transaction is aborted"; on SQLite the single
/// writer refuses every later `BEGIN`. On its own task the begin always completes, and when nobody waits for
/// it any more (the caller was aborted) the transaction is dropped there and rolls back as usual.
async fn begin_detached<T, F>(begin: F) -> Result<T, sqlx::Error>
where
    F: Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    T: Send + 'static,
{
    match tokio::spawn(begin).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        // The runtime is shutting down.
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

/// Whether a statement writes (SQLite's single writer) or only reads (its readers).
#[derive(Debug, Clone, Copy)]
enum Access {
    Read,
    Write,
}

/// The database behind a [`Store`], for tables beside the eventstore's: views and spooler bookkeeping.
///
/// On SQLite, writes go through the store's single writer connection (so they serialize with pushes) and
/// reads through its readers; on PostgreSQL transactions use the store's pool and single statements its
/// [`StatementPool`].
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite: the store's writer and reader pools.
    Sqlite {
        /// The single writer connection.
        writer: SqlitePool,
        /// The readers.
        reader: SqlitePool,
        /// Read-only connections for single statements.
        statements: StatementPool<Sqlite>,
        /// The writer's durability setting, switched for view batches.
        sync: Arc<WriterSync>,
    },
    /// PostgreSQL: the store's pools.
    Postgres {
        /// Connections for transactions (and anything else).
        pool: PgPool,
        /// Connections for single statements.
        statements: StatementPool<Postgres>,
    },
}

impl Db {
    /// The database of `store`.
    pub fn of(store: &Store) -> Self {
        match store {
            Store::Sqlite(s) => Db::Sqlite {
                writer: s.writer().clone(),
                reader: s.reader().clone(),
                statements: s.statements().clone(),
                sync: s.writer_sync().clone(),
            },
            Store::Postgres(s) => Db::Postgres {
                pool: s.pool().clone(),
                statements: s.statements().clone(),
            },
        }
    }

    /// A PostgreSQL database behind `pool`, with a statement pool of half its size to the same database.
    pub fn postgres(pool: PgPool) -> Self {
        let max = (pool.options().get_max_connections() / 2).max(1);
        let statements = StatementPool::new(
            pool.connect_options().as_ref().clone(),
            max,
            Some(CHECK_IDLE_AFTER),
        );
        Db::Postgres { pool, statements }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Begins a write transaction.
    ///
    /// Safe to drop half-way (an aborted task, a timeout): see [`begin_detached`].
    pub async fn begin(&self) -> Result<ViewTx, sqlx::Error> {
        match self {
            // IMMEDIATE: take the write lock before the first read, so another connection to the file makes
            // this wait (busy timeout) instead of failing the upgrade from reader to writer.
            Db::Sqlite { writer, sync, .. } => {
                let (writer, sync) = (writer.clone(), sync.clone());
                begin_detached(async move {
                    let tx = writer.begin_with(sync.begin_durable()).await?;
                    sync.durable_begun();
                    Ok(tx)
                })
                .await
                .map(ViewTx::Sqlite)
            }
            Db::Postgres { pool, .. } => {
                let pool = pool.clone();
                begin_detached(async move { pool.begin().await })
                    .await
                    .map(ViewTx::Postgres)
            }
        }
    }

    /// Begins a write transaction whose commit does not wait for the disk: on PostgreSQL
    /// `synchronous_commit = off`, on SQLite `synchronous = NORMAL` (each set in the same round trip as
    /// `BEGIN`). A later durable commit on the same database makes it durable too (both write one log in
    /// order); a power loss before that can lose it, never part of it.
    pub(crate) async fn begin_async_commit(&self) -> Result<ViewTx, sqlx::Error> {
        match self {
            Db::Sqlite { writer, sync, .. } => {
                let (writer, sync) = (writer.clone(), sync.clone());
                begin_detached(async move {
                    let tx = writer.begin_with(sync.begin_relaxed()).await;
                    sync.relaxed_begun();
                    tx
                })
                .await
                .map(ViewTx::Sqlite)
            }
            Db::Postgres { pool, .. } => {
                let pool = pool.clone();
                begin_detached(async move {
                    pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
                        .await
                })
                .await
                .map(ViewTx::Postgres)
            }
        }
    }

    /// Runs a single writing statement in its own transaction; returns the number of rows changed.
    pub async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, sqlx::Error> {
        match self {
            Db::Sqlite { writer, sync, .. } => {
                let mut conn = writer.acquire().await?;
                sync.make_durable(&mut conn).await?;
                Ok(bind_sqlite(sqlx::query(sql), params)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected())
            }
            Db::Postgres { statements, .. } => Ok(statements
                .execute(bind_pg(sqlx::query(sql), params))
                .await?
                .rows_affected()),
        }
    }

    /// Runs a writing statement that returns at most one row (`… RETURNING …`).
    pub async fn execute_returning(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<DbRow>, sqlx::Error> {
        self.optional_row(Access::Write, sql, params).await
    }

    /// Reads at most one row.
    pub async fn fetch_optional(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<DbRow>, sqlx::Error> {
        self.optional_row(Access::Read, sql, params).await
    }

    /// Runs a statement that returns at most one row, on SQLite's writer or a reader as `access` says.
    async fn optional_row(
        &self,
        access: Access,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<DbRow>, sqlx::Error> {
        match self {
            Db::Sqlite { writer, sync, .. } if matches!(access, Access::Write) => {
                let mut conn = writer.acquire().await?;
                sync.make_durable(&mut conn).await?;
                Ok(bind_sqlite(sqlx::query(sql), params)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(DbRow::Sqlite))
            }
            Db::Sqlite { statements, .. } => Ok(statements
                .fetch_optional(bind_sqlite(sqlx::query(sql), params))
                .await?
                .map(DbRow::Sqlite)),
            Db::Postgres { statements, .. } => Ok(statements
                .fetch_optional(bind_pg(sqlx::query(sql), params))
                .await?
                .map(DbRow::Postgres)),
        }
    }

    /// Reads rows.
    pub async fn fetch_all(
        &self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<DbRow>, sqlx::Error> {
        match self {
            Db::Sqlite { statements, .. } => Ok(statements
                .fetch_all(bind_sqlite(sqlx::query(sql), params))
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect()),
            Db::Postgres { statements, .. } => Ok(statements
                .fetch_all(bind_pg(sqlx::query(sql), params))
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect()),
        }
    }

    /// The database clock in microseconds since the Unix epoch, as an SQL expression.
    pub fn now_micros_sql(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
            Db::Postgres { .. } => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT",
        }
    }
}

/// Whether a database error is worth retrying as is (lost connection, busy or full database, deadlock,
/// statement timeout) rather than a problem with the event being applied: the eventstore's classification.
pub use warden_eventstore::is_transient;

#[cfg(test)]
mod tests {
    use warden_eventstore::{AggregateKey, Eventstore, Expected, NewEvent, Push, testing};

    use super::*;

    /// `PRAGMA synchronous` of SQLite's writer connection: 1 is NORMAL, 2 is FULL.
    async fn writer_synchronous(db: &Db) -> i64 {
        let Db::Sqlite { writer, .. } = db else {
            unreachable!("SQLite")
        };
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(writer)
            .await
            .expect("read the setting")
    }

    /// `PRAGMA synchronous` as a transaction on the writer sees it.
    async fn synchronous_inside(tx: &mut ViewTx) -> i64 {
        tx.fetch_optional("PRAGMA synchronous", &[])
            .await
            .expect("read inside")
            .expect("a row")
            .get_at(0)
            .expect("a number")
    }

    fn push(id: &str) -> Push {
        Push::new("test").append(
            AggregateKey::new("i1", "thing", id),
            Expected::Any,
            vec![NewEvent::new("thing.added", 1, serde_json::json!({}))],
        )
    }

    #[tokio::test]
    async fn view_batches_skip_the_fsync_and_every_other_write_waits_for_it() {
        let t = testing::sqlite().await;
        let db = Db::of(&t.store);
        // Migrations commit relaxed too; the first push after them is durable.
        t.store.push(push("first")).await.expect("push");
        assert_eq!(writer_synchronous(&db).await, 2, "durable by default");

        let mut batch = db.begin_async_commit().await.expect("begin a batch");
        assert_eq!(
            synchronous_inside(&mut batch).await,
            1,
            "a view batch commits without waiting for the disk"
        );
        batch.commit().await.expect("commit the batch");

        // A push after the batch: a single-event push is one statement outside a transaction.
        t.store.push(push("a")).await.expect("push");
        assert_eq!(writer_synchronous(&db).await, 2, "the push restored FULL");

        let batch = db.begin_async_commit().await.expect("begin a batch");
        batch.rollback().await.expect("roll back");
        db.execute(
            "CREATE TABLE IF NOT EXISTS durability_probe (n INTEGER)",
            &[],
        )
        .await
        .expect("a statement of its own");
        assert_eq!(
            writer_synchronous(&db).await,
            2,
            "a single statement restored FULL"
        );

        let batch = db.begin_async_commit().await.expect("begin a batch");
        batch.commit().await.expect("commit");
        let mut tx = db.begin().await.expect("a durable transaction");
        assert_eq!(
            synchronous_inside(&mut tx).await,
            2,
            "a durable transaction commits with FULL"
        );
        tx.commit().await.expect("commit");
    }
}
