//! User grants: a user's roles in a project. `write` holds the changes, `read` the reads and their response bodies.

mod read;
mod write;

pub use read::UserGrantBody;

use crate::openapi::Endpoint;

/// The endpoints of this resource.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = write::endpoints();
    endpoints.extend(read::endpoints());
    endpoints
}
