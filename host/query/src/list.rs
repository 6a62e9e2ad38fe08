//! What the list queries share: paging, sort direction and the `WHERE` clause under construction.

use serde::{Deserialize, Serialize};
use warden_spooler::{SqlValue, params};

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

/// A `WHERE` clause under construction, numbering its placeholders.
pub(crate) struct Filter {
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Filter {
    /// Starts with `instance_id = $1`.
    pub(crate) fn instance(instance_id: &str) -> Self {
        Self {
            clauses: vec!["instance_id = $1".to_owned()],
            params: Vec::from(params![instance_id]),
        }
    }

    fn next(&self) -> usize {
        self.params.len() + 1
    }

    /// Adds `column = value` when `value` is set.
    pub(crate) fn eq(&mut self, column: &str, value: Option<impl Into<SqlValue>>) {
        if let Some(value) = value {
            self.clauses.push(format!("{column} = ${}", self.next()));
            self.params.push(value.into());
        }
    }

    /// Adds "`column` starts with `prefix`" (as an index range) when `prefix` is set and not empty.
    pub(crate) fn prefix(&mut self, column: &str, prefix: Option<&str>) {
        let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
            return;
        };
        let n = self.next();
        self.clauses
            .push(format!("{column} >= ${n} AND {column} < ${}", n + 1));
        self.params.push(SqlValue::from(prefix));
        self.params
            .push(SqlValue::from(format!("{prefix}\u{10FFFF}")));
    }

    /// Adds a raw condition with one placeholder written as `{}`.
    pub(crate) fn raw(&mut self, condition: &str, value: SqlValue) {
        self.clauses
            .push(condition.replace("{}", &format!("${}", self.next())));
        self.params.push(value);
    }

    /// `SELECT columns FROM table WHERE … ORDER BY … LIMIT … OFFSET …`, fetching one extra row to know whether
    /// more follow.
    pub(crate) fn select(
        mut self,
        columns: &str,
        table: &str,
        order: &str,
        page: Page,
    ) -> (String, Vec<SqlValue>) {
        let n = self.next();
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY {order} LIMIT ${n} OFFSET ${}",
            self.clauses.join(" AND "),
            n + 1
        );
        self.params
            .push(SqlValue::from(i64::from(page.effective_limit()) + 1));
        self.params.push(SqlValue::Int(Some(
            i64::try_from(page.offset).unwrap_or(i64::MAX),
        )));
        (sql, self.params)
    }
}

pub(crate) fn order(column: &str, tie: &str, direction: Direction) -> String {
    let dir = direction.sql();
    format!("{column} {dir}, {tie} {dir}")
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
