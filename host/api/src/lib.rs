//! Warden's management REST API: create, change and remove the resources of an instance under `/api/v1`,
//! read the audit trail at `GET /api/v1/events`, and the OpenAPI 3.1 document at `GET /openapi.json`.
//!
//! Requests authenticate with `Authorization: Bearer <personal access token>`; every endpoint checks the
//! caller's memberships (through [`warden_command`]). Write endpoints answer with what the command produced
//! (id, sequence, position, change date — and generated secrets, once) and an `ETag` of the resource's
//! sequence; a change sent with `If-Match: "<sequence>"` is refused with 409 if the resource moved on.
//!
//! Every error is a JSON body `{ "code", "message", "field" }` ([`ErrorBody`]): 400 for bad input (malformed
//! JSON, unknown or missing fields, wrong types, values the domain refuses), 401, 403, 404, 409 for taken
//! values and stale state, 413 for bodies over [`MAX_BODY_BYTES`], 415 for bodies that are not JSON. An
//! internal failure is logged and answered with a bare 500.
//!
//! ```no_run
//! # async fn example(commands: warden_command::Commands, instance_id: String) -> std::io::Result<()> {
//! let app = warden_api::router(warden_api::ApiState::new(commands, instance_id));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

#![warn(missing_docs)]

mod dto;
mod error;
pub mod extract;
mod openapi;
mod routes;
mod time;

use std::sync::Arc;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tracing::Instrument;
use warden_command::Commands;

pub use dto::{MaybeSecret, SecretCreated, WriteDetails};
pub use error::{ApiError, ErrorBody, ViolationBody};
pub use routes::{AuditEvent, EventsPage};

/// The largest request body accepted, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share: the command pipeline and the instance the API serves.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The command pipeline.
    pub commands: Commands,
    /// The instance requests act in.
    pub instance_id: Arc<str>,
}

impl ApiState {
    /// The state of an API serving `instance_id`.
    pub fn new(commands: Commands, instance_id: impl Into<String>) -> Self {
        Self {
            commands,
            instance_id: Arc::from(instance_id.into()),
        }
    }
}

/// The API's routes: `/api/v1/...` and `GET /openapi.json`, with a JSON 404/405 for anything else.
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new();
    for endpoint in routes::endpoints() {
        router = router.route(endpoint.path, endpoint.route);
    }
    router
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

/// Runs a request in a span naming its method and route, and logs server errors.
async fn trace_request(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let span = tracing::info_span!("request", method = %request.method(), route = %route);
    async move {
        let response = next.run(request).await.into_response();
        if response.status().is_server_error() {
            tracing::warn!(status = response.status().as_u16(), "request failed");
        } else {
            tracing::debug!(status = response.status().as_u16(), "request served");
        }
        response
    }
    .instrument(span)
    .await
}

/// The OpenAPI document as JSON, as served at `GET /openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    openapi::document(&routes::endpoints())
}
