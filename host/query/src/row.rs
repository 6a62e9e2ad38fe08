//! What the views' rows share: the life cycle column and how a column holding an unknown value is reported.
//!
//! Times are ms since the Unix epoch (when the event was stored); `sequence` is the sequence of the last event of
//! the resource's aggregate applied to the row (usable as an entity tag). Secrets never appear: only whether a
//! password, client secret or token is set.

use serde::{Deserialize, Serialize};
use warden_spooler::DbRow;

use crate::list::Row;

/// Whether a resource is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Usable.
    Active,
    /// Deactivated: kept but not usable until reactivated.
    Inactive,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// A stored name (of a state, a kind, a scope) that the views never write: the column holds something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownName {
    pub(crate) what: &'static str,
    pub(crate) value: String,
}

/// Decoding for an enum stored as its `as_str` name in a text column, on either backend: the column decodes as
/// text, and a name the views never write is a decode error of the column carrying an [`UnknownName`].
macro_rules! stored_name {
    ($type:ty, $what:literal, [$($variant:ident),+ $(,)?]) => {
        impl TryFrom<String> for $type {
            type Error = $crate::row::UnknownName;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                [$(Self::$variant),+]
                    .into_iter()
                    .find(|known| known.as_str() == value)
                    .ok_or($crate::row::UnknownName { what: $what, value })
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $type
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $type
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(Self::try_from(<String as sqlx::Decode<'r, DB>>::decode(value)?)?)
            }
        }
    };
}
pub(crate) use stored_name;

stored_name!(State, "state", [Active, Inactive]);

/// A column that does not decode into what the view means by it.
pub(crate) fn corrupt(column: &str, error: impl Into<sqlx::error::BoxDynError>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: error.into(),
    }
}

/// Decodes a row of either backend with the row type's `FromRow` derive.
pub(crate) fn decode<T: Row>(row: &DbRow) -> Result<T, sqlx::Error> {
    match row {
        DbRow::Sqlite(row) => T::from_row(row),
        DbRow::Postgres(row) => T::from_row(row),
    }
}
