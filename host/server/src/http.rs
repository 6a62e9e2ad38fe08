//! The HTTP surface: health, readiness and metrics (the API mounts beside them).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use warden_api::ApiError;
use warden_eventstore::Store;
use warden_plugin_host::PluginRegistry;
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
    /// The bearer token `/metrics` requires, if any.
    pub metrics_token: Option<Arc<str>>,
}

impl AppState {
    /// State over `store` with fresh metrics.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            metrics: HttpMetrics::default(),
            spoolers: None,
            plugins: None,
            metrics_token: None,
        }
    }

    /// Requires `Authorization: Bearer <token>` on `/metrics`.
    #[must_use]
    pub fn with_metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(Arc::from(token));
        self
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

/// Whether `headers` carry `Authorization: Bearer <expected>`; compares in time independent of where the
/// values differ.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(sent) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (sent, expected) = (sent.trim().as_bytes(), expected.as_bytes());
    sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Prometheus metrics of this process; with a metrics token configured, only for requests bearing it.
async fn render_metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token
        && !bearer_matches(&headers, token)
    {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the metrics need a bearer token: send `Authorization: Bearer <metrics token>`",
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(r#"Bearer realm="warden-metrics""#),
        );
        return response;
    }
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
        .into_response()
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

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(app: &Router, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn metrics_token_is_required_when_set_and_odd_methods_share_a_label() {
        let t = warden_eventstore::testing::sqlite().await;
        let token = "metrics-token-0123456789";
        let app = router(
            AppState::new(t.store.clone()).with_metrics_token(token),
            Router::new(),
        );
        for method in ["BREW", "FROB", "X-RANDOM-1"] {
            let (status, _) = call(&app, method, "/healthz", None).await;
            assert_eq!(status, 405, "{method}");
        }
        let (status, body) = call(&app, "GET", "/metrics", None).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("\"code\":\"unauthenticated\""), "{body}");
        let (status, _) = call(&app, "GET", "/metrics", Some("metrics-token-0123456780")).await;
        assert_eq!(status, 401, "a wrong token");
        let (status, body) = call(&app, "GET", "/metrics", Some(token)).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains(
                "warden_http_requests_total{method=\"other\",route=\"/healthz\",status=\"405\"} 3"
            ),
            "{body}"
        );
        assert!(!body.contains("BREW") && !body.contains("FROB"), "{body}");

        // Without a token configured, anyone reads the metrics.
        let open = router(AppState::new(t.store.clone()), Router::new());
        let (status, _) = call(&open, "GET", "/metrics", None).await;
        assert_eq!(status, 200);
    }
}
