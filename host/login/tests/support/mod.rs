//! The harness of the login page tests: a bootstrapped instance with the plugin registry, served over real
//! HTTP on a loopback port (in this process), and a browser-like client (cookies kept, redirects not
//! followed).

#![allow(dead_code, unreachable_pub, unused_macros, clippy::unwrap_used)]

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use reqwest::{StatusCode, header};
use serde_json::json;
use warden_command::{
    Caller, Commands, CommandsConfig, FirstInstance, NewHumanUser, SecretString, bootstrap,
};
use warden_domain::user::Profile;
use warden_eventstore::{Store, testing::TestStore};
use warden_login::{Login, LoginConfig};
use warden_plugin::{PluginRuntime, RuntimeConfig};
use warden_plugins::{PluginRegistry, PluginService, PluginValidators};
use warden_query::{Consistency, ReadSide};
use warden_spooler::SpoolerConfig;

/// Runs each named test on SQLite and, when `WARDEN_TEST_POSTGRES_URL` is set, on PostgreSQL.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let t = warden_eventstore::testing::sqlite().await;
                    super::$name(t).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(t) = warden_eventstore::testing::postgres().await else {
                        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
                        return;
                    };
                    super::$name(t).await;
                }
            )*
        }
    };
}
pub(crate) use both_backends;

/// A strong password that meets the default complexity policy.
pub const PASSWORD: &str = "Correct-Horse-7";

/// One plugin runtime for all tests of the process.
pub fn runtime() -> PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime"))
        .clone()
}

/// A running instance with the login pages.
pub struct Server {
    pub url: String,
    pub store: Store,
    pub commands: Commands,
    pub registry: PluginRegistry,
    pub service: PluginService,
    pub read_side: ReadSide,
    pub instance_id: String,
    pub org_id: String,
    pub login: Login,
    task: tokio::task::JoinHandle<()>,
    follower: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    _test_store: TestStore,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        self.follower.abort();
    }
}

impl Server {
    pub async fn start(test_store: TestStore) -> Self {
        let store = test_store.store.clone();
        let registry = PluginRegistry::new(store.clone(), runtime());
        registry.sync().await.expect("sync");
        let follower = registry.spawn();
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
        let read_side = ReadSide::start(store.clone(), SpoolerConfig::new("login-test"))
            .await
            .expect("read side");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let url = format!("http://{addr}");
        let login = Login::new(
            commands.clone(),
            read_side.queries().clone(),
            report.instance_id.clone(),
            LoginConfig {
                external_url: url.clone(),
                csrf_key: [42; 32],
                session_max_age: warden_login::DEFAULT_SESSION_MAX_AGE,
            },
        )
        .with_plugins(registry.clone());
        let app = login.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let system = Caller::system(report.instance_id.clone());
        let org = commands
            .for_caller(&system)
            .add_org("Acme Corp")
            .await
            .expect("org");
        Self {
            url,
            store,
            service: PluginService::new(commands.clone(), registry.clone()),
            commands,
            registry,
            read_side,
            instance_id: report.instance_id,
            org_id: org.id,
            login,
            task,
            follower,
            _dir: dir,
            _test_store: test_store,
        }
    }

    pub fn system(&self) -> Caller {
        Caller::system(self.instance_id.clone())
    }

    /// A human user of the test organization with [`PASSWORD`], visible in the users view.
    pub async fn add_user(&self, login_name: &str) -> String {
        let details = self
            .commands
            .for_caller(&self.system())
            .add_human_user(&NewHumanUser {
                org_id: self.org_id.clone(),
                login_name: login_name.to_owned(),
                profile: Profile {
                    given_name: "Ada".into(),
                    family_name: login_name.into(),
                    display_name: String::new(),
                    preferred_language: String::new(),
                },
                email: format!("{login_name}@example.com"),
                email_verified: true,
                phone: None,
                password: Some(SecretString::new(PASSWORD)),
                password_change_required: false,
            })
            .await
            .expect("add user");
        self.read_side
            .queries()
            .user(&self.instance_id, &details.id, Consistency::Latest)
            .await
            .expect("user view")
            .expect("user in view");
        details.id
    }

    /// The types of the stored events of one aggregate type, in order (read from the table directly: the
    /// stream of PostgreSQL holds back events behind other transactions in flight).
    pub async fn event_types(&self, aggregate_type: &str) -> Vec<String> {
        let sql = "SELECT event_type FROM events WHERE aggregate_type = $1 ORDER BY position";
        let rows: Result<Vec<String>, sqlx::Error> = match &self.store {
            Store::Sqlite(s) => {
                sqlx::query_scalar(sql)
                    .bind(aggregate_type)
                    .fetch_all(s.reader())
                    .await
            }
            Store::Postgres(s) => {
                sqlx::query_scalar(sql)
                    .bind(aggregate_type)
                    .fetch_all(s.pool())
                    .await
            }
        };
        rows.expect("events")
    }

    /// A browser: cookies kept, redirects not followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("login-test/1.0")
            .build()
            .expect("client")
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Uploads the org-claims example action and binds it to `hook` with `allowed_networks` and a failure
    /// policy; waits until the registry has it loaded.
    pub async fn bind_org_claims(&self, hook: &str, networks: &str, policy: &str) {
        let bytes = warden_plugin_fixtures::bytes(warden_plugin_fixtures::ORG_CLAIMS);
        let caller = self.system();
        let plugin = self
            .service
            .upload(&caller, "org-claims", "networks", &bytes)
            .await
            .expect("upload");
        let settings = serde_json::from_value(json!({
            "target": { "kind": "action", "hook": hook, "order": 1 },
            "failure_policy": policy,
            "config": { "allowed_networks": networks },
        }))
        .expect("settings");
        self.service
            .add_binding(&caller, &plugin.id, &settings)
            .await
            .expect("bind");
        self.registry.sync().await.expect("sync");
    }
}

/// A page: status, headers and body.
pub struct Page {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The first form whose action is `action`.
    pub fn form(&self, action: &str) -> warden_login::testing::PageForm {
        warden_login::testing::forms(&self.body)
            .into_iter()
            .find(|f| f.action == action)
            .unwrap_or_else(|| panic!("no form {action} in:\n{}", self.body))
    }

    pub fn error(&self) -> Option<String> {
        warden_login::testing::error_text(&self.body)
    }

    /// The `Set-Cookie` value of cookie `name`, if set.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

pub async fn get(client: &reqwest::Client, url: &str) -> Page {
    page(client.get(url).send().await.expect("GET")).await
}

pub async fn post(client: &reqwest::Client, url: &str, fields: &[(String, String)]) -> Page {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        serializer.append_pair(k, v);
    }
    page(
        client
            .post(url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serializer.finish())
            .send()
            .await
            .expect("POST"),
    )
    .await
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    Page {
        status,
        headers,
        body,
    }
}

/// Goes to the password page for `login_name` and submits `password`; the answer to the password form.
pub async fn submit_password(
    server: &Server,
    client: &reqwest::Client,
    login_name: &str,
    password: &str,
) -> Page {
    let start = get(client, &server.at("/login")).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    let form = start.form("/login");
    let page = post(
        client,
        &server.at("/login"),
        &form.with("login_name", login_name),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = page.form("/login/password");
    post(
        client,
        &server.at("/login/password"),
        &form.with("password", password),
    )
    .await
}
