//! Warden's OpenID Connect provider.
//!
//! [`Provider`] serves discovery (`/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server`)
//! and the endpoints under `/oauth/v2/`: `authorize`, `token`, `userinfo`, `introspect`, `revoke`,
//! `end_session` and `keys` (JWKS). Signing keys live in the eventstore ([`warden_domain::signing_key`]),
//! their private halves sealed with the [`MasterKey`]; authorization requests, codes, grants and the
//! refresh and opaque access tokens are rows every node reads (no event per token).
//!
//! The login pages live in another crate (`warden-login`); the two meet in [`flow`]: the provider stores
//! authorization requests and hands them to the login pages, which log the user in and call
//! [`flow::AuthRequests::complete`] (or [`flow::AuthRequests::fail`]) to send the browser back to the client.
//! The login side obtains its [`flow::AuthRequests`] from [`Provider::auth_requests`] and gives the provider
//! its [`flow::Sessions`] in [`Provider::router`].

mod authorize;
mod client_assertion;
mod crypto;
mod db;
mod error;
pub mod flow;
mod hooks;
mod http;
mod keys;
mod provider;
mod token;
mod verified;

pub use crypto::MasterKey;
pub use error::OidcError;
pub use keys::KeyConfig;
pub use provider::{
    AccessTokenSubject, ApiTokens, MANAGEMENT_API_AUDIENCE, Provider, ProviderConfig, ROLES_CLAIM,
};
