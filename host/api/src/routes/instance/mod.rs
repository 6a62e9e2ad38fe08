//! The instance: its settings, domains, members and default policies. `write` holds the changes, `read` the reads and their response bodies.

mod read;
mod write;

pub use read::{InstanceBody, InstanceDomainsBody};

use crate::openapi::Endpoint;

/// The endpoints of this resource.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = write::endpoints();
    endpoints.extend(read::endpoints());
    endpoints
}
