//! The provider: configuration, clients, users, and the issuing of codes and tokens.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use warden_command::{Commands, secret};
use warden_domain::{
    Lifecycle,
    application::{
        AccessTokenType, AppConfig, Application, OidcAuthMethod, OidcConfig, OidcGrantType,
    },
    org::Organization,
    signing_key::SigningAlgorithm,
    user::User,
};
use warden_eventstore::Store;
use warden_query::{Page, Queries, State, UserGrantQuery};
use warden_spooler::Db;

use crate::{
    OidcError,
    crypto::{self, MasterKey},
    db::Rows,
    keys::{KeyConfig, KeyStore, now_ms},
    verified::{self, VerifiedTokens},
};

/// The audience (and scope) that makes an access token usable at Warden's management API.
pub const MANAGEMENT_API_AUDIENCE: &str = "urn:warden:api";

/// The claim holding the user's roles in the application's project.
pub const ROLES_CLAIM: &str = "urn:warden:project:roles";

/// The provider's settings.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The issuer: the external URL, without a trailing slash.
    pub issuer: String,
    /// The key that seals the signing keys at rest.
    pub master_key: MasterKey,
    /// Rotation of the signing keys.
    pub keys: KeyConfig,
    /// Lifetime of access tokens.
    pub access_token_lifetime: Duration,
    /// Lifetime of ID tokens.
    pub id_token_lifetime: Duration,
    /// Lifetime of refresh tokens (each rotation issues a new one with a fresh lifetime).
    pub refresh_token_lifetime: Duration,
    /// The algorithm of ID tokens of apps that choose none: RS256, which every client supports.
    pub id_token_algorithm: SigningAlgorithm,
    /// The algorithm of JWT access tokens of apps that choose none (ES256: cheap to sign and verify).
    pub access_token_algorithm: SigningAlgorithm,
}

impl ProviderConfig {
    /// Defaults for `issuer` and `master_key`: 1 h access and ID tokens, 30-day refresh tokens, RS256 ID
    /// tokens, ES256 access tokens.
    pub fn new(issuer: impl Into<String>, master_key: MasterKey) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            master_key,
            keys: KeyConfig::default(),
            access_token_lifetime: Duration::from_secs(3600),
            id_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            id_token_algorithm: SigningAlgorithm::RS256,
            access_token_algorithm: SigningAlgorithm::ES256,
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The OpenID Connect provider of a Warden node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Provider {
    pub(crate) core: Arc<Core>,
}

#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) config: ProviderConfig,
    pub(crate) commands: Commands,
    pub(crate) queries: Queries,
    pub(crate) rows: Rows,
    pub(crate) keys: KeyStore,
    /// The action plugins (pre-token, pre-userinfo), once wired.
    pub(crate) plugins: std::sync::OnceLock<warden_plugin_host::PluginRegistry>,
    /// What each client id named when last looked up in the views; checked against the write model at every
    /// use (see [`Core::app_by_client_id`]).
    client_ids: Mutex<HashMap<(String, String), ClientRef>>,
    /// JWT access tokens whose signature was checked (see [`crate::verified`]).
    verified: VerifiedTokens,
}

/// The aggregate a client id names.
#[derive(Debug, Clone)]
enum ClientRef {
    App(String),
    Machine(String),
}

/// The most client ids remembered; past it the map starts again (lookups fall back to the views).
const MAX_CLIENT_IDS: usize = 100_000;

/// A client, as authenticated (or identified) at an endpoint.
#[derive(Debug, Clone)]
pub(crate) enum Client {
    /// An application (OIDC or API).
    App {
        app_id: String,
        app: Arc<Application>,
    },
    /// A machine user acting as its own client (client credentials, JWT profile).
    Machine { user_id: String },
}

impl Client {
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Client::App { app, .. } => &app.client_id,
            Client::Machine { user_id } => user_id,
        }
    }

    /// The kind of access token the client gets: its app's choice, or for a machine user acting as its own
    /// client, that user's (`user`, the token's user).
    pub(crate) fn access_token_type(&self, user: &User) -> AccessTokenType {
        match self {
            Client::App { app, .. } => match &app.config {
                Some(AppConfig::Oidc(c)) => c.access_token_type,
                Some(AppConfig::Api(c)) => c.access_token_type,
                None => AccessTokenType::Jwt,
            },
            Client::Machine { .. } => user
                .machine()
                .map_or(AccessTokenType::Jwt, |m| m.access_token_type),
        }
    }

    pub(crate) fn oidc(&self) -> Option<&OidcConfig> {
        match self {
            Client::App { app, .. } => match &app.config {
                Some(AppConfig::Oidc(c)) => Some(c),
                _ => None,
            },
            Client::Machine { .. } => None,
        }
    }
}

/// What a code carries to the token endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CodeData {
    pub(crate) client_id: String,
    pub(crate) app_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) session_id: String,
    pub(crate) auth_time: i64,
    pub(crate) amr: Vec<String>,
    pub(crate) acr: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) scope: Vec<String>,
    pub(crate) code_challenge: Option<String>,
}

/// What a refresh token row carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefreshData {
    pub(crate) app_id: String,
    pub(crate) scope: Vec<String>,
    pub(crate) session_id: String,
    pub(crate) auth_time: i64,
    pub(crate) amr: Vec<String>,
    pub(crate) acr: Option<String>,
}

/// What an opaque access token row carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OpaqueData {
    pub(crate) app_id: Option<String>,
    pub(crate) scope: Vec<String>,
    pub(crate) aud: Vec<String>,
}

/// The claims of a JWT access token (RFC 9068).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: Vec<String>,
    pub(crate) client_id: String,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) jti: String,
    #[serde(default)]
    pub(crate) scope: String,
    /// The grant (login) the token comes from; revoked with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auth_time: Option<i64>,
}

/// A token as issued at the token endpoint.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) token_type: &'static str,
    pub(crate) expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    pub(crate) scope: String,
}

/// Who an access token stands for, as found by [`Provider::authenticate_access_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenSubject {
    /// The user.
    pub user_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Its audiences.
    pub audience: Vec<String>,
    /// Its scopes.
    pub scope: Vec<String>,
    /// When it was issued (Unix seconds).
    pub issued_at: i64,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
    /// Its id (`jti`, or the row id of an opaque token).
    pub token_id: String,
    /// True for an API application's own token (client credentials): no user stands behind it and
    /// `user_id` holds the application's client id (the token's `sub`).
    pub application: bool,
}

/// The login behind an issued token, when there is one.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub(crate) grant_id: String,
    pub(crate) session_id: String,
    pub(crate) auth_time: i64,
    pub(crate) amr: Vec<String>,
    pub(crate) acr: Option<String>,
    pub(crate) nonce: Option<String>,
}

impl Provider {
    /// The provider over `store`, using `commands` for users and applications and `queries` for lookups.
    pub fn new(
        config: ProviderConfig,
        commands: Commands,
        queries: Queries,
        store: &Store,
    ) -> Self {
        let keys = KeyStore::new(
            commands.clone(),
            config.master_key.clone(),
            config.keys.clone(),
        );
        Self {
            core: Arc::new(Core {
                config,
                commands,
                queries,
                rows: Rows::new(Db::of(store)),
                keys,
                plugins: std::sync::OnceLock::new(),
                client_ids: Mutex::new(HashMap::new()),
                verified: VerifiedTokens::default(),
            }),
        }
    }

    /// Runs the `pre-token` and `pre-userinfo` actions bound in `registry` from now on (a second call is
    /// ignored).
    pub fn set_plugins(&self, registry: warden_plugin_host::PluginRegistry) {
        let _ = self.core.plugins.set(registry);
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.core.config.issuer
    }

    /// Loads (generating on first start) the signing keys of `instance_id`.
    pub async fn ensure_keys(&self, instance_id: &str) -> Result<(), OidcError> {
        self.core.keys.refresh(instance_id).await.map(|_| ())
    }

    /// Loads the signing keys of `instance_id` at start: keys that exist are loaded now (a master key that
    /// cannot open them is an error here, before the server serves), as [`Provider::ensure_keys`] does. An
    /// instance with no key yet (a first start) has its keys generated in the background instead, so the
    /// server serves without waiting for an RSA key: a request that signs or verifies meanwhile waits for
    /// them (the key ring's reload lock), and JWKS answers once they exist.
    pub async fn start_keys(&self, instance_id: &str) -> Result<(), OidcError> {
        if !self.core.keys.is_empty(instance_id).await? {
            return self.ensure_keys(instance_id).await;
        }
        let core = self.core.clone();
        let instance_id = instance_id.to_owned();
        let (started, begun) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            core.keys
                .refresh_after(&instance_id, || {
                    let _ = started.send(());
                })
                .await
                .inspect_err(|error| {
                    tracing::error!(%error, instance_id, "generating the first signing keys failed; \
                        the next request that needs them tries again");
                })
        });
        // The generation holds the key ring's reload lock before the server serves.
        let _ = begun.await;
        Ok(())
    }

    /// Re-reads every loaded key ring now and then, rotating keys when due; runs until aborted.
    pub fn spawn_key_refresh(&self) -> tokio::task::JoinHandle<()> {
        let core = self.core.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(core.keys.refresh_interval());
            tick.tick().await;
            loop {
                tick.tick().await;
                for instance_id in core.keys.instances() {
                    if let Err(error) = core.keys.refresh(&instance_id).await {
                        tracing::warn!(%error, instance_id, "refreshing the signing keys failed");
                    }
                }
            }
        })
    }

    /// The service the login pages call.
    pub fn auth_requests(&self) -> crate::flow::AuthRequests {
        crate::flow::AuthRequests {
            inner: Arc::new(crate::authorize::Completion {
                core: self.core.clone(),
            }),
        }
    }

    /// Authenticates an access token issued by this provider (a JWT access token or an opaque one) for
    /// Warden's management API: valid, not revoked, issued to a user that is active now, and with
    /// [`MANAGEMENT_API_AUDIENCE`] among its audiences (a client asks for it with the scope of that name).
    /// `Ok(None)` when the token is not one of this provider's or is refused.
    pub async fn authenticate_access_token(
        &self,
        instance_id: &str,
        token: &str,
    ) -> Result<Option<AccessTokenSubject>, OidcError> {
        let Some(subject) = self.core.access_token(instance_id, token).await? else {
            return Ok(None);
        };
        // An application acts at the management API only through a machine user.
        if subject.application {
            return Ok(None);
        }
        if !subject
            .audience
            .iter()
            .any(|a| a == MANAGEMENT_API_AUDIENCE)
        {
            return Ok(None);
        }
        Ok(Some(subject))
    }
}

/// The provider's access tokens, as the management API accepts them (see
/// [`Provider::authenticate_access_token`]); give it to [`Commands::accept_external_tokens`].
#[derive(Debug, Clone)]
pub struct ApiTokens(Provider);

impl warden_command::ExternalTokens for ApiTokens {
    fn user_of<'a>(
        &'a self,
        instance_id: &'a str,
        token: &'a str,
    ) -> warden_command::ExternalTokensFuture<'a> {
        Box::pin(async move {
            match self.0.authenticate_access_token(instance_id, token).await {
                Ok(subject) => subject.map(|s| s.user_id),
                Err(error) => {
                    tracing::warn!(%error, "access token check failed");
                    None
                }
            }
        })
    }
}

impl Provider {
    /// The management API's view of this provider's access tokens.
    pub fn api_tokens(&self) -> Arc<ApiTokens> {
        Arc::new(ApiTokens(self.clone()))
    }
}

impl Core {
    pub(crate) fn issuer(&self) -> &str {
        &self.config.issuer
    }

    fn remembered_client(&self, instance_id: &str, client_id: &str) -> Option<ClientRef> {
        self.client_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(instance_id.to_owned(), client_id.to_owned()))
            .cloned()
    }

    fn remember_client(&self, instance_id: &str, client_id: &str, found: Option<ClientRef>) {
        let mut map = self
            .client_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (instance_id.to_owned(), client_id.to_owned());
        match found {
            Some(found) => {
                if map.len() >= MAX_CLIENT_IDS {
                    map.clear();
                }
                map.insert(key, found);
            }
            None => {
                map.remove(&key);
            }
        }
    }

    /// The application with `client_id`, as its write model says now.
    ///
    /// The view lookup from client id to application is remembered, and every use checks it against the
    /// application's write model (which names its client id), so a removed or changed application is seen at
    /// once. A client id remembered as a machine user's is not looked up again as an application's:
    /// applications' client ids are generated when they are added (new ids, or derived at first start before
    /// any user exists), so none can come to equal a login name that was in use first.
    pub(crate) async fn app_by_client_id(
        &self,
        instance_id: &str,
        client_id: &str,
    ) -> Result<Option<(String, Arc<Application>)>, OidcError> {
        match self.remembered_client(instance_id, client_id) {
            Some(ClientRef::App(app_id)) => {
                if let Some(app) = self.app(instance_id, &app_id).await?
                    && app.client_id == client_id
                {
                    return Ok(Some((app_id, app)));
                }
                self.remember_client(instance_id, client_id, None);
            }
            Some(ClientRef::Machine(_)) => return Ok(None),
            None => {}
        }
        let view = self
            .queries
            .application_by_client_id(instance_id, client_id)
            .await
            .map_err(|e| OidcError::Storage(e.to_string()))?;
        let Some(view) = view else { return Ok(None) };
        let app = self.app(instance_id, &view.id).await?;
        if app.as_ref().is_some_and(|app| app.client_id == client_id) {
            self.remember_client(
                instance_id,
                client_id,
                Some(ClientRef::App(view.id.clone())),
            );
        }
        Ok(app.map(|a| (view.id, a)))
    }

    /// An application by id if it exists (and is not removed), as token checks read write models (see
    /// [`Commands::load_recent`]).
    pub(crate) async fn app(
        &self,
        instance_id: &str,
        app_id: &str,
    ) -> Result<Option<Arc<Application>>, OidcError> {
        self.app_read(instance_id, app_id, false).await
    }

    async fn app_read(
        &self,
        instance_id: &str,
        app_id: &str,
        fresh: bool,
    ) -> Result<Option<Arc<Application>>, OidcError> {
        let model = if fresh {
            self.commands.load::<Application>(instance_id, app_id).await
        } else {
            self.commands
                .load_recent::<Application>(instance_id, app_id)
                .await
        }
        .map_err(|e| OidcError::Storage(e.to_string()))?;
        Ok(model.state.exists().then(|| Arc::new(model.state.clone())))
    }

    /// The user now, as token checks read write models (see [`Commands::load_recent`]).
    pub(crate) async fn user(&self, instance_id: &str, user_id: &str) -> Result<User, OidcError> {
        self.user_read(instance_id, user_id, false).await
    }

    async fn user_read(
        &self,
        instance_id: &str,
        user_id: &str,
        fresh: bool,
    ) -> Result<User, OidcError> {
        let model = if fresh {
            self.commands.load::<User>(instance_id, user_id).await
        } else {
            self.commands
                .load_recent::<User>(instance_id, user_id)
                .await
        }
        .map_err(|e| OidcError::Storage(e.to_string()))?;
        Ok(model.state.clone())
    }

    /// Whether `user_id` may get tokens now: exists, active, not locked, in an active organization. The
    /// user and organization come from recently checked write models; a refusal is confirmed on state read
    /// from the store.
    pub(crate) async fn user_usable(
        &self,
        instance_id: &str,
        user_id: &str,
    ) -> Result<Option<User>, OidcError> {
        for fresh in [false, true] {
            let user = self.user_read(instance_id, user_id, fresh).await?;
            if user.lifecycle != Lifecycle::Active || user.locked {
                continue;
            }
            let org = if fresh {
                self.commands
                    .load::<Organization>(instance_id, &user.org_id)
                    .await
            } else {
                self.commands
                    .load_recent::<Organization>(instance_id, &user.org_id)
                    .await
            }
            .map_err(|e| OidcError::Storage(e.to_string()))?;
            if org.state.is_active() {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// Whether the app may be used now (exists and active); a refusal is confirmed on state read from the
    /// store.
    pub(crate) async fn app_usable(
        &self,
        instance_id: &str,
        app_id: &str,
    ) -> Result<Option<Arc<Application>>, OidcError> {
        for fresh in [false, true] {
            if let Some(app) = self
                .app_read(instance_id, app_id, fresh)
                .await?
                .filter(|app| app.lifecycle == Lifecycle::Active)
            {
                return Ok(Some(app));
            }
        }
        Ok(None)
    }

    /// The machine user a client id names: by login name, else by id. The lookup is remembered and checked
    /// against the user's write model at every use (login name or id still matching).
    pub(crate) async fn machine_user(
        &self,
        instance_id: &str,
        client_id: &str,
    ) -> Result<Option<(String, User)>, OidcError> {
        if let Some(ClientRef::Machine(user_id)) = self.remembered_client(instance_id, client_id) {
            let user = self.user(instance_id, &user_id).await?;
            if user.exists()
                && user.machine().is_some()
                && (user.login_name == client_id || user_id == client_id)
            {
                return Ok(Some((user_id, user)));
            }
            self.remember_client(instance_id, client_id, None);
        }
        let by_name = self
            .queries
            .user_by_login_name(instance_id, client_id)
            .await
            .map_err(|e| OidcError::Storage(e.to_string()))?;
        let user_id = by_name.map_or_else(|| client_id.to_owned(), |view| view.id);
        let user = self.user(instance_id, &user_id).await?;
        if user.machine().is_none() {
            return Ok(None);
        }
        if user.exists() && (user.login_name == client_id || user_id == client_id) {
            self.remember_client(
                instance_id,
                client_id,
                Some(ClientRef::Machine(user_id.clone())),
            );
        }
        Ok(Some((user_id, user)))
    }

    /// Checks a machine user's client secret (fast hash, constant-time compare: the secret has 256 bits).
    pub(crate) fn machine_secret_matches(user: &User, secret_value: &str) -> bool {
        user.machine()
            .and_then(|m| m.secret_hash.as_deref())
            .is_some_and(|hash| secret::secret_matches(secret_value, hash))
    }

    /// The user's roles in `project_id` as the roles claim: `{ "<role>": { "<org id>": "<org id>" } }`.
    pub(crate) async fn roles_claim(
        &self,
        instance_id: &str,
        user_id: &str,
        project_id: &str,
    ) -> Result<Option<Value>, OidcError> {
        let grants = self
            .queries
            .user_grants(
                instance_id,
                &UserGrantQuery {
                    user_id: Some(user_id.to_owned()),
                    project_id: Some(project_id.to_owned()),
                    state: Some(State::Active),
                    ..UserGrantQuery::default()
                },
                Page::first(100),
            )
            .await
            .map_err(|e| OidcError::Storage(e.to_string()))?;
        let mut roles = Map::new();
        for grant in grants.items {
            for role in grant.role_keys {
                let entry = roles
                    .entry(role)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(orgs) = entry {
                    orgs.insert(grant.org_id.clone(), Value::String(grant.org_id.clone()));
                }
            }
        }
        Ok((!roles.is_empty()).then_some(Value::Object(roles)))
    }

    /// The standard claims of `user` for `scope` (OIDC Core §5.4), plus the roles in `project_id`.
    pub(crate) async fn user_claims(
        &self,
        instance_id: &str,
        user_id: &str,
        user: &User,
        scope: &[String],
        project_id: Option<&str>,
    ) -> Result<Map<String, Value>, OidcError> {
        let has = |s: &str| scope.iter().any(|x| x == s);
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(user_id.to_owned()));
        if has("profile") {
            claims.insert("preferred_username".into(), json!(user.login_name));
            if let Some(human) = user.human() {
                let p = &human.profile;
                claims.insert("name".into(), json!(p.display_name));
                claims.insert("given_name".into(), json!(p.given_name));
                claims.insert("family_name".into(), json!(p.family_name));
                if p.preferred_language != warden_domain::user::UNDETERMINED_LANGUAGE {
                    claims.insert("locale".into(), json!(p.preferred_language));
                }
            } else if let Some(machine) = user.machine() {
                claims.insert("name".into(), json!(machine.name));
            }
        }
        if let Some(human) = user.human() {
            if has("email") {
                claims.insert("email".into(), json!(human.email));
                claims.insert("email_verified".into(), json!(human.email_verified));
            }
            if has("phone")
                && let Some(phone) = &human.phone
            {
                claims.insert("phone_number".into(), json!(phone));
                claims.insert("phone_number_verified".into(), json!(false));
            }
        }
        if has("address") {
            // Warden keeps no postal address; the claim is an empty address object.
            claims.insert("address".into(), json!({}));
        }
        if let Some(project_id) = project_id
            && let Some(roles) = self.roles_claim(instance_id, user_id, project_id).await?
        {
            claims.insert(ROLES_CLAIM.into(), roles);
        }
        Ok(claims)
    }

    /// Issues an access token (JWT or opaque by the app's choice), and for a login an ID token and (with
    /// `offline_access` and the refresh grant) a refresh token.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn issue(
        &self,
        instance_id: &str,
        client: &Client,
        user_id: &str,
        user: &User,
        scope: &[String],
        login: Option<&Login>,
        with_refresh: bool,
    ) -> Result<TokenResponse, OidcError> {
        let now = now_ms() / 1000;
        let exp = now + secs(self.config.access_token_lifetime);
        let (app_id, project_id) = match client {
            Client::App { app_id, app } => (Some(app_id.clone()), Some(app.project_id.clone())),
            Client::Machine { .. } => (None, None),
        };
        let mut aud = vec![client.client_id().to_owned()];
        if let Some(project_id) = &project_id {
            aud.push(project_id.clone());
        }
        if scope.iter().any(|s| s == MANAGEMENT_API_AUDIENCE) {
            aud.push(MANAGEMENT_API_AUDIENCE.to_owned());
        }
        let scope_text = scope.join(" ");
        let opaque = client.access_token_type(user) == AccessTokenType::Opaque;
        let access_token = if opaque {
            let token = format!("wdn_at_{}", crypto::random_token()?);
            self.rows
                .insert_token(
                    instance_id,
                    &crypto::hash_token(&token),
                    "access",
                    &uuid::Uuid::now_v7().to_string(),
                    login.map(|l| l.grant_id.as_str()),
                    client.client_id(),
                    user_id,
                    &OpaqueData {
                        app_id: app_id.clone(),
                        scope: scope.to_vec(),
                        aud: aud.clone(),
                    },
                    now * 1000,
                    exp * 1000,
                )
                .await?;
            token
        } else {
            let claims = AccessClaims {
                iss: self.issuer().to_owned(),
                sub: user_id.to_owned(),
                aud: aud.clone(),
                client_id: client.client_id().to_owned(),
                exp,
                iat: now,
                jti: uuid::Uuid::now_v7().to_string(),
                scope: scope_text.clone(),
                gid: login.map(|l| l.grant_id.clone()),
                sid: login.map(|l| l.session_id.clone()),
                auth_time: login.map(|l| l.auth_time),
            };
            let alg = client
                .oidc()
                .and_then(|c| c.access_token_signed_response_alg)
                .unwrap_or(self.config.access_token_algorithm);
            self.keys.sign(instance_id, alg, "at+jwt", &claims).await?
        };
        let id_token = match login {
            Some(login) if scope.iter().any(|s| s == "openid") => {
                let mut claims = Map::new();
                claims.insert("iss".into(), json!(self.issuer()));
                claims.insert("sub".into(), json!(user_id));
                claims.insert("aud".into(), json!([client.client_id()]));
                claims.insert("azp".into(), json!(client.client_id()));
                claims.insert(
                    "exp".into(),
                    json!(now + secs(self.config.id_token_lifetime)),
                );
                claims.insert("iat".into(), json!(now));
                claims.insert("auth_time".into(), json!(login.auth_time));
                if let Some(nonce) = &login.nonce {
                    claims.insert("nonce".into(), json!(nonce));
                }
                if !login.amr.is_empty() {
                    claims.insert("amr".into(), json!(login.amr));
                }
                if let Some(acr) = &login.acr {
                    claims.insert("acr".into(), json!(acr));
                }
                let id_token_alg = client
                    .oidc()
                    .and_then(|c| c.id_token_signed_response_alg)
                    .unwrap_or(self.config.id_token_algorithm);
                claims.insert(
                    "at_hash".into(),
                    json!(crypto::at_hash(&access_token, id_token_alg)),
                );
                claims.insert("sid".into(), json!(login.session_id));
                let mut role_keys = Vec::new();
                if let Some(project_id) = &project_id
                    && let Some(roles) = self.roles_claim(instance_id, user_id, project_id).await?
                {
                    if let Value::Object(map) = &roles {
                        role_keys.extend(map.keys().cloned());
                    }
                    claims.insert(ROLES_CLAIM.into(), roles);
                }
                self.run_claims_hook(
                    instance_id,
                    false,
                    crate::hooks::ClaimsFor {
                        user_id,
                        user,
                        client_id: client.client_id(),
                        scope,
                        amr: &login.amr,
                        roles: role_keys,
                    },
                    &mut claims,
                )
                .await
                .map_err(|e| OidcError::ActionFailed(e.to_string()))?;
                Some(
                    self.keys
                        .sign(instance_id, id_token_alg, "JWT", &claims)
                        .await?,
                )
            }
            _ => None,
        };
        let refresh_token = match (login, &app_id) {
            (Some(login), Some(app_id))
                if with_refresh
                    && scope.iter().any(|s| s == "offline_access")
                    && client
                        .oidc()
                        .is_some_and(|c| c.grant_types.contains(&OidcGrantType::RefreshToken)) =>
            {
                let token = format!("wdn_rt_{}", crypto::random_token()?);
                self.rows
                    .insert_token(
                        instance_id,
                        &crypto::hash_token(&token),
                        "refresh",
                        &uuid::Uuid::now_v7().to_string(),
                        Some(&login.grant_id),
                        client.client_id(),
                        user_id,
                        &RefreshData {
                            app_id: app_id.clone(),
                            scope: scope.to_vec(),
                            session_id: login.session_id.clone(),
                            auth_time: login.auth_time,
                            amr: login.amr.clone(),
                            acr: login.acr.clone(),
                        },
                        now * 1000,
                        (now + secs(self.config.refresh_token_lifetime)) * 1000,
                    )
                    .await?;
                Some(token)
            }
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: exp - now,
            id_token,
            refresh_token,
            scope: scope_text,
        })
    }

    /// Resolves an access token (JWT or opaque) that is valid now, whose grant is not revoked, whose user is
    /// usable and whose app (if any) is active.
    pub(crate) async fn access_token(
        &self,
        instance_id: &str,
        token: &str,
    ) -> Result<Option<AccessTokenSubject>, OidcError> {
        let now = now_ms();
        let subject = if token.starts_with("wdn_at_") {
            let Some(row) = self
                .rows
                .token(instance_id, &crypto::hash_token(token))
                .await?
            else {
                return Ok(None);
            };
            if row.kind != "access" || row.revoked_at_ms.is_some() || row.expires_at_ms <= now {
                return Ok(None);
            }
            if !row.grant_active {
                return Ok(None);
            }
            let data: OpaqueData =
                serde_json::from_value(row.data).map_err(|e| OidcError::Storage(e.to_string()))?;
            let app = match &data.app_id {
                Some(app_id) => match self.app_usable(instance_id, app_id).await? {
                    Some(app) => Some(app),
                    None => return Ok(None),
                },
                None => None,
            };
            let subject = AccessTokenSubject {
                user_id: row.user_id,
                client_id: row.client_id,
                audience: data.aud,
                scope: data.scope,
                issued_at: row.created_at_ms / 1000,
                expires_at: row.expires_at_ms / 1000,
                token_id: row.id,
                application: false,
            };
            // An API application's own token (client credentials): no user stands behind it; it works
            // while the application is active.
            if app.is_some_and(|app| matches!(app.config, Some(AppConfig::Api(_)))) {
                return Ok(Some(AccessTokenSubject {
                    application: true,
                    ..subject
                }));
            }
            subject
        } else {
            let Some(claims) = self.verified_access_claims(instance_id, token, now).await else {
                return Ok(None);
            };
            if let Some(grant_id) = &claims.gid
                && !self.rows.grant_active(instance_id, grant_id).await?
            {
                return Ok(None);
            }
            // The app is the token's `client_id` unless a machine user got the token for itself.
            if claims.client_id != claims.sub
                && self
                    .app_by_client_id(instance_id, &claims.client_id)
                    .await?
                    .filter(|(_, app)| app.lifecycle == Lifecycle::Active)
                    .is_none()
            {
                return Ok(None);
            }
            AccessTokenSubject {
                user_id: claims.sub,
                client_id: claims.client_id,
                audience: claims.aud,
                scope: claims.scope.split_whitespace().map(str::to_owned).collect(),
                issued_at: claims.iat,
                expires_at: claims.exp,
                token_id: claims.jti,
                application: false,
            }
        };
        if self
            .user_usable(instance_id, &subject.user_id)
            .await?
            .is_none()
        {
            // An API application's own token names the application as its subject; it works while the
            // application is active.
            if subject.user_id == subject.client_id
                && !token.starts_with("wdn_at_")
                && self
                    .app_by_client_id(instance_id, &subject.client_id)
                    .await?
                    .is_some_and(|(_, app)| {
                        app.lifecycle == Lifecycle::Active
                            && matches!(app.config, Some(AppConfig::Api(_)))
                    })
            {
                return Ok(Some(AccessTokenSubject {
                    application: true,
                    ..subject
                }));
            }
            return Ok(None);
        }
        Ok(Some(subject))
    }

    /// The claims of a JWT access token this provider signed, valid now: from the cache of verified tokens
    /// while the token has not expired and its key still verifies, else verified (and then remembered).
    /// The caller checks the grant, user and application, at every use.
    async fn verified_access_claims(
        &self,
        instance_id: &str,
        token: &str,
        now_ms: i64,
    ) -> Option<AccessClaims> {
        let now_secs = now_ms / 1000;
        let key = verified::key(instance_id, token);
        if let Some(found) = self.verified.get(&key, now_secs) {
            if self.keys.verifies_now(instance_id, &found.kid) {
                return Some(found.claims.clone());
            }
            self.verified.remove(&key);
        }
        let (claims, kid) = self
            .keys
            .verify_keyed::<AccessClaims>(instance_id, self.issuer(), token, true)
            .await
            .ok()?;
        self.verified
            .insert(key, token.len(), claims.clone(), kid, now_secs);
        Some(claims)
    }

    /// Completes the authorization request `request_id` with a code for a login; returns the code, or `None`
    /// when the request was completed before (or expired), in which case nothing was issued.
    pub(crate) async fn issue_code(
        &self,
        instance_id: &str,
        request_id: &str,
        data: &CodeData,
    ) -> Result<Option<String>, OidcError> {
        let grant_id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        let code = crypto::random_token()?;
        let issued = self
            .rows
            .complete_auth_request(
                instance_id,
                request_id,
                &grant_id,
                &data.client_id,
                &data.user_id,
                Some(&data.session_id),
                now,
                &crypto::hash_token(&code),
                data,
                now + 60_000,
            )
            .await?;
        Ok(issued.then_some(code))
    }
}

/// Whether `auth_method` is a public client's.
pub(crate) fn is_public(config: &OidcConfig) -> bool {
    config.auth_method == OidcAuthMethod::None
}
