//! The HTTP endpoints: discovery, JWKS, userinfo, introspection, revocation and end session, the router,
//! and the OAuth error responses (RFC 6749 §5.2).

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::{Value, json};
use warden_domain::application::AppConfig;

use crate::{
    OidcError,
    authorize::{self, error_page},
    client_assertion,
    flow::Sessions,
    keys::now_ms,
    provider::{Client, Core, MANAGEMENT_API_AUDIENCE, Provider, ROLES_CLAIM},
    token,
};

/// What the provider's handlers share.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) core: Arc<Core>,
    pub(crate) instance_id: Arc<str>,
    pub(crate) sessions: Arc<dyn Sessions>,
}

/// The subject and client of a valid ID token (for `id_token_hint`).
pub(crate) struct HintSubject {
    pub(crate) sub: String,
    pub(crate) client_id: String,
    pub(crate) sid: Option<String>,
}

impl Endpoint {
    /// The subject of an ID token this provider signed (expired ones included, as hints may be).
    pub(crate) async fn id_token_hint_subject(&self, hint: &str) -> Option<HintSubject> {
        #[derive(Deserialize)]
        struct Claims {
            sub: String,
            aud: Value,
            azp: Option<String>,
            sid: Option<String>,
        }
        let claims: Claims = self
            .core
            .keys
            .verify(&self.instance_id, self.core.issuer(), hint, false)
            .await
            .ok()?;
        let client_id = claims.azp.or_else(|| match &claims.aud {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })?;
        Some(HintSubject {
            sub: claims.sub,
            client_id,
            sid: claims.sid,
        })
    }
}

impl Provider {
    /// The provider's routes for `instance_id`: discovery (both well-known paths) and `/oauth/v2/*`.
    /// `sessions` is the login side's view of browser sessions ([`crate::flow::NoSessions`] without one).
    pub fn router(&self, instance_id: &str, sessions: Arc<dyn Sessions>) -> Router {
        let endpoint = Endpoint {
            core: self.core.clone(),
            instance_id: Arc::from(instance_id),
            sessions,
        };
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/oauth-authorization-server", get(discovery))
            .route("/oauth/v2/keys", get(jwks))
            .route(
                "/oauth/v2/authorize",
                get(authorize::authorize_get).post(authorize::authorize_post),
            )
            .route("/oauth/v2/token", axum::routing::post(token::token))
            .route("/oauth/v2/userinfo", get(userinfo_get).post(userinfo_post))
            .route("/oauth/v2/introspect", axum::routing::post(introspect))
            .route("/oauth/v2/revoke", axum::routing::post(revoke))
            .route(
                "/oauth/v2/end_session",
                get(end_session_get).post(end_session_post),
            )
            .with_state(endpoint)
    }
}

/// An OAuth error response (RFC 6749 §5.2): JSON `error` and `error_description`, never cached.
#[derive(Debug)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    pub(crate) description: String,
    /// `WWW-Authenticate` to send with a 401.
    pub(crate) challenge: Option<&'static str>,
}

impl OAuthError {
    pub(crate) fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    pub(crate) fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            challenge: Some(if basic {
                "Basic realm=\"warden\""
            } else {
                "Bearer realm=\"warden\""
            }),
        }
    }
}

impl From<OidcError> for OAuthError {
    fn from(error: OidcError) -> Self {
        if let OidcError::ActionFailed(message) = &error {
            return Self {
                status: StatusCode::FORBIDDEN,
                error: "access_denied",
                description: format!("refused by an action: {message}"),
                challenge: None,
            };
        }
        tracing::warn!(%error, "oidc endpoint failed");
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "the server cannot handle the request now; try again".into(),
            challenge: None,
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Parses a form body; a parameter sent twice is an error (RFC 6749 §3.1).
pub(crate) fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        )
    })?;
    let mut form = HashMap::new();
    for (name, value) in pairs {
        if form.insert(name.clone(), value).is_some() {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter `{name}` is repeated"),
            ));
        }
    }
    Ok(form)
}

/// The client credentials a request presents.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    pub(crate) client_id: Option<String>,
    pub(crate) secret: Option<String>,
    pub(crate) basic: bool,
    pub(crate) assertion: Option<String>,
}

/// Reads client credentials from `Authorization: Basic` (RFC 6749 §2.3.1, form-encoded parts) or the body.
pub(crate) fn presented(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Presented, OAuthError> {
    let mut out = Presented::default();
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(encoded) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
    {
        let bad = || OAuthError::invalid_client("malformed Basic credentials", true);
        let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = text.split_once(':').ok_or_else(bad)?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        out.client_id = decode(id);
        out.secret = decode(secret);
        out.basic = true;
        if form.contains_key("client_secret") {
            return Err(OAuthError::new(
                "invalid_request",
                "use one client authentication method",
            ));
        }
    }
    if let Some(id) = form.get("client_id") {
        if out.client_id.as_ref().is_some_and(|basic| basic != id) {
            return Err(OAuthError::invalid_client(
                "client_id differs from the Basic credentials",
                true,
            ));
        }
        out.client_id = Some(id.clone());
    }
    if !out.basic {
        out.secret = form.get("client_secret").cloned();
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(OAuthError::new(
                "invalid_request",
                "unsupported client_assertion_type",
            ));
        }
        out.assertion = Some(assertion.clone());
    }
    Ok(out)
}

/// Authenticates the client of a request. Public clients (auth method `none`) pass with their `client_id`
/// alone unless `confidential` is asked for.
pub(crate) async fn authenticate_client(
    endpoint: &Endpoint,
    presented: &Presented,
    confidential: bool,
) -> Result<Client, OAuthError> {
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let refuse = || OAuthError::invalid_client("client authentication failed", presented.basic);
    if let Some(assertion) = &presented.assertion {
        // One authentication method per request (RFC 6749 §2.3).
        if presented.secret.is_some() {
            return Err(refuse());
        }
        let claimed = client_assertion::claimed_client(assertion).ok_or_else(refuse)?;
        if let Some((app_id, app)) = core.app_by_client_id(instance_id, &claimed).await? {
            if presented
                .client_id
                .as_ref()
                .is_some_and(|id| *id != claimed)
                || app.lifecycle != warden_domain::Lifecycle::Active
                || !app.authenticates_with_keys()
            {
                return Err(refuse());
            }
            client_assertion::verify_app_assertion(endpoint, &app, assertion).await?;
            return Ok(Client::App { app_id, app });
        }
        let (user_id, _) = client_assertion::verify_machine_assertion(
            endpoint,
            assertion,
            client_assertion::Use::ClientAuthentication,
        )
        .await?;
        if presented
            .client_id
            .as_ref()
            .is_some_and(|id| *id != user_id)
        {
            return Err(refuse());
        }
        return Ok(Client::Machine { user_id });
    }
    let client_id = presented.client_id.as_deref().ok_or_else(refuse)?;
    if let Some((app_id, app)) = core.app_by_client_id(instance_id, client_id).await? {
        if app.lifecycle != warden_domain::Lifecycle::Active {
            return Err(refuse());
        }
        let uses_secret = app.uses_secret();
        if uses_secret {
            let ok = match (&presented.secret, &app.client_secret_hash) {
                (Some(secret), Some(hash)) => warden_command::secret::secret_matches(secret, hash),
                _ => false,
            };
            if !ok {
                return Err(refuse());
            }
        } else {
            let public =
                matches!(&app.config, Some(AppConfig::Oidc(c)) if crate::provider::is_public(c));
            // A private_key_jwt client authenticates with an assertion only (handled above).
            if !public || confidential || presented.secret.is_some() {
                return Err(refuse());
            }
        }
        return Ok(Client::App { app_id, app });
    }
    if let Some(secret) = &presented.secret
        && let Some((user_id, user)) = core.machine_user(instance_id, client_id).await?
        && Core::machine_secret_matches(&user, secret)
    {
        return Ok(Client::Machine { user_id });
    }
    Err(refuse())
}

/// `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
async fn discovery(State(endpoint): State<Endpoint>) -> Response {
    let issuer = endpoint.core.issuer();
    let url = |path: &str| format!("{issuer}{path}");
    let algs = json!(["RS256", "ES256", "EdDSA"]);
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": url("/oauth/v2/authorize"),
        "token_endpoint": url("/oauth/v2/token"),
        "userinfo_endpoint": url("/oauth/v2/userinfo"),
        "introspection_endpoint": url("/oauth/v2/introspect"),
        "revocation_endpoint": url("/oauth/v2/revoke"),
        "end_session_endpoint": url("/oauth/v2/end_session"),
        "jwks_uri": url("/oauth/v2/keys"),
        "scopes_supported": ["openid", "profile", "email", "phone", "address", "offline_access", MANAGEMENT_API_AUDIENCE],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": [],
        "request_object_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": client_assertion::ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": client_assertion::ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none", "private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": client_assertion::ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "amr", "acr", "at_hash", "sid",
            "name", "given_name", "family_name", "preferred_username", "locale", "email", "email_verified",
            "phone_number", "phone_number_verified", "address", ROLES_CLAIM
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["en"],
    }))
    .into_response()
}

/// `/oauth/v2/keys`: the public keys that verify this instance's tokens.
async fn jwks(State(endpoint): State<Endpoint>) -> Response {
    match endpoint.core.keys.jwks(&endpoint.instance_id).await {
        Ok(keys) => (
            [
                (header::CACHE_CONTROL, "public, max-age=300"),
                (header::CONTENT_TYPE, "application/jwk-set+json"),
            ],
            keys.to_string(),
        )
            .into_response(),
        Err(error) => OAuthError::from(error).into_response(),
    }
}

/// A bearer-token error of the userinfo endpoint (RFC 6750 §3).
fn bearer_error(status: StatusCode, error: &'static str, description: &str) -> Response {
    let challenge =
        format!("Bearer realm=\"warden\", error=\"{error}\", error_description=\"{description}\"");
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned())
}

async fn userinfo_get(State(endpoint): State<Endpoint>, headers: HeaderMap) -> Response {
    userinfo(endpoint, bearer(&headers)).await
}

async fn userinfo_post(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let from_header = bearer(&headers);
    let form = match parse_form(&body) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let from_body = form.get("access_token").cloned();
    if from_header.is_some() && from_body.is_some() {
        return bearer_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send the token once",
        );
    }
    userinfo(endpoint, from_header.or(from_body)).await
}

async fn userinfo(endpoint: Endpoint, token: Option<String>) -> Response {
    let Some(token) = token else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "an access token is required",
        );
    };
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let result: Result<Response, OidcError> = async {
        let Some(subject) = core.access_token(instance_id, &token).await? else {
            return Ok(bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is not valid",
            ));
        };
        if !subject.scope.iter().any(|s| s == "openid") {
            return Ok(bearer_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the token lacks the openid scope",
            ));
        }
        let user = core.user(instance_id, &subject.user_id).await?;
        let project_id = core
            .app_by_client_id(instance_id, &subject.client_id)
            .await?
            .map(|(_, app)| app.project_id.clone());
        let mut claims = core
            .user_claims(
                instance_id,
                &subject.user_id,
                &user,
                &subject.scope,
                project_id.as_deref(),
            )
            .await?;
        let roles = claims
            .get(ROLES_CLAIM)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        core.run_claims_hook(
            instance_id,
            true,
            crate::hooks::ClaimsFor {
                user_id: &subject.user_id,
                user: &user,
                client_id: &subject.client_id,
                scope: &subject.scope,
                amr: &[],
                roles,
            },
            &mut claims,
        )
        .await
        .map_err(|e| OidcError::ActionFailed(e.to_string()))?;
        Ok((
            [(header::CACHE_CONTROL, "no-store")],
            Json(Value::Object(claims)),
        )
            .into_response())
    }
    .await;
    result.unwrap_or_else(|error| OAuthError::from(error).into_response())
}

/// `/oauth/v2/introspect` (RFC 7662). The caller authenticates as a confidential client; a token is active for
/// it only when the caller is among the token's audiences (or is the token's own machine user).
async fn introspect(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<Response, OAuthError> = async {
        let form = parse_form(&body)?;
        let presented = presented(&headers, &form)?;
        let caller = authenticate_client(&endpoint, &presented, true).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        let inactive = || Json(json!({ "active": false })).into_response();
        let core = &endpoint.core;
        let instance_id = &*endpoint.instance_id;
        let caller_ids: Vec<String> = match &caller {
            Client::App { app, .. } => vec![app.client_id.clone(), app.project_id.clone()],
            Client::Machine { user_id } => vec![user_id.clone()],
        };
        if token.starts_with("wdn_rt_") {
            let Some(row) = token::active_refresh(&endpoint, token).await? else {
                return Ok(inactive());
            };
            if !caller_ids.contains(&row.client_id) {
                return Ok(inactive());
            }
            return Ok(Json(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": row.client_id,
                "sub": row.user_id,
                "iss": core.issuer(),
                "iat": row.created_at_ms / 1000,
                "exp": row.expires_at_ms / 1000,
                "scope": row.data.get("scope").and_then(Value::as_array).map(|s| {
                    s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")
                }),
            }))
            .into_response());
        }
        let Some(subject) = core.access_token(instance_id, token).await? else {
            return Ok(inactive());
        };
        let allowed = subject.audience.iter().any(|a| caller_ids.contains(a))
            || matches!(&caller, Client::Machine { user_id } if *user_id == subject.user_id);
        if !allowed {
            return Ok(inactive());
        }
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": subject.scope.join(" "),
            "client_id": subject.client_id,
            "sub": subject.user_id,
            "aud": subject.audience,
            "iss": core.issuer(),
            "iat": subject.issued_at,
            "exp": subject.expires_at,
            "jti": subject.token_id,
        });
        // An API application's own token has no user, so no username.
        if !subject.application {
            answer["username"] = json!(core.user(instance_id, &subject.user_id).await?.login_name);
        }
        Ok(Json(answer).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `/oauth/v2/revoke` (RFC 7009): revokes a refresh token (with its whole grant), an opaque access token, or
/// the grant of a JWT access token. Answers 200 for unknown tokens too.
async fn revoke(State(endpoint): State<Endpoint>, headers: HeaderMap, body: Bytes) -> Response {
    let result: Result<Response, OAuthError> = async {
        let form = parse_form(&body)?;
        let presented = presented(&headers, &form)?;
        let client = authenticate_client(&endpoint, &presented, false).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::new("invalid_request", "token is required"))?;
        token::revoke_token(&endpoint, &client, token).await?;
        Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn end_session_get(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    end_session(endpoint, headers, params).await
}

async fn end_session_post(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match parse_form(&body) {
        Ok(params) => end_session(endpoint, headers, params).await,
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            "The logout request is malformed.",
        ),
    }
}

/// `/oauth/v2/end_session` (RP-initiated logout 1.0): ends the browser's session and, when the client named
/// a registered `post_logout_redirect_uri`, sends the browser there; otherwise shows a signed-out page.
async fn end_session(
    endpoint: Endpoint,
    headers: HeaderMap,
    params: HashMap<String, String>,
) -> Response {
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty());
    let hint = match get("id_token_hint") {
        Some(hint) => match endpoint.id_token_hint_subject(hint).await {
            Some(hint) => Some(hint),
            None => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Invalid logout request",
                    "The id_token_hint of this logout request is not an ID token Warden issued.",
                );
            }
        },
        None => None,
    };
    let client_id = match (get("client_id"), &hint) {
        (Some(id), Some(hint)) if *id != hint.client_id => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid logout request",
                "The client_id does not match the id_token_hint.",
            );
        }
        (Some(id), _) => Some(id.clone()),
        (None, Some(hint)) => Some(hint.client_id.clone()),
        (None, None) => None,
    };
    let mut target = None;
    if let Some(uri) = get("post_logout_redirect_uri") {
        let registered = match &client_id {
            Some(client_id) => match endpoint
                .core
                .app_by_client_id(&endpoint.instance_id, client_id)
                .await
            {
                Ok(Some((_, app))) => match &app.config {
                    Some(AppConfig::Oidc(c)) => c.post_logout_redirect_uris.contains(uri),
                    _ => false,
                },
                Ok(None) => false,
                Err(error) => return OAuthError::from(error).into_response(),
            },
            None => false,
        };
        if !registered {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid logout request",
                "The post_logout_redirect_uri is not registered for this application.",
            );
        }
        let mut url = uri.clone();
        if let Some(state) = get("state") {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&serde_urlencoded::to_string([("state", state)]).unwrap_or_default());
        }
        target = Some(url);
    }
    let sid = hint.as_ref().and_then(|h| h.sid.as_deref());
    let cookies = endpoint
        .sessions
        .terminate(&endpoint.instance_id, &headers, sid)
        .await;
    let _ = now_ms();
    let mut response = match target {
        Some(url) => Redirect::to(&url).into_response(),
        None => Html(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed out</title></head>\
             <body><main><h1>You are signed out</h1><p>You can close this window.</p></main></body></html>",
        )
        .into_response(),
    };
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
