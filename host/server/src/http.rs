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

use crate::metrics::{self, HttpMetrics};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The eventstore.
    pub store: Store,
    /// Request metrics.
    pub metrics: HttpMetrics,
}

impl AppState {
    /// State over `store` with fresh metrics.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            metrics: HttpMetrics::default(),
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(state)
        .layer(middleware::from_fn_with_state(metrics, metrics::record))
}

/// Prometheus metrics of this process.
async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    state.metrics.render(&mut out);
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
        Ok(true) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
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
