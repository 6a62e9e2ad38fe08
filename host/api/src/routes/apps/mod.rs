//! Applications of a project: OIDC and API clients, their secrets and public keys. `write` holds the changes,
//! `read` the reads and their response bodies, `keys` the public keys.

mod keys;
mod read;
mod write;

pub use read::{AppType, ApplicationBody};

use crate::openapi::Endpoint;

/// The endpoints of this resource.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = write::endpoints();
    endpoints.extend(read::endpoints());
    endpoints.extend(keys::endpoints());
    endpoints
}
