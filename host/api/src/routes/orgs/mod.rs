//! Organizations: their domains, members and policy overrides. `write` holds the changes, `read` the reads and their response bodies.

mod read;
mod write;

pub use read::{OrgBody, OrgDomainBody};

use crate::openapi::Endpoint;

/// The endpoints of this resource.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = write::endpoints();
    endpoints.extend(read::endpoints());
    endpoints
}
