//! Users, human and machine: profiles, credentials, life cycle, metadata, and machine keys and tokens. `write` holds the changes, `read` the reads and their response bodies.

mod machines;
mod read;
mod write;

pub use read::{
    HumanBody, MachineBody, MachineKeyBody, MetadataBody, PersonalAccessTokenBody, UserBody,
    UserType,
};

use crate::openapi::Endpoint;

/// The endpoints of this resource.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = write::endpoints();
    endpoints.extend(machines::endpoints());
    endpoints.extend(read::endpoints());
    endpoints
}
