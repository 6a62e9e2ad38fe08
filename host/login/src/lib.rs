//! Warden's login pages: server-rendered HTML (no JavaScript) under `/login`.
//!
//! The OpenID Connect provider (`warden-oidc`) sends a browser to `GET /login?authRequest=<id>`; these pages
//! log the user in and hand the browser back with [`warden_oidc::flow::AuthRequests::complete`]. The provider
//! sees the browser's sessions through [`Login::sessions`] (a [`warden_oidc::flow::Sessions`]).
//!
//! | page | what it does |
//! |---|---|
//! | `GET /login` | login name (pre-filled from `login_hint`), or the account picker when the browser has sessions |
//! | `POST /login` | takes the login name, shows the password page |
//! | `POST /login/password` | checks the password (pre- and post-authentication actions around it) |
//! | `GET`/`POST /login/password/change` | a password that must be changed, after the login's factors and before it completes |
//! | `GET`/`POST /login/otp` | the second factor (TOTP), or its enrolment with a QR code when none is set up |
//! | `GET`/`POST /login/select` | "choose an account" among the browser's sessions |
//! | `GET`/`POST /login/register` | self-registration when the login policy allows it |
//! | `GET`/`POST /login/verify-email` | the emailed code that verifies the address |
//! | `GET`/`POST /login/reset` | password reset: request a code by login name, then set a new password |
//! | `GET`/`POST /login/logout` | ends every session of the browser |
//! | `GET /login/signed-in` | where a login without an application ends |
//! | `GET /login/assets/style.css` | the stylesheet |
//!
//! Security properties (see [`cookies`] and [`html`]): a CSRF token on every form, bound to the browser's
//! login cookie; session cookies `HttpOnly`, `SameSite=Lax`, `Secure` behind https; a new session token after
//! every successful factor; a strict Content-Security-Policy with `frame-ancestors 'none'` and no script; one
//! error text and the same Argon2 cost for unknown users, wrong passwords and locked or deactivated users.
//! Every step is an event of the session aggregate ([`warden_domain::session`]).

#![warn(missing_docs)]

mod actions;
pub mod cookies;
mod flow;
pub mod html;
mod qr;
mod sessions;
#[cfg(feature = "testing")]
pub mod testing;
pub mod texts;

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{Router, routing::get};
use warden_command::Commands;
use warden_oidc::flow::{AuthRequests, Sessions};
use warden_plugin_host::PluginRegistry;
use warden_query::Queries;

use crate::cookies::{CookiePolicy, Csrf};

/// How long a login session may be used after its password check, unless configured otherwise.
pub const DEFAULT_SESSION_MAX_AGE: Duration = Duration::from_secs(12 * 3600);

/// Configuration of the login pages.
#[derive(Clone)]
pub struct LoginConfig {
    /// The URL the server is reached under (the issuer); `https` makes the cookies `Secure`.
    pub external_url: String,
    /// The key of the CSRF tokens; every node of one installation must use the same.
    pub csrf_key: [u8; 32],
    /// How long a session may be used after its password check.
    pub session_max_age: Duration,
}

impl LoginConfig {
    /// The CSRF key derived from the installation's master key (the same on every node).
    pub fn csrf_key_from(master_key: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(master_key) else {
            return [0; 32];
        };
        mac.update(b"warden.login.csrf");
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for LoginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginConfig")
            .field("external_url", &self.external_url)
            .field("session_max_age", &self.session_max_age)
            .finish_non_exhaustive()
    }
}

/// The login pages and the browser sessions behind them. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Login {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    instance_id: String,
    commands: Commands,
    queries: Queries,
    plugins: Option<PluginRegistry>,
    auth_requests: OnceLock<AuthRequests>,
    csrf: Csrf,
    cookies: CookiePolicy,
    session_max_age: Duration,
    /// An Argon2id hash of a random password, compared with the password entered for a login name that names
    /// no usable user: the answer then costs the same as for a real user.
    dummy_hash: tokio::sync::OnceCell<String>,
    texts: &'static texts::Texts,
}

impl Login {
    /// The login pages of `instance_id`.
    pub fn new(
        commands: Commands,
        queries: Queries,
        instance_id: impl Into<String>,
        config: LoginConfig,
    ) -> Self {
        let max_age = config.session_max_age.max(Duration::from_secs(60));
        Self {
            inner: Arc::new(Inner {
                instance_id: instance_id.into(),
                commands,
                queries,
                plugins: None,
                auth_requests: OnceLock::new(),
                csrf: Csrf::new(config.csrf_key),
                cookies: CookiePolicy {
                    secure: config.external_url.starts_with("https://"),
                    max_age_secs: max_age.as_secs(),
                },
                session_max_age: max_age,
                dummy_hash: tokio::sync::OnceCell::new(),
                texts: &texts::EN,
            }),
        }
    }

    /// Runs the login hooks of the action plugins `registry` has bound (pre-authentication,
    /// post-authentication, pre-registration, post-creation). Call before cloning.
    #[must_use]
    pub fn with_plugins(mut self, registry: PluginRegistry) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.plugins = Some(registry);
        }
        self
    }

    /// Connects the pages to the provider's authorization requests (once; later calls are ignored). Until then
    /// the pages work without an application: a login ends on the signed-in page.
    pub fn set_auth_requests(&self, auth_requests: AuthRequests) {
        let _ = self.inner.auth_requests.set(auth_requests);
    }

    /// The browser sessions, for the provider's authorize and end-session endpoints.
    pub fn sessions(&self) -> Arc<dyn Sessions> {
        Arc::new(sessions::LoginSessions {
            inner: self.inner.clone(),
        })
    }

    /// The router of the pages under `/login`.
    pub fn router(&self) -> Router {
        let state = self.inner.clone();
        Router::new()
            .route("/login", get(flow::login_page).post(flow::login_name))
            .route("/login/password", axum::routing::post(flow::password))
            .route(
                "/login/password/change",
                get(flow::change_password_page).post(flow::change_password_submit),
            )
            .route("/login/otp", get(flow::otp_page).post(flow::otp_submit))
            .route(
                "/login/select",
                get(flow::select_page).post(flow::select_submit),
            )
            .route(
                "/login/verify-email",
                get(flow::verify_email_page).post(flow::verify_email_submit),
            )
            .route(
                "/login/reset",
                get(flow::reset_page).post(flow::reset_submit),
            )
            .route(
                "/login/reset/password",
                axum::routing::post(flow::reset_password_submit),
            )
            .route(
                "/login/register",
                get(flow::register_page).post(flow::register_submit),
            )
            .route(
                "/login/logout",
                get(flow::logout_page).post(flow::logout_submit),
            )
            .route("/login/consent", axum::routing::post(flow::consent_submit))
            .route("/login/signed-in", get(flow::signed_in_page))
            .route(html::STYLE_PATH, get(|| async { html::stylesheet() }))
            .route("/login/{*rest}", get(flow::not_found).post(flow::not_found))
            .with_state(state)
    }
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
