//! The handlers of the login pages.
//!
//! Every POST checks the CSRF token first and changes nothing when it is missing or wrong (400). Every answer
//! carries the security headers of [`crate::html`]; a browser without a CSRF nonce gets one with its first page.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::Response,
};
use warden_command::{
    Caller, CommandError, Identity, NewHumanUser, PasswordAttempt, PasswordOutcome, SecretString,
};
use warden_domain::{
    instance::Instance,
    org::Organization,
    policy::{self, LoginPolicy},
    session::Session,
    user::{Profile, User},
};
use warden_oidc::{OidcError, flow::AuthRequest};
use warden_plugin_host::actions::plugin_user;
use warden_wasm_runtime::{AuthMethod, Hook};

use crate::{
    Inner,
    actions::{Client, HookInput, Verdict},
    cookies::{self, CSRF_COOKIE, CSRF_FIELD, SessionEntry},
    html::{self, Frame, error_box, esc, hidden, input, query_value},
    sessions::Held,
    texts::fill,
};

/// The longest login name accepted.
const MAX_LOGIN_NAME: usize = 200;
/// The longest password accepted (bounds the cost of hashing).
const MAX_PASSWORD: usize = 1024;
/// The longest other text field accepted.
const MAX_FIELD: usize = 320;
/// The longest authorization request id accepted.
const MAX_ID: usize = 200;

type AppState = State<Arc<Inner>>;

/// The value of a step that may answer the request itself (an error page): the handler returns that answer.
macro_rules! or_return {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

mod consent;
pub(crate) use consent::consent_submit;

/// One request as the pages see it.
pub(crate) struct Req {
    headers: HeaderMap,
    query: HashMap<String, String>,
    /// The browser's CSRF nonce (new when `new_nonce`).
    nonce: String,
    new_nonce: bool,
    client: Client,
}

impl Req {
    fn new(parts: &Parts) -> Self {
        let cookie_nonce = cookies::cookie(&parts.headers, CSRF_COOKIE)
            .filter(|n| n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_owned);
        let new_nonce = cookie_nonce.is_none();
        let query = parts
            .uri
            .query()
            .map(|q| parse_pairs(q.as_bytes()))
            .unwrap_or_default();
        Self {
            nonce: cookie_nonce.unwrap_or_else(cookies::random_token),
            new_nonce,
            client: Client {
                ip: parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip()),
                user_agent: parts
                    .headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .map(|ua| ua.chars().take(200).collect()),
            },
            headers: parts.headers.clone(),
            query,
        }
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn entries(&self) -> Vec<SessionEntry> {
        cookies::sessions(&self.headers)
    }

    fn user_agent(&self) -> &str {
        self.client.user_agent.as_deref().unwrap_or("")
    }
}

fn parse_pairs(bytes: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// A submitted form.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(body: &Bytes) -> Self {
        Self(parse_pairs(body))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required field of at most `max` characters, trimmed; `Err` names the field.
    fn text(&self, name: &'static str, max: usize) -> Result<String, &'static str> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() && v.chars().count() <= max && !v.contains('\0') => {
                Ok(v.to_owned())
            }
            _ => Err(name),
        }
    }

    /// A required secret field (not trimmed).
    fn secret(&self, name: &'static str) -> Result<SecretString, &'static str> {
        match self.get(name) {
            Some(v) if !v.is_empty() && v.chars().count() <= MAX_PASSWORD && !v.contains('\0') => {
                Ok(SecretString::new(v))
            }
            _ => Err(name),
        }
    }
}

/// The authorization request a page works for.
#[derive(Debug, Clone)]
struct Flow {
    request: Option<AuthRequest>,
}

impl Flow {
    /// A page outside any authorization request.
    const NONE: Flow = Flow { request: None };

    fn id(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.id.as_str())
    }

    /// `?authRequest=<id>` (or empty).
    fn query(&self) -> String {
        self.id()
            .map(|id| format!("?authRequest={}", query_value(id)))
            .unwrap_or_default()
    }

    /// The hidden field carrying the request id.
    fn hidden(&self) -> String {
        self.id()
            .map(|id| hidden("authRequest", id))
            .unwrap_or_default()
    }

    fn org_id(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.org_id.as_str())
    }
}

impl Inner {
    /// Adds the CSRF cookie when the browser had none.
    fn respond(&self, req: &Req, mut response: Response) -> Response {
        if req.new_nonce {
            response
                .headers_mut()
                .append(header::SET_COOKIE, self.cookies.csrf_cookie(&req.nonce));
        }
        response
    }

    fn csrf_field(&self, req: &Req) -> String {
        hidden(CSRF_FIELD, &self.csrf.token(&req.nonce))
    }

    fn csrf_ok(&self, req: &Req, form: &Form) -> bool {
        !req.new_nonce && self.csrf.check(Some(&req.nonce), form.get(CSRF_FIELD))
    }

    /// The name shown above the heading: the application's organization, else the instance. Read as token
    /// checks read write models ([`Commands::load_recent`](warden_command::Commands::load_recent)): a page
    /// shows a rename within a second.
    async fn brand(&self, flow: &Flow) -> String {
        if let Some(org_id) = flow.org_id()
            && let Ok(org) = self
                .commands
                .load_recent::<Organization>(&self.instance_id, org_id)
                .await
            && org.state.exists()
        {
            return org.state.name.clone();
        }
        match self
            .commands
            .load_recent::<Instance>(&self.instance_id, &self.instance_id)
            .await
        {
            Ok(instance) if !instance.state.name.is_empty() => instance.state.name.clone(),
            _ => "Warden".to_owned(),
        }
    }

    /// The login policy in force for the organization (the instance's without one), from write models
    /// checked against the store within a second (as token checks read them; this node's own changes are
    /// seen at once). The lockout policy of a password check is read fresh by the command itself.
    async fn login_policy(&self, org_id: Option<&str>) -> LoginPolicy {
        let Ok(instance) = self
            .commands
            .load_recent::<Instance>(&self.instance_id, &self.instance_id)
            .await
        else {
            return LoginPolicy::default();
        };
        let overrides = match org_id {
            Some(org_id) => match self
                .commands
                .load_recent::<Organization>(&self.instance_id, org_id)
                .await
            {
                Ok(org) => org.state.policy_overrides.clone(),
                Err(_) => Default::default(),
            },
            None => Default::default(),
        };
        policy::resolve(&instance.state.policies, &overrides).login
    }

    /// A page outside any authorization request, answered with 200.
    async fn render_outside_flow(&self, req: &Req, title: &str, body: &str) -> Response {
        self.render(req, &Flow::NONE, StatusCode::OK, title, body)
            .await
    }

    async fn render(
        &self,
        req: &Req,
        flow: &Flow,
        status: StatusCode,
        title: &str,
        body: &str,
    ) -> Response {
        let brand = self.brand(flow).await;
        let frame = Frame {
            texts: self.texts,
            brand: &brand,
            title,
        };
        self.respond(req, html::page(status, &frame, body))
    }

    /// An error page with a link back to the start.
    async fn error_page(
        &self,
        req: &Req,
        flow: &Flow,
        status: StatusCode,
        message: &str,
    ) -> Response {
        let body = format!(
            "{}\n<div class=\"links\"><a href=\"/login{}\">{}</a></div>",
            error_box(message),
            flow.query(),
            esc(self.texts.start_again)
        );
        self.render(req, flow, status, self.texts.error_title, &body)
            .await
    }

    async fn csrf_refused(&self, req: &Req) -> Response {
        tracing::info!("login form refused: missing or wrong CSRF token");
        self.error_page(
            req,
            &Flow::NONE,
            StatusCode::BAD_REQUEST,
            self.texts.csrf_invalid,
        )
        .await
    }

    async fn bad_field(&self, req: &Req, flow: &Flow, field: &str) -> Response {
        self.error_page(
            req,
            flow,
            StatusCode::BAD_REQUEST,
            &fill(self.texts.bad_field, field),
        )
        .await
    }

    async fn internal(
        &self,
        req: &Req,
        flow: &Flow,
        error: &(dyn std::fmt::Display + Sync),
    ) -> Response {
        tracing::error!(%error, "login step failed");
        self.error_page(
            req,
            flow,
            StatusCode::SERVICE_UNAVAILABLE,
            self.texts.internal_error,
        )
        .await
    }

    /// What every page starts with: the request and the authorization request its `authRequest` query
    /// names (a refusal page otherwise).
    async fn opened(&self, parts: &Parts) -> Result<(Req, Flow), Response> {
        let req = Req::new(parts);
        let flow = self.flow(&req, req.query("authRequest")).await?;
        Ok((req, flow))
    }

    /// What every form submission starts with: the request, its form with the CSRF token checked, and the
    /// authorization request the form continues (a refusal page otherwise).
    async fn submitted(&self, parts: &Parts, body: &Bytes) -> Result<(Req, Form, Flow), Response> {
        let req = Req::new(parts);
        let form = Form::parse(body);
        if !self.csrf_ok(&req, &form) {
            return Err(self.csrf_refused(&req).await);
        }
        let flow = self.flow(&req, form.get("authRequest")).await?;
        Ok((req, form, flow))
    }

    /// Loads the authorization request named by `id`; `Err` is the page to show.
    async fn flow(&self, req: &Req, id: Option<&str>) -> Result<Flow, Response> {
        let none = Flow::NONE;
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return Ok(none);
        };
        let unknown = || async {
            self.error_page(
                req,
                &none,
                StatusCode::BAD_REQUEST,
                self.texts.auth_request_unknown,
            )
            .await
        };
        if id.len() > MAX_ID {
            return Err(unknown().await);
        }
        let Some(requests) = self.auth_requests.get() else {
            return Err(unknown().await);
        };
        match requests.get(&self.instance_id, id).await {
            Ok(Some(request)) => Ok(Flow {
                request: Some(request),
            }),
            Ok(None) | Err(OidcError::AuthRequestNotFound(_)) => Err(unknown().await),
            Err(error) => Err(self.internal(req, &none, &error).await),
        }
    }

    async fn dummy_hash(&self) -> Result<String, CommandError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                self.commands
                    .hasher()
                    .hash(SecretString::new(cookies::random_token()))
                    .await
            })
            .await
            .cloned()
    }

    /// The user a login name names, from the users view (the command checks it against the user itself).
    /// A failed lookup is an error, not an unknown user: the caller answers with the error page.
    async fn user_id_by_login_name(
        &self,
        login_name: &str,
    ) -> Result<Option<String>, warden_query::QueryError> {
        let user = self
            .queries
            .user_by_login_name(&self.instance_id, login_name)
            .await?;
        Ok(user.map(|u| u.id))
    }

    // --- pages ---

    async fn login_name_form(
        &self,
        req: &Req,
        flow: &Flow,
        login_name: &str,
        error: Option<&str>,
    ) -> Response {
        let t = self.texts;
        let policy = self.login_policy(flow.org_id()).await;
        let mut links = Vec::new();
        if policy.allow_register && flow.id().is_some() {
            links.push(format!(
                "<a href=\"/login/register{}\">{}</a>",
                flow.query(),
                esc(t.register_link)
            ));
        }
        let title = match &flow.request {
            Some(r) if !r.app_name.is_empty() => fill(t.sign_in_to, &r.app_name),
            _ => t.login_title.to_owned(),
        };
        let body = format!(
            "{error}<form method=\"post\" action=\"/login\">\n{csrf}{flow}\n{field}\n<button type=\"submit\">{next}</button>\n</form>\n<div class=\"links\">{links}</div>",
            error = error.map(error_box).unwrap_or_default(),
            csrf = self.csrf_field(req),
            flow = flow.hidden(),
            field = input(
                "login_name",
                "text",
                t.login_name,
                login_name,
                "username",
                true
            ),
            next = esc(t.next),
            links = links.join(" "),
        );
        self.render(req, flow, StatusCode::OK, &title, &body).await
    }

    async fn password_form(
        &self,
        req: &Req,
        flow: &Flow,
        login_name: &str,
        status: StatusCode,
        error: Option<&str>,
        notice: Option<&str>,
    ) -> Response {
        let t = self.texts;
        let reset = if self.login_policy(flow.org_id()).await.hide_password_reset {
            String::new()
        } else {
            format!(
                " <a id=\"reset-password\" href=\"/login/reset{q}{sep}login_name={name}\">{text}</a>",
                q = flow.query(),
                sep = if flow.id().is_some() { "&amp;" } else { "?" },
                name = esc(&query_value(login_name)),
                text = esc(t.reset_link),
            )
        };
        let body = format!(
            "{error}{notice}<p>{t_login}: <strong>{name}</strong></p>\n<form method=\"post\" action=\"/login/password\">\n{csrf}{flow}{login}\n{field}\n<button type=\"submit\">{sign_in}</button>\n</form>\n<div class=\"links\"><a id=\"other-account\" href=\"/login{q}{sep}other=1\">{other}</a>{reset}</div>",
            error = error.map(error_box).unwrap_or_default(),
            notice = notice
                .map(|n| format!("<p role=\"status\">{}</p>", esc(n)))
                .unwrap_or_default(),
            t_login = esc(t.login_name),
            name = esc(login_name),
            csrf = self.csrf_field(req),
            flow = flow.hidden(),
            login = hidden("login_name", login_name),
            field = input(
                "password",
                "password",
                t.password,
                "",
                "current-password",
                true
            ),
            sign_in = esc(t.sign_in),
            q = flow.query(),
            sep = if flow.id().is_some() { "&amp;" } else { "?" },
            other = esc(t.other_user),
        );
        self.render(req, flow, status, t.login_title, &body).await
    }

    async fn select_form(&self, req: &Req, flow: &Flow, sessions: &[(Held, User)]) -> Response {
        let t = self.texts;
        let mut items = String::new();
        for (held, user) in sessions {
            let name = user
                .human()
                .map(|h| h.profile.display_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| user.login_name.clone());
            items.push_str(&format!(
                "<li><form method=\"post\" action=\"/login/select\">{csrf}{flow}{sid}<button type=\"submit\" class=\"secondary\">{name} <small>({login})</small></button></form></li>\n",
                csrf = self.csrf_field(req),
                flow = flow.hidden(),
                sid = hidden("session_id", held.id()),
                name = esc(&name),
                login = esc(&user.login_name),
            ));
        }
        let body = format!(
            "<p>{intro}</p>\n<ul class=\"accounts\">\n{items}</ul>\n<div class=\"links\"><a id=\"other-account\" href=\"/login{q}{sep}other=1\">{other}</a></div>",
            intro = esc(t.select_intro),
            q = flow.query(),
            sep = if flow.id().is_some() { "&amp;" } else { "?" },
            other = esc(t.other_user),
        );
        self.render(req, flow, StatusCode::OK, t.select_title, &body)
            .await
    }

    /// The user finished logging in with `held`: back to the client (or to the signed-in page), with the
    /// browser's new sessions cookie.
    /// A user whose password must be changed goes to the password change page first (which comes back here);
    /// with `prompt=consent` the user allows or denies the application on the consent page first.
    async fn finish(&self, req: &Req, flow: &Flow, held: &Held, cookie: HeaderValue) -> Response {
        // As recent as the provider's own check of the user when it issues the code.
        let user = match &held.state.user_id {
            Some(user_id) => match self
                .commands
                .load_recent::<User>(&self.instance_id, user_id)
                .await
            {
                Ok(model) => Some(model.state.clone()),
                Err(error) => return self.internal(req, flow, &error).await,
            },
            None => None,
        };
        if user.as_ref().is_some_and(must_change_password) {
            let mut response = html::redirect(&format!("/login/password/change{}", flow.query()));
            response.headers_mut().append(header::SET_COOKIE, cookie);
            return self.respond(req, response);
        }
        if let Some(request) = &flow.request
            && request.wants_consent()
            && let Some(user) = &user
        {
            let mut response = consent::consent_form(self, req, flow, request, held, user).await;
            response.headers_mut().append(header::SET_COOKIE, cookie);
            return response;
        }
        let mut response = self.back_to_client(req, flow, held).await;
        response.headers_mut().append(header::SET_COOKIE, cookie);
        self.respond(req, response)
    }

    /// Completes the authorization request with `held` (the client gets its code), or without a request ends
    /// on the signed-in page (or the login policy's default redirect).
    async fn back_to_client(&self, req: &Req, flow: &Flow, held: &Held) -> Response {
        match (&flow.request, self.auth_requests.get()) {
            (Some(request), Some(requests)) => {
                let session = Inner::login_session(held);
                let completed = requests
                    .complete(&self.instance_id, &request.id, &session)
                    .await;
                self.to_client(req, flow, completed).await
            }
            _ => {
                let policy = self.login_policy(held.state.org_id.as_deref()).await;
                match policy.default_redirect_uri {
                    Some(uri) => html::redirect(&uri),
                    None => html::redirect("/login/signed-in"),
                }
            }
        }
    }

    /// The provider's answer for the client (code or error), with the headers of a login page; an error page
    /// when the request is gone or the provider failed.
    async fn to_client(
        &self,
        req: &Req,
        flow: &Flow,
        answer: Result<Response, OidcError>,
    ) -> Response {
        match answer {
            Ok(mut response) => {
                let headers = response.headers_mut();
                for (name, value) in [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::REFERRER_POLICY, "no-referrer"),
                    (header::X_FRAME_OPTIONS, "DENY"),
                ] {
                    headers
                        .entry(name)
                        .or_insert(HeaderValue::from_static(value));
                }
                response
            }
            Err(OidcError::AuthRequestNotFound(_)) => {
                self.error_page(
                    req,
                    &Flow::NONE,
                    StatusCode::BAD_REQUEST,
                    self.texts.auth_request_unknown,
                )
                .await
            }
            Err(error) => self.internal(req, flow, &error).await,
        }
    }

    /// Records that an action refused the login (on the browser's pending session, or a new one) and shows why.
    async fn refuse(
        &self,
        req: &Req,
        flow: &Flow,
        session: Option<&str>,
        hook: &Hook,
        verdict: Verdict,
    ) -> Response {
        let (reason, message) = match verdict {
            Verdict::Deny(reason) => (reason.clone(), fill(self.texts.denied, &reason)),
            Verdict::Failed(error) => (
                format!("the action failed: {error}"),
                self.texts.action_failed.to_owned(),
            ),
            Verdict::Allow { .. } => {
                return self
                    .internal(req, flow, &"an allowing verdict refused")
                    .await;
            }
        };
        let login = self.commands.login(&self.instance_id);
        let mut cookie = None;
        let session_id = match session {
            Some(id) => Some(id.to_owned()),
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                let token = cookies::random_token();
                match login
                    .start_session(&id, req.user_agent(), &cookies::token_hash(&token))
                    .await
                {
                    Ok(_) => {
                        let mut entries = req.entries();
                        entries.push(SessionEntry {
                            session_id: id.clone(),
                            token,
                        });
                        cookie = Some(self.cookies.sessions_cookie(&entries));
                        Some(id)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot record a refused login");
                        None
                    }
                }
            }
        };
        if let Some(id) = &session_id
            && let Err(error) = login.deny(id, hook.name(), &reason).await
        {
            tracing::warn!(%error, "cannot record a refused login");
        }
        let mut response = self
            .error_page(req, flow, StatusCode::FORBIDDEN, &message)
            .await;
        if let Some(cookie) = cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

// --- handlers ---

/// `GET /login`: the login name, or the account picker when the browser has sessions to choose from.
pub(crate) async fn login_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    let mut hint = flow
        .request
        .as_ref()
        .and_then(|r| r.login_hint.clone())
        .or_else(|| req.query("login_hint").map(str::to_owned))
        .unwrap_or_default();
    let other = req.query("other").is_some();
    if !other {
        let sessions = match inner.logged_in(&req.entries()).await {
            Ok(sessions) => sessions,
            Err(error) => return inner.internal(&req, &flow, &error).await,
        };
        let forced = flow.request.as_ref().is_some_and(AuthRequest::forces_login);
        if !sessions.is_empty() && !forced {
            return inner.select_form(&req, &flow, &sessions).await;
        }
        if hint.is_empty()
            && forced
            && let Some((_, user)) = sessions.first()
        {
            hint = user.login_name.clone();
        }
    }
    hint = hint.chars().take(MAX_LOGIN_NAME).collect();
    inner.login_name_form(&req, &flow, &hint, None).await
}

/// `POST /login`: takes the login name and asks for the password.
pub(crate) async fn login_name(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    match form.text("login_name", MAX_LOGIN_NAME) {
        Ok(login_name) => {
            inner
                .password_form(&req, &flow, &login_name, StatusCode::OK, None, None)
                .await
        }
        Err(field) => {
            let message = fill(inner.texts.bad_field, field);
            let mut response = inner.login_name_form(&req, &flow, "", Some(&message)).await;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

/// `POST /login/password`: checks the password, with the pre- and post-authentication actions around it.
pub(crate) async fn password(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let login_name = match form.text("login_name", MAX_LOGIN_NAME) {
        Ok(v) => v,
        Err(field) => return inner.bad_field(&req, &flow, field).await,
    };
    let password = match form.secret("password") {
        Ok(v) => v,
        Err(field) => {
            let message = fill(inner.texts.bad_field, field);
            return inner
                .password_form(
                    &req,
                    &flow,
                    &login_name,
                    StatusCode::BAD_REQUEST,
                    Some(&message),
                    None,
                )
                .await;
        }
    };
    let entries = req.entries();
    let held = match inner.held(&entries).await {
        Ok(held) => held,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    // The browser's login under way (started, no password checked yet) goes on; anything else starts anew.
    let pending = held.iter().rev().find(|h| !h.state.password_checked());

    let user_id = match inner.user_id_by_login_name(&login_name).await {
        Ok(user_id) => user_id,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    // What the actions are told; the password check reads the user afresh and the command decides on the
    // user as stored.
    let user = match &user_id {
        Some(id) => match inner
            .commands
            .load_recent::<User>(&inner.instance_id, id)
            .await
        {
            Ok(model) if model.state.exists() && model.state.human().is_some() => {
                Some((id.clone(), model.state.clone()))
            }
            Ok(_) => None,
            Err(error) => return inner.internal(&req, &flow, &error).await,
        },
        None => None,
    };
    let org_id = user
        .as_ref()
        .map(|(_, u)| u.org_id.clone())
        .or_else(|| flow.org_id().map(str::to_owned));
    let scopes = flow
        .request
        .as_ref()
        .map(|r| r.scope.clone())
        .unwrap_or_default();
    let mut input = HookInput {
        org_id: org_id.as_deref(),
        user: user.as_ref().map(|(id, u)| (id.as_str(), u)),
        login_name: Some(&login_name),
        client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
        scopes: &scopes,
        auth_methods: Vec::new(),
    };
    let verdict = inner
        .run_hook(Hook::PreAuthentication, &input, &req.client)
        .await;
    if !matches!(verdict, Verdict::Allow { .. }) {
        return inner
            .refuse(
                &req,
                &flow,
                pending.map(Held::id),
                &Hook::PreAuthentication,
                verdict,
            )
            .await;
    }

    let dummy = match inner.dummy_hash().await {
        Ok(hash) => hash,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let login = inner.commands.login(&inner.instance_id);
    let verification = match login
        .verify_password(user_id.as_deref(), &login_name, password, &dummy)
        .await
    {
        Ok(v) => v,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };

    let mut second_factor = false;
    let mut post_auth_refusal = None;
    if let Some((_, model)) = verification
        .user
        .as_ref()
        .filter(|_| verification.matched())
    {
        input.auth_methods = vec![AuthMethod::Password];
        match inner
            .run_hook(Hook::PostAuthentication, &input, &req.client)
            .await
        {
            Verdict::Allow {
                second_factor: required,
                ..
            } => second_factor = required,
            refusal => post_auth_refusal = Some(refusal),
        }
        let policy = inner.login_policy(Some(&model.state.org_id)).await;
        second_factor |= policy.force_mfa || model.state.has_verified_otp();
    }

    let (session_id, old_token) = match pending {
        Some(h) => (h.id().to_owned(), Some(h.entry.token.clone())),
        None => (uuid::Uuid::now_v7().to_string(), None),
    };
    let token = cookies::random_token();
    let outcome = login
        .record_password(&PasswordAttempt {
            session_id: &session_id,
            new_session: pending.is_none(),
            user_agent: req.user_agent(),
            token_hash: &cookies::token_hash(&token),
            login_name: &login_name,
            verification: &verification,
            second_factor_required: second_factor,
        })
        .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(CommandError::Refused(error)) => {
            tracing::info!(%error, "password step refused on the session");
            return inner
                .error_page(
                    &req,
                    &flow,
                    StatusCode::BAD_REQUEST,
                    inner.texts.session_expired,
                )
                .await;
        }
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let mut kept: Vec<SessionEntry> = entries
        .iter()
        .filter(|e| e.session_id != session_id)
        .cloned()
        .collect();
    match outcome {
        PasswordOutcome::Failed(reason) => {
            tracing::info!(?reason, "password check failed");
            // A failure does not change the token of a login under way; a new one gets the token it started with.
            kept.push(SessionEntry {
                session_id,
                token: old_token.unwrap_or(token),
            });
            let mut response = inner
                .password_form(
                    &req,
                    &flow,
                    &login_name,
                    StatusCode::UNAUTHORIZED,
                    Some(inner.texts.invalid_credentials),
                    None,
                )
                .await;
            response
                .headers_mut()
                .append(header::SET_COOKIE, inner.cookies.sessions_cookie(&kept));
            response
        }
        PasswordOutcome::Checked {
            second_factor_required,
        } => {
            let user_id = verification.user.as_ref().map(|(id, _)| id.clone());
            // One session per user and browser: an older one of the same user is forgotten.
            let mut others = Vec::new();
            let held_before = match inner.held(&kept).await {
                Ok(held) => held,
                Err(error) => return inner.internal(&req, &flow, &error).await,
            };
            for held in held_before {
                if held.state.user_id == user_id {
                    continue;
                }
                others.push(held.entry);
            }
            // Entries that did not match (ended sessions) are dropped too.
            kept = others;
            kept.push(SessionEntry {
                session_id: session_id.clone(),
                token: token.clone(),
            });
            let cookie = inner.cookies.sessions_cookie(&kept);
            if let Some(refusal) = post_auth_refusal {
                let mut response = inner
                    .refuse(
                        &req,
                        &flow,
                        Some(&session_id),
                        &Hook::PostAuthentication,
                        refusal,
                    )
                    .await;
                response.headers_mut().append(header::SET_COOKIE, cookie);
                return response;
            }
            if second_factor_required {
                let mut response = html::redirect(&format!("/login/otp{}", flow.query()));
                response.headers_mut().append(header::SET_COOKIE, cookie);
                return inner.respond(&req, response);
            }
            // The session as the command just stored it (this node's cache holds it).
            let held = inner
                .commands
                .load_recent::<Session>(&inner.instance_id, &session_id)
                .await
                .ok()
                .filter(|model| model.state.is_active())
                .map(|model| Held {
                    entry: SessionEntry {
                        session_id: session_id.clone(),
                        token,
                    },
                    state: model.state.clone(),
                });
            match held {
                Some(held) => inner.finish(&req, &flow, &held, cookie).await,
                None => {
                    inner
                        .internal(&req, &flow, &"the session just logged in is gone")
                        .await
                }
            }
        }
    }
}

/// `GET /login/select`: the account picker.
pub(crate) async fn select_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    let sessions = match inner.logged_in(&req.entries()).await {
        Ok(sessions) => sessions,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    if sessions.is_empty() {
        return inner.login_name_form(&req, &flow, "", None).await;
    }
    inner.select_form(&req, &flow, &sessions).await
}

/// `POST /login/select`: continues with one of the browser's sessions.
pub(crate) async fn select_submit(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let Ok(session_id) = form.text("session_id", MAX_ID) else {
        return inner.bad_field(&req, &flow, "session_id").await;
    };
    let entries = req.entries();
    let sessions = match inner.logged_in(&entries).await {
        Ok(sessions) => sessions,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let Some((held, user)) = sessions.iter().find(|(h, _)| h.id() == session_id) else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    };
    let recent_enough = flow.request.as_ref().is_none_or(|r| {
        r.accepts_auth_time(&Inner::login_session(held), crate::now_unix_ms() / 1000)
    });
    if !recent_enough {
        return inner
            .password_form(&req, &flow, &user.login_name, StatusCode::OK, None, None)
            .await;
    }
    let cookie = inner.cookies.sessions_cookie(&entries);
    inner.finish(&req, &flow, held, cookie).await
}

/// `GET /login/logout`: asks before logging out.
pub(crate) async fn logout_page(State(inner): AppState, parts: Parts) -> Response {
    let req = Req::new(&parts);
    let t = inner.texts;
    let body = format!(
        "<p>{q}</p>\n<form method=\"post\" action=\"/login/logout\">{csrf}<button type=\"submit\">{logout}</button></form>",
        q = esc(t.logout_question),
        csrf = inner.csrf_field(&req),
        logout = esc(t.logout),
    );
    inner.render_outside_flow(&req, t.logout_title, &body).await
}

/// `POST /login/logout`: ends every session of the browser.
pub(crate) async fn logout_submit(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let req = Req::new(&parts);
    let form = Form::parse(&body);
    if !inner.csrf_ok(&req, &form) {
        return inner.csrf_refused(&req).await;
    }
    let cookie = inner.end_sessions(&req.entries(), None).await;
    let t = inner.texts;
    let body = format!(
        "<p role=\"status\">{}</p>\n<div class=\"links\"><a href=\"/login\">{}</a></div>",
        esc(t.logged_out),
        esc(t.sign_in)
    );
    let mut response = inner
        .render_outside_flow(&req, t.logged_out_title, &body)
        .await;
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// `GET /login/signed-in`: where a login without an application ends.
pub(crate) async fn signed_in_page(State(inner): AppState, parts: Parts) -> Response {
    let req = Req::new(&parts);
    let sessions = match inner.logged_in(&req.entries()).await {
        Ok(sessions) => sessions,
        Err(error) => return inner.internal(&req, &Flow::NONE, &error).await,
    };
    let Some((_, user)) = sessions.first() else {
        return inner.respond(&req, html::redirect("/login"));
    };
    let t = inner.texts;
    let name = user
        .human()
        .map(|h| h.profile.display_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| user.login_name.clone());
    let body = format!(
        "<p id=\"signed-in-as\">{who}</p>\n<form method=\"post\" action=\"/login/logout\">{csrf}<button type=\"submit\" class=\"secondary\">{logout}</button></form>",
        who = esc(&fill(t.signed_in_as, &name)),
        csrf = inner.csrf_field(&req),
        logout = esc(t.logout),
    );
    inner
        .render_outside_flow(&req, t.signed_in_title, &body)
        .await
}

/// Any other path under `/login`.
pub(crate) async fn not_found(State(inner): AppState, parts: Parts) -> Response {
    let req = Req::new(&parts);
    inner
        .error_page(
            &req,
            &Flow::NONE,
            StatusCode::NOT_FOUND,
            inner.texts.not_found,
        )
        .await
}

// --- registration ---

fn registration_form(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
    form: Option<&Form>,
    error: Option<&str>,
) -> String {
    let t = inner.texts;
    let value = |name: &str| form.and_then(|f| f.get(name)).unwrap_or("").to_owned();
    format!(
        "{error}<form method=\"post\" action=\"/login/register\">\n{csrf}{flow}\n{given}\n{family}\n{email}\n{login}\n{pw}\n{pw2}\n<button type=\"submit\">{register}</button>\n</form>",
        error = error.map(error_box).unwrap_or_default(),
        csrf = inner.csrf_field(req),
        flow = flow.hidden(),
        given = input(
            "given_name",
            "text",
            t.given_name,
            &value("given_name"),
            "given-name",
            true
        ),
        family = input(
            "family_name",
            "text",
            t.family_name,
            &value("family_name"),
            "family-name",
            false
        ),
        email = input("email", "email", t.email, &value("email"), "email", false),
        login = input(
            "login_name",
            "text",
            t.login_name,
            &value("login_name"),
            "username",
            false
        ),
        pw = input(
            "password",
            "password",
            t.password,
            "",
            "new-password",
            false
        ),
        pw2 = input(
            "password_confirm",
            "password",
            t.password_confirm,
            "",
            "new-password",
            false
        ),
        register = esc(t.register),
    )
}

/// Whether the flow allows self-registration: an application's organization whose login policy allows it.
async fn registration_allowed(inner: &Inner, flow: &Flow) -> bool {
    match flow.org_id() {
        Some(org_id) => inner.login_policy(Some(org_id)).await.allow_register,
        None => false,
    }
}

/// `GET /login/register`: the registration form.
pub(crate) async fn register_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    if !registration_allowed(&inner, &flow).await {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::FORBIDDEN,
                inner.texts.register_not_allowed,
            )
            .await;
    }
    let body = registration_form(&inner, &req, &flow, None, None);
    inner
        .render(
            &req,
            &flow,
            StatusCode::OK,
            inner.texts.register_title,
            &body,
        )
        .await
}

/// `POST /login/register`: creates the user (pre-registration and post-creation actions around it) and logs
/// them in.
pub(crate) async fn register_submit(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    if !registration_allowed(&inner, &flow).await {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::FORBIDDEN,
                inner.texts.register_not_allowed,
            )
            .await;
    }
    let Some(org_id) = flow.org_id().map(str::to_owned) else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::FORBIDDEN,
                inner.texts.register_not_allowed,
            )
            .await;
    };
    let t = inner.texts;
    let again = |status: StatusCode, message: String| {
        let inner = inner.clone();
        let req = &req;
        let flow = &flow;
        let form = &form;
        async move {
            let body = registration_form(&inner, req, flow, Some(form), Some(&message));
            inner
                .render(req, flow, status, t.register_title, &body)
                .await
        }
    };
    let fields = (|| {
        Ok::<_, &'static str>((
            form.text("given_name", MAX_FIELD)?,
            form.text("family_name", MAX_FIELD)?,
            form.text("email", MAX_FIELD)?,
            form.text("login_name", MAX_LOGIN_NAME)?,
            form.secret("password")?,
            form.secret("password_confirm")?,
        ))
    })();
    let (given_name, family_name, email, login_name, password, confirm) = match fields {
        Ok(fields) => fields,
        Err(field) => return again(StatusCode::BAD_REQUEST, fill(t.bad_field, field)).await,
    };
    if password != confirm {
        return again(StatusCode::BAD_REQUEST, t.passwords_differ.to_owned()).await;
    }
    let mut profile = warden_wasm_runtime::Profile {
        username: login_name.clone(),
        given_name: Some(given_name),
        family_name: Some(family_name),
        display_name: None,
        preferred_language: None,
        email: Some(email),
        phone: None,
    };
    let scopes = flow
        .request
        .as_ref()
        .map(|r| r.scope.clone())
        .unwrap_or_default();
    let input = HookInput {
        org_id: Some(&org_id),
        user: None,
        login_name: Some(&login_name),
        client_id: flow.request.as_ref().map(|r| r.client_id.as_str()),
        scopes: &scopes,
        auth_methods: Vec::new(),
    };
    let hook = Hook::PreRegistration {
        profile: profile.clone(),
    };
    match inner.run_hook(hook.clone(), &input, &req.client).await {
        Verdict::Allow {
            profile: adjusted, ..
        } => {
            if let Some(adjusted) = adjusted {
                profile = adjusted;
            }
        }
        refusal => return inner.refuse(&req, &flow, None, &hook, refusal).await,
    }
    let system = Caller::system(inner.instance_id.clone());
    let created = inner
        .commands
        .for_caller(&system)
        .add_human_user(&NewHumanUser {
            org_id: org_id.clone(),
            login_name: profile.username.clone(),
            profile: Profile {
                given_name: profile.given_name.clone().unwrap_or_default(),
                family_name: profile.family_name.clone().unwrap_or_default(),
                display_name: profile.display_name.clone().unwrap_or_default(),
                preferred_language: profile.preferred_language.clone().unwrap_or_default(),
            },
            email: profile.email.clone().unwrap_or_default(),
            email_verified: false,
            phone: profile.phone.clone(),
            password: Some(password.clone()),
            password_change_required: false,
        })
        .await;
    let user_id = match created {
        Ok(details) => details.id,
        Err(CommandError::Refused(error)) => {
            return again(StatusCode::BAD_REQUEST, error.message.clone()).await;
        }
        Err(CommandError::Rejected(violations)) => {
            let message = violations
                .iter()
                .map(|v| v.message.clone())
                .collect::<Vec<_>>()
                .join(" ");
            return again(StatusCode::BAD_REQUEST, message).await;
        }
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    tracing::info!(user = %user_id, "user registered on the login page");
    let verification_sent = match inner
        .commands
        .for_caller(&system)
        .send_email_verification_code(&user_id)
        .await
    {
        Ok(_) => true,
        Err(error) => {
            tracing::warn!(%error, "no email verification code sent to a registered user");
            false
        }
    };
    // Post-creation: metadata from the actions (their failure does not undo the registration). The user is
    // read back first; if the database fails here the page says so rather than skipping the actions.
    let model = match inner
        .commands
        .load::<User>(&inner.instance_id, &user_id)
        .await
    {
        Ok(model) => model,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    {
        let hook = Hook::PostCreation {
            user: plugin_user(&user_id, &model.state),
        };
        let input = HookInput {
            org_id: Some(&org_id),
            user: Some((&user_id, &model.state)),
            ..input
        };
        match inner.run_hook(hook, &input, &req.client).await {
            Verdict::Allow { metadata, .. } => {
                for entry in metadata {
                    if let Err(error) = inner
                        .commands
                        .for_caller(&system)
                        .set_user_metadata(&user_id, &entry.key, &entry.value)
                        .await
                    {
                        tracing::warn!(%error, key = %entry.key, "cannot set metadata from a post-creation action");
                    }
                }
            }
            other => tracing::warn!(
                ?other,
                "a post-creation action failed or refused after the user was created"
            ),
        }
    }
    // Log the new user in with the password just set.
    let login = inner.commands.login(&inner.instance_id);
    let dummy = match inner.dummy_hash().await {
        Ok(hash) => hash,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let verification = match login
        .verify_password(Some(&user_id), &profile.username, password, &dummy)
        .await
    {
        Ok(v) => v,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let session_id = uuid::Uuid::now_v7().to_string();
    let token = cookies::random_token();
    let outcome = login
        .record_password(&PasswordAttempt {
            session_id: &session_id,
            new_session: true,
            user_agent: req.user_agent(),
            token_hash: &cookies::token_hash(&token),
            login_name: &profile.username,
            verification: &verification,
            second_factor_required: inner.login_policy(Some(&org_id)).await.force_mfa,
        })
        .await;
    let entry = SessionEntry {
        session_id: session_id.clone(),
        token,
    };
    let mut entries = req.entries();
    entries.push(entry.clone());
    let cookie = inner.cookies.sessions_cookie(&entries);
    match outcome {
        Ok(PasswordOutcome::Checked {
            second_factor_required: true,
        }) => {
            let mut response = html::redirect(&format!("/login/otp{}", flow.query()));
            response.headers_mut().append(header::SET_COOKIE, cookie);
            inner.respond(&req, response)
        }
        Ok(PasswordOutcome::Checked { .. }) if verification_sent => {
            let mut response = html::redirect(&format!("/login/verify-email{}", flow.query()));
            response.headers_mut().append(header::SET_COOKIE, cookie);
            inner.respond(&req, response)
        }
        Ok(PasswordOutcome::Checked { .. }) => match inner.held(&[entry]).await {
            Ok(held) if !held.is_empty() => inner.finish(&req, &flow, &held[0], cookie).await,
            Err(error) => inner.internal(&req, &flow, &error).await,
            Ok(_) => {
                inner
                    .internal(&req, &flow, &"the registered session is gone")
                    .await
            }
        },
        Ok(PasswordOutcome::Failed(reason)) => {
            inner
                .internal(
                    &req,
                    &flow,
                    &format!("the registered user cannot log in: {reason:?}"),
                )
                .await
        }
        Err(error) => inner.internal(&req, &flow, &error).await,
    }
}

// --- second factor ---

/// The browser's session waiting for a second factor, with its user; `Err` is the error page when the
/// sessions or the user cannot be read.
async fn awaiting_second_factor(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
) -> Result<Option<(Held, String, User)>, Response> {
    let found = async {
        let Some(held) = inner
            .held(&req.entries())
            .await?
            .into_iter()
            .rev()
            .find(|h| h.state.awaits_second_factor())
        else {
            return Ok(None);
        };
        let Some(user_id) = held.state.user_id.clone() else {
            return Ok(None);
        };
        Ok::<_, CommandError>(
            inner
                .user_usable(&user_id)
                .await?
                .map(|user| (held, user_id, user)),
        )
    };
    match found.await {
        Ok(found) => Ok(found),
        Err(error) => Err(inner.internal(req, flow, &error).await),
    }
}

impl Inner {
    /// The code form; with `enroll`, the QR code and secret of a new TOTP enrolment above it.
    async fn otp_form(
        &self,
        req: &Req,
        flow: &Flow,
        user_id: &str,
        user: &User,
        status: StatusCode,
        error: Option<&str>,
    ) -> Response {
        let t = self.texts;
        let (title, intro) = if user.has_verified_otp() {
            (t.otp_title, format!("<p>{}</p>", esc(t.otp_intro)))
        } else {
            let enrollment = match self
                .commands
                .for_caller(&Caller::system(self.instance_id.clone()))
                .enroll_otp(user_id)
                .await
            {
                Ok(enrollment) => enrollment,
                Err(error) => return self.internal(req, flow, &error).await,
            };
            let qr =
                crate::qr::svg(enrollment.uri.expose(), t.totp_setup_title).unwrap_or_default();
            (
                t.totp_setup_title,
                format!(
                    "<p>{intro}</p>\n{qr}\n<p>{label}:</p><code class=\"secret\" id=\"totp-secret\">{secret}</code>\n<p class=\"visually-hidden\" id=\"totp-uri\">{uri}</p>",
                    intro = esc(t.totp_setup_intro),
                    label = esc(t.totp_secret),
                    secret = esc(enrollment.secret.expose()),
                    uri = esc(enrollment.uri.expose()),
                ),
            )
        };
        let body = format!(
            "{error}{intro}\n<form method=\"post\" action=\"/login/otp\">\n{csrf}{flow}\n{field}\n<button type=\"submit\">{verify}</button>\n</form>",
            error = error.map(error_box).unwrap_or_default(),
            csrf = self.csrf_field(req),
            flow = flow.hidden(),
            field = input("code", "text", t.otp_code, "", "one-time-code", true),
            verify = esc(t.verify),
        );
        self.render(req, flow, status, title, &body).await
    }
}

/// `GET /login/otp`: the second factor, or its enrolment when the user has none yet.
pub(crate) async fn otp_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    let Some((_, user_id, user)) = or_return!(awaiting_second_factor(&inner, &req, &flow).await)
    else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    };
    inner
        .otp_form(&req, &flow, &user_id, &user, StatusCode::OK, None)
        .await
}

/// `POST /login/otp`: checks the code (or confirms the enrolment) and finishes the login.
pub(crate) async fn otp_submit(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let Some((held, user_id, user)) = or_return!(awaiting_second_factor(&inner, &req, &flow).await)
    else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    };
    let code = form.text("code", 64).unwrap_or_default();
    let system = Caller::system(inner.instance_id.clone());
    let commands = inner.commands.for_caller(&system);
    let valid = if user.has_verified_otp() {
        match commands.check_otp(&user_id, &code).await {
            Ok(check) => check.valid,
            Err(CommandError::Refused(error)) => {
                tracing::info!(%error, "second factor refused");
                false
            }
            Err(error) => return inner.internal(&req, &flow, &error).await,
        }
    } else {
        match commands.verify_otp_enrollment(&user_id, &code).await {
            Ok(_) => true,
            Err(CommandError::Refused(_)) => false,
            Err(error) => return inner.internal(&req, &flow, &error).await,
        }
    };
    let login = inner.commands.login(&inner.instance_id);
    if !valid {
        if let Err(error) = login.record_second_factor(held.id(), "otp", None).await {
            tracing::warn!(%error, "cannot record a failed second factor");
        }
        let user = match inner.user_usable(&user_id).await {
            Ok(found) => found.unwrap_or(user),
            Err(error) => return inner.internal(&req, &flow, &error).await,
        };
        return inner
            .otp_form(
                &req,
                &flow,
                &user_id,
                &user,
                StatusCode::UNAUTHORIZED,
                Some(inner.texts.invalid_code),
            )
            .await;
    }
    let token = cookies::random_token();
    if let Err(error) = login
        .record_second_factor(held.id(), "otp", Some(&cookies::token_hash(&token)))
        .await
    {
        return inner.internal(&req, &flow, &error).await;
    }
    let mut entries: Vec<SessionEntry> = req
        .entries()
        .into_iter()
        .filter(|e| e.session_id != held.id())
        .collect();
    let entry = SessionEntry {
        session_id: held.id().to_owned(),
        token,
    };
    entries.push(entry.clone());
    let cookie = inner.cookies.sessions_cookie(&entries);
    match inner.held(&[entry]).await {
        Ok(held) if !held.is_empty() => inner.finish(&req, &flow, &held[0], cookie).await,
        Err(error) => inner.internal(&req, &flow, &error).await,
        Ok(_) => inner.internal(&req, &flow, &"the session is gone").await,
    }
}

// --- email verification ---

/// The browser's newest logged-in session whose user has an unverified email; `Err` is the error page when
/// the sessions cannot be read.
async fn unverified(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
) -> Result<Option<(Held, String)>, Response> {
    match inner.logged_in(&req.entries()).await {
        Ok(sessions) => Ok(sessions
            .into_iter()
            .find(|(_, user)| user.human().is_some_and(|h| !h.email_verified))
            .and_then(|(held, _)| held.state.user_id.clone().map(|id| (held, id)))),
        Err(error) => Err(inner.internal(req, flow, &error).await),
    }
}

async fn verify_email_form(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let t = inner.texts;
    let body = format!(
        "{error}<p>{intro}</p>\n<form method=\"post\" action=\"/login/verify-email\">\n{csrf}{flow}\n{field}\n<button type=\"submit\">{verify}</button>\n</form>",
        error = error.map(error_box).unwrap_or_default(),
        intro = esc(t.verify_email_intro),
        csrf = inner.csrf_field(req),
        flow = flow.hidden(),
        field = input("code", "text", t.otp_code, "", "one-time-code", true),
        verify = esc(t.verify),
    );
    inner
        .render(req, flow, status, t.verify_email_title, &body)
        .await
}

/// `GET /login/verify-email`: the form for the emailed code.
pub(crate) async fn verify_email_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    if or_return!(unverified(&inner, &req, &flow).await).is_none() {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    }
    verify_email_form(&inner, &req, &flow, StatusCode::OK, None).await
}

/// `POST /login/verify-email`: checks the emailed code, then finishes the login.
pub(crate) async fn verify_email_submit(
    State(inner): AppState,
    parts: Parts,
    body: Bytes,
) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let Some((held, user_id)) = or_return!(unverified(&inner, &req, &flow).await) else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    };
    let code = form.text("code", 64).unwrap_or_default();
    let system = Caller::system(inner.instance_id.clone());
    match inner
        .commands
        .for_caller(&system)
        .verify_email_with_code(&user_id, &code)
        .await
    {
        Ok(_) => {
            let cookie = inner.cookies.sessions_cookie(&req.entries());
            inner.finish(&req, &flow, &held, cookie).await
        }
        Err(CommandError::Refused(_)) => {
            verify_email_form(
                &inner,
                &req,
                &flow,
                StatusCode::UNAUTHORIZED,
                Some(inner.texts.invalid_code),
            )
            .await
        }
        Err(error) => inner.internal(&req, &flow, &error).await,
    }
}

// --- password reset ---

async fn reset_code_form(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
    login_name: &str,
    status: StatusCode,
    message: Option<&str>,
    error: Option<&str>,
) -> Response {
    let t = inner.texts;
    let body = format!(
        "{error}{message}<form method=\"post\" action=\"/login/reset/password\">\n{csrf}{flow}{login}\n{code}\n{pw}\n<button type=\"submit\">{set}</button>\n</form>",
        error = error.map(error_box).unwrap_or_default(),
        message = message
            .map(|m| format!("<p role=\"status\">{}</p>", esc(m)))
            .unwrap_or_default(),
        csrf = inner.csrf_field(req),
        flow = flow.hidden(),
        login = hidden("login_name", login_name),
        code = input("code", "text", t.otp_code, "", "one-time-code", true),
        pw = input(
            "password",
            "password",
            t.new_password,
            "",
            "new-password",
            false
        ),
        set = esc(t.reset_set),
    );
    inner.render(req, flow, status, t.reset_title, &body).await
}

/// `GET /login/reset`: asks for the login name whose password to reset.
pub(crate) async fn reset_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    let t = inner.texts;
    let hint: String = req
        .query("login_name")
        .unwrap_or("")
        .chars()
        .take(MAX_LOGIN_NAME)
        .collect();
    let body = format!(
        "<p>{intro}</p>\n<form method=\"post\" action=\"/login/reset\">\n{csrf}{flow}\n{field}\n<button type=\"submit\">{send}</button>\n</form>",
        intro = esc(t.reset_intro),
        csrf = inner.csrf_field(&req),
        flow = flow.hidden(),
        field = input("login_name", "text", t.login_name, &hint, "username", true),
        send = esc(t.reset_send),
    );
    inner
        .render(&req, &flow, StatusCode::OK, t.reset_title, &body)
        .await
}

/// `POST /login/reset`: sends a reset code to the login name's email (the same answer whether or not it exists).
pub(crate) async fn reset_submit(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let login_name = match form.text("login_name", MAX_LOGIN_NAME) {
        Ok(v) => v,
        Err(field) => return inner.bad_field(&req, &flow, field).await,
    };
    let user_id = match inner.user_id_by_login_name(&login_name).await {
        Ok(user_id) => user_id,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    if let Some(user_id) = user_id {
        let system = Caller::system(inner.instance_id.clone());
        if let Err(error) = inner
            .commands
            .for_caller(&system)
            .request_password_reset(&user_id)
            .await
        {
            // Told apart from success only in the log: the page must not reveal which login names exist.
            tracing::info!(%error, "no password reset code sent");
        }
    }
    reset_code_form(
        &inner,
        &req,
        &flow,
        &login_name,
        StatusCode::OK,
        Some(inner.texts.reset_sent),
        None,
    )
    .await
}

/// `POST /login/reset/password`: sets the new password with the emailed code.
pub(crate) async fn reset_password_submit(
    State(inner): AppState,
    parts: Parts,
    body: Bytes,
) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let login_name = match form.text("login_name", MAX_LOGIN_NAME) {
        Ok(v) => v,
        Err(field) => return inner.bad_field(&req, &flow, field).await,
    };
    let code = form.text("code", 64).unwrap_or_default();
    let password = match form.secret("password") {
        Ok(v) => v,
        Err(field) => {
            let message = fill(inner.texts.bad_field, field);
            return reset_code_form(
                &inner,
                &req,
                &flow,
                &login_name,
                StatusCode::BAD_REQUEST,
                None,
                Some(&message),
            )
            .await;
        }
    };
    let invalid = inner.texts.invalid_code;
    let user_id = match inner.user_id_by_login_name(&login_name).await {
        Ok(user_id) => user_id,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let Some(user_id) = user_id else {
        return reset_code_form(
            &inner,
            &req,
            &flow,
            &login_name,
            StatusCode::BAD_REQUEST,
            None,
            Some(invalid),
        )
        .await;
    };
    let system = Caller::system(inner.instance_id.clone());
    match inner
        .commands
        .for_caller(&system)
        .reset_password_with_code(&user_id, &code, &password)
        .await
    {
        Ok(_) => {
            inner
                .password_form(
                    &req,
                    &flow,
                    &login_name,
                    StatusCode::OK,
                    None,
                    Some(inner.texts.reset_done),
                )
                .await
        }
        Err(CommandError::Refused(error)) => {
            // A wrong or expired code reads the same for every login name; a weak password says what is missing.
            let message = if error.field.as_deref() == Some("password") {
                error.message.clone()
            } else {
                invalid.to_owned()
            };
            reset_code_form(
                &inner,
                &req,
                &flow,
                &login_name,
                StatusCode::BAD_REQUEST,
                None,
                Some(&message),
            )
            .await
        }
        Err(error) => inner.internal(&req, &flow, &error).await,
    }
}

// --- password change required ---

/// Whether the user must change its password before a login completes (set by an administrator, or at the
/// first start for the initial administrator).
pub(crate) fn must_change_password(user: &User) -> bool {
    user.human().is_some_and(|h| h.password_change_required)
}

/// The browser's logged-in session whose user must change its password (the one named `session_id`, else
/// the newest), with its user id and user.
async fn awaiting_password_change(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
    session_id: Option<&str>,
) -> Result<Option<(Held, String, User)>, Response> {
    let sessions = match inner.logged_in(&req.entries()).await {
        Ok(sessions) => sessions,
        Err(error) => return Err(inner.internal(req, flow, &error).await),
    };
    Ok(sessions
        .into_iter()
        .filter(|(held, _)| session_id.is_none_or(|id| held.id() == id))
        .find(|(_, user)| must_change_password(user))
        .and_then(|(held, user)| {
            let user_id = held.state.user_id.clone()?;
            Some((held, user_id, user))
        }))
}

/// A password field with its error (if any) under it, tied to it for assistive technology.
fn password_field(name: &str, label: &str, error: Option<&str>) -> String {
    let field = input(name, "password", label, "", "new-password", false);
    match error {
        Some(message) => {
            let id = format!("{name}-error");
            format!(
                "{}\n<p class=\"error\" id=\"{}\" role=\"alert\">{}</p>",
                field.replacen(
                    " required",
                    &format!(
                        " aria-invalid=\"true\" aria-describedby=\"{}\" required",
                        esc(&id)
                    ),
                    1
                ),
                esc(&id),
                esc(message)
            )
        }
        None => field,
    }
}

/// Which field a message of the password change page belongs to.
enum ChangeError {
    Password(String),
    Confirm(String),
    Form(String),
}

async fn change_password_form(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
    held: &Held,
    user: &User,
    status: StatusCode,
    error: Option<ChangeError>,
) -> Response {
    let t = inner.texts;
    let (form_error, password_error, confirm_error) = match error {
        Some(ChangeError::Password(m)) => (None, Some(m), None),
        Some(ChangeError::Confirm(m)) => (None, None, Some(m)),
        Some(ChangeError::Form(m)) => (Some(m), None, None),
        None => (None, None, None),
    };
    let body = format!(
        "{error}<p>{intro}</p>\n<p>{t_login}: <strong>{name}</strong></p>\n<form method=\"post\" action=\"/login/password/change\">\n{csrf}{flow}{sid}\n{pw}\n{pw2}\n<button type=\"submit\">{change}</button>\n</form>\n<div class=\"links\"><a id=\"other-account\" href=\"/login{q}{sep}other=1\">{other}</a></div>",
        error = form_error.as_deref().map(error_box).unwrap_or_default(),
        intro = esc(t.change_password_intro),
        t_login = esc(t.login_name),
        name = esc(&user.login_name),
        csrf = inner.csrf_field(req),
        flow = flow.hidden(),
        sid = hidden("session_id", held.id()),
        pw = password_field("password", t.new_password, password_error.as_deref()),
        pw2 = password_field(
            "password_confirm",
            t.password_confirm,
            confirm_error.as_deref()
        ),
        change = esc(t.change_password),
        q = flow.query(),
        sep = if flow.id().is_some() { "&amp;" } else { "?" },
        other = esc(t.other_user),
    );
    inner
        .render(req, flow, status, t.change_password_title, &body)
        .await
}

/// `GET /login/password/change`: the new password of a user who must change it.
pub(crate) async fn change_password_page(State(inner): AppState, parts: Parts) -> Response {
    let (req, flow) = or_return!(inner.opened(&parts).await);
    let Some((held, _, user)) =
        or_return!(awaiting_password_change(&inner, &req, &flow, None).await)
    else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    };
    change_password_form(&inner, &req, &flow, &held, &user, StatusCode::OK, None).await
}

/// `POST /login/password/change`: sets the new password as the user itself (checked against the password
/// policy, no longer to be changed), then finishes the login.
pub(crate) async fn change_password_submit(
    State(inner): AppState,
    parts: Parts,
    body: Bytes,
) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let Ok(session_id) = form.text("session_id", MAX_ID) else {
        return inner.bad_field(&req, &flow, "session_id").await;
    };
    let Some((held, user_id, user)) =
        or_return!(awaiting_password_change(&inner, &req, &flow, Some(&session_id)).await)
    else {
        return inner
            .error_page(
                &req,
                &flow,
                StatusCode::BAD_REQUEST,
                inner.texts.session_expired,
            )
            .await;
    };
    let t = inner.texts;
    let again = |error: ChangeError| {
        let (inner, req, flow, held, user) = (&inner, &req, &flow, &held, &user);
        async move {
            change_password_form(
                inner,
                req,
                flow,
                held,
                user,
                StatusCode::BAD_REQUEST,
                Some(error),
            )
            .await
        }
    };
    let password = match form.secret("password") {
        Ok(v) => v,
        Err(field) => return again(ChangeError::Password(fill(t.bad_field, field))).await,
    };
    let confirm = match form.secret("password_confirm") {
        Ok(v) => v,
        Err(field) => return again(ChangeError::Confirm(fill(t.bad_field, field))).await,
    };
    if password != confirm {
        return again(ChangeError::Confirm(t.passwords_differ.to_owned())).await;
    }
    // The user changes its own password: the command authorizes it as self-service.
    let caller = Caller {
        instance_id: inner.instance_id.clone(),
        identity: Identity::User {
            user_id: user_id.clone(),
            org_id: user.org_id.clone(),
        },
    };
    match inner
        .commands
        .for_caller(&caller)
        .set_password(&user_id, &password, false)
        .await
    {
        Ok(_) => {
            tracing::info!(user = %user_id, "required password change done on the login page");
            let cookie = inner.cookies.sessions_cookie(&req.entries());
            inner.finish(&req, &flow, &held, cookie).await
        }
        Err(CommandError::Refused(error)) if error.field.as_deref() == Some("password") => {
            again(ChangeError::Password(error.message.clone())).await
        }
        Err(CommandError::Refused(error)) => {
            tracing::info!(%error, "required password change refused");
            again(ChangeError::Form(error.message.clone())).await
        }
        Err(CommandError::Rejected(violations)) => {
            let message = violations
                .iter()
                .map(|v| v.message.clone())
                .collect::<Vec<_>>()
                .join(" ");
            again(ChangeError::Form(message)).await
        }
        Err(error) => inner.internal(&req, &flow, &error).await,
    }
}
