//! The console's files as the router serves them: types, caching, the security headers, the sign-in
//! configuration, and 404 for what is not there.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use tower::ServiceExt;
use warden_console::{CONTENT_SECURITY_POLICY, ConsoleConfig, router};

fn app() -> axum::Router {
    router(ConsoleConfig {
        issuer: "https://id.example.com".to_owned(),
        client_id: Some("console-client".to_owned()),
    })
}

async fn get(path: &str, if_none_match: Option<&str>) -> axum::response::Response {
    let mut request = Request::builder().uri(path);
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    app()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response")
}

fn header_of(response: &axum::response::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn the_page_and_its_modules_are_served_with_their_types_and_a_strict_policy() {
    for (path, kind) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/callback", "text/html; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/js/app.js", "text/javascript; charset=utf-8"),
        (
            "/console/js/pages/plugins.js",
            "text/javascript; charset=utf-8",
        ),
        ("/console/favicon.svg", "image/svg+xml"),
    ] {
        let response = get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), kind, "{path}");
        assert_eq!(
            header_of(&response, header::CACHE_CONTROL),
            "no-cache",
            "{path}"
        );
        assert_eq!(
            header_of(&response, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY,
            "{path}"
        );
        assert_eq!(
            header_of(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        assert!(!header_of(&response, header::ETAG).is_empty(), "{path}");
    }
    assert!(CONTENT_SECURITY_POLICY.starts_with(
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
    ));
    let page = get("/console/", None).await;
    let body = page.into_body().collect().await.expect("body").to_bytes();
    let html = String::from_utf8_lossy(&body);
    assert!(html.contains(r#"<script type="module" src="/console/js/app.js"></script>"#));
    assert!(
        !html.contains("<style"),
        "no inline style: the policy forbids it"
    );
}

#[tokio::test]
async fn every_module_the_page_imports_is_embedded() {
    let files: Vec<&str> = warden_console::files().collect();
    for file in &files {
        if !file.ends_with(".js") {
            continue;
        }
        let response = get(&format!("/console/{file}"), None).await;
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let source = String::from_utf8_lossy(&body);
        for line in source
            .lines()
            .filter(|l| l.trim_start().starts_with("import "))
        {
            let Some(target) = line.split('\'').nth(1) else {
                continue;
            };
            let base = std::path::Path::new(file).parent().expect("parent");
            let mut resolved = Vec::new();
            for part in base.join(target).components() {
                match part {
                    std::path::Component::ParentDir => {
                        resolved.pop();
                    }
                    std::path::Component::Normal(p) => {
                        resolved.push(p.to_string_lossy().into_owned())
                    }
                    _ => {}
                }
            }
            let resolved = resolved.join("/");
            assert!(
                files.contains(&resolved.as_str()),
                "{file} imports {target}, which is not embedded"
            );
        }
    }
}

#[tokio::test]
async fn an_unchanged_file_is_not_sent_again() {
    let first = get("/console/js/app.js", None).await;
    let tag = header_of(&first, header::ETAG).to_owned();
    let again = get("/console/js/app.js", Some(&tag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let changed = get("/console/js/app.js", Some("\"other\"")).await;
    assert_eq!(changed.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_sign_in_configuration_names_the_issuer_and_client() {
    let response = get("/console/config.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, header::CACHE_CONTROL), "no-store");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let config: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        config,
        serde_json::json!({ "issuer": "https://id.example.com", "client_id": "console-client" })
    );
}

#[tokio::test]
async fn missing_files_are_404_and_the_bare_path_redirects() {
    for path in [
        "/console/nope.js",
        "/console/../Cargo.toml",
        "/console/js/../../secret",
    ] {
        let response = get(path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header_of(&response, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
    }
    let bare = get("/console", None).await;
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header_of(&bare, header::LOCATION), "/console/");
}
