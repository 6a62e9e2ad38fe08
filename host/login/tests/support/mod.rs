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
use warden_plugin_host::{PluginRegistry, PluginService, PluginValidators};
use warden_query::{Consistency, ReadSide};
use warden_spooler::SpoolerConfig;
use warden_wasm_runtime::{PluginRuntime, RuntimeConfig};

pub(crate) use warden_eventstore::both_backends;

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
    pub secret_box: warden_command::seal::SecretBox,
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
        Self::start_with(test_store, false).await
    }

    /// With `oidc`, the OpenID Connect provider runs beside the pages (keys sealed by a fresh master key, and
    /// the same key seals TOTP secrets and mailed codes).
    pub async fn start_with(test_store: TestStore, oidc: bool) -> Self {
        let store = test_store.store.clone();
        let master_key = warden_oidc::MasterKey::generate().expect("master key");
        let secret_box = warden_command::seal::SecretBox::derived(
            master_key.expose(),
            warden_command::seal::PURPOSE,
        );
        let registry = PluginRegistry::new(store.clone(), runtime());
        registry.sync().await.expect("sync");
        let follower = registry.spawn();
        let commands = Commands::new(
            store.clone(),
            CommandsConfig {
                validators: vec![Arc::new(PluginValidators::new(registry.clone()))],
                secret_box: Some(secret_box.clone()),
                ..CommandsConfig::default()
            },
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
            .await
            .expect("bootstrap");
        let read_side = ReadSide::start(
            store.clone(),
            SpoolerConfig {
                // A bound against a hang, not a measurement: a loaded shared machine can hold
                // the spoolers back for seconds.
                catch_up_timeout: std::time::Duration::from_secs(30),
                ..SpoolerConfig::new("login-test")
            },
        )
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
        let mut app = login.router();
        if oidc {
            let provider = warden_oidc::Provider::new(
                warden_oidc::ProviderConfig::new(&url, master_key),
                commands.clone(),
                read_side.queries().clone(),
                &store,
            );
            provider
                .ensure_keys(&report.instance_id)
                .await
                .expect("signing keys");
            app = app.merge(provider.router(&report.instance_id, login.sessions()));
            login.set_auth_requests(provider.auth_requests());
        }
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
            secret_box,
            task,
            follower,
            _dir: dir,
            _test_store: test_store,
        }
    }

    /// A web application of a new project in the test organization (client secret, code flow); returns
    /// (client id, redirect URI).
    pub async fn app(&self) -> (String, String) {
        use warden_domain::application::{
            AccessTokenType, OidcAppType, OidcAuthMethod, OidcConfig, OidcGrantType,
            OidcResponseType,
        };
        let caller = self.system();
        let system = self.commands.for_caller(&caller);
        let project = system
            .add_project(&self.org_id, "Shop")
            .await
            .expect("project");
        let redirect_uri = "https://rp.example.com/callback".to_owned();
        let created = system
            .add_oidc_app(&warden_command::NewOidcApp {
                project_id: project.id,
                name: "Shop".into(),
                config: OidcConfig {
                    app_type: OidcAppType::Web,
                    redirect_uris: vec![redirect_uri.clone()],
                    post_logout_redirect_uris: vec![],
                    response_types: vec![OidcResponseType::Code],
                    grant_types: vec![OidcGrantType::AuthorizationCode],
                    auth_method: OidcAuthMethod::Basic,
                    require_pkce: false,
                    access_token_type: AccessTokenType::Jwt,
                    dev_mode: false,
                    id_token_signed_response_alg: None,
                    access_token_signed_response_alg: None,
                },
            })
            .await
            .expect("app");
        self.read_side
            .queries()
            .application(&self.instance_id, &created.details.id, Consistency::Latest)
            .await
            .expect("app view")
            .expect("app in view");
        (created.client_id, redirect_uri)
    }

    /// The authorization URL of the app with `extra` query parameters.
    pub fn authorize_url(&self, client_id: &str, redirect_uri: &str, extra: &str) -> String {
        let mut url = reqwest::Url::parse(&self.at("/oauth/v2/authorize")).expect("url");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid profile")
            .append_pair("state", "st-123");
        format!("{url}{extra}")
    }

    pub fn system(&self) -> Caller {
        Caller::system(self.instance_id.clone())
    }

    /// A human user of the test organization with [`PASSWORD`], visible in the users view.
    pub async fn add_user(&self, login_name: &str) -> String {
        self.add_user_with(login_name, false).await
    }

    /// [`add_user`](Self::add_user), with [`PASSWORD`] to be changed at the next login when
    /// `password_change_required`.
    pub async fn add_user_with(&self, login_name: &str, password_change_required: bool) -> String {
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
                password_change_required,
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

    /// Runs one statement on the store's database as it is, such as one that breaks a table under the pages.
    pub async fn execute(&self, sql: &str) {
        match &self.store {
            Store::Sqlite(s) => sqlx::query(sql).execute(s.writer()).await.map(drop),
            Store::Postgres(s) => sqlx::query(sql).execute(s.pool()).await.map(drop),
        }
        .expect("statement");
    }

    /// The code of the latest mail requested for `user_id`, opened as the mailer would.
    pub async fn mailed_code(&self, user_id: &str) -> String {
        let sql = "SELECT aggregate_id, payload FROM events WHERE event_type = 'notification.requested' \
                   ORDER BY position";
        type Row = (String, sqlx::types::Json<serde_json::Value>);
        let rows: Vec<Row> = match &self.store {
            Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.reader()).await,
            Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
        }
        .expect("notifications");
        let (id, payload) = rows
            .iter()
            .rev()
            .find(|(_, p)| p.0["user_id"] == user_id)
            .expect("a mail for the user");
        let sealed = payload.0["code_sealed"].as_str().expect("sealed code");
        let owner = warden_command::user_auth::notification_owner(&self.instance_id, id);
        String::from_utf8(self.secret_box.open(sealed, &owner).expect("opens")).expect("utf-8")
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
