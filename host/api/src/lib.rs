//! Warden's management REST API: create, change, remove and read the resources of an instance under
//! `/api/v1`, read the audit trail at `GET /api/v1/events` and the projections' status at
//! `GET /api/v1/projections`, and the OpenAPI 3.1 document at `GET /openapi.json`.
//!
//! Requests authenticate with `Authorization: Bearer <personal access token>`; every endpoint checks the
//! caller's memberships (through [`warden_command`]). Write endpoints answer with what the command produced
//! (id, sequence, position, change date — and generated secrets, once) and an `ETag` of the resource's
//! sequence; a change sent with `If-Match: "<sequence>"` is refused with 409 if the resource moved on.
//!
//! Reads (`GET`) come from the query side ([`warden_query`]). A read by id is read-your-writes: it reflects
//! every change of the resource stored before the request, also one made through another node; when the view
//! cannot catch up within its bound the answer is 503 `read.catching_up` with `Retry-After`. Lists read the
//! views as they are, with filters, a sort order and `offset`/`limit` paging (at most 500 items, with
//! `has_more`). Reads follow the write side's authorization: a resource of an organization needs the read
//! permission on that organization (or instance-wide). A resource outside the caller's sight (it lacks even
//! the resource's read permission there) answers 404 with the same body as an id that names nothing, on
//! reads and writes alike, so ids of other tenants cannot be probed; 403 is for a resource the caller sees
//! but may not change. Lists without an organization filter show an organization-scoped caller only its own
//! organization.
//!
//! Every error is a JSON body `{ "code", "message", "field" }` ([`ErrorBody`]): 400 for bad input (malformed
//! JSON, unknown or missing fields, wrong types, values the domain refuses), 401, 403, 404, 409 for taken
//! values and stale state, 413 for bodies over [`MAX_BODY_BYTES`], 415 for bodies that are not JSON. A
//! database that is busy for a moment (SQLite busy or locked, a PostgreSQL deadlock, lost connection or
//! exhausted resources) is a 503 `database.busy` with `Retry-After`. Any other internal failure is logged
//! and answered with a bare 500.
//!
//! ```no_run
//! # async fn example(
//! #     commands: warden_command::Commands,
//! #     read_side: warden_query::ReadSide,
//! #     instance_id: String,
//! # ) -> std::io::Result<()> {
//! let app = warden_api::router(warden_api::ApiState::new(commands, instance_id, &read_side));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

#![warn(missing_docs)]

mod authz;
mod bodies;
mod error;
pub mod extract;
pub mod openapi;
mod routes;
pub mod schema;
mod time;
mod view;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use warden_command::Commands;
use warden_query::{Queries, ReadSide};
use warden_spooler::Spoolers;

pub use bodies::{MaybeSecret, SecretCreated, WriteDetails};
pub use error::{ApiError, ErrorBody, ViolationBody};
pub use openapi::Endpoint;
pub use routes::{
    AppType, ApplicationBody, AuditEvent, EventsPage, FailedEventBody, HumanBody, InstanceBody,
    InstanceDomainsBody, MachineBody, MachineKeyBody, MembershipBody, MembershipScope,
    MetadataBody, OrgBody, OrgDomainBody, PersonalAccessTokenBody, PoliciesBody, PolicyBody,
    ProjectBody, ProjectGrantBody, ProjectRoleBody, ProjectionBody, ProjectionsBody, PublicKeyBody,
    RebuildBody, UserBody, UserGrantBody, UserType,
};
pub use view::{Items, ListPage, ResourceState, SortDirection};

/// The largest request body accepted, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share: the command pipeline, the query side and the instance the API serves.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The command pipeline.
    pub commands: Commands,
    /// The query services over the views.
    pub queries: Queries,
    /// The spoolers keeping the views up to date (for `GET /api/v1/projections`).
    pub spoolers: Spoolers,
    /// The instance requests act in.
    pub instance_id: Arc<str>,
    /// What `/openapi.json` documents: every endpoint of the router's table.
    operations: Arc<[openapi::Operation]>,
    /// The OpenAPI document, generated at the first request.
    openapi: Arc<std::sync::OnceLock<Vec<u8>>>,
}

impl ApiState {
    /// The state of an API serving `instance_id`, writing through `commands` and reading through `read_side`
    /// (started on the same store).
    pub fn new(commands: Commands, instance_id: impl Into<String>, read_side: &ReadSide) -> Self {
        Self {
            commands,
            queries: read_side.queries().clone(),
            spoolers: read_side.spoolers().clone(),
            instance_id: Arc::from(instance_id.into()),
            operations: Arc::new([]),
            openapi: Arc::default(),
        }
    }
}

impl extract::Authenticator for ApiState {
    fn commands(&self) -> &Commands {
        &self.commands
    }

    fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

/// The API's routes: `/api/v1/...` and `GET /openapi.json`, with a JSON 404/405 for anything else.
pub fn router(state: ApiState) -> Router {
    router_with(state, Vec::new())
}

/// The API's routes and `more` endpoints of the same table (such as the plugin endpoints): `/openapi.json`
/// documents them all, and they share the body limit of [`MAX_BODY_BYTES`], the JSON 404/405 and the log of
/// server errors.
pub fn router_with(mut state: ApiState, more: Vec<Endpoint>) -> Router {
    let mut endpoints = routes::endpoints();
    endpoints.extend(more);
    state.operations = endpoints.iter().map(|e| e.operation.clone()).collect();
    state.openapi = Arc::default();
    let mut router = Router::new();
    for endpoint in endpoints {
        router = router.route(endpoint.operation.path, endpoint.route);
    }
    router
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_server_errors))
        .with_state(state)
}

/// Logs server errors (the request's span is opened by the server around the whole application).
async fn log_server_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await.into_response();
    if response.status().is_server_error() {
        tracing::warn!(status = response.status().as_u16(), "request failed");
    }
    response
}

/// The OpenAPI document of [`router`]'s endpoints, as served at `GET /openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    openapi::document(routes::endpoints().iter().map(|e| &e.operation))
}
