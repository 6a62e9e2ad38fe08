//! The list queries: each is declared once as a [`ListSpec`] (its view, columns, visibility condition,
//! filters, sort keys and paging) beside its resource, and [`Queries::list`] / [`Queries::list_all`] run them
//! all. The SQL is built with [`QueryBuilder`]: identifiers come from the specs (static text), every value a
//! caller gives is bound as a parameter.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};
use sqlx::{Database, Encode, FromRow, Postgres, QueryBuilder, Sqlite, Type};
use warden_spooler::Db;

use crate::{QueryError, service::Queries};

/// Which way to sort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl Direction {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::Asc => "ASC",
            Self::Desc => "DESC",
        }
    }
}

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a list query returns.
pub const MAX_PAGE_SIZE: u32 = 500;

fn default_limit() -> u32 {
    DEFAULT_PAGE_SIZE
}

/// Which part of a list to return. The limit is clamped to 1..=[`MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Page {
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
    /// Most items to return.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: DEFAULT_PAGE_SIZE,
        }
    }
}

impl Page {
    /// The first `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { offset: 0, limit }
    }

    /// The limit actually used.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE_SIZE)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOf<T> {
    /// The items.
    pub items: Vec<T>,
    /// Items skipped before these.
    pub offset: u64,
    /// The limit used.
    pub limit: u32,
    /// Whether more items follow.
    pub has_more: bool,
}

/// How to sort projects and applications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSort {
    /// By name, case-insensitively.
    #[default]
    Name,
    /// By creation time.
    CreatedAt,
}

impl NameSort {
    /// The column sorted by.
    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Name => "name_lower",
            Self::CreatedAt => "created_at_ms",
        }
    }
}

/// A value a filter compares a column with, always bound as a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Bool(bool),
}

impl From<&str> for Bind {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<bool> for Bind {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// One filter of a list: how it compares a column, and where its value comes from in the query `Q`. A filter
/// whose value is absent adds nothing.
pub(crate) enum Field<Q: ?Sized> {
    /// `column = value`.
    Eq {
        column: &'static str,
        value: fn(&Q) -> Option<Bind>,
    },
    /// A lower-cased `column` starting with the value, lower-cased (an index range; an empty prefix adds
    /// nothing).
    CaselessPrefix {
        column: &'static str,
        value: fn(&Q) -> Option<&str>,
    },
    /// A JSON array of strings in `column` holding the value.
    JsonHolds {
        column: &'static str,
        value: fn(&Q) -> Option<&str>,
    },
    /// `column` among the `select` column of `table`'s rows of the same instance whose `matched` column is
    /// the value, lower-cased.
    CaselessIn {
        column: &'static str,
        table: &'static str,
        select: &'static str,
        matched: &'static str,
        value: fn(&Q) -> Option<&str>,
    },
}

impl<Q: ?Sized> Field<Q> {
    /// `column = value`.
    pub(crate) const fn eq(column: &'static str, value: fn(&Q) -> Option<Bind>) -> Self {
        Self::Eq { column, value }
    }

    /// A lower-cased `column` starting with the value, lower-cased.
    pub(crate) const fn prefix(column: &'static str, value: fn(&Q) -> Option<&str>) -> Self {
        Self::CaselessPrefix { column, value }
    }
}

/// A text filter's value.
pub(crate) fn text(value: &Option<String>) -> Option<Bind> {
    value.as_deref().map(Bind::from)
}

/// A filter's value that is the stored name of an enum (a state, a kind).
pub(crate) fn named<T: Copy>(value: Option<T>, name: fn(T) -> &'static str) -> Option<Bind> {
    value.map(|v| Bind::from(name(v)))
}

/// A sort key and direction a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    column: &'static str,
    direction: Direction,
}

impl Order {
    pub(crate) fn new(column: &'static str, direction: Direction) -> Self {
        Self { column, direction }
    }
}

/// Whether a list answers in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paging {
    /// Offset paging: `LIMIT` one more than the page (to tell whether more follow) and `OFFSET`.
    Offset,
    /// Every row (lists bounded by their owner, like a user's keys).
    Unpaged,
}

/// A list query, declared once: which rows of which view a query `Q` selects, and in which order.
pub(crate) struct ListSpec<Q: ?Sized + 'static, R: 'static> {
    /// The view.
    pub(crate) table: &'static str,
    /// The columns read: those of the row type.
    pub(crate) columns: &'static str,
    /// The visibility condition: a caller sees the rows whose `visible` column holds its instance id.
    pub(crate) visible: &'static str,
    /// The filters, all of which must hold.
    pub(crate) filters: &'static [Field<Q>],
    /// The sort key and direction the query asks for (its sort enum's default is the default sort), or
    /// `None` for a fixed order: ascending by `keys`.
    pub(crate) sort: Option<fn(&Q) -> Order>,
    /// The columns after the sort key, in its direction, that make the order total (pages never overlap).
    pub(crate) keys: &'static [&'static str],
    /// How the list answers.
    pub(crate) paging: Paging,
    /// The row type, decoded with its `FromRow` derive and converted into what the list answers.
    pub(crate) row: PhantomData<fn() -> R>,
}

impl<Q: ?Sized, R> ListSpec<Q, R> {
    /// The rows of `table` of the caller's instance that `filters` select, in the order `sort` asks for (or
    /// ascending) with ties broken by `keys`, answered as `paging` says.
    pub(crate) const fn new(
        table: &'static str,
        columns: &'static str,
        filters: &'static [Field<Q>],
        sort: Option<fn(&Q) -> Order>,
        keys: &'static [&'static str],
        paging: Paging,
    ) -> Self {
        Self {
            table,
            columns,
            visible: "instance_id",
            filters,
            sort,
            keys,
            paging,
            row: PhantomData,
        }
    }

    /// `SELECT columns FROM table WHERE visible = ? AND filters… ORDER BY … [LIMIT ? OFFSET ?]`.
    fn build<'a, DB>(&self, instance_id: &str, query: &Q, page: Page) -> QueryBuilder<'a, DB>
    where
        DB: Database,
        String: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
        i64: Encode<'a, DB> + Type<DB>,
    {
        let mut sql = QueryBuilder::new(format!(
            "SELECT {} FROM {} WHERE {} = ",
            self.columns, self.table, self.visible
        ));
        sql.push_bind(instance_id.to_owned());
        for field in self.filters {
            field.push(&mut sql, instance_id, query);
        }
        let (direction, mut separator) = match self.sort {
            Some(sort) => {
                let Order { column, direction } = sort(query);
                sql.push(format_args!(" ORDER BY {column} {}", direction.sql()));
                (direction.sql(), ", ")
            }
            None => (Direction::Asc.sql(), " ORDER BY "),
        };
        for column in self.keys {
            sql.push(format_args!("{separator}{column} {direction}"));
            separator = ", ";
        }
        if self.paging == Paging::Offset {
            sql.push(" LIMIT ");
            sql.push_bind(i64::from(page.effective_limit()) + 1);
            sql.push(" OFFSET ");
            sql.push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
        }
        sql
    }
}

impl<Q: ?Sized> Field<Q> {
    /// Adds ` AND condition` when the query sets this filter's value.
    fn push<'a, DB>(&self, sql: &mut QueryBuilder<'a, DB>, instance_id: &str, query: &Q)
    where
        DB: Database,
        String: Encode<'a, DB> + Type<DB>,
        bool: Encode<'a, DB> + Type<DB>,
    {
        match self {
            Self::Eq { column, value } => {
                let Some(value) = value(query) else { return };
                sql.push(format_args!(" AND {column} = "));
                match value {
                    Bind::Text(text) => sql.push_bind(text),
                    Bind::Bool(flag) => sql.push_bind(flag),
                };
            }
            Self::CaselessPrefix { column, value } => {
                let Some(prefix) = value(query).filter(|p| !p.is_empty()) else {
                    return;
                };
                let prefix = prefix.to_lowercase();
                sql.push(format_args!(" AND {column} >= "));
                sql.push_bind(prefix.clone());
                sql.push(format_args!(" AND {column} < "));
                sql.push_bind(format!("{prefix}\u{10FFFF}"));
            }
            Self::JsonHolds { column, value } => {
                let Some(value) = value(query) else { return };
                sql.push(format_args!(" AND CAST({column} AS TEXT) LIKE "));
                sql.push_bind(format!("%\"{}\"%", like_escape(value)));
                sql.push(" ESCAPE '\\'");
            }
            Self::CaselessIn {
                column,
                table,
                select,
                matched,
                value,
            } => {
                let Some(value) = value(query) else { return };
                sql.push(format_args!(
                    " AND {column} IN (SELECT {select} FROM {table} WHERE instance_id = "
                ));
                sql.push_bind(instance_id.to_owned());
                sql.push(format_args!(" AND {matched} = "));
                sql.push_bind(value.to_lowercase());
                sql.push(")");
            }
        }
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A row type both backends decode with its `FromRow` derive.
pub(crate) trait Row:
    for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}

impl<T> Row for T where
    T: for<'r> FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

impl Queries {
    /// The rows of `spec` that `query` selects in `instance_id`.
    async fn rows<Q: ?Sized, R: Row>(
        &self,
        spec: &ListSpec<Q, R>,
        instance_id: &str,
        query: &Q,
        page: Page,
    ) -> Result<Vec<R>, QueryError> {
        Ok(match &self.db {
            Db::Sqlite { statements, .. } => {
                let mut conn = statements.acquire().await?;
                let rows = spec
                    .build::<Sqlite>(instance_id, query, page)
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await;
                conn.release(&rows);
                rows?
            }
            Db::Postgres { statements, .. } => {
                let mut conn = statements.acquire().await?;
                let rows = spec
                    .build::<Postgres>(instance_id, query, page)
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await;
                conn.release(&rows);
                rows?
            }
        })
    }

    /// One page of the list `spec` (an offset-paged list).
    pub(crate) async fn list<Q: ?Sized, R: Row, T: TryFrom<R>>(
        &self,
        spec: &ListSpec<Q, R>,
        instance_id: &str,
        query: &Q,
        page: Page,
    ) -> Result<PageOf<T>, QueryError>
    where
        QueryError: From<T::Error>,
    {
        debug_assert_eq!(spec.paging, Paging::Offset, "{} is unpaged", spec.table);
        let mut rows = self.rows(spec, instance_id, query, page).await?;
        let limit = page.effective_limit();
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(PageOf {
            items: convert(rows)?,
            offset: page.offset,
            limit,
            has_more,
        })
    }

    /// Every row of the list `spec` (an unpaged list).
    pub(crate) async fn list_all<Q: ?Sized, R: Row, T: TryFrom<R>>(
        &self,
        spec: &ListSpec<Q, R>,
        instance_id: &str,
        query: &Q,
    ) -> Result<Vec<T>, QueryError>
    where
        QueryError: From<T::Error>,
    {
        debug_assert_eq!(spec.paging, Paging::Unpaged, "{} is paged", spec.table);
        convert(self.rows(spec, instance_id, query, Page::default()).await?)
    }
}

/// The rows as what the list answers.
fn convert<R, T: TryFrom<R>>(rows: Vec<R>) -> Result<Vec<T>, QueryError>
where
    QueryError: From<T::Error>,
{
    Ok(rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use sqlx::{Postgres, Sqlite};

    use super::{Bind, Direction, Field, ListSpec, Order, Page, Paging, text};

    #[derive(Default)]
    struct Query {
        owner: Option<String>,
        prefix: Option<String>,
        role: Option<String>,
        domain: Option<String>,
        direction: Direction,
    }

    static SPEC: ListSpec<Query, ()> = ListSpec::new(
        "things",
        "id, name",
        &[
            Field::eq("owner", |q| text(&q.owner)),
            Field::prefix("name_lower", |q| q.prefix.as_deref()),
            Field::JsonHolds {
                column: "roles",
                value: |q| q.role.as_deref(),
            },
            Field::CaselessIn {
                column: "id",
                table: "thing_domains",
                select: "thing_id",
                matched: "domain",
                value: |q| q.domain.as_deref(),
            },
        ],
        Some(|q| Order::new("name_lower", q.direction)),
        &["id"],
        Paging::Offset,
    );

    #[test]
    fn values_are_bound_and_never_written_into_the_statement() {
        let hostile = "x' OR '1'='1";
        let query = Query {
            owner: Some(hostile.to_owned()),
            prefix: Some(hostile.to_owned()),
            role: Some(hostile.to_owned()),
            domain: Some(hostile.to_owned()),
            direction: Direction::Desc,
        };
        let page = Page {
            offset: 20,
            limit: 10,
        };
        let sqlite = SPEC.build::<Sqlite>("inst-1", &query, page);
        assert_eq!(
            sqlite.sql(),
            "SELECT id, name FROM things WHERE instance_id = ? AND owner = ? AND name_lower >= ? \
             AND name_lower < ? AND CAST(roles AS TEXT) LIKE ? ESCAPE '\\' AND id IN (SELECT thing_id \
             FROM thing_domains WHERE instance_id = ? AND domain = ?) ORDER BY name_lower DESC, id DESC \
             LIMIT ? OFFSET ?"
        );
        let postgres = SPEC.build::<Postgres>("inst-1", &query, page);
        assert_eq!(
            postgres.sql(),
            "SELECT id, name FROM things WHERE instance_id = $1 AND owner = $2 AND name_lower >= $3 \
             AND name_lower < $4 AND CAST(roles AS TEXT) LIKE $5 ESCAPE '\\' AND id IN (SELECT thing_id \
             FROM thing_domains WHERE instance_id = $6 AND domain = $7) ORDER BY name_lower DESC, id DESC \
             LIMIT $8 OFFSET $9"
        );
    }

    #[test]
    fn absent_filters_and_empty_prefixes_add_nothing() {
        let query = Query {
            prefix: Some(String::new()),
            ..Query::default()
        };
        let sql = SPEC.build::<Sqlite>("inst-1", &query, Page::default());
        assert_eq!(
            sql.sql(),
            "SELECT id, name FROM things WHERE instance_id = ? ORDER BY name_lower ASC, id ASC \
             LIMIT ? OFFSET ?"
        );
        static FIXED: ListSpec<str, ()> = ListSpec::new(
            "thing_keys",
            "key",
            &[Field::eq("thing_id", |id| Some(Bind::from(id)))],
            None,
            &["created_at_ms", "key"],
            Paging::Unpaged,
        );
        assert_eq!(
            FIXED
                .build::<Postgres>("inst-1", "t-1", Page::default())
                .sql(),
            "SELECT key FROM thing_keys WHERE instance_id = $1 AND thing_id = $2 \
             ORDER BY created_at_ms ASC, key ASC"
        );
    }
}
