//! Warden's management console: plain HTML, CSS and JavaScript modules from the repository's `console/`
//! directory, embedded in the binary at build time and served under `/console/`.
//!
//! The console is a public OIDC client of Warden itself (authorization code with PKCE); it learns the
//! issuer and its client id from `GET /console/config.json`. Every page is answered with a strict
//! `Content-Security-Policy` (no inline script or style, no framing), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`; files are revalidated by their `ETag` (`Cache-Control: no-cache`), so a new
//! binary's files are used at once.
//!
//! ```no_run
//! let app = warden_console::router(warden_console::ConsoleConfig {
//!     issuer: "http://127.0.0.1:8080".to_owned(),
//!     client_id: Some("client-id".to_owned()),
//! });
//! # let _: axum::Router = app;
//! ```

#![warn(missing_docs)]

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use sha2::{Digest, Sha256};

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// The `Content-Security-Policy` of every console response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'";

/// What the console needs to know to sign in, served as `GET /console/config.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsoleConfig {
    /// The OIDC issuer (Warden's external URL, no trailing slash).
    pub issuer: String,
    /// The console application's client id; `None` when it is not registered (sign-in is then impossible
    /// and the console says so).
    pub client_id: Option<String>,
}

/// One embedded file, ready to serve.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    bytes: &'static [u8],
    etag: HeaderValue,
}

#[derive(Debug)]
struct Inner {
    assets: HashMap<&'static str, Asset>,
    config: Vec<u8>,
}

/// The paths of the embedded files (relative to `/console/`), for tests and diagnostics.
pub fn files() -> impl Iterator<Item = &'static str> {
    assets::FILES.iter().map(|(path, _, _)| *path)
}

/// The console's routes: `/console`, `/console/` (the single page), `/console/callback` (where sign-in
/// returns, the same page), `/console/config.json` and the embedded files under `/console/`.
pub fn router(config: ConsoleConfig) -> Router {
    let assets = assets::FILES
        .iter()
        .map(|(path, content_type, bytes)| {
            let digest = hex::encode(&Sha256::digest(bytes)[..12]);
            let etag = HeaderValue::from_str(&format!("\"{digest}\""))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
            (
                *path,
                Asset {
                    content_type,
                    bytes,
                    etag,
                },
            )
        })
        .collect();
    let config = serde_json::to_vec(&config).unwrap_or_else(|_| b"{}".to_vec());
    let state = Arc::new(Inner { assets, config });
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/callback", get(index))
        .route("/console/config.json", get(config_json))
        .route("/console/{*path}", get(file))
        .with_state(state)
}

/// Headers every console response carries.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn serve(inner: &Inner, path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = inner.assets.get(path) else {
        return secured(
            (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "not found\n",
            )
                .into_response(),
        );
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == asset.etag.as_bytes());
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, asset.etag.clone()),
    ];
    if fresh {
        return secured((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    secured((headers, asset.bytes).into_response())
}

async fn index(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    serve(&inner, "index.html", &headers)
}

async fn file(
    State(inner): State<Arc<Inner>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&inner, &path, &headers)
}

async fn config_json(State(inner): State<Arc<Inner>>) -> Response {
    secured(
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            inner.config.clone(),
        )
            .into_response(),
    )
}
