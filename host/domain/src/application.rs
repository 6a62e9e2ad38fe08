//! Applications of a project: OIDC clients and API (resource server) clients.
//!
//! An application is its own aggregate (`"application"`) that records the project it belongs to: changing one
//! application does not contend with changes to its project or to the project's other applications, and its
//! life cycle is its own. Adding one takes the project's state to check that the project exists. Removing a
//! project does not remove its applications by itself; the caller removes them (or hides them in views).
//!
//! Client ids and secret hashes are generated outside and passed in; a client id is unique per instance
//! ([`unique::CLIENT_ID`]).
//!
//! # OIDC configuration rules
//! - Redirect and post-logout redirect URIs are absolute, without fragment or user information, and matched
//!   exactly later. `https` is required, except: a `native` app may use `http` on a loopback host
//!   (`localhost`, `127.0.0.1`, `[::1]`) and a private-use scheme with a dot (`com.example.app:/callback`,
//!   RFC 8252); `dev_mode` allows `http` for any app.
//! - Grant types: `authorization_code` needs response type `code` (and the reverse); `implicit` needs an
//!   `id_token` response type (and the reverse) and is refused for native apps; `refresh_token` needs
//!   `authorization_code` or `device_code`; `device_code` is for native apps. Redirect-based grants need at
//!   least one redirect URI.
//! - Client authentication: `web` apps are confidential (`basic`, `post` or `private_key_jwt`); `user_agent`
//!   and `native` apps are public (`none`), and `none` requires PKCE. `basic` and `post` need a client secret;
//!   the others must not have one.
//! - Keys: an application holds up to [`MAX_APP_KEYS`] public keys (see [`crate::public_key`]) whatever its
//!   auth method, so keys can be registered before switching to `private_key_jwt`; the provider accepts
//!   them only from clients whose auth method is `private_key_jwt`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{
    Aggregate, CommandContext, Decision, Lifecycle, UniqueChange, domain_events, no_upcast,
};
use crate::error::DomainError;
use crate::project::Project;
use crate::public_key::{PublicKey, PublicKeyAdded};
use crate::signing_key::SigningAlgorithm;
use crate::unique;
use crate::validate::{self, ParsedUri};

mod commands;
mod keys;

pub use commands::*;
pub use keys::*;

/// The most redirect URIs (and, separately, post-logout redirect URIs) an application may have.
pub const MAX_REDIRECT_URIS: usize = 50;

/// The kind of OIDC client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OidcAppType {
    /// A server-side web application that can keep a secret.
    Web,
    /// A single-page application running in the browser.
    UserAgent,
    /// A mobile or desktop application.
    Native,
}

impl OidcAppType {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::UserAgent => "user_agent",
            Self::Native => "native",
        }
    }
}

/// An OAuth 2.0 response type the app may request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum OidcResponseType {
    /// `code` (authorization code flow).
    #[serde(rename = "code")]
    Code,
    /// `id_token` (implicit flow).
    #[serde(rename = "id_token")]
    IdToken,
    /// `id_token token` (implicit flow with access token).
    #[serde(rename = "id_token token")]
    IdTokenToken,
}

impl OidcResponseType {
    /// The name as sent in authorization requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::IdToken => "id_token",
            Self::IdTokenToken => "id_token token",
        }
    }
}

/// An OAuth 2.0 grant type the app may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OidcGrantType {
    /// The authorization code grant.
    AuthorizationCode,
    /// The implicit grant (not recommended; kept for legacy browser apps).
    Implicit,
    /// Refresh tokens.
    RefreshToken,
    /// The device authorization grant (RFC 8628).
    DeviceCode,
}

impl OidcGrantType {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::Implicit => "implicit",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "device_code",
        }
    }
}

/// How an OIDC client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OidcAuthMethod {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
    /// No client authentication (public client, PKCE required).
    None,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

impl OidcAuthMethod {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Post => "post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// True for the methods that authenticate with a client secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::Basic | Self::Post)
    }
}

/// How an API client authenticates at the introspection endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiAuthMethod {
    /// `client_secret_basic`.
    Basic,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

impl ApiAuthMethod {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// True for the methods that authenticate with a client secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::Basic)
    }
}

/// The kind of access token issued to the app (or machine user).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenType {
    /// An opaque token, checked by introspection.
    Opaque,
    /// A signed JWT.
    #[default]
    Jwt,
}

impl AccessTokenType {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }
}

/// The configuration of an OIDC application; payload of `application.oidc.config.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OidcConfig {
    /// Web, user agent or native.
    pub app_type: OidcAppType,
    /// Where the authorization server may send the user back; matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where the user may be sent after logout; matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Response types the app may request.
    pub response_types: Vec<OidcResponseType>,
    /// Grant types the app may use.
    pub grant_types: Vec<OidcGrantType>,
    /// Client authentication at the token endpoint.
    pub auth_method: OidcAuthMethod,
    /// Requires PKCE on authorization requests (always so with auth method `none`).
    pub require_pkce: bool,
    /// Opaque or JWT access tokens.
    pub access_token_type: AccessTokenType,
    /// Allows `http` redirect URIs, for development only.
    #[serde(default)]
    pub dev_mode: bool,
    /// The algorithm the app's ID tokens are signed with (`id_token_signed_response_alg`); `None`: RS256,
    /// the one every client supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
    /// The algorithm the app's JWT access tokens are signed with; `None`: the provider's choice (ES256).
    /// Opaque access tokens are not signed, so it matters only with `access_token_type: jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_signed_response_alg: Option<SigningAlgorithm>,
}

/// The configuration of an API application; payload of `application.api.config.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ApiConfig {
    /// Client authentication at the introspection endpoint.
    pub auth_method: ApiAuthMethod,
    /// The kind of the app's own access tokens (client credentials): JWT (the default) or opaque rows,
    /// revocable one by one.
    #[serde(default)]
    pub access_token_type: AccessTokenType,
}

/// `application.oidc.add`: creates an OIDC application in a project ([`Application::add_oidc`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddOidcApp {
    /// The project the app belongs to.
    pub project_id: String,
    /// The display name.
    pub name: String,
    /// The client id, generated outside.
    pub client_id: String,
    /// The OIDC configuration.
    pub config: OidcConfig,
    /// The client secret's hash, for `basic` and `post`; never shown to validators.
    #[serde(default, skip_serializing)]
    pub client_secret_hash: Option<String>,
}

/// `application.api.add`: creates an API application in a project ([`Application::add_api`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddApiApp {
    /// The project the app belongs to.
    pub project_id: String,
    /// The display name.
    pub name: String,
    /// The client id, generated outside.
    pub client_id: String,
    /// The API configuration.
    pub config: ApiConfig,
    /// The client secret's hash, for `basic`; never shown to validators.
    #[serde(default, skip_serializing)]
    pub client_secret_hash: Option<String>,
}

/// Payload of the events that add an application: [`OidcAppAdded`] and [`ApiAppAdded`], with the
/// configuration `C` of the application's kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppAdded<C> {
    /// The project the app belongs to.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The display name.
    pub name: String,
    /// The client id.
    pub client_id: String,
    /// The configuration of the application's kind.
    pub config: C,
    /// The client secret's hash, for the auth methods that use one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_hash: Option<String>,
}

/// Payload of `application.oidc.added`.
pub type OidcAppAdded = AppAdded<OidcConfig>;

/// Payload of `application.api.added`.
pub type ApiAppAdded = AppAdded<ApiConfig>;

/// Payload of `application.renamed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRenamed {
    /// The new name.
    pub name: String,
}

/// Payload of `application.secret.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSecretSet {
    /// The new client secret's hash.
    pub client_secret_hash: String,
}

domain_events! {
    /// Events of the application aggregate.
    pub enum ApplicationEvent {
        /// An OIDC application was added.
        OidcAdded(OidcAppAdded) => "application.oidc.added" @ 1,
        /// An API application was added.
        ApiAdded(ApiAppAdded) => "application.api.added" @ 1,
        /// The OIDC configuration was replaced.
        OidcConfigChanged(OidcConfig) => "application.oidc.config.changed" @ 1,
        /// The API configuration was replaced.
        ApiConfigChanged(ApiConfig) => "application.api.config.changed" @ 1,
        /// The application was renamed.
        Renamed(AppRenamed) => "application.renamed" @ 1,
        /// The client secret was set or regenerated.
        SecretSet(AppSecretSet) => "application.secret.set" @ 1,
        /// The client secret was removed (the auth method no longer uses one).
        SecretRemoved => "application.secret.removed" @ 1,
        /// The application was deactivated.
        Deactivated => "application.deactivated" @ 1,
        /// The application was reactivated.
        Reactivated => "application.reactivated" @ 1,
        /// The application was removed; its client id is free again.
        Removed => "application.removed" @ 1,
        /// A public key for `private_key_jwt` client authentication was added.
        KeyAdded(PublicKeyAdded) => "application.key.added" @ 1,
        /// A public key was removed; assertions it signed are refused from now on.
        KeyRemoved(AppKeyRemoved) => "application.key.removed" @ 1,
    }
    upcast = no_upcast;
}

/// The configuration of an application of either kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppConfig {
    /// An OIDC client.
    Oidc(OidcConfig),
    /// An API client.
    Api(ApiConfig),
}

/// State of an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Application {
    /// Life cycle.
    pub lifecycle: Lifecycle,
    /// The project the app belongs to.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The display name.
    pub name: String,
    /// The client id.
    pub client_id: String,
    /// The configuration; `None` before the app was added.
    pub config: Option<AppConfig>,
    /// The client secret's hash, if the auth method uses one.
    pub client_secret_hash: Option<String>,
    /// Public keys for `private_key_jwt`, by key id.
    pub keys: BTreeMap<String, PublicKey>,
}

impl Aggregate for Application {
    const TYPE: &'static str = "application";
    type Event = ApplicationEvent;

    fn apply(&mut self, event: &ApplicationEvent) {
        match event {
            ApplicationEvent::OidcAdded(e) => {
                self.lifecycle = Lifecycle::Active;
                self.project_id.clone_from(&e.project_id);
                self.org_id.clone_from(&e.org_id);
                self.name.clone_from(&e.name);
                self.client_id.clone_from(&e.client_id);
                self.config = Some(AppConfig::Oidc(e.config.clone()));
                self.client_secret_hash.clone_from(&e.client_secret_hash);
            }
            ApplicationEvent::ApiAdded(e) => {
                self.lifecycle = Lifecycle::Active;
                self.project_id.clone_from(&e.project_id);
                self.org_id.clone_from(&e.org_id);
                self.name.clone_from(&e.name);
                self.client_id.clone_from(&e.client_id);
                self.config = Some(AppConfig::Api(e.config.clone()));
                self.client_secret_hash.clone_from(&e.client_secret_hash);
            }
            ApplicationEvent::OidcConfigChanged(c) => {
                self.config = Some(AppConfig::Oidc(c.clone()))
            }
            ApplicationEvent::ApiConfigChanged(c) => self.config = Some(AppConfig::Api(c.clone())),
            ApplicationEvent::Renamed(e) => self.name.clone_from(&e.name),
            ApplicationEvent::SecretSet(e) => {
                self.client_secret_hash = Some(e.client_secret_hash.clone())
            }
            ApplicationEvent::SecretRemoved => self.client_secret_hash = None,
            ApplicationEvent::Deactivated => self.lifecycle = Lifecycle::Inactive,
            ApplicationEvent::Reactivated => self.lifecycle = Lifecycle::Active,
            ApplicationEvent::Removed => self.lifecycle = Lifecycle::Removed,
            ApplicationEvent::KeyAdded(e) => {
                self.keys.insert(e.key_id.clone(), PublicKey::from(e));
            }
            ApplicationEvent::KeyRemoved(e) => {
                self.keys.remove(&e.key_id);
            }
        }
    }
}

fn has_duplicate<T: PartialEq>(items: &[T]) -> Option<usize> {
    (1..items.len()).find(|&i| items[..i].contains(&items[i]))
}

/// Checks one redirect URI against the rules for `app_type` (see the module docs).
pub fn check_redirect_uri(
    code: &str,
    field: &str,
    uri: &str,
    app_type: OidcAppType,
    dev_mode: bool,
) -> Result<(), DomainError> {
    let parsed: ParsedUri = validate::absolute_uri(code, field, uri)?;
    if parsed.has_fragment {
        return Err(DomainError::invalid(
            field,
            format!("{code}.fragment"),
            format!(
                "{field} must not contain a fragment (#...): the response parameters are added there"
            ),
        ));
    }
    if parsed.has_userinfo {
        return Err(DomainError::invalid(
            field,
            format!("{code}.userinfo"),
            format!("{field} must not contain user information (user:password@)"),
        ));
    }
    match parsed.scheme.as_str() {
        "https" | "http" if parsed.host.is_none() => Err(DomainError::invalid(
            field,
            format!("{code}.invalid"),
            format!("{field} must have a host, such as https://app.example.com/callback"),
        )),
        "https" => Ok(()),
        "http" if dev_mode || (app_type == OidcAppType::Native && parsed.is_loopback()) => Ok(()),
        "http" => Err(DomainError::invalid(
            field,
            format!("{code}.https_required"),
            match app_type {
                OidcAppType::Native => format!(
                    "{field} must use https; http is allowed only for localhost, 127.0.0.1 or [::1], or in dev mode"
                ),
                _ => format!("{field} must use https; http is allowed only in dev mode"),
            },
        )),
        scheme if app_type == OidcAppType::Native && scheme.contains('.') => Ok(()),
        scheme => Err(DomainError::invalid(
            field,
            format!("{code}.scheme_not_allowed"),
            match app_type {
                OidcAppType::Native => format!(
                    "{field} uses scheme {scheme:?}: native apps may use https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app"
                ),
                _ => format!(
                    "{field} uses scheme {scheme:?}; {} apps must use https",
                    app_type.as_str()
                ),
            },
        )),
    }
}

fn check_uris(
    code: &str,
    field: &str,
    uris: &[String],
    app_type: OidcAppType,
    dev_mode: bool,
) -> Result<(), DomainError> {
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(DomainError::invalid(
            field,
            format!("{code}.too_many"),
            format!("{field} may hold at most {MAX_REDIRECT_URIS} URIs"),
        ));
    }
    for (i, uri) in uris.iter().enumerate() {
        check_redirect_uri(code, &format!("{field}[{i}]"), uri, app_type, dev_mode)?;
    }
    if let Some(i) = has_duplicate(uris) {
        return Err(DomainError::invalid(
            format!("{field}[{i}]"),
            format!("{code}.duplicate"),
            format!("{field}[{i}] is listed more than once"),
        ));
    }
    Ok(())
}

impl OidcConfig {
    /// Checks the configuration against the rules in the module docs.
    pub fn validate(&self) -> Result<(), DomainError> {
        use OidcGrantType as G;
        use OidcResponseType as R;
        let app_type = self.app_type;
        check_uris(
            "application.redirect_uri",
            "redirect_uris",
            &self.redirect_uris,
            app_type,
            self.dev_mode,
        )?;
        check_uris(
            "application.post_logout_redirect_uri",
            "post_logout_redirect_uris",
            &self.post_logout_redirect_uris,
            app_type,
            self.dev_mode,
        )?;

        if self.grant_types.is_empty() {
            return Err(DomainError::invalid(
                "grant_types",
                "application.grant_types.required",
                "grant_types must name at least one grant type",
            ));
        }
        if let Some(i) = has_duplicate(&self.grant_types) {
            return Err(DomainError::invalid(
                format!("grant_types[{i}]"),
                "application.grant_type.duplicate",
                format!(
                    "grant type {} is listed more than once",
                    self.grant_types[i].as_str()
                ),
            ));
        }
        if let Some(i) = has_duplicate(&self.response_types) {
            return Err(DomainError::invalid(
                format!("response_types[{i}]"),
                "application.response_type.duplicate",
                format!(
                    "response type {:?} is listed more than once",
                    self.response_types[i].as_str()
                ),
            ));
        }
        let has_grant = |g: G| self.grant_types.contains(&g);
        for (i, grant) in self.grant_types.iter().enumerate() {
            let field = format!("grant_types[{i}]");
            let problem = match grant {
                G::AuthorizationCode if !self.response_types.contains(&R::Code) => {
                    Some("authorization_code needs the response type code")
                }
                G::Implicit if app_type == OidcAppType::Native => Some(
                    "implicit is not allowed for native apps; use authorization_code with PKCE",
                ),
                G::Implicit
                    if !self
                        .response_types
                        .iter()
                        .any(|r| matches!(r, R::IdToken | R::IdTokenToken)) =>
                {
                    Some("implicit needs the response type id_token or \"id_token token\"")
                }
                G::RefreshToken
                    if !has_grant(G::AuthorizationCode) && !has_grant(G::DeviceCode) =>
                {
                    Some("refresh_token needs authorization_code or device_code as well")
                }
                G::DeviceCode if app_type != OidcAppType::Native => {
                    Some("device_code is for native apps only")
                }
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(DomainError::invalid(
                    field,
                    "application.grant_type.inconsistent",
                    format!("grant type {}: {problem}", grant.as_str()),
                ));
            }
        }
        for (i, response) in self.response_types.iter().enumerate() {
            let needed = match response {
                R::Code => G::AuthorizationCode,
                R::IdToken | R::IdTokenToken => G::Implicit,
            };
            if !has_grant(needed) {
                return Err(DomainError::invalid(
                    format!("response_types[{i}]"),
                    "application.response_type.inconsistent",
                    format!(
                        "response type {:?} needs the grant type {}",
                        response.as_str(),
                        needed.as_str()
                    ),
                ));
            }
        }
        if (has_grant(G::AuthorizationCode) || has_grant(G::Implicit))
            && self.redirect_uris.is_empty()
        {
            return Err(DomainError::invalid(
                "redirect_uris",
                "application.redirect_uris.required",
                "redirect_uris must hold at least one URI for the authorization_code and implicit grants",
            ));
        }

        let public = matches!(app_type, OidcAppType::UserAgent | OidcAppType::Native);
        if public != (self.auth_method == OidcAuthMethod::None) {
            let message = if public {
                format!(
                    "{} apps cannot keep a secret, so their auth_method must be none",
                    app_type.as_str()
                )
            } else {
                "web apps must authenticate: auth_method must be basic, post or private_key_jwt"
                    .to_owned()
            };
            return Err(DomainError::invalid(
                "auth_method",
                "application.auth_method.not_allowed",
                message,
            ));
        }
        if self.auth_method == OidcAuthMethod::None && !self.require_pkce {
            return Err(DomainError::invalid(
                "require_pkce",
                "application.pkce.required",
                "require_pkce must be true when auth_method is none: a public client proves its code with PKCE",
            ));
        }
        Ok(())
    }
}

/// The configuration of an application's kind, as adding an application needs it.
trait KindConfig: Clone {
    /// Checks the configuration.
    fn check(&self) -> Result<(), DomainError>;

    /// Whether the configured auth method authenticates with a client secret, and the method's name.
    fn secret_method(&self) -> (bool, &'static str);

    /// The event that adds an application of this kind.
    fn added(app: AppAdded<Self>) -> ApplicationEvent;
}

impl KindConfig for OidcConfig {
    fn check(&self) -> Result<(), DomainError> {
        self.validate()
    }

    fn secret_method(&self) -> (bool, &'static str) {
        (self.auth_method.uses_secret(), self.auth_method.as_str())
    }

    fn added(app: OidcAppAdded) -> ApplicationEvent {
        ApplicationEvent::OidcAdded(app)
    }
}

impl KindConfig for ApiConfig {
    /// Every API configuration is valid as it parses.
    fn check(&self) -> Result<(), DomainError> {
        Ok(())
    }

    fn secret_method(&self) -> (bool, &'static str) {
        (self.auth_method.uses_secret(), self.auth_method.as_str())
    }

    fn added(app: ApiAppAdded) -> ApplicationEvent {
        ApplicationEvent::ApiAdded(app)
    }
}

/// Checks that a secret hash is given exactly when `uses_secret`.
fn check_secret(
    uses_secret: bool,
    method: &str,
    secret_hash: Option<&str>,
) -> Result<Option<String>, DomainError> {
    const FIELD: &str = "client_secret_hash";
    match (uses_secret, secret_hash) {
        (true, Some(hash)) => Ok(Some(validate::secret_hash(
            "application.client_secret",
            FIELD,
            hash,
        )?)),
        (true, None) => Err(DomainError::invalid(
            FIELD,
            "application.client_secret.required",
            format!("auth method {method} authenticates with a client secret, so one is required"),
        )),
        (false, Some(_)) => Err(DomainError::invalid(
            FIELD,
            "application.client_secret.not_allowed",
            format!("auth method {method} does not use a client secret"),
        )),
        (false, None) => Ok(None),
    }
}

impl Application {
    /// Added and not removed.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    /// True when the current auth method uses a client secret.
    pub fn uses_secret(&self) -> bool {
        match &self.config {
            Some(AppConfig::Oidc(c)) => c.auth_method.uses_secret(),
            Some(AppConfig::Api(c)) => c.auth_method.uses_secret(),
            None => false,
        }
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "application.not_found",
                "the application does not exist",
            ))
        }
    }

    fn ensure_new(&self) -> Result<(), DomainError> {
        if self.lifecycle == Lifecycle::Unspecified {
            Ok(())
        } else {
            Err(DomainError::already_exists(
                "application.already_exists",
                "an application with this id already exists",
            ))
        }
    }

    /// Adds an OIDC application to an existing project; claims the client id.
    pub fn add_oidc(
        &self,
        app: &AddOidcApp,
        project: &Project,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        let secret = app.client_secret_hash.as_deref();
        self.add(
            &app.project_id,
            &app.name,
            &app.client_id,
            &app.config,
            secret,
            project,
        )
    }

    /// Adds an API application to an existing project; claims the client id.
    pub fn add_api(
        &self,
        app: &AddApiApp,
        project: &Project,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        let secret = app.client_secret_hash.as_deref();
        self.add(
            &app.project_id,
            &app.name,
            &app.client_id,
            &app.config,
            secret,
            project,
        )
    }

    /// Adds an application of the kind `config` configures to an existing project: checks the command's
    /// parts in the order the commands document, then the secret its auth method calls for; claims the client
    /// id.
    fn add<C: KindConfig>(
        &self,
        project_id: &str,
        name: &str,
        client_id: &str,
        config: &C,
        client_secret_hash: Option<&str>,
        project: &Project,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_new()?;
        let project_id = validate::identifier("application.project_id", "project_id", project_id)?;
        project.ensure_named()?;
        let name = validate::text("application.name", "name", name, validate::MAX_NAME_LEN)?;
        let client_id = validate::identifier("application.client_id", "client_id", client_id)?;
        config.check()?;
        let (uses_secret, method) = config.secret_method();
        let client_secret_hash = check_secret(uses_secret, method, client_secret_hash)?;
        Ok(Decision::event(C::added(AppAdded {
            project_id,
            org_id: project.org_id.clone(),
            name,
            client_id: client_id.clone(),
            config: config.clone(),
            client_secret_hash,
        }))
        .with_unique(UniqueChange::add(unique::CLIENT_ID, client_id, "client_id")))
    }

    /// Decides the secret events when the auth method changes: a new secret when one is given (required if the
    /// new method uses one and none is stored), removal when the new method uses none.
    fn secret_change(
        &self,
        uses_secret: bool,
        method: &str,
        new_secret_hash: Option<&str>,
    ) -> Result<Option<ApplicationEvent>, DomainError> {
        match (uses_secret, new_secret_hash, &self.client_secret_hash) {
            (true, None, Some(_)) => Ok(None),
            (_, hash, _) if uses_secret || hash.is_some() => {
                let hash = check_secret(uses_secret, method, hash)?;
                Ok(hash.map(|client_secret_hash| {
                    ApplicationEvent::SecretSet(AppSecretSet { client_secret_hash })
                }))
            }
            (false, None, Some(_)) => Ok(Some(ApplicationEvent::SecretRemoved)),
            _ => Ok(None),
        }
    }

    /// Replaces an OIDC application's configuration. Switching to a secret-based auth method needs
    /// `new_secret_hash` unless a secret is stored; switching away removes the stored secret.
    pub fn change_oidc_config(
        &self,
        config: &OidcConfig,
        new_secret_hash: Option<&str>,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        let Some(AppConfig::Oidc(current)) = &self.config else {
            return Err(DomainError::precondition(
                "application.not_oidc",
                "the application is not an OIDC application",
            ));
        };
        config.validate()?;
        let secret = self.secret_change(
            config.auth_method.uses_secret(),
            config.auth_method.as_str(),
            new_secret_hash,
        )?;
        let mut decision = Decision::unchanged();
        if config != current {
            decision = decision.and(ApplicationEvent::OidcConfigChanged(config.clone()));
        }
        if let Some(secret) = secret {
            decision = decision.and(secret);
        }
        Ok(decision)
    }

    /// Replaces an API application's configuration, with the same secret rules as
    /// [`change_oidc_config`](Self::change_oidc_config).
    pub fn change_api_config(
        &self,
        config: &ApiConfig,
        new_secret_hash: Option<&str>,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        let Some(AppConfig::Api(current)) = &self.config else {
            return Err(DomainError::precondition(
                "application.not_api",
                "the application is not an API application",
            ));
        };
        let method = config.auth_method;
        let secret = self.secret_change(method.uses_secret(), method.as_str(), new_secret_hash)?;
        let mut decision = Decision::unchanged();
        if config != current {
            decision = decision.and(ApplicationEvent::ApiConfigChanged(config.clone()));
        }
        if let Some(secret) = secret {
            decision = decision.and(secret);
        }
        Ok(decision)
    }

    /// Renames the application.
    pub fn rename(
        &self,
        name: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        let name = validate::text("application.name", "name", name, validate::MAX_NAME_LEN)?;
        if name == self.name {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(ApplicationEvent::Renamed(AppRenamed {
            name,
        })))
    }

    /// Replaces the client secret with a newly generated one (its hash).
    pub fn regenerate_secret(
        &self,
        client_secret_hash: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.uses_secret() {
            return Err(DomainError::precondition(
                "application.secret.not_used",
                "the application's auth method does not use a client secret",
            ));
        }
        let client_secret_hash = validate::secret_hash(
            "application.client_secret",
            "client_secret_hash",
            client_secret_hash,
        )?;
        Ok(Decision::event(ApplicationEvent::SecretSet(AppSecretSet {
            client_secret_hash,
        })))
    }

    /// Deactivates an active application: its clients are refused until reactivated.
    pub fn deactivate(
        &self,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.deactivate(
            ApplicationEvent::Deactivated,
            (
                "application.already_inactive",
                "the application is already deactivated",
            ),
        )
    }

    /// Reactivates a deactivated application.
    pub fn reactivate(
        &self,
        _ctx: &CommandContext,
    ) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.reactivate(
            ApplicationEvent::Reactivated,
            (
                "application.not_inactive",
                "the application is active; only a deactivated application can be reactivated",
            ),
        )
    }

    /// Removes the application; frees its client id.
    pub fn remove(&self, _ctx: &CommandContext) -> Result<Decision<ApplicationEvent>, DomainError> {
        self.ensure_exists()?;
        Ok(
            Decision::event(ApplicationEvent::Removed).with_unique(UniqueChange::remove(
                unique::CLIENT_ID,
                self.client_id.clone(),
            )),
        )
    }
}

#[cfg(test)]
mod tests;
