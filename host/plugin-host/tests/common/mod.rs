//! The harness of the plugin API tests: a bootstrapped instance with the plugin registry, validators,
//! projection plugins and both routers, driven through `tower::ServiceExt::oneshot`.

#![allow(dead_code, unreachable_pub, unused_macros)]

use std::sync::{Arc, OnceLock};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use warden_api::ApiState;
use warden_command::{Commands, CommandsConfig, FirstInstance, bootstrap};
use warden_eventstore::{Store, testing::TestStore};
use warden_plugin_fixtures as fixtures;
use warden_plugin_host::{PluginApiState, PluginRegistry, PluginService, PluginValidators};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;
use warden_wasm_runtime::{PluginRuntime, RuntimeConfig};

/// One plugin runtime for all tests (as in the server: one per process).
pub fn runtime() -> PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime"))
        .clone()
}

/// A bootstrapped instance with the plugin registry, validators and both routers.
pub struct Server {
    pub app: Router,
    pub registry: PluginRegistry,
    pub service: PluginService,
    pub store: Store,
    pub instance_id: String,
    pub org_id: String,
    pub token: String,
    pub read_side: ReadSide,
    _dir: tempfile::TempDir,
    _test_store: TestStore,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Server {
    pub async fn start(test_store: TestStore) -> Self {
        let store = test_store.store.clone();
        let registry = PluginRegistry::new(store.clone(), runtime());
        registry.sync().await.expect("sync");
        let commands = Commands::new(
            store.clone(),
            CommandsConfig {
                validators: vec![Arc::new(PluginValidators::new(registry.clone()))],
                ..CommandsConfig::default()
            },
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
            .await
            .expect("bootstrap");
        let token = std::fs::read_to_string(report.admin_token_path.expect("token"))
            .expect("token file")
            .trim()
            .to_owned();
        let read_side = ReadSide::start(store.clone(), SpoolerConfig::new("test-node"))
            .await
            .expect("read side");
        let projections = warden_plugin_host::projection::ProjectionPlugins::new(
            store.clone(),
            read_side.spoolers().clone(),
            runtime(),
        );
        let _follower = projections.spawn(registry.projections());
        let service = PluginService::new(commands.clone(), registry.clone());
        let app = warden_api::router_with(
            ApiState::new(commands.clone(), report.instance_id.clone(), &read_side),
            PluginApiState::new(service.clone(), report.instance_id.clone()).into_endpoints(),
        );
        Self {
            app,
            registry,
            service,
            store,
            instance_id: report.instance_id,
            org_id: report.org_id,
            token,
            read_side,
            _dir: dir,
            _test_store: test_store,
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Body, content_type: &str) -> Reply {
        send(&self.app, &self.token, method, path, body, content_type).await
    }

    pub async fn json(&self, method: Method, path: &str, body: Value) -> Reply {
        self.send(
            method,
            path,
            Body::from(body.to_string()),
            "application/json",
        )
        .await
    }

    pub async fn upload(&self, name: &str, path: &str) -> String {
        let reply = self
            .send(
                Method::POST,
                &format!("/api/v1/plugins?name={name}"),
                Body::from(fixtures::bytes(path)),
                "application/wasm",
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:#}", reply.body);
        reply.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn add_user(&self, login_name: &str, email: &str) -> Reply {
        self.json(
            Method::POST,
            "/api/v1/users/human",
            json!({
                "org_id": self.org_id,
                "login_name": login_name,
                "given_name": "Ada",
                "family_name": "Lovelace",
                "email": email,
            }),
        )
        .await
    }
}

pub async fn send(
    app: &Router,
    token: &str,
    method: Method,
    path: &str,
    body: Body,
    content_type: &str,
) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    Reply { status, body }
}
