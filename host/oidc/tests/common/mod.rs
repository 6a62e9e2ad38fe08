//! A provider served over real HTTP on a loopback port, over a fresh store, with an organization, a project,
//! and helpers to add users, apps and browser sessions.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::print_stderr)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use warden_command::{
    Caller, Commands, CommandsConfig, FirstInstance, NewApiApp, NewHumanUser, NewMachineUser,
    NewOidcApp, NewUserGrant, bootstrap,
};
use warden_domain::{
    application::{
        AccessTokenType, OidcAppType, OidcAuthMethod, OidcConfig, OidcGrantType, OidcResponseType,
    },
    project::ProjectRole,
    signing_key::SigningAlgorithm,
    user::Profile,
};
use warden_eventstore::testing::TestStore;
use warden_oidc::{
    MasterKey, OidcError, Provider, ProviderConfig,
    flow::{LoginSession, Sessions},
};
use warden_query::{Consistency, ReadSide};
use warden_spooler::SpoolerConfig;

/// Browser sessions for the tests: a `Cookie: sid=<key>` names a list of logged-in sessions.
#[derive(Debug, Default)]
pub struct TestSessions {
    by_cookie: Mutex<HashMap<String, Vec<LoginSession>>>,
    pub terminated: Mutex<Vec<Option<String>>>,
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(http::header::COOKIE)?.to_str().ok()?;
    text.split(';')
        .filter_map(|part| part.trim().strip_prefix("sid="))
        .next()
        .map(str::to_owned)
}

#[async_trait::async_trait]
impl Sessions for TestSessions {
    async fn sessions(
        &self,
        _instance_id: &str,
        headers: &HeaderMap,
    ) -> Result<Vec<LoginSession>, OidcError> {
        let Some(key) = cookie(headers) else {
            return Ok(Vec::new());
        };
        Ok(self
            .by_cookie
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default())
    }

    async fn terminate(
        &self,
        _instance_id: &str,
        headers: &HeaderMap,
        session_id: Option<&str>,
    ) -> Vec<HeaderValue> {
        self.terminated
            .lock()
            .unwrap()
            .push(session_id.map(str::to_owned));
        if let Some(key) = cookie(headers) {
            self.by_cookie.lock().unwrap().remove(&key);
        }
        vec![HeaderValue::from_static("sid=; Max-Age=0; Path=/")]
    }
}

/// A running provider.
pub struct Env {
    pub base: String,
    pub http: reqwest::Client,
    pub commands: Commands,
    pub read: ReadSide,
    pub provider: Provider,
    pub instance_id: String,
    pub org_id: String,
    pub project_id: String,
    pub sessions: Arc<TestSessions>,
    pub registry: warden_plugin_host::PluginRegistry,
    pub master_key: MasterKey,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    _t: TestStore,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An OIDC app as created.
pub struct App {
    pub app_id: String,
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// Starts the provider over `t`, with the test's own browser sessions.
pub async fn start(t: TestStore) -> Env {
    start_with(t, false).await
}

/// Starts the provider over `t` together with Warden's login pages (`warden-login`), which own the sessions.
pub async fn start_with_login(t: TestStore) -> Env {
    start_with(t, true).await
}

/// The password of the users [`Env::human`] creates.
pub const PASSWORD: &str = "Correct-Horse-Battery-9";

async fn start_with(t: TestStore, login_pages: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let registry = warden_plugin_host::PluginRegistry::new(t.store.clone(), runtime());
    registry.sync().await.unwrap();
    let commands = Commands::new(t.store.clone(), CommandsConfig::default());
    let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
        .await
        .unwrap();
    let read = ReadSide::start(
        t.store.clone(),
        SpoolerConfig {
            // A bound against a hang, not a measurement: a loaded shared machine can hold
            // the spoolers back for seconds.
            catch_up_timeout: std::time::Duration::from_secs(30),
            ..SpoolerConfig::generated()
        },
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let master_key = MasterKey::generate().unwrap();
    let provider = Provider::new(
        ProviderConfig::new(&base, master_key.clone()),
        commands.clone(),
        read.queries().clone(),
        &t.store,
    );
    provider.ensure_keys(&report.instance_id).await.unwrap();
    provider.set_plugins(registry.clone());
    let sessions = Arc::new(TestSessions::default());
    let app = if login_pages {
        let login = warden_login::Login::new(
            commands.clone(),
            read.queries().clone(),
            report.instance_id.clone(),
            warden_login::LoginConfig {
                external_url: base.clone(),
                csrf_key: warden_login::LoginConfig::csrf_key_from(b"test master key"),
                session_max_age: warden_login::DEFAULT_SESSION_MAX_AGE,
            },
        );
        login.set_auth_requests(provider.auth_requests());
        provider
            .router(&report.instance_id, login.sessions())
            .merge(login.router())
    } else {
        provider.router(&report.instance_id, sessions.clone())
    };
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let caller = Caller::system(&report.instance_id);
    let system = commands.for_caller(&caller);
    let org_id = system.add_org("Acme").await.unwrap().id;
    let project_id = system.add_project(&org_id, "Shop").await.unwrap().id;
    for key in ["admin", "reader"] {
        system
            .add_project_role(
                &project_id,
                &ProjectRole {
                    key: key.into(),
                    display_name: key.into(),
                    group: String::new(),
                },
            )
            .await
            .unwrap();
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        base,
        http,
        commands,
        read,
        provider,
        instance_id: report.instance_id,
        org_id,
        project_id,
        sessions,
        registry,
        master_key,
        server,
        _dir: dir,
        _t: t,
    }
}

/// One plugin runtime for all tests of a binary (compiled code is shared).
fn runtime() -> warden_wasm_runtime::PluginRuntime {
    static RUNTIME: std::sync::OnceLock<warden_wasm_runtime::PluginRuntime> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            warden_wasm_runtime::PluginRuntime::new(warden_wasm_runtime::RuntimeConfig::default())
                .unwrap()
        })
        .clone()
}

impl Env {
    /// Uploads the org-claims example action and binds it to `hook` with `policy`.
    pub async fn bind_org_claims(&self, hook: &str, policy: &str) {
        let bytes = warden_plugin_fixtures::bytes(warden_plugin_fixtures::ORG_CLAIMS);
        let caller = Caller::system(&self.instance_id);
        let service =
            warden_plugin_host::PluginService::new(self.commands.clone(), self.registry.clone());
        let plugin = service
            .upload(&caller, "org-claims", "claims", &bytes)
            .await
            .unwrap();
        let settings = serde_json::from_value(serde_json::json!({
            "target": { "kind": "action", "hook": hook, "order": 1 },
            "failure_policy": policy,
            "config": { "org_claim": "organization", "allowed_networks": "" },
        }))
        .unwrap();
        service
            .add_binding(&caller, &plugin.id, &settings)
            .await
            .unwrap();
        self.registry.sync().await.unwrap();
    }
}

/// A code verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Env {
    fn caller(&self) -> Caller {
        Caller::system(&self.instance_id)
    }

    /// The store the provider runs on.
    pub fn store(&self) -> &warden_eventstore::Store {
        &self._t.store
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A machine user with a client secret: (user id, login name, secret).
    pub async fn machine(&self, login_name: &str) -> (String, String, String) {
        self.machine_with(login_name, AccessTokenType::Jwt).await
    }

    /// [`Env::machine`] whose access tokens are of `access_token_type`.
    pub async fn machine_with(
        &self,
        login_name: &str,
        access_token_type: AccessTokenType,
    ) -> (String, String, String) {
        let caller = self.caller();
        let system = self.commands.for_caller(&caller);
        let id = system
            .add_machine_user(&NewMachineUser {
                org_id: self.org_id.clone(),
                login_name: login_name.into(),
                name: login_name.into(),
                description: String::new(),
                access_token_type,
            })
            .await
            .unwrap()
            .id;
        let secret = system.set_machine_secret(&id).await.unwrap().secret;
        // The login name is looked up in the users view.
        self.read
            .queries()
            .user(&self.instance_id, &id, Consistency::Latest)
            .await
            .unwrap()
            .unwrap();
        (id, login_name.to_owned(), secret.expose().to_owned())
    }

    /// A human user, granted `roles` in the project.
    pub async fn human(&self, login_name: &str, roles: &[&str]) -> String {
        let caller = self.caller();
        let system = self.commands.for_caller(&caller);
        let id = system
            .add_human_user(&NewHumanUser {
                org_id: self.org_id.clone(),
                login_name: login_name.into(),
                profile: Profile {
                    given_name: "Ada".into(),
                    family_name: "Lovelace".into(),
                    display_name: "Ada Lovelace".into(),
                    preferred_language: "en".into(),
                },
                email: format!("{login_name}@example.com"),
                email_verified: true,
                phone: Some("+41791234567".into()),
                password: Some(warden_command::SecretString::new(PASSWORD)),
                password_change_required: false,
            })
            .await
            .unwrap()
            .id;
        if !roles.is_empty() {
            let grant = system
                .add_user_grant(&NewUserGrant {
                    user_id: id.clone(),
                    project_id: self.project_id.clone(),
                    project_grant_id: None,
                    role_keys: roles.iter().map(|r| (*r).to_owned()).collect(),
                })
                .await
                .unwrap();
            self.read
                .queries()
                .user_grant(&self.instance_id, &grant.id, Consistency::Latest)
                .await
                .unwrap()
                .unwrap();
        }
        id
    }

    /// An OIDC app with the given app type and auth method, code + refresh grants.
    pub async fn app(&self, app_type: OidcAppType, auth: OidcAuthMethod, opaque: bool) -> App {
        self.app_signing(app_type, auth, opaque, None, None).await
    }

    /// [`app`](Self::app) with the algorithms of its ID tokens and JWT access tokens (`None`: the defaults).
    pub async fn app_signing(
        &self,
        app_type: OidcAppType,
        auth: OidcAuthMethod,
        opaque: bool,
        id_token_alg: Option<SigningAlgorithm>,
        access_token_alg: Option<SigningAlgorithm>,
    ) -> App {
        let redirect_uri = match app_type {
            OidcAppType::Native => "http://127.0.0.1/callback".to_owned(),
            _ => "https://rp.example.com/callback".to_owned(),
        };
        let caller = self.caller();
        let system = self.commands.for_caller(&caller);
        let created = system
            .add_oidc_app(&NewOidcApp {
                project_id: self.project_id.clone(),
                name: "Relying Party".into(),
                config: OidcConfig {
                    app_type,
                    redirect_uris: vec![redirect_uri.clone()],
                    post_logout_redirect_uris: vec!["https://rp.example.com/bye".into()],
                    response_types: vec![OidcResponseType::Code],
                    grant_types: vec![
                        OidcGrantType::AuthorizationCode,
                        OidcGrantType::RefreshToken,
                    ],
                    auth_method: auth,
                    require_pkce: auth == OidcAuthMethod::None,
                    access_token_type: if opaque {
                        AccessTokenType::Opaque
                    } else {
                        AccessTokenType::Jwt
                    },
                    dev_mode: false,
                    id_token_signed_response_alg: id_token_alg,
                    access_token_signed_response_alg: access_token_alg,
                },
            })
            .await
            .unwrap();
        // The client id is looked up in the applications view.
        self.read
            .queries()
            .application(&self.instance_id, &created.details.id, Consistency::Latest)
            .await
            .unwrap()
            .unwrap();
        App {
            app_id: created.details.id,
            client_id: created.client_id,
            secret: created.client_secret.map(|s| s.expose().to_owned()),
            redirect_uri,
        }
    }

    /// Logs `user_id` in for the browser cookie `key` (auth_time now - `age` seconds).
    pub fn log_in(&self, key: &str, user_id: &str, age: i64) -> LoginSession {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let session = LoginSession {
            session_id: format!("session-{key}-{user_id}"),
            user_id: user_id.to_owned(),
            org_id: self.org_id.clone(),
            auth_time: now - age,
            amr: vec!["pwd".into()],
            acr: None,
        };
        self.sessions
            .by_cookie
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push(session.clone());
        session
    }

    /// `GET /oauth/v2/authorize` with `params` and the browser cookie `key`; returns (status, Location, body).
    pub async fn authorize(
        &self,
        cookie: Option<&str>,
        params: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        let mut request = self.http.get(self.url("/oauth/v2/authorize")).query(params);
        if let Some(key) = cookie {
            request = request.header("cookie", format!("sid={key}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }

    /// Runs the code flow for a logged-in browser; returns the code from the redirect.
    pub async fn code(
        &self,
        app: &App,
        cookie: &str,
        challenge: Option<&str>,
        scope: &str,
    ) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", app.redirect_uri.as_str()),
            ("scope", scope),
            ("state", "st-1"),
            ("nonce", "n-1"),
        ];
        if let Some(challenge) = challenge {
            params.push(("code_challenge", challenge));
            params.push(("code_challenge_method", "S256"));
        }
        let (status, location, body) = self.authorize(Some(cookie), &params).await;
        assert_eq!(status, 303, "{body}");
        let q = query(&location.unwrap());
        assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
        assert_eq!(q.get("iss"), Some(&self.base));
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {q:?}"))
    }

    /// `POST /oauth/v2/token` as `app` (Basic when it has a secret), returning (status, body).
    pub async fn token(&self, app: &App, form: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.http.post(self.url("/oauth/v2/token"));
        let mut form: Vec<(&str, &str)> = form.to_vec();
        match &app.secret {
            Some(secret) => request = request.basic_auth(&app.client_id, Some(secret)),
            None => form.push(("client_id", &app.client_id)),
        }
        let response = request.form(&form).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Introspects `token` as the confidential client `client_id`/`secret`.
    pub async fn introspect(&self, client_id: &str, secret: &str, token: &str) -> Value {
        self.http
            .post(self.url("/oauth/v2/introspect"))
            .basic_auth(client_id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /oauth/v2/userinfo` with a bearer token: (status, body).
    pub async fn userinfo(&self, token: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url("/oauth/v2/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The JWKS.
    pub async fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.http
            .get(self.url("/oauth/v2/keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Verifies a token against the JWKS like a relying party: the key its kid names, that key's algorithm.
    pub async fn verify(&self, token: &str, audience: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let jwks = self.jwks().await;
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("kid in JWKS");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&self.base]);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap()
            .claims
    }
}

impl Env {
    /// An API application (a resource server) of `project_id` with `auth`; its secret with `basic`.
    pub async fn api_app(
        &self,
        project_id: &str,
        auth: warden_domain::application::ApiAuthMethod,
    ) -> App {
        self.api_app_with(project_id, auth, AccessTokenType::Jwt)
            .await
    }

    /// [`Env::api_app`] whose own access tokens are of `access_token_type`.
    pub async fn api_app_with(
        &self,
        project_id: &str,
        auth: warden_domain::application::ApiAuthMethod,
        access_token_type: AccessTokenType,
    ) -> App {
        let caller = self.caller();
        let created = self
            .commands
            .for_caller(&caller)
            .add_api_app(&NewApiApp {
                project_id: project_id.to_owned(),
                name: "Resource server".into(),
                config: warden_domain::application::ApiConfig {
                    auth_method: auth,
                    access_token_type,
                },
            })
            .await
            .unwrap();
        self.read
            .queries()
            .application(&self.instance_id, &created.details.id, Consistency::Latest)
            .await
            .unwrap()
            .unwrap();
        App {
            app_id: created.details.id,
            client_id: created.client_id,
            secret: created.client_secret.map(|s| s.expose().to_owned()),
            redirect_uri: String::new(),
        }
    }
}
