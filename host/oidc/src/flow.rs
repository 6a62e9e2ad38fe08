//! The seam between the provider and the login pages.
//!
//! The provider owns authorization requests; the login pages own browser sessions. They meet here:
//!
//! 1. `GET /oauth/v2/authorize` validates the client and redirect URI, stores an [`AuthRequest`] and asks
//!    [`Sessions::sessions`] which sessions the browser has. With exactly one usable session (and no
//!    `prompt=login`, `max_age` satisfied) it completes at once; otherwise it redirects the browser to
//!    `/login?authRequest=<id>`.
//! 2. The login pages read the request with [`AuthRequests::get`] (client name, `login_hint`, `prompt`, ...),
//!    log the user in (or let them pick one of their sessions), then call [`AuthRequests::complete`] with the
//!    [`LoginSession`] and return its response to the browser: it carries the authorization code back to the
//!    client. A refused or cancelled login calls [`AuthRequests::fail`] instead.
//! 3. `end_session` calls [`Sessions::terminate`] and forwards the `Set-Cookie` headers it returns.
//!
//! The login crate depends on this one, never the reverse: the provider sees sessions only through the
//! [`Sessions`] trait object given to it at wiring time.

use std::sync::Arc;

use axum::response::Response;
use http::{HeaderMap, HeaderValue};

use crate::OidcError;

/// A logged-in browser session, as the login side knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Id of the session aggregate; becomes the `sid` claim and ties refresh tokens to the session.
    pub session_id: String,
    /// The user who logged in.
    pub user_id: String,
    /// The user's organization.
    pub org_id: String,
    /// Unix seconds of the last primary authentication (password check); becomes `auth_time` and is compared
    /// with `max_age`.
    pub auth_time: i64,
    /// Authentication methods used, RFC 8176 values: `["pwd"]`, `["pwd", "otp", "mfa"]`, ...; becomes `amr`.
    pub amr: Vec<String>,
    /// Authentication context class reached, if the login side names one; becomes `acr`.
    pub acr: Option<String>,
}

/// The browser sessions the login side keeps; implemented by the login crate and given to the provider's router
/// as `Arc<dyn Sessions>`.
///
/// Implementations must be cheap: [`Sessions::sessions`] runs on every authorization request.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync + std::fmt::Debug {
    /// The active (not terminated, not expired) sessions of the browser that sent `headers` (its cookies),
    /// newest first. Sessions of locked or removed users may be left out; the provider checks the user again
    /// before issuing anything. `Err` when the sessions cannot be read (the database failed): the request is
    /// answered with an error, never as if the browser had no session.
    async fn sessions(
        &self,
        instance_id: &str,
        headers: &HeaderMap,
    ) -> Result<Vec<LoginSession>, OidcError>;

    /// Ends the browser's session `session_id` (all of its sessions when `None`), recording the logout on the
    /// session aggregate; returns the `Set-Cookie` headers that clear the browser's cookies (sent with the
    /// end-session response).
    async fn terminate(
        &self,
        instance_id: &str,
        headers: &HeaderMap,
        session_id: Option<&str>,
    ) -> Vec<HeaderValue>;
}

/// A [`Sessions`] that knows no session: every authorization goes to the login pages and `prompt=none` answers
/// `login_required`. For servers and tests without login pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSessions;

#[async_trait::async_trait]
impl Sessions for NoSessions {
    async fn sessions(
        &self,
        _instance_id: &str,
        _headers: &HeaderMap,
    ) -> Result<Vec<LoginSession>, OidcError> {
        Ok(Vec::new())
    }

    async fn terminate(
        &self,
        _instance_id: &str,
        _headers: &HeaderMap,
        _session_id: Option<&str>,
    ) -> Vec<HeaderValue> {
        Vec::new()
    }
}

/// A stored authorization request, as the login pages need it. Lives 10 minutes after `created_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// Id the login pages carry in `authRequest=<id>`.
    pub id: String,
    /// The client's `client_id`.
    pub client_id: String,
    /// Id of the application (the client).
    pub app_id: String,
    /// The application's display name ("Sign in to <app_name>").
    pub app_name: String,
    /// The project the application belongs to (its roles go into tokens).
    pub project_id: String,
    /// The organization owning the application's project.
    pub org_id: String,
    /// The validated redirect URI the response goes to.
    pub redirect_uri: String,
    /// Requested scopes, in request order (`openid`, `profile`, ...).
    pub scope: Vec<String>,
    /// `prompt` values: `none`, `login`, `consent`, `select_account`. `login` means: authenticate again even
    /// with a session; `select_account` means: show the account picker; `consent` means: ask the user to allow
    /// the application before it gets its code.
    pub prompt: Vec<String>,
    /// `max_age` in seconds: a session whose `auth_time` is older must authenticate again.
    pub max_age: Option<i64>,
    /// `login_hint`: pre-fill the login name with it.
    pub login_hint: Option<String>,
    /// The user (`sub`) named by a valid `id_token_hint`: prefer (or require) this user's session.
    pub hint_user_id: Option<String>,
    /// `ui_locales`, in preference order.
    pub ui_locales: Vec<String>,
    /// `acr_values` requested, in preference order.
    pub acr_values: Vec<String>,
    /// Unix seconds when the request was stored.
    pub created_at: i64,
}

impl AuthRequest {
    /// Whether the client asked to authenticate again even with a session (`prompt=login`).
    pub fn forces_login(&self) -> bool {
        self.prompt.iter().any(|p| p == "login")
    }

    /// Whether the client asked for the account picker (`prompt=select_account`).
    pub fn wants_account_selection(&self) -> bool {
        self.prompt.iter().any(|p| p == "select_account")
    }

    /// Whether the client asked the user to consent again (`prompt=consent`): the login pages show the
    /// consent page before the code is issued, even with a session.
    pub fn wants_consent(&self) -> bool {
        self.prompt.iter().any(|p| p == "consent")
    }

    /// Whether `session` is recent enough for this request's `max_age` (always true without one).
    pub fn accepts_auth_time(&self, session: &LoginSession, now: i64) -> bool {
        self.max_age
            .is_none_or(|max_age| now.saturating_sub(session.auth_time) <= max_age)
    }
}

/// The operations on authorization requests the login pages call. Cheap to clone; obtained from the provider
/// at wiring time.
#[derive(Debug, Clone)]
pub struct AuthRequests {
    pub(crate) inner: Arc<dyn AuthRequestBackend>,
}

/// What [`AuthRequests`] delegates to (the provider).
#[async_trait::async_trait]
pub(crate) trait AuthRequestBackend: Send + Sync + std::fmt::Debug {
    async fn get(&self, instance_id: &str, id: &str) -> Result<Option<AuthRequest>, OidcError>;
    async fn complete(
        &self,
        instance_id: &str,
        id: &str,
        session: &LoginSession,
    ) -> Result<Response, OidcError>;
    async fn fail(
        &self,
        instance_id: &str,
        id: &str,
        error: &str,
        description: &str,
    ) -> Result<Response, OidcError>;
}

impl AuthRequests {
    /// The pending request `id` of `instance_id`; `None` when unknown, expired or already completed.
    pub async fn get(&self, instance_id: &str, id: &str) -> Result<Option<AuthRequest>, OidcError> {
        self.inner.get(instance_id, id).await
    }

    /// The user of `session` finished logging in for request `id`: issues the authorization code and returns
    /// the response to send to the browser: a `303 See Other` to the client's redirect URI (`response_mode=query`)
    /// or an auto-submitting HTML form (`form_post`), carrying `code`, `state` and `iss`.
    ///
    /// The request is consumed: a second call fails with [`OidcError::AuthRequestNotFound`]. When the user may
    /// not use the application (locked, deactivated, removed) the client receives `access_denied` instead of a
    /// code; the response is still the one to send.
    pub async fn complete(
        &self,
        instance_id: &str,
        id: &str,
        session: &LoginSession,
    ) -> Result<Response, OidcError> {
        self.inner.complete(instance_id, id, session).await
    }

    /// The login was refused or cancelled: consumes request `id` and returns the redirect to the client
    /// carrying `error` (an RFC 6749 §4.1.2.1 code such as `access_denied`, or OIDC's `login_required`,
    /// `interaction_required`, `account_selection_required`), `error_description`, `state` and `iss`.
    /// An `error` that is not such a code is sent as `access_denied`.
    pub async fn fail(
        &self,
        instance_id: &str,
        id: &str,
        error: &str,
        description: &str,
    ) -> Result<Response, OidcError> {
        self.inner.fail(instance_id, id, error, description).await
    }
}
