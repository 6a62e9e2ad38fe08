//! Users: humans and machines (service accounts) in one aggregate type, `"user"`.
//!
//! Login names are unique per instance, case-insensitively: the lower-cased login name is claimed as
//! [`unique::LOGIN_NAME`]. Secrets never enter the domain in plain text: passwords, client secrets and personal
//! access tokens arrive hashed, and keys arrive as public keys; ids and expiry times are passed in.
//!
//! Commands on a removed user answer `NotFound` ("user.not_found"); human-only commands on a machine (and the
//! reverse) answer `PreconditionFailed` ("user.not_human", "user.not_machine").

mod auth;
mod checks;
mod commands;
mod events;
mod state;

pub use auth::{CodeAdded, CodeKind, MAX_SEALED_SECRET_LEN, Otp, OtpAdded, OtpStep, PendingCode};
pub use commands::*;
pub use events::*;
pub use state::*;

/// The most metadata entries a user may have.
pub const MAX_METADATA_ENTRIES: usize = 100;
/// The most key pairs a machine user may have.
pub const MAX_MACHINE_KEYS: usize = 100;
/// The most personal access tokens a machine user may have.
pub const MAX_PERSONAL_ACCESS_TOKENS: usize = 100;
/// The language stored when a user states none (BCP 47 "undetermined").
pub const UNDETERMINED_LANGUAGE: &str = "und";

#[cfg(test)]
mod tests;
