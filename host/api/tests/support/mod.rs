//! Test support: a bootstrapped instance behind the router, called with `oneshot` (no socket).

#![allow(dead_code, unreachable_pub)]

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use warden_api::{ApiState, router_with};
use warden_command::{Commands, CommandsConfig, FirstInstance, bootstrap};
use warden_eventstore::{Store, testing::TestStore};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;

/// A response: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The body's `id`.
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {self:?}"))
            .to_owned()
    }

    /// Asserts the status and returns self.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "unexpected answer: {:#}", self.body);
        self
    }

    /// Asserts an error answer with `status` and `code`, returns the field named.
    #[track_caller]
    pub fn error(self, status: StatusCode, code: &str) -> Option<String> {
        assert_eq!(self.status, status, "unexpected answer: {:#}", self.body);
        assert_eq!(self.body["code"], code, "unexpected error: {:#}", self.body);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a message: {:#}",
            self.body
        );
        self.body["field"].as_str().map(str::to_owned)
    }
}

/// A bootstrapped instance and its API.
pub struct Api {
    pub app: Router,
    pub commands: Commands,
    pub store: Store,
    pub instance_id: String,
    pub org_id: String,
    pub admin_id: String,
    pub token: String,
    pub read_side: ReadSide,
    _dir: tempfile::TempDir,
    _test_store: TestStore,
}

impl Api {
    /// Bootstraps the default instance on `test_store` and builds the router.
    pub async fn start(test_store: TestStore) -> Self {
        Self::start_with(test_store, |_, _| Vec::new()).await
    }

    /// Bootstraps the default instance on `test_store` and builds the router with the endpoints `more`
    /// makes from the command pipeline and the instance id.
    pub async fn start_with(
        test_store: TestStore,
        more: impl FnOnce(&Commands, &str) -> Vec<warden_api::Endpoint>,
    ) -> Self {
        let store = test_store.store.clone();
        let commands = Commands::new(
            store.clone(),
            CommandsConfig {
                secret_box: Some(warden_command::seal::SecretBox::generate().expect("key")),
                ..CommandsConfig::default()
            },
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
            .await
            .expect("bootstrap");
        let path = report.admin_token_path.expect("token written");
        let token = std::fs::read_to_string(path)
            .expect("read token")
            .trim()
            .to_owned();
        let read_side = ReadSide::start(store.clone(), SpoolerConfig::new("test-node"))
            .await
            .expect("start the read side");
        let app = router_with(
            ApiState::new(commands.clone(), report.instance_id.clone(), &read_side),
            more(&commands, &report.instance_id),
        );
        Self {
            app,
            commands,
            store,
            instance_id: report.instance_id,
            org_id: report.org_id,
            admin_id: report.admin_user_id,
            token,
            read_side,
            _dir: dir,
            _test_store: test_store,
        }
    }

    /// Sends a request with the given token and raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::from(body)).expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends a JSON request (or one without body) as `token`.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        match body {
            Some(body) => {
                let bytes = serde_json::to_vec(&body).expect("json");
                self.raw(
                    method,
                    path,
                    Some(token),
                    Some("application/json"),
                    bytes,
                    &[],
                )
                .await
            }
            None => {
                self.raw(method, path, Some(token), None, Vec::new(), &[])
                    .await
            }
        }
    }

    /// Sends a JSON request (or one without body) as the administrator.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.call(Method::POST, path, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    /// The number of stored events (including those not yet visible to stream readers).
    pub async fn event_count(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM events";
        match &self.store {
            Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.reader()).await,
            Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
        }
        .expect("count events")
    }

    /// Creates an organization, returns its id.
    pub async fn org(&self, name: &str) -> String {
        self.post("/api/v1/orgs", json!({ "name": name }))
            .await
            .expect(StatusCode::CREATED)
            .id()
    }

    /// Creates a human user in `org_id`, returns its id.
    pub async fn human(&self, org_id: &str, login_name: &str) -> String {
        self.post(
            "/api/v1/users/human",
            json!({
                "org_id": org_id,
                "login_name": login_name,
                "given_name": "Ada",
                "family_name": "Lovelace",
                "email": format!("{login_name}@example.com"),
            }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id()
    }

    /// Creates a machine user in `org_id` with a token; returns its id and token.
    pub async fn machine_with_token(&self, org_id: &str, login_name: &str) -> (String, String) {
        let id = self
            .post(
                "/api/v1/users/machine",
                json!({ "org_id": org_id, "login_name": login_name, "name": login_name }),
            )
            .await
            .expect(StatusCode::CREATED)
            .id();
        let token = self
            .post_empty(&format!("/api/v1/users/{id}/pats"))
            .await
            .expect(StatusCode::CREATED);
        let token = token.body["token"].as_str().expect("token").to_owned();
        (id, token)
    }

    /// Creates a project in `org_id`, returns its id.
    pub async fn project(&self, org_id: &str, name: &str) -> String {
        self.post(
            "/api/v1/projects",
            json!({ "org_id": org_id, "name": name }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id()
    }
}
