//! What the views' rows share: the life cycle column and how a column holding an unknown value is reported.
//!
//! Times are ms since the Unix epoch (when the event was stored); `sequence` is the sequence of the last event of
//! the resource's aggregate applied to the row (usable as an entity tag). Secrets never appear: only whether a
//! password, client secret or token is set.

use serde::{Deserialize, Serialize};

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

    pub(crate) fn parse(value: &str) -> Result<Self, sqlx::Error> {
        match value {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            other => Err(corrupt("state", format!("unknown state `{other}`"))),
        }
    }
}

/// A column holding a value the view never writes.
pub(crate) fn corrupt(column: &str, message: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: message.into(),
    }
}
