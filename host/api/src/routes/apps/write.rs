//! Applications: `/api/v1/projects/{project_id}/apps/...` to add them, `/api/v1/apps/{app_id}` to change them.

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::{NewApiApp, NewOidcApp, SecretString};
use warden_domain::application::{
    AccessTokenType, ApiAuthMethod, ApiConfig, MAX_REDIRECT_URIS, OidcAppType, OidcAuthMethod,
    OidcConfig, OidcGrantType, OidcResponseType,
};
use warden_domain::application::{
    AddApiApp, AddOidcApp, ChangeApiConfig, ChangeOidcConfig, DeactivateApp, ReactivateApp,
    RegenerateAppSecret, RemoveApp, RenameApp,
};
use warden_domain::signing_key::SigningAlgorithm;

use crate::routes::change;
use crate::{
    bodies::{MaybeSecret, NameRequest, Reply, SecretCreated, WriteDetails, reply},
    openapi::Endpoint,
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::create("/api/v1/projects/{project_id}/apps/oidc", "addOidcApp")
            .summary(
                "Add an OIDC application to a project (the client secret, if any, is returned \
                 this once)",
            )
            .command::<AddOidcApp>()
            .answers_with(
                StatusCode::CREATED,
                app_created,
                |c, project_id: &String, body: &AddOidcAppRequest| {
                    let app = NewOidcApp {
                        project_id: project_id.clone(),
                        name: body.name.clone(),
                        config: body.config(),
                    };
                    Box::pin(async move { c.add_oidc_app(&app).await })
                },
            ),
        change::create("/api/v1/projects/{project_id}/apps/api", "addApiApp")
            .summary(
                "Add an API application to a project (the client secret, if any, is returned this \
                 once)",
            )
            .command::<AddApiApp>()
            .answers_with(
                StatusCode::CREATED,
                app_created,
                |c, project_id: &String, body: &AddApiAppRequest| {
                    let app = NewApiApp {
                        project_id: project_id.clone(),
                        name: body.name.clone(),
                        config: ApiConfigRequest {
                            auth_method: body.auth_method,
                            access_token_type: body.access_token_type,
                        }
                        .config(),
                    };
                    Box::pin(async move { c.add_api_app(&app).await })
                },
            ),
        change::put("/api/v1/apps/{app_id}", "renameApp")
            .summary("Rename an application")
            .command::<RenameApp>()
            .runs_with(|c, id: &String, body: &NameRequest| Box::pin(c.rename_app(id, &body.name))),
        change::put("/api/v1/apps/{app_id}/oidc-config", "changeOidcAppConfig")
            .summary(
                "Replace an OIDC application's configuration (a newly needed client secret is \
                 returned this once)",
            )
            .command::<ChangeOidcConfig>()
            .answers_with(
                StatusCode::OK,
                maybe_secret,
                |c, id: &String, body: &OidcConfigRequest| {
                    Box::pin(async move { c.change_oidc_config(id, &body.config()).await })
                },
            ),
        change::put("/api/v1/apps/{app_id}/api-config", "changeApiAppConfig")
            .summary(
                "Replace an API application's configuration (a newly needed client secret is \
                 returned this once)",
            )
            .command::<ChangeApiConfig>()
            .answers_with(
                StatusCode::OK,
                maybe_secret,
                |c, id: &String, body: &ApiConfigRequest| {
                    Box::pin(async move { c.change_api_config(id, &body.config()).await })
                },
            ),
        change::post("/api/v1/apps/{app_id}/secret", "regenerateAppSecret")
            .summary("Replace an application's client secret with a new one (returned this once)")
            .command::<RegenerateAppSecret>()
            .answers(StatusCode::OK, SecretCreated::issued, |c, id: &String| {
                Box::pin(c.regenerate_app_secret(id))
            }),
        change::post("/api/v1/apps/{app_id}/deactivate", "deactivateApp")
            .summary("Deactivate an application")
            .command::<DeactivateApp>()
            .runs(|c, id: &String| Box::pin(c.deactivate_app(id))),
        change::post("/api/v1/apps/{app_id}/reactivate", "reactivateApp")
            .summary("Reactivate a deactivated application")
            .command::<ReactivateApp>()
            .runs(|c, id: &String| Box::pin(c.reactivate_app(id))),
        change::delete("/api/v1/apps/{app_id}", "removeApp")
            .summary("Remove an application; its client id is free again")
            .command::<RemoveApp>()
            .runs(|c, id: &String| Box::pin(c.remove_app(id))),
    ]
}

/// The kind of OIDC client.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AppTypeName {
    /// A server-side web application that can keep a secret.
    Web,
    /// A single-page application running in the browser.
    UserAgent,
    /// A mobile or desktop application.
    Native,
}

/// An OAuth 2.0 response type.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub(crate) enum ResponseTypeName {
    /// `code`.
    #[serde(rename = "code")]
    Code,
    /// `id_token`.
    #[serde(rename = "id_token")]
    IdToken,
    /// `id_token token`.
    #[serde(rename = "id_token token")]
    IdTokenToken,
}

/// An OAuth 2.0 grant type.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GrantTypeName {
    /// The authorization code grant.
    AuthorizationCode,
    /// The implicit grant.
    Implicit,
    /// Refresh tokens.
    RefreshToken,
    /// The device authorization grant.
    DeviceCode,
}

/// How an OIDC client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OidcAuthMethodName {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
    /// No client authentication (public client, PKCE).
    None,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

/// How an API client authenticates at the introspection endpoint.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiAuthMethodName {
    /// `client_secret_basic`.
    Basic,
    /// `private_key_jwt`.
    PrivateKeyJwt,
}

/// The kind of access token.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AccessTokenTypeName {
    /// Opaque, checked by introspection.
    #[default]
    Opaque,
    /// A signed JWT.
    Jwt,
}

impl From<AppTypeName> for OidcAppType {
    fn from(name: AppTypeName) -> Self {
        match name {
            AppTypeName::Web => OidcAppType::Web,
            AppTypeName::UserAgent => OidcAppType::UserAgent,
            AppTypeName::Native => OidcAppType::Native,
        }
    }
}

impl From<ResponseTypeName> for OidcResponseType {
    fn from(name: ResponseTypeName) -> Self {
        match name {
            ResponseTypeName::Code => OidcResponseType::Code,
            ResponseTypeName::IdToken => OidcResponseType::IdToken,
            ResponseTypeName::IdTokenToken => OidcResponseType::IdTokenToken,
        }
    }
}

impl From<GrantTypeName> for OidcGrantType {
    fn from(name: GrantTypeName) -> Self {
        match name {
            GrantTypeName::AuthorizationCode => OidcGrantType::AuthorizationCode,
            GrantTypeName::Implicit => OidcGrantType::Implicit,
            GrantTypeName::RefreshToken => OidcGrantType::RefreshToken,
            GrantTypeName::DeviceCode => OidcGrantType::DeviceCode,
        }
    }
}

impl From<OidcAuthMethodName> for OidcAuthMethod {
    fn from(name: OidcAuthMethodName) -> Self {
        match name {
            OidcAuthMethodName::Basic => OidcAuthMethod::Basic,
            OidcAuthMethodName::Post => OidcAuthMethod::Post,
            OidcAuthMethodName::None => OidcAuthMethod::None,
            OidcAuthMethodName::PrivateKeyJwt => OidcAuthMethod::PrivateKeyJwt,
        }
    }
}

impl From<AccessTokenTypeName> for AccessTokenType {
    fn from(name: AccessTokenTypeName) -> Self {
        match name {
            AccessTokenTypeName::Opaque => AccessTokenType::Opaque,
            AccessTokenTypeName::Jwt => AccessTokenType::Jwt,
        }
    }
}

/// A JWS algorithm Warden signs tokens with.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub(crate) enum SigningAlgorithmName {
    /// RSASSA-PKCS1-v1_5 with SHA-256: every OIDC client supports it.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl From<SigningAlgorithmName> for SigningAlgorithm {
    fn from(alg: SigningAlgorithmName) -> Self {
        match alg {
            SigningAlgorithmName::RS256 => SigningAlgorithm::RS256,
            SigningAlgorithmName::ES256 => SigningAlgorithm::ES256,
            SigningAlgorithmName::EdDSA => SigningAlgorithm::EdDSA,
        }
    }
}

fn default_response_types() -> Vec<ResponseTypeName> {
    vec![ResponseTypeName::Code]
}

fn default_grant_types() -> Vec<GrantTypeName> {
    vec![GrantTypeName::AuthorizationCode]
}

fn yes() -> bool {
    true
}

/// Declares a request body holding the given fields and then an OIDC application's settings, with
/// `config`, the settings as the domain's [`OidcConfig`]. The body of a new app and the body that replaces an
/// app's configuration hold the same settings, declared here once.
macro_rules! oidc_settings_request {
    (
        $(#[$meta:meta])*
        struct $name:ident { $($(#[$field_meta:meta])* $field:ident: $type:ty,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            $($(#[$field_meta])* $field: $type,)*
            /// Web, user agent or native.
            app_type: AppTypeName,
            /// Where the user may be sent back after login; absolute URIs, matched exactly.
            #[schemars(length(max = MAX_REDIRECT_URIS), inner(length(max = schema::URI_LEN), regex(pattern = schema::HTTPS_URL)), extend("uniqueItems" = true))]
            redirect_uris: Vec<String>,
            /// Where the user may be sent after logout; absolute URIs, matched exactly.
            #[serde(default)]
            #[schemars(length(max = MAX_REDIRECT_URIS), inner(length(max = schema::URI_LEN), regex(pattern = schema::HTTPS_URL)), extend("uniqueItems" = true))]
            post_logout_redirect_uris: Vec<String>,
            /// Response types the app may request (default `["code"]`).
            #[serde(default = "default_response_types")]
            #[schemars(extend("uniqueItems" = true))]
            response_types: Vec<ResponseTypeName>,
            /// Grant types the app may use (default `["authorization_code"]`).
            #[serde(default = "default_grant_types")]
            #[schemars(length(min = 1), extend("uniqueItems" = true))]
            grant_types: Vec<GrantTypeName>,
            /// Client authentication: `basic` or `post` (with a generated secret), `private_key_jwt`, or `none`.
            auth_method: OidcAuthMethodName,
            /// Requires PKCE (default true; must be true with `none`).
            #[serde(default = "yes")]
            require_pkce: bool,
            /// Opaque or JWT access tokens (default `opaque`).
            #[serde(default)]
            access_token_type: AccessTokenTypeName,
            /// Allows http redirect URIs, for development only.
            #[serde(default)]
            dev_mode: bool,
            /// The algorithm of the app's ID tokens: `RS256` (default), `ES256` or `EdDSA`.
            #[serde(default)]
            id_token_signed_response_alg: Option<SigningAlgorithmName>,
            /// The algorithm of the app's JWT access tokens: `ES256` (default), `RS256` or `EdDSA`.
            #[serde(default)]
            access_token_signed_response_alg: Option<SigningAlgorithmName>,
        }

        impl $name {
            /// The OIDC settings the body holds.
            fn config(&self) -> OidcConfig {
                OidcConfig {
                    app_type: self.app_type.into(),
                    redirect_uris: self.redirect_uris.clone(),
                    post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
                    response_types: self.response_types.iter().map(|&r| r.into()).collect(),
                    grant_types: self.grant_types.iter().map(|&g| g.into()).collect(),
                    auth_method: self.auth_method.into(),
                    require_pkce: self.require_pkce,
                    access_token_type: self.access_token_type.into(),
                    dev_mode: self.dev_mode,
                    id_token_signed_response_alg: self.id_token_signed_response_alg.map(Into::into),
                    access_token_signed_response_alg: self
                        .access_token_signed_response_alg
                        .map(Into::into),
                }
            }
        }
    };
}

oidc_settings_request! {
    /// The configuration of an OIDC application.
    struct OidcConfigRequest {}
}

oidc_settings_request! {
    /// A new OIDC application.
    struct AddOidcAppRequest {
        /// The display name.
        #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
        name: String,
    }
}

/// The configuration of an API application.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiConfigRequest {
    /// Client authentication: `basic` (with a generated secret) or `private_key_jwt`.
    auth_method: ApiAuthMethodName,
    /// The kind of the app's own access tokens (client credentials): `jwt` (default) or `opaque`.
    #[serde(default)]
    access_token_type: Option<AccessTokenTypeName>,
}

impl ApiConfigRequest {
    /// The API settings the body holds.
    fn config(&self) -> ApiConfig {
        ApiConfig {
            auth_method: match self.auth_method {
                ApiAuthMethodName::Basic => ApiAuthMethod::Basic,
                ApiAuthMethodName::PrivateKeyJwt => ApiAuthMethod::PrivateKeyJwt,
            },
            access_token_type: self.access_token_type.map(Into::into).unwrap_or_default(),
        }
    }
}

/// A new API application.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddApiAppRequest {
    /// The display name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
    /// Client authentication: `basic` (with a generated secret) or `private_key_jwt`.
    auth_method: ApiAuthMethodName,
    /// The kind of the app's own access tokens (client credentials): `jwt` (default) or `opaque`.
    #[serde(default)]
    access_token_type: Option<AccessTokenTypeName>,
}

/// An application added.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(crate) struct AppCreatedBody {
    /// What the write produced.
    #[serde(flatten)]
    details: WriteDetails,
    /// The generated client id.
    client_id: String,
    /// The generated client secret, when the auth method uses one; shown this once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

fn app_created(created: warden_command::AppCreated) -> Reply<AppCreatedBody> {
    reply(
        StatusCode::CREATED,
        created.details.sequence,
        AppCreatedBody {
            details: created.details.into(),
            client_id: created.client_id,
            client_secret: created.client_secret.map(SecretString::into_inner),
        },
    )
}

fn maybe_secret(
    (details, secret): (warden_command::Details, Option<SecretString>),
) -> Reply<MaybeSecret> {
    reply(
        StatusCode::OK,
        details.sequence,
        MaybeSecret {
            details: details.into(),
            client_secret: secret.map(SecretString::into_inner),
        },
    )
}
