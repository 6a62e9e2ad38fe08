//! Warden's OpenID Connect provider.
//!
//! The login pages live in another crate (`warden-login`); the two meet in [`flow`]: the provider stores
//! authorization requests and hands them to the login pages, which log the user in and call
//! [`flow::AuthRequests::complete`] (or [`flow::AuthRequests::fail`]) to send the browser back to the client.

mod error;
pub mod flow;

pub use error::OidcError;
