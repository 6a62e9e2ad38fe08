//! Projects: their roles, grants to other organizations and members. `write` holds the changes, `read` the reads and their response bodies.

mod read;
mod write;

pub(crate) use read::{NameSortParam, readable_project};
pub use read::{ProjectBody, ProjectGrantBody, ProjectRoleBody};

use crate::openapi::Endpoint;

/// The endpoints of this resource.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = write::endpoints();
    endpoints.extend(read::endpoints());
    endpoints
}
