//! The plugin endpoints of the management API, under `/api/v1/plugins`.
//!
//! Uploads take the raw component bytes as the body (`Content-Type: application/wasm`, or any other type:
//! the bytes are what counts) up to the service's size limit (413 above it); an upload that is not a
//! component Warden can run is answered with 400 and the runtime's reason. Every error has the API's body
//! `{ "code", "message", "field" }`.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequestParts, State, rejection::BytesRejection},
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde::Deserialize;
use warden_api::{
    ApiError, WriteDetails,
    extract::{Json, Path, Query},
};
use warden_command::{Caller, Details};
use warden_domain::plugin::BindingSettings;

use crate::service::{PluginInfo, PluginService};

/// What the plugin endpoints share.
#[derive(Debug, Clone)]
pub struct PluginApiState {
    /// The plugin service.
    pub service: PluginService,
    /// The instance requests act in.
    pub instance_id: Arc<str>,
}

impl PluginApiState {
    /// The state of the endpoints serving `instance_id`.
    pub fn new(service: PluginService, instance_id: impl Into<String>) -> Self {
        Self {
            service,
            instance_id: Arc::from(instance_id.into()),
        }
    }
}

/// The plugin endpoints, as (method, path, summary), for the OpenAPI document.
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/plugins",
        "Upload a plugin (raw component bytes; `name`, `description` query parameters)",
    ),
    ("GET", "/api/v1/plugins", "List the plugins"),
    (
        "GET",
        "/api/v1/plugins/{id}",
        "Get a plugin with its versions and bindings",
    ),
    (
        "DELETE",
        "/api/v1/plugins/{id}",
        "Remove a plugin and its bindings",
    ),
    (
        "POST",
        "/api/v1/plugins/{id}/versions",
        "Upload a new version (raw component bytes; `activate=false` keeps the active one)",
    ),
    (
        "PUT",
        "/api/v1/plugins/{id}/active-version",
        "Activate an uploaded version by digest",
    ),
    ("POST", "/api/v1/plugins/{id}/bindings", "Bind the plugin"),
    (
        "PUT",
        "/api/v1/plugins/{id}/bindings/{binding_id}",
        "Change a binding",
    ),
    (
        "DELETE",
        "/api/v1/plugins/{id}/bindings/{binding_id}",
        "Remove a binding",
    ),
    (
        "GET",
        "/api/v1/plugins/{id}/views/{table}",
        "Rows of a projection plugin's view, in key order (`after`, `limit` ≤ 1000)",
    ),
    (
        "GET",
        "/api/v1/plugins/{id}/views/{table}/{key}",
        "One row of a projection plugin's view",
    ),
];

/// The plugin endpoints, to be merged into the server's application.
pub fn router(state: PluginApiState) -> Router {
    let body_limit = state.service.max_component_bytes();
    Router::new()
        .route("/api/v1/plugins", post(upload).get(list))
        .route("/api/v1/plugins/{id}", get(read).delete(remove))
        .route("/api/v1/plugins/{id}/versions", post(upload_version))
        .route("/api/v1/plugins/{id}/active-version", put(activate))
        .route("/api/v1/plugins/{id}/bindings", post(add_binding))
        .route(
            "/api/v1/plugins/{id}/bindings/{binding_id}",
            put(change_binding).delete(remove_binding),
        )
        .route("/api/v1/plugins/{id}/views/{table}", get(view_rows))
        .route("/api/v1/plugins/{id}/views/{table}/{key}", get(view_row))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The caller, authenticated by `Authorization: Bearer <personal access token>`.
#[derive(Debug, Clone)]
struct Authenticated(Caller);

impl FromRequestParts<PluginApiState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PluginApiState,
    ) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthenticated(false));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| ApiError::unauthenticated(true))?;
        let caller = state
            .service
            .commands()
            .authenticate(&state.instance_id, token)
            .await?;
        Ok(Authenticated(caller))
    }
}

/// A write's answer: the details as JSON, with the plugin's sequence as `ETag`.
struct Written {
    status: StatusCode,
    details: WriteDetails,
    extra: Option<(&'static str, String)>,
}

impl Written {
    fn new(status: StatusCode, details: Details) -> Self {
        Self {
            status,
            details: details.into(),
            extra: None,
        }
    }
}

impl IntoResponse for Written {
    fn into_response(self) -> Response {
        let etag = format!("\"{}\"", self.details.sequence);
        let mut body = match serde_json::to_value(&self.details) {
            Ok(body) => body,
            Err(_) => return ApiError::internal().into_response(),
        };
        if let (Some((key, value)), Some(object)) = (self.extra, body.as_object_mut()) {
            object.insert(key.to_owned(), value.into());
        }
        (self.status, [(header::ETAG, etag)], axum::Json(body)).into_response()
    }
}

/// The component bytes of an upload body; a body over the limit is answered with the API's 413.
fn component(
    state: &PluginApiState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "plugin.too_large",
                format!(
                    "the component is too large; at most {} bytes are accepted",
                    state.service.max_component_bytes()
                ),
            )
        } else {
            ApiError::invalid("body", "body.unreadable", rejection.body_text())
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionQuery {
    #[serde(default = "yes")]
    activate: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    digest: String,
}

async fn upload(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<UploadQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Written, ApiError> {
    let body = component(&state, body)?;
    let details = state
        .service
        .upload(&caller, &query.name, &query.description, &body)
        .await?;
    Ok(Written::new(StatusCode::CREATED, details))
}

async fn list(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let plugins = state.service.list(&caller).await?;
    Ok(axum::Json(serde_json::json!({ "plugins": plugins })))
}

async fn read(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let plugin: PluginInfo = state.service.get(&caller, &id).await?;
    let etag = format!("\"{}\"", plugin.sequence);
    Ok(([(header::ETAG, etag)], axum::Json(plugin)).into_response())
}

async fn remove(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Written, ApiError> {
    let details = state.service.remove(&caller, &id).await?;
    Ok(Written::new(StatusCode::OK, details))
}

async fn upload_version(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(query): Query<VersionQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Written, ApiError> {
    let body = component(&state, body)?;
    let details = state
        .service
        .upload_version(&caller, &id, &body, query.activate)
        .await?;
    Ok(Written::new(StatusCode::CREATED, details))
}

async fn activate(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(body): Json<ActivateBody>,
) -> Result<Written, ApiError> {
    let details = state
        .service
        .activate_version(&caller, &id, &body.digest)
        .await?;
    Ok(Written::new(StatusCode::OK, details))
}

async fn add_binding(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(settings): Json<BindingSettings>,
) -> Result<Written, ApiError> {
    let added = state.service.add_binding(&caller, &id, &settings).await?;
    let mut written = Written::new(StatusCode::CREATED, added.details);
    written.extra = Some(("binding_id", added.binding_id));
    Ok(written)
}

async fn change_binding(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path((id, binding_id)): Path<(String, String)>,
    Json(settings): Json<BindingSettings>,
) -> Result<Written, ApiError> {
    let details = state
        .service
        .change_binding(&caller, &id, &binding_id, &settings)
        .await?;
    Ok(Written::new(StatusCode::OK, details))
}

async fn remove_binding(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path((id, binding_id)): Path<(String, String)>,
) -> Result<Written, ApiError> {
    let details = state
        .service
        .remove_binding(&caller, &id, &binding_id)
        .await?;
    Ok(Written::new(StatusCode::OK, details))
}

/// Paging of a plugin view's rows.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewQuery {
    /// Rows with a key after this one.
    after: Option<String>,
    /// At most this many rows (1 to 1000, default 100).
    limit: Option<u32>,
}

/// A page of a plugin view.
#[derive(Debug, serde::Serialize)]
struct ViewPage {
    items: Vec<crate::projection::ViewRow>,
    /// The key to pass as `after` for the next page, when there may be one.
    next_after: Option<String>,
}

async fn view_rows(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path((id, table)): Path<(String, String)>,
    Query(query): Query<ViewQuery>,
) -> Result<axum::Json<ViewPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=crate::projection::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "invalid_limit",
            format!(
                "limit must be between 1 and {}",
                crate::projection::MAX_PAGE
            ),
        ));
    }
    // Checks the caller may read plugins, and that the plugin exists (404 otherwise).
    state.service.get(&caller, &id).await?;
    let page = crate::projection::Page {
        after: query.after,
        limit,
    };
    let items = crate::projection::plugin_view_rows(
        state.service.commands().store(),
        &state.instance_id,
        &id,
        &table,
        &page,
    )
    .await
    .map_err(|error| {
        tracing::error!(%error, "reading a plugin view failed");
        ApiError::internal()
    })?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|row| row.key.clone()))
        .flatten();
    Ok(axum::Json(ViewPage { items, next_after }))
}

async fn view_row(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path((id, table, key)): Path<(String, String, String)>,
) -> Result<axum::Json<crate::projection::ViewRow>, ApiError> {
    state.service.get(&caller, &id).await?;
    let row = crate::projection::plugin_view_row(
        state.service.commands().store(),
        &state.instance_id,
        &id,
        &table,
        &key,
    )
    .await
    .map_err(|error| {
        tracing::error!(%error, "reading a plugin view failed");
        ApiError::internal()
    })?;
    row.map(axum::Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "plugin.view_row.not_found",
            "the plugin's view has no row with this key in this table",
        )
    })
}
