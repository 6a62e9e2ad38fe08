//! The HTTP surface: health, readiness and metrics (the API mounts beside them).

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    middleware,
    response::IntoResponse,
    routing::get,
};
use serde_json::json;
use warden_eventstore::Store;
use warden_plugins::PluginRegistry;
use warden_spooler::Spoolers;

use crate::metrics::{self, HttpMetrics};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The eventstore.
    pub store: Store,
    /// Request metrics.
    pub metrics: HttpMetrics,
    /// The spoolers of this node, whose figures join the metrics.
    pub spoolers: Option<Spoolers>,
    /// The plugins loaded on this node, whose figures join the metrics.
    pub plugins: Option<PluginRegistry>,
}

impl AppState {
    /// State over `store` with fresh metrics.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            metrics: HttpMetrics::default(),
            spoolers: None,
            plugins: None,
        }
    }

    /// Adds the plugins' figures to the metrics.
    #[must_use]
    pub fn with_plugins(mut self, plugins: PluginRegistry) -> Self {
        self.plugins = Some(plugins);
        self
    }

    /// Adds the spoolers' figures to the metrics.
    #[must_use]
    pub fn with_spoolers(mut self, spoolers: Spoolers) -> Self {
        self.spoolers = Some(spoolers);
        self
    }
}

/// The whole HTTP application: health, readiness and metrics beside `api` (the management API).
pub fn router(state: AppState, api: Router) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(state)
        .merge(api)
        .layer(middleware::from_fn_with_state(metrics, metrics::record))
}

/// Prometheus metrics of this process.
async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
    if let Some(spoolers) = &state.spoolers {
        match spoolers.metrics().await {
            Ok(text) => out.push_str(&text),
            Err(error) => tracing::warn!(%error, "spooler metrics unavailable"),
        }
    }
    if let Some(plugins) = &state.plugins {
        out.push_str(&plugins.render_metrics());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The database answers and every migration is applied.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ready().await {
        Ok(true) => {
            // Plugins compile after the start: say how many are not in effect yet (their bindings
            // failing closed refuse what they are bound to meanwhile).
            let plugins = state.plugins.as_ref().map(|registry| {
                let (loading, failed) = registry.load_counts();
                json!({ "loading": loading, "failed": failed })
            });
            (
                StatusCode::OK,
                Json(json!({ "status": "ready", "plugins": plugins })),
            )
        }
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": "migrations pending" })),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": "database unreachable" })),
            )
        }
    }
}
