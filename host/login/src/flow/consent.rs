//! The consent page: with `prompt=consent`, after the login (and any required password change) the user sees
//! which application asks for what, as which account, and allows or denies it. Allow gives the client its
//! code; Deny sends it `access_denied` (with `state` and `iss`). The decision is a CSRF-protected form of the
//! browser's own session; nothing is remembered, so the page comes every time the client asks for it.

use axum::{
    body::Bytes, extract::State, http::StatusCode, http::request::Parts, response::Response,
};
use warden_domain::user::User;
use warden_oidc::{MANAGEMENT_API_AUDIENCE, flow::AuthRequest};

use super::{AppState, Flow, MAX_ID, Req, must_change_password};
use crate::{
    Inner,
    html::{esc, hidden},
    sessions::Held,
    texts::{Texts, fill},
};

/// What a scope lets the application have, in the user's words.
fn scope_text(texts: &Texts, scope: &str) -> String {
    match scope {
        "openid" => texts.scope_openid.to_owned(),
        "profile" => texts.scope_profile.to_owned(),
        "email" => texts.scope_email.to_owned(),
        "phone" => texts.scope_phone.to_owned(),
        "address" => texts.scope_address.to_owned(),
        "offline_access" => texts.scope_offline_access.to_owned(),
        MANAGEMENT_API_AUDIENCE => texts.scope_management_api.to_owned(),
        other => fill(texts.scope_other, other),
    }
}

/// The consent page for `request`, as the user of `held`.
pub(super) async fn consent_form(
    inner: &Inner,
    req: &Req,
    flow: &Flow,
    request: &AuthRequest,
    held: &Held,
    user: &User,
) -> Response {
    let t = inner.texts;
    let name = user
        .human()
        .map(|h| h.profile.display_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| user.login_name.clone());
    let mut scopes = String::new();
    for scope in &request.scope {
        scopes.push_str(&format!(
            "<li data-scope=\"{}\">{}</li>\n",
            esc(scope),
            esc(&scope_text(t, scope))
        ));
    }
    let app_name = if request.app_name.is_empty() {
        request.client_id.as_str()
    } else {
        request.app_name.as_str()
    };
    let body = format!(
        "<p id=\"signed-in-as\">{who}</p>\n<p>{intro}</p>\n<ul class=\"scopes\">\n{scopes}</ul>\n\
         <form method=\"post\" action=\"/login/consent\">\n{csrf}{flow}{sid}\n\
         <button type=\"submit\" name=\"decision\" value=\"allow\">{allow}</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">{deny}</button>\n</form>",
        who = esc(&fill(t.signed_in_as, &name)),
        intro = esc(t.consent_intro),
        csrf = inner.csrf_field(req),
        flow = flow.hidden(),
        sid = hidden("session_id", held.id()),
        allow = esc(t.consent_allow),
        deny = esc(t.consent_deny),
    );
    inner
        .render(
            req,
            flow,
            StatusCode::OK,
            &fill(t.consent_title, app_name),
            &body,
        )
        .await
}

/// `POST /login/consent`: the user's decision on the consent page.
pub(crate) async fn consent_submit(State(inner): AppState, parts: Parts, body: Bytes) -> Response {
    let (req, form, flow) = or_return!(inner.submitted(&parts, &body).await);
    let (Some(request), Some(requests)) = (flow.request.clone(), inner.auth_requests.get()) else {
        return inner.bad_field(&req, &flow, "authRequest").await;
    };
    let Ok(session_id) = form.text("session_id", MAX_ID) else {
        return inner.bad_field(&req, &flow, "session_id").await;
    };
    let sessions = match inner.logged_in(&req.entries()).await {
        Ok(sessions) => sessions,
        Err(error) => return inner.internal(&req, &flow, &error).await,
    };
    let Some((held, _)) = sessions
        .iter()
        .find(|(held, user)| held.id() == session_id && !must_change_password(user))
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
    let response = match form.get("decision") {
        Some("allow") => inner.back_to_client(&req, &flow, held).await,
        Some("deny") => {
            tracing::info!(client_id = %request.client_id, "the user denied consent");
            let answer = requests
                .fail(
                    &inner.instance_id,
                    &request.id,
                    "access_denied",
                    "the user denied the request",
                )
                .await;
            inner.to_client(&req, &flow, answer).await
        }
        _ => return inner.bad_field(&req, &flow, "decision").await,
    };
    inner.respond(&req, response)
}
