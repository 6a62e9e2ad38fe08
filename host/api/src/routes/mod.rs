//! The endpoints of `/api/v1`, grouped by resource; each module lists its [`Endpoint`]s next to their
//! handlers.

mod apps;
mod events;
mod instance;
mod machines;
mod orgs;
mod policies;
mod projects;
mod read;
mod user_grants;
mod users;

pub use events::{AuditEvent, EventsPage};
pub use read::{
    FailedEventBody, InstanceDomainsBody, Items, ProjectionBody, ProjectionsBody, RebuildBody,
};

use crate::openapi::{self, Endpoint};

/// Every endpoint of the API, `GET /openapi.json` included.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = vec![
        Endpoint::get(
            "/openapi.json",
            "getOpenApiDocument",
            "This document: the OpenAPI 3.1 description of the API",
            openapi::serve_document,
        )
        .public(),
    ];
    endpoints.extend(instance::endpoints());
    endpoints.extend(orgs::endpoints());
    endpoints.extend(users::endpoints());
    endpoints.extend(machines::endpoints());
    endpoints.extend(projects::endpoints());
    endpoints.extend(apps::endpoints());
    endpoints.extend(user_grants::endpoints());
    endpoints.extend(events::endpoints());
    endpoints.extend(read::endpoints());
    endpoints
}
