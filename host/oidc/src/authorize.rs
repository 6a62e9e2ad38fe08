//! The authorization endpoint (`/oauth/v2/authorize`, GET and POST) and the completion of a login
//! ([`crate::flow::AuthRequests`]).
//!
//! The client and its redirect URI are checked first: an unknown client, an inactive one, or a redirect URI
//! that is not registered exactly (native apps: any port on `http://127.0.0.1` / `http://[::1]`) get an error
//! page on Warden, never a redirect. Every later error goes back to the client with `error`, `state` and `iss`
//! (RFC 9207). Only `response_type=code`; PKCE with `S256` (required for public clients and apps that
//! require it); `request` and `request_uri` are refused as unsupported; unknown parameters are ignored.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Form, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use warden_domain::{
    Lifecycle,
    application::{AppConfig, OidcAppType, OidcResponseType},
};

use crate::{
    OidcError,
    flow::{AuthRequest, AuthRequestBackend, LoginSession},
    http::Endpoint,
    keys::now_ms,
    provider::{CodeData, Core, is_public},
};

/// How long a pending authorization request lives.
const REQUEST_LIFETIME_MS: i64 = 10 * 60 * 1000;

/// The stored request: what the login pages see plus what only the provider needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRequest {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) app_id: String,
    pub(crate) app_name: String,
    pub(crate) project_id: String,
    pub(crate) org_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: Vec<String>,
    pub(crate) prompt: Vec<String>,
    pub(crate) max_age: Option<i64>,
    pub(crate) login_hint: Option<String>,
    pub(crate) hint_user_id: Option<String>,
    pub(crate) ui_locales: Vec<String>,
    pub(crate) acr_values: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) form_post: bool,
}

impl StoredRequest {
    fn public(&self) -> AuthRequest {
        AuthRequest {
            id: self.id.clone(),
            client_id: self.client_id.clone(),
            app_id: self.app_id.clone(),
            app_name: self.app_name.clone(),
            project_id: self.project_id.clone(),
            org_id: self.org_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            scope: self.scope.clone(),
            prompt: self.prompt.clone(),
            max_age: self.max_age,
            login_hint: self.login_hint.clone(),
            hint_user_id: self.hint_user_id.clone(),
            ui_locales: self.ui_locales.clone(),
            acr_values: self.acr_values.clone(),
            created_at: self.created_at,
        }
    }
}

/// Where a response goes back to the client.
pub(crate) struct Reply<'a> {
    pub(crate) redirect_uri: &'a str,
    pub(crate) state: Option<&'a str>,
    pub(crate) form_post: bool,
    pub(crate) issuer: &'a str,
}

impl Reply<'_> {
    /// The response carrying `params` (plus `state` and `iss`) to the client.
    pub(crate) fn send(&self, params: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = self.state {
            all.push(("state", state));
        }
        all.push(("iss", self.issuer));
        if self.form_post {
            let mut inputs = String::new();
            for (name, value) in &all {
                inputs.push_str(&format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    escape(name),
                    escape(value)
                ));
            }
            let body = format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Continue</title></head>\
                 <body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{inputs}\
                 <noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
                escape(self.redirect_uri)
            );
            (
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; script-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
                    ),
                ],
                Html(body),
            )
                .into_response()
        } else {
            let mut url = self.redirect_uri.to_owned();
            let query = serde_urlencoded::to_string(&all).unwrap_or_default();
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query);
            let mut response = Redirect::to(&url).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
    }

    pub(crate) fn error(&self, error: &str, description: &str) -> Response {
        self.send(&[("error", error), ("error_description", description)])
    }
}

/// HTML-escapes text.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// An error page on Warden itself (for requests that cannot be sent back to the client).
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>body{{font-family:system-ui,\
         sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}}h1{{font-size:1.4rem}}</style>\
         </head><body><main><h1>{t}</h1><p>{m}</p></main></body></html>",
        t = escape(title),
        m = escape(message)
    );
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        Html(body),
    )
        .into_response()
}

/// Whether `requested` matches a registered redirect URI exactly, or (native apps) a registered loopback URI
/// with any port (RFC 8252 §7.3).
pub(crate) fn redirect_uri_allowed(
    registered: &[String],
    requested: &str,
    app_type: OidcAppType,
) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    if app_type != OidcAppType::Native {
        return false;
    }
    let Ok(wanted) = url::Url::parse(requested) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"))
    };
    if !loopback(&wanted) || wanted.fragment().is_some() {
        return false;
    }
    registered.iter().any(|r| {
        url::Url::parse(r).is_ok_and(|mut reg| {
            if !loopback(&reg) {
                return false;
            }
            let mut wanted = wanted.clone();
            let ok = reg.set_port(None).is_ok() && wanted.set_port(None).is_ok();
            ok && reg == wanted
        })
    })
}

fn split(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `GET /oauth/v2/authorize`.
pub(crate) async fn authorize_get(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    authorize(endpoint, headers, params).await
}

/// `POST /oauth/v2/authorize` (form-encoded).
pub(crate) async fn authorize_post(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    authorize(endpoint, headers, params).await
}

async fn authorize(
    endpoint: Endpoint,
    headers: HeaderMap,
    params: HashMap<String, String>,
) -> Response {
    match try_authorize(&endpoint, &headers, &params).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, "authorization request failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "Warden cannot handle this sign-in request right now. Please try again later.",
            )
        }
    }
}

async fn try_authorize(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Response, OidcError> {
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty());
    // 1. The client and redirect URI: failures here never redirect.
    let Some(client_id) = get("client_id") else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            "The request has no client_id: the application that sent you here is misconfigured.",
        ));
    };
    let app = core.app_by_client_id(instance_id, client_id).await?;
    let Some((app_id, app)) = app.filter(|(_, a)| a.lifecycle == Lifecycle::Active) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "The application that sent you here is not registered or not active (unknown client_id).",
        ));
    };
    let Some(AppConfig::Oidc(config)) = &app.config else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            "This client is an API application: it cannot sign users in.",
        ));
    };
    let redirect_uri = match get("redirect_uri") {
        Some(uri) if redirect_uri_allowed(&config.redirect_uris, uri, config.app_type) => {
            uri.clone()
        }
        Some(_) => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Invalid redirect URI",
                "The redirect_uri of this request is not registered for the application.",
            ));
        }
        None if config.redirect_uris.len() == 1 => config.redirect_uris[0].clone(),
        None => {
            return Ok(error_page(
                StatusCode::BAD_REQUEST,
                "Invalid sign-in request",
                "The request has no redirect_uri.",
            ));
        }
    };
    let response_mode = get("response_mode").map(String::as_str);
    let reply = Reply {
        redirect_uri: &redirect_uri,
        state: get("state").map(String::as_str),
        form_post: response_mode == Some("form_post"),
        issuer: core.issuer(),
    };
    // 2. Everything else goes back to the client.
    if get("request").is_some() {
        return Ok(reply.error("request_not_supported", "request objects are not supported"));
    }
    if get("request_uri").is_some() {
        return Ok(reply.error("request_uri_not_supported", "request_uri is not supported"));
    }
    if !matches!(response_mode, None | Some("query") | Some("form_post")) {
        return Ok(reply.error(
            "invalid_request",
            "response_mode must be query or form_post",
        ));
    }
    match get("response_type").map(String::as_str) {
        None => return Ok(reply.error("invalid_request", "response_type is missing")),
        Some("code") if config.response_types.contains(&OidcResponseType::Code) => {}
        Some(_) => {
            return Ok(reply.error(
                "unsupported_response_type",
                "only response_type=code is supported for this client",
            ));
        }
    }
    let scope = split(get("scope"));
    if scope.is_empty() {
        return Ok(reply.error("invalid_scope", "scope is missing"));
    }
    let code_challenge = get("code_challenge").cloned();
    match (
        code_challenge.is_some(),
        get("code_challenge_method").map(String::as_str),
    ) {
        (true, Some("S256")) => {}
        (true, _) => {
            return Ok(reply.error("invalid_request", "code_challenge_method must be S256"));
        }
        (false, Some(_)) => {
            return Ok(reply.error(
                "invalid_request",
                "code_challenge_method without code_challenge",
            ));
        }
        (false, None) if config.require_pkce || is_public(config) => {
            return Ok(reply.error(
                "invalid_request",
                "this client must use PKCE: send code_challenge with code_challenge_method=S256",
            ));
        }
        (false, None) => {}
    }
    if code_challenge
        .as_ref()
        .is_some_and(|c| c.len() < 43 || c.len() > 128)
    {
        return Ok(reply.error(
            "invalid_request",
            "code_challenge must be 43 to 128 characters",
        ));
    }
    let prompt = split(get("prompt"));
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Ok(reply.error(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Ok(reply.error("invalid_request", "max_age must be a non-negative integer"));
            }
        },
    };
    let hint_user_id = match get("id_token_hint") {
        None => None,
        Some(hint) => match endpoint.id_token_hint_subject(hint).await {
            Some(hint) if hint.client_id == *client_id => Some(hint.sub),
            _ => {
                return Ok(reply.error(
                    "invalid_request",
                    "id_token_hint is not a valid ID token of this client",
                ));
            }
        },
    };
    let now = now_ms();
    let request = StoredRequest {
        id: uuid::Uuid::now_v7().to_string(),
        client_id: client_id.clone(),
        app_id: app_id.clone(),
        app_name: app.name.clone(),
        project_id: app.project_id.clone(),
        org_id: app.org_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope,
        prompt,
        max_age,
        login_hint: get("login_hint").cloned(),
        hint_user_id,
        ui_locales: split(get("ui_locales")),
        acr_values: split(get("acr_values")),
        created_at: now / 1000,
        state: get("state").cloned(),
        nonce: get("nonce").cloned(),
        code_challenge,
        form_post: reply.form_post,
    };
    core.rows
        .insert_auth_request(
            instance_id,
            &request.id,
            &request,
            now,
            now + REQUEST_LIFETIME_MS,
        )
        .await?;

    // 3. A session of this browser, or the login pages.
    let public = request.public();
    let usable: Vec<LoginSession> = endpoint
        .sessions
        .sessions(instance_id, headers)
        .await?
        .into_iter()
        .filter(|s| public.accepts_auth_time(s, now / 1000))
        .filter(|s| public.hint_user_id.as_ref().is_none_or(|u| *u == s.user_id))
        .collect();
    let completion = Completion { core: core.clone() };
    if public.prompt.iter().any(|p| p == "none") {
        return match usable.as_slice() {
            [session] => completion.complete(instance_id, &request.id, session).await,
            [] => {
                completion
                    .fail(
                        instance_id,
                        &request.id,
                        "login_required",
                        "the user is not logged in",
                    )
                    .await
            }
            _ => {
                completion
                    .fail(
                        instance_id,
                        &request.id,
                        "account_selection_required",
                        "several accounts are logged in",
                    )
                    .await
            }
        };
    }
    if let [session] = usable.as_slice()
        && !public.forces_login()
        && !public.wants_account_selection()
        && !public.wants_consent()
    {
        return completion.complete(instance_id, &request.id, session).await;
    }
    Ok(Redirect::to(&format!("/login?authRequest={}", request.id)).into_response())
}

/// The login side's view of authorization requests.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) core: Arc<Core>,
}

#[async_trait::async_trait]
impl AuthRequestBackend for Completion {
    async fn get(&self, instance_id: &str, id: &str) -> Result<Option<AuthRequest>, OidcError> {
        Ok(self
            .core
            .rows
            .auth_request::<StoredRequest>(instance_id, id, now_ms())
            .await?
            .map(|r| r.public()))
    }

    async fn complete(
        &self,
        instance_id: &str,
        id: &str,
        session: &LoginSession,
    ) -> Result<Response, OidcError> {
        // The request as stored (it never changes); completing it below consumes it, and so does a refusal.
        let request = self
            .core
            .rows
            .auth_request::<StoredRequest>(instance_id, id, now_ms())
            .await?
            .ok_or_else(|| OidcError::AuthRequestNotFound(id.to_owned()))?;
        let reply = Reply {
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            form_post: request.form_post,
            issuer: self.core.issuer(),
        };
        if self
            .core
            .user_usable(instance_id, &session.user_id)
            .await?
            .is_none()
        {
            self.take(instance_id, id).await?;
            return Ok(reply.error("access_denied", "the user may not sign in"));
        }
        if self
            .core
            .app_usable(instance_id, &request.app_id)
            .await?
            .is_none()
        {
            self.take(instance_id, id).await?;
            return Ok(reply.error("access_denied", "the application is not active"));
        }
        let code = self
            .core
            .issue_code(
                instance_id,
                id,
                &CodeData {
                    client_id: request.client_id.clone(),
                    app_id: request.app_id.clone(),
                    redirect_uri: request.redirect_uri.clone(),
                    user_id: session.user_id.clone(),
                    session_id: session.session_id.clone(),
                    auth_time: session.auth_time,
                    amr: session.amr.clone(),
                    acr: session.acr.clone(),
                    nonce: request.nonce.clone(),
                    scope: request.scope.clone(),
                    code_challenge: request.code_challenge.clone(),
                },
            )
            .await?
            .ok_or_else(|| OidcError::AuthRequestNotFound(id.to_owned()))?;
        Ok(reply.send(&[("code", &code)]))
    }

    async fn fail(
        &self,
        instance_id: &str,
        id: &str,
        error: &str,
        description: &str,
    ) -> Result<Response, OidcError> {
        let request = self.take(instance_id, id).await?;
        let error = match error {
            "access_denied"
            | "login_required"
            | "interaction_required"
            | "account_selection_required"
            | "consent_required"
            | "temporarily_unavailable"
            | "server_error" => error,
            _ => "access_denied",
        };
        Ok(Reply {
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            form_post: request.form_post,
            issuer: self.core.issuer(),
        }
        .error(error, description))
    }
}

impl Completion {
    /// Reads and deletes a pending request; only one caller gets it.
    async fn take(&self, instance_id: &str, id: &str) -> Result<StoredRequest, OidcError> {
        self.core
            .rows
            .take_auth_request::<StoredRequest>(instance_id, id, now_ms())
            .await?
            .ok_or_else(|| OidcError::AuthRequestNotFound(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_native_loopback_ports() {
        let web = vec!["https://app.example.com/cb".to_owned()];
        assert!(redirect_uri_allowed(
            &web,
            "https://app.example.com/cb",
            OidcAppType::Web
        ));
        for bad in [
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#f",
            "http://app.example.com/cb",
            "https://app.example.com:8443/cb",
            "https://app.example.com/cb/",
            "https://evil.example.com/cb",
        ] {
            assert!(!redirect_uri_allowed(&web, bad, OidcAppType::Web), "{bad}");
        }
        let native = vec!["http://127.0.0.1/cb".to_owned()];
        assert!(redirect_uri_allowed(
            &native,
            "http://127.0.0.1:51234/cb",
            OidcAppType::Native
        ));
        assert!(!redirect_uri_allowed(
            &native,
            "http://127.0.0.1:51234/other",
            OidcAppType::Native
        ));
        assert!(!redirect_uri_allowed(
            &native,
            "http://localhost:51234/cb",
            OidcAppType::Native
        ));
        assert!(!redirect_uri_allowed(
            &native,
            "http://127.0.0.1:51234/cb",
            OidcAppType::Web
        ));
    }

    #[test]
    fn replies_carry_state_and_issuer() {
        let reply = Reply {
            redirect_uri: "https://app.example.com/cb?keep=1",
            state: Some("s t"),
            form_post: false,
            issuer: "https://id.example.com",
        };
        let response = reply.send(&[("code", "abc")]);
        let location = response.headers()[header::LOCATION]
            .to_str()
            .expect("ascii");
        assert_eq!(
            location,
            "https://app.example.com/cb?keep=1&code=abc&state=s+t&iss=https%3A%2F%2Fid.example.com"
        );
        let form = Reply {
            form_post: true,
            ..reply
        }
        .send(&[("code", "<x>")]);
        assert_eq!(form.status(), StatusCode::OK);
    }
}
