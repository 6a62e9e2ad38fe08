//! The endpoints of `/api/v1`, one module per resource; each lists its [`Endpoint`]s next to their handlers,
//! request and response bodies (`write` for changes, `read` for reads by id and lists).

mod apps;
mod change;
mod events;
mod instance;
mod members;
mod orgs;
mod policies;
mod projections;
mod projects;
mod public_keys;
mod user_grants;
mod users;

pub use apps::{AppType, ApplicationBody};
pub use events::{AuditEvent, EventsPage};
pub use instance::{InstanceBody, InstanceDomainsBody};
pub use members::{MembershipBody, MembershipScope};
pub use orgs::{OrgBody, OrgDomainBody};
pub use policies::{PoliciesBody, PolicyBody};
pub use projections::{FailedEventBody, ProjectionBody, ProjectionsBody, RebuildBody};
pub use projects::{ProjectBody, ProjectGrantBody, ProjectRoleBody};
pub use public_keys::PublicKeyBody;
pub use user_grants::UserGrantBody;
pub use users::{
    HumanBody, MachineBody, MachineKeyBody, MetadataBody, PersonalAccessTokenBody, UserBody,
    UserType,
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
    endpoints.extend(projects::endpoints());
    endpoints.extend(apps::endpoints());
    endpoints.extend(user_grants::endpoints());
    endpoints.extend(events::endpoints());
    endpoints.extend(projections::endpoints());
    endpoints
}
