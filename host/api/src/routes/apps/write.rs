//! Applications: `/api/v1/projects/{project_id}/apps/...` to add them, `/api/v1/apps/{app_id}` to change them.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
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
    ApiState,
    bodies::{MaybeSecret, NameRequest, Reply, SecretCreated, WriteDetails, changed, reply},
    extract::{Authenticated, IfMatch, Json, Path},
    openapi::Endpoint,
    schema,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::post(
            "/api/v1/projects/{project_id}/apps/oidc",
            "addOidcApp",
            "Add an OIDC application to a project (the client secret, if any, is returned this once)",
            add_oidc,
        )
        .command::<AddOidcApp>()
        .body::<AddOidcAppRequest>()
        .returns::<AppCreatedBody>(StatusCode::CREATED),
        Endpoint::post(
            "/api/v1/projects/{project_id}/apps/api",
            "addApiApp",
            "Add an API application to a project (the client secret, if any, is returned this once)",
            add_api,
        )
        .command::<AddApiApp>()
        .body::<AddApiAppRequest>()
        .returns::<AppCreatedBody>(StatusCode::CREATED),
        Endpoint::put("/api/v1/apps/{app_id}", "renameApp", "Rename an application", rename)
            .command::<RenameApp>()
            .body::<NameRequest>()
            .returns::<WriteDetails>(ok),
        Endpoint::put(
            "/api/v1/apps/{app_id}/oidc-config",
            "changeOidcAppConfig",
            "Replace an OIDC application's configuration (a newly needed client secret is returned this once)",
            change_oidc,
        )
        .command::<ChangeOidcConfig>()
        .body::<OidcConfigRequest>()
        .returns::<MaybeSecret>(ok),
        Endpoint::put(
            "/api/v1/apps/{app_id}/api-config",
            "changeApiAppConfig",
            "Replace an API application's configuration (a newly needed client secret is returned this once)",
            change_api,
        )
        .command::<ChangeApiConfig>()
        .body::<ApiConfigRequest>()
        .returns::<MaybeSecret>(ok),
        Endpoint::post(
            "/api/v1/apps/{app_id}/secret",
            "regenerateAppSecret",
            "Replace an application's client secret with a new one (returned this once)",
            regenerate_secret,
        )
        .command::<RegenerateAppSecret>()
        .returns::<SecretCreated>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/apps/{app_id}/deactivate",
            "deactivateApp",
            "Deactivate an application",
            |c, id: &String| Box::pin(c.deactivate_app(id)),
        )
        .command::<DeactivateApp>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::POST,
            "/api/v1/apps/{app_id}/reactivate",
            "reactivateApp",
            "Reactivate a deactivated application",
            |c, id: &String| Box::pin(c.reactivate_app(id)),
        )
        .command::<ReactivateApp>()
        .returns::<WriteDetails>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/apps/{app_id}",
            "removeApp",
            "Remove an application; its client id is free again",
            |c, id: &String| Box::pin(c.remove_app(id)),
        )
        .command::<RemoveApp>()
        .returns::<WriteDetails>(ok),
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

/// The configuration of an OIDC application.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcConfigRequest {
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

impl From<OidcConfigRequest> for OidcConfig {
    fn from(c: OidcConfigRequest) -> Self {
        OidcConfig {
            app_type: match c.app_type {
                AppTypeName::Web => OidcAppType::Web,
                AppTypeName::UserAgent => OidcAppType::UserAgent,
                AppTypeName::Native => OidcAppType::Native,
            },
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            response_types: c
                .response_types
                .into_iter()
                .map(|r| match r {
                    ResponseTypeName::Code => OidcResponseType::Code,
                    ResponseTypeName::IdToken => OidcResponseType::IdToken,
                    ResponseTypeName::IdTokenToken => OidcResponseType::IdTokenToken,
                })
                .collect(),
            grant_types: c
                .grant_types
                .into_iter()
                .map(|g| match g {
                    GrantTypeName::AuthorizationCode => OidcGrantType::AuthorizationCode,
                    GrantTypeName::Implicit => OidcGrantType::Implicit,
                    GrantTypeName::RefreshToken => OidcGrantType::RefreshToken,
                    GrantTypeName::DeviceCode => OidcGrantType::DeviceCode,
                })
                .collect(),
            auth_method: match c.auth_method {
                OidcAuthMethodName::Basic => OidcAuthMethod::Basic,
                OidcAuthMethodName::Post => OidcAuthMethod::Post,
                OidcAuthMethodName::None => OidcAuthMethod::None,
                OidcAuthMethodName::PrivateKeyJwt => OidcAuthMethod::PrivateKeyJwt,
            },
            require_pkce: c.require_pkce,
            access_token_type: c.access_token_type.into(),
            dev_mode: c.dev_mode,
            id_token_signed_response_alg: c.id_token_signed_response_alg.map(Into::into),
            access_token_signed_response_alg: c.access_token_signed_response_alg.map(Into::into),
        }
    }
}

/// A new OIDC application.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddOidcAppRequest {
    /// The display name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
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

impl AddOidcAppRequest {
    fn into_parts(self) -> (String, OidcConfig) {
        let config = OidcConfigRequest {
            app_type: self.app_type,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            response_types: self.response_types,
            grant_types: self.grant_types,
            auth_method: self.auth_method,
            require_pkce: self.require_pkce,
            access_token_type: self.access_token_type,
            dev_mode: self.dev_mode,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
            access_token_signed_response_alg: self.access_token_signed_response_alg,
        };
        (self.name, config.into())
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

impl From<ApiConfigRequest> for ApiConfig {
    fn from(c: ApiConfigRequest) -> Self {
        ApiConfig {
            auth_method: match c.auth_method {
                ApiAuthMethodName::Basic => ApiAuthMethod::Basic,
                ApiAuthMethodName::PrivateKeyJwt => ApiAuthMethod::PrivateKeyJwt,
            },
            access_token_type: c.access_token_type.map(Into::into).unwrap_or_default(),
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

async fn add_oidc(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(project_id): Path<String>,
    Json(body): Json<AddOidcAppRequest>,
) -> Reply<AppCreatedBody> {
    let (name, config) = body.into_parts();
    let app = NewOidcApp {
        project_id,
        name,
        config,
    };
    app_created(api.commands.for_caller(&caller).add_oidc_app(&app).await?)
}

async fn add_api(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(project_id): Path<String>,
    Json(body): Json<AddApiAppRequest>,
) -> Reply<AppCreatedBody> {
    let app = NewApiApp {
        project_id,
        name: body.name,
        config: ApiConfigRequest {
            auth_method: body.auth_method,
            access_token_type: body.access_token_type,
        }
        .into(),
    };
    app_created(api.commands.for_caller(&caller).add_api_app(&app).await?)
}

async fn rename(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(app_id): Path<String>,
    Json(body): Json<NameRequest>,
) -> Reply {
    changed(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .rename_app(&app_id, &body.name)
            .await?,
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

async fn change_oidc(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(app_id): Path<String>,
    Json(body): Json<OidcConfigRequest>,
) -> Reply<MaybeSecret> {
    let config = OidcConfig::from(body);
    maybe_secret(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .change_oidc_config(&app_id, &config)
            .await?,
    )
}

async fn change_api(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(app_id): Path<String>,
    Json(body): Json<ApiConfigRequest>,
) -> Reply<MaybeSecret> {
    let config = ApiConfig::from(body);
    maybe_secret(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .change_api_config(&app_id, &config)
            .await?,
    )
}

async fn regenerate_secret(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(app_id): Path<String>,
) -> Reply<SecretCreated> {
    let issued = api
        .commands
        .for_caller(&caller)
        .if_sequence(seq)
        .regenerate_app_secret(&app_id)
        .await?;
    SecretCreated::issued(issued)
}
