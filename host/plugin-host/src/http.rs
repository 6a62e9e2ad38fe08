//! The plugin endpoints of the management API, under `/api/v1/plugins`.
//!
//! Uploads take the raw component bytes as the body (`Content-Type: application/wasm`, or any other type:
//! the bytes are what counts) up to the service's size limit (413 above it); an upload that is not a
//! component Warden can run is answered with 400 and the runtime's reason. Every error has the API's body
//! `{ "code", "message", "field" }`.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use warden_api::{
    ApiError, Endpoint, WriteDetails,
    extract::{Authenticated, Authenticator, Json, Path, Query},
};
use warden_command::{Commands, Details};
use warden_domain::{
    authz::Permission,
    plugin::{
        ActivatePluginVersion, AddPlugin, AddPluginBinding, BindingSettings, BindingTarget,
        ChangePluginBinding, FailurePolicy, Limits, RemovePlugin, RemovePluginBinding,
        UploadPluginVersion,
    },
};

use crate::{
    openapi,
    service::{PluginInfo, PluginService},
};

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

/// The largest JSON body the plugin endpoints read (1 MiB, the API's limit); uploads have their own limit.
pub const MAX_JSON_BODY: usize = warden_api::MAX_BODY_BYTES;

impl Authenticator for PluginApiState {
    fn commands(&self) -> &Commands {
        self.service.commands()
    }

    fn instance_id(&self) -> &str {
        &self.instance_id
    }
}

impl PluginApiState {
    /// The plugin endpoints serving this state, for the API's table ([`warden_api::router_with`]).
    pub fn into_endpoints(self) -> Vec<Endpoint> {
        endpoints()
            .into_iter()
            .map(|endpoint| endpoint.with_state(self.clone()))
            .collect()
    }
}

/// The plugin endpoints; each write takes its permission from the command it issues. Routed and documented with the API's (see [`PluginApiState::into_endpoints`]), they
/// take the API's JSON body limit; uploads read their body themselves, after the permission check, up to the
/// component limit.
pub fn endpoints() -> Vec<Endpoint<PluginApiState>> {
    use Permission::PluginRead;
    vec![
        Endpoint::post(
            "/api/v1/plugins",
            "post_api_v1_plugins",
            "Upload a plugin (raw component bytes). `plugin.write` is checked before the body is read (403); 413 over the size limit; 400 for a component that cannot run, compiles past its time limit, or subscribes to no known event type (`plugin.subscription.unknown`); 503 `plugin.compile_busy` when too many compilations wait",
            upload,
        )
        .command::<AddPlugin>()
        .described_by(openapi::upload),
        Endpoint::get(
            "/api/v1/plugins",
            "get_api_v1_plugins",
            "List the plugins; `load_state` says whether this node has the active version `loaded`, is still `loading` it, or `failed` (with `load_error`)",
            list,
        )
        .permission(PluginRead)
        .described_by(openapi::list),
        Endpoint::get(
            "/api/v1/plugins/{id}",
            "get_api_v1_plugins__id_",
            "Get a plugin with its versions and bindings",
            read,
        )
        .permission(PluginRead)
        .described_by(openapi::read),
        Endpoint::delete(
            "/api/v1/plugins/{id}",
            "delete_api_v1_plugins__id_",
            "Remove a plugin and its bindings",
            remove,
        )
        .command::<RemovePlugin>()
        .described_by(openapi::write_ok),
        Endpoint::post(
            "/api/v1/plugins/{id}/versions",
            "post_api_v1_plugins__id__versions",
            "Upload a new version (raw component bytes; `activate=false` keeps the active one); checked as an upload",
            upload_version,
        )
        .command::<UploadPluginVersion>()
        .described_by(openapi::upload_version),
        Endpoint::put(
            "/api/v1/plugins/{id}/active-version",
            "put_api_v1_plugins__id__active_version",
            "Activate an uploaded version by digest",
            activate,
        )
        .command::<ActivatePluginVersion>()
        .described_by(openapi::activate),
        Endpoint::post(
            "/api/v1/plugins/{id}/bindings",
            "post_api_v1_plugins__id__bindings",
            "Bind the plugin (JSON body, at most 1 MiB). `grants` are refused (400 `binding.grants_unsupported`), as is `org_id` on a projection binding (400 `binding.org_id_unsupported`) or naming no organization of the instance (404 `binding.org_id.unknown`)",
            add_binding,
        )
        .command::<AddPluginBinding>()
        .described_by(openapi::add_binding),
        Endpoint::put(
            "/api/v1/plugins/{id}/bindings/{binding_id}",
            "put_api_v1_plugins__id__bindings__binding_id_",
            "Change a binding; refused settings as when binding",
            change_binding,
        )
        .command::<ChangePluginBinding>()
        .described_by(openapi::change_binding),
        Endpoint::delete(
            "/api/v1/plugins/{id}/bindings/{binding_id}",
            "delete_api_v1_plugins__id__bindings__binding_id_",
            "Remove a binding",
            remove_binding,
        )
        .command::<RemovePluginBinding>()
        .described_by(openapi::write_ok),
        Endpoint::post(
            "/api/v1/plugins/{id}/test",
            "post_api_v1_plugins__id__test",
            "Test-run the plugin's loaded version once against a sample (JSON body, at most 1 MiB; a projection sample holds at most 100 events): the answer, the time and the log lines. Nothing is stored: a projection's view writes go to views in memory. Needs the permission to bind plugins; 409 `plugin.not_loaded` while the active version is not loaded on the node",
            test_run,
        )
        .command::<AddPluginBinding>()
        .described_by(openapi::test_run),
        Endpoint::get(
            "/api/v1/plugins/{id}/views/{table}",
            "get_api_v1_plugins__id__views__table_",
            "Rows of a projection plugin's view, in key order (`after`, `limit` ≤ 1000; a page holds at most 4 MiB of values, `next_after` continues)",
            view_rows,
        )
        .permission(PluginRead)
        .described_by(openapi::view_rows),
        Endpoint::get(
            "/api/v1/plugins/{id}/views/{table}/{key}",
            "get_api_v1_plugins__id__views__table___key_",
            "One row of a projection plugin's view",
            view_row,
        )
        .permission(PluginRead)
        .described_by(openapi::view_row),
    ]
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

/// Reads the component bytes of an upload body, once the caller was found allowed to upload; a body
/// over the limit is answered with the API's 413 without reading the rest of it.
async fn component(state: &PluginApiState, body: Body) -> Result<Bytes, ApiError> {
    let max = state.service.max_component_bytes();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "plugin.too_large",
            format!("the component is too large; at most {max} bytes are accepted"),
        )
    };
    // A declared length over the limit is refused before anything is read.
    if axum::body::HttpBody::size_hint(&body).lower() > max as u64 {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max).await.map_err(|error| {
        let over = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over {
            too_large()
        } else {
            ApiError::invalid(
                "body",
                "body.unreadable",
                "the request body could not be read",
            )
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
    body: Body,
) -> Result<Written, ApiError> {
    state.service.may_upload(&caller).await?;
    let body = component(&state, body).await?;
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
    body: Body,
) -> Result<Written, ApiError> {
    state.service.may_upload_version(&caller, &id).await?;
    let body = component(&state, body).await?;
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

/// The body of a binding request: its settings, and `grants`, which are refused.
///
/// It spells the settings out (rather than flattening [`BindingSettings`]) so that an error names the
/// member at fault and an unknown member, such as a misspelt limit, is refused instead of ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingBody {
    target: BindingTarget,
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    failure_policy: FailurePolicy,
    #[serde(default)]
    limits: LimitsBody,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    grants: Option<serde_json::Value>,
}

/// The `limits` of a binding request; a value left out takes its default.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LimitsBody {
    deadline_ms: u32,
    memory_mib: u32,
    rows_per_event: Option<u32>,
    kib_per_event: Option<u32>,
    total_rows: Option<u64>,
    total_mib: Option<u64>,
}

impl Default for LimitsBody {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            deadline_ms: limits.deadline_ms,
            memory_mib: limits.memory_mib,
            rows_per_event: limits.rows_per_event,
            kib_per_event: limits.kib_per_event,
            total_rows: limits.total_rows,
            total_mib: limits.total_mib,
        }
    }
}

impl BindingBody {
    /// The settings, once nothing unsupported was asked for.
    ///
    /// Capabilities beyond the sandbox (environment, directories, connections) are not granted to plugins:
    /// no plugin of Warden needs them, and each would widen what a plugin written by someone else can reach.
    /// Refusing them says so, where ignoring them would let a binding look as if it had them.
    fn settings(self) -> Result<BindingSettings, ApiError> {
        if self.grants.as_ref().is_some_and(|g| !g.is_null()) {
            return Err(ApiError::invalid(
                "grants",
                "binding.grants_unsupported",
                "plugins run without environment, file system or network; a binding cannot grant them",
            ));
        }
        let LimitsBody {
            deadline_ms,
            memory_mib,
            rows_per_event,
            kib_per_event,
            total_rows,
            total_mib,
        } = self.limits;
        Ok(BindingSettings {
            target: self.target,
            org_id: self.org_id,
            failure_policy: self.failure_policy,
            limits: Limits {
                deadline_ms,
                memory_mib,
                rows_per_event,
                kib_per_event,
                total_rows,
                total_mib,
            },
            config: self.config,
        })
    }
}

async fn add_binding(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(body): Json<BindingBody>,
) -> Result<Written, ApiError> {
    let settings = body.settings()?;
    let added = state.service.add_binding(&caller, &id, &settings).await?;
    let mut written = Written::new(StatusCode::CREATED, added.details);
    written.extra = Some(("binding_id", added.binding_id));
    Ok(written)
}

async fn change_binding(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path((id, binding_id)): Path<(String, String)>,
    Json(body): Json<BindingBody>,
) -> Result<Written, ApiError> {
    let settings = body.settings()?;
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

/// The body of a test run: a sample input, and optionally a binding whose configuration and limits the
/// sample borrows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRunBody {
    #[serde(default)]
    binding_id: Option<String>,
    sample: serde_json::Value,
}

async fn test_run(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Json(body): Json<TestRunBody>,
) -> Result<axum::Json<warden_wasm_runtime::SampleRun>, ApiError> {
    let run = state
        .service
        .test_run(&caller, &id, body.binding_id.as_deref(), body.sample)
        .await?;
    Ok(axum::Json(run))
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
    valid_table(&table)?;
    let page = crate::projection::Page {
        after: query.after,
        limit,
    };
    let found = crate::projection::plugin_view_page(
        state.service.commands().store(),
        &state.instance_id,
        &id,
        &table,
        &page,
    )
    .await
    .map_err(|error| {
        tracing::error!(%error, "reading a plugin view failed");
        ApiError::failure(&error)
    })?;
    // A page cut by its row limit or its byte bound may have rows after it.
    let next_after = found
        .more
        .then(|| found.rows.last().map(|row| row.key.clone()))
        .flatten();
    Ok(axum::Json(ViewPage {
        items: found.rows,
        next_after,
    }))
}

/// A view's table name as plugins may create them; any other name is a 400, not an empty view.
fn valid_table(table: &str) -> Result<(), ApiError> {
    warden_wasm_runtime::check_table(table)
        .map_err(|message| ApiError::invalid("table", "invalid_table", message))
}

async fn view_row(
    State(state): State<PluginApiState>,
    Authenticated(caller): Authenticated,
    Path((id, table, key)): Path<(String, String, String)>,
) -> Result<axum::Json<crate::projection::ViewRow>, ApiError> {
    state.service.get(&caller, &id).await?;
    valid_table(&table)?;
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
        ApiError::failure(&error)
    })?;
    row.map(axum::Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "plugin.view_row.not_found",
            "the plugin's view has no row with this key in this table",
        )
    })
}
