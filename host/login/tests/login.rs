//! The login pages over HTTP, on both eventstore backends: a login, the uniform refusal of bad credentials,
//! the lockout, CSRF, the session token renewed at login, account selection, logout, the action hooks and a
//! required password change without an application.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod support;

use reqwest::{StatusCode, header};
use support::{PASSWORD, Server, both_backends, get, post, submit_password};
use warden_domain::{
    policy::{LockoutPolicy, Policy},
    session::Session,
    user::User,
};
use warden_eventstore::testing::TestStore;
use warden_login::{cookies::SESSIONS_COOKIE, testing::login_via_form};

both_backends!(
    a_user_logs_in_and_every_step_is_an_event,
    unknown_user_wrong_password_and_locked_user_get_the_same_answer,
    a_failing_user_lookup_shows_the_error_page_not_the_refusal,
    a_session_that_cannot_be_read_shows_the_error_page_not_a_logged_out_browser,
    failed_passwords_lock_the_user_at_the_policy_limit,
    forms_without_the_right_csrf_token_change_nothing,
    the_session_token_changes_at_login,
    several_sessions_offer_account_selection,
    logout_ends_the_sessions,
    pages_carry_the_security_headers,
    a_pre_authentication_action_denies,
    a_failing_fail_closed_action_shows_a_login_error,
    a_post_authentication_action_denies_after_the_password,
    an_action_allowed_to_fail_does_not_stop_the_login,
    registration_needs_an_application_that_allows_it,
    a_required_password_change_comes_before_the_signed_in_page,
);

async fn a_user_logs_in_and_every_step_is_an_event(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("alice").await;
    let browser = server.browser();
    let end = login_via_form(&browser, &server.at("/login"), "alice", PASSWORD)
        .await
        .expect("login");
    assert!(end.ends_with("/login/signed-in"), "{end}");
    let page = get(&browser, &end).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("You are signed in as Ada alice."),
        "{}",
        page.body
    );
    assert_eq!(
        server.event_types("session").await,
        [
            "session.started",
            "session.user.identified",
            "session.password.checked"
        ]
    );
    // The provider sees the session through the Sessions trait, from the browser's cookie.
    let other = server.browser();
    let page = submit_password(&server, &other, "ALICE", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "login name matched case-insensitively"
    );
    let cookie = page.set_cookie(SESSIONS_COOKIE).expect("cookie");
    let mut headers = header::HeaderMap::new();
    headers.insert(
        header::COOKIE,
        header::HeaderValue::from_str(cookie.split(';').next().unwrap()).unwrap(),
    );
    let sessions = server
        .login
        .sessions()
        .sessions(&server.instance_id, &headers)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].amr, ["pwd"]);
    assert!(sessions[0].auth_time > 1_700_000_000);
    // end_session through the trait ends it.
    let cleared = server
        .login
        .sessions()
        .terminate(&server.instance_id, &headers, None)
        .await;
    assert!(cleared[0].to_str().unwrap().contains("Max-Age=0"));
    assert!(
        server
            .login
            .sessions()
            .sessions(&server.instance_id, &headers)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn unknown_user_wrong_password_and_locked_user_get_the_same_answer(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("bob").await;
    let carol = server.add_user("carol").await;
    server
        .commands
        .for_caller(&server.system())
        .lock_user(&carol)
        .await
        .expect("lock");
    let dave = server.add_user("dave").await;
    server
        .commands
        .for_caller(&server.system())
        .deactivate_user(&dave)
        .await
        .expect("deactivate");
    let mut answers = Vec::new();
    for (login_name, password) in [
        ("bob", "Wrong-Password-1"),
        ("nobody-here", PASSWORD),
        ("carol", PASSWORD),
        ("dave", PASSWORD),
    ] {
        let browser = server.browser();
        let page = submit_password(&server, &browser, login_name, password).await;
        answers.push((login_name, page.status, page.error()));
    }
    let expected = Some(warden_login::texts::EN.invalid_credentials.to_owned());
    for (login_name, status, error) in &answers {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{login_name}");
        assert_eq!(error, &expected, "{login_name}");
    }
    // Each attempt is on the audit trail.
    let types = server.event_types("session").await;
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "session.password.failed")
            .count(),
        4
    );
}

async fn a_failing_user_lookup_shows_the_error_page_not_the_refusal(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("erin").await;
    // The users view, where a login name is looked up, can no longer be read.
    server
        .execute("ALTER TABLE users RENAME TO users_gone")
        .await;
    let browser = server.browser();
    let page = submit_password(&server, &browser, "erin", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert_eq!(
        page.error().as_deref(),
        Some(warden_login::texts::EN.internal_error)
    );
    assert!(
        !server
            .event_types("session")
            .await
            .iter()
            .any(|t| t == "session.password.failed"),
        "a failed lookup is not a failed password"
    );
}

async fn a_session_that_cannot_be_read_shows_the_error_page_not_a_logged_out_browser(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("erin").await;
    let browser = server.browser();
    login_via_form(&browser, &server.at("/login"), "erin", PASSWORD)
        .await
        .expect("login");
    let page = get(&browser, &server.at("/login/signed-in")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The events, where the session is read from, can no longer be read.
    server
        .execute("ALTER TABLE events RENAME TO events_gone")
        .await;
    for path in ["/login/signed-in", "/login", "/login/select"] {
        let page = get(&browser, &server.at(path)).await;
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            page.body
        );
        assert_eq!(
            page.error().as_deref(),
            Some(warden_login::texts::EN.internal_error),
            "{path}"
        );
    }
}

async fn failed_passwords_lock_the_user_at_the_policy_limit(t: TestStore) {
    let server = Server::start(t).await;
    server
        .commands
        .for_caller(&server.system())
        .set_default_policy(&Policy::Lockout(LockoutPolicy {
            max_password_attempts: 3,
            show_lockout_failures: false,
        }))
        .await
        .expect("policy");
    let erin = server.add_user("erin").await;
    let browser = server.browser();
    for _ in 0..3 {
        let page = submit_password(&server, &browser, "erin", "Wrong-Password-1").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let user = server
        .commands
        .load::<User>(&server.instance_id, &erin)
        .await
        .expect("user");
    assert!(user.state.locked, "locked after 3 failures");
    // The right password now gets the same answer as a wrong one.
    let page = submit_password(&server, &browser, "erin", PASSWORD).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        page.error().as_deref(),
        Some(warden_login::texts::EN.invalid_credentials)
    );
    // The failures of one browser are on one session.
    let types = server.event_types("session").await;
    assert_eq!(
        types.iter().filter(|t| *t == "session.started").count(),
        1,
        "{types:?}"
    );
}

async fn forms_without_the_right_csrf_token_change_nothing(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("frank").await;
    let browser = server.browser();
    let start = get(&browser, &server.at("/login")).await;
    let form = start.form("/login");
    let page = post(
        &browser,
        &server.at("/login"),
        &form.with("login_name", "frank"),
    )
    .await;
    let form = page.form("/login/password");
    let before = server.event_types("session").await.len();

    let mut missing = form.with("password", PASSWORD);
    missing.retain(|(k, _)| k != "csrf");
    let wrong = {
        let mut fields = form.with("password", PASSWORD);
        for field in &mut fields {
            if field.0 == "csrf" {
                field.1 = "0".repeat(64);
            }
        }
        fields
    };
    for fields in [missing, wrong] {
        let page = post(&browser, &server.at("/login/password"), &fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
        assert_eq!(
            page.error().as_deref(),
            Some(warden_login::texts::EN.csrf_invalid)
        );
    }
    // A token from another browser does not fit this one.
    let other = server.browser();
    let foreign = get(&other, &server.at("/login")).await.form("/login");
    let mut fields = form.with("password", PASSWORD);
    for field in &mut fields {
        if field.0 == "csrf" {
            field.1 = foreign.field("csrf").unwrap().to_owned();
        }
    }
    let page = post(&browser, &server.at("/login/password"), &fields).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // A browser without the CSRF cookie is refused too (a cross-site form post).
    let fresh = server.browser();
    let page = post(
        &fresh,
        &server.at("/login/password"),
        &form.with("password", PASSWORD),
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        server.event_types("session").await.len(),
        before,
        "nothing stored"
    );
    for action in [
        "/login/logout",
        "/login/select",
        "/login",
        "/login/register",
    ] {
        let page = post(&fresh, &server.at(action), &[]).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{action}");
    }
    // The right token works.
    let page = post(
        &browser,
        &server.at("/login/password"),
        &form.with("password", PASSWORD),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

async fn the_session_token_changes_at_login(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("grace").await;
    let browser = server.browser();
    // A failed attempt starts the session: the browser holds its pre-login token.
    let failed = submit_password(&server, &browser, "grace", "Wrong-Password-1").await;
    let before = failed.set_cookie(SESSIONS_COOKIE).expect("session cookie");
    assert!(
        before.contains("HttpOnly") && before.contains("SameSite=Lax") && before.contains("Path=/")
    );
    assert!(!before.contains("Secure"), "not over plain http");
    let form = failed.form("/login/password");
    let ok = post(
        &browser,
        &server.at("/login/password"),
        &form.with("password", PASSWORD),
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let after = ok.set_cookie(SESSIONS_COOKIE).expect("new session cookie");
    let value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(value(&before), value(&after), "a new token after login");
    // Someone holding the pre-login cookie is not logged in.
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = attacker
        .get(server.at("/login/signed-in"))
        .header(header::COOKIE, value(&before))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[header::LOCATION], "/login");
    let page = attacker
        .get(server.at("/login/signed-in"))
        .header(header::COOKIE, value(&after))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // The session aggregate keeps only the hash of the current token.
    let id = value(&after)
        .trim_start_matches(&format!("{SESSIONS_COOKIE}="))
        .split('.')
        .next()
        .unwrap()
        .to_owned();
    let session = server
        .commands
        .load::<Session>(&server.instance_id, &id)
        .await
        .unwrap();
    assert!(session.state.is_authenticated());
    assert!(!value(&after).contains(&session.state.token_hash));
}

async fn several_sessions_offer_account_selection(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("heidi").await;
    server.add_user("ivan").await;
    let browser = server.browser();
    login_via_form(&browser, &server.at("/login"), "heidi", PASSWORD)
        .await
        .expect("heidi");
    // With a session, /login offers it; "use another account" leads to the login name.
    let page = get(&browser, &server.at("/login")).await;
    assert!(
        page.body.contains("action=\"/login/select\""),
        "{}",
        page.body
    );
    login_via_form(&browser, &server.at("/login"), "ivan", PASSWORD)
        .await
        .expect("ivan");
    let page = get(&browser, &server.at("/login/select")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("(heidi)") && page.body.contains("(ivan)"),
        "{}",
        page.body
    );
    let forms = warden_login::testing::forms(&page.body);
    let heidi = forms
        .iter()
        .find(|f| page.body.contains("(heidi)") && f.action == "/login/select")
        .expect("a select form");
    assert!(heidi.field("session_id").is_some());
    // Choosing one ends the login with it.
    let chosen = post(&browser, &server.at("/login/select"), &heidi.fields).await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER, "{}", chosen.body);
    // A session id the browser does not hold is refused.
    let mut fields = heidi.fields.clone();
    for field in &mut fields {
        if field.0 == "session_id" {
            field.1 = "0190aaaa-0000-7000-8000-000000000000".into();
        }
    }
    let refused = post(&browser, &server.at("/login/select"), &fields).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

async fn logout_ends_the_sessions(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("judy").await;
    let browser = server.browser();
    login_via_form(&browser, &server.at("/login"), "judy", PASSWORD)
        .await
        .expect("login");
    let page = get(&browser, &server.at("/login/logout")).await;
    let form = page.form("/login/logout");
    let out = post(&browser, &server.at("/login/logout"), &form.fields).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.body.contains(warden_login::texts::EN.logged_out));
    let cleared = out.set_cookie(SESSIONS_COOKIE).expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(
        server
            .event_types("session")
            .await
            .contains(&"session.terminated".to_owned())
    );
    let page = get(&browser, &server.at("/login/signed-in")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out");
}

async fn pages_carry_the_security_headers(t: TestStore) {
    let server = Server::start(t).await;
    let browser = server.browser();
    for path in ["/login", "/login/logout", "/login/nowhere"] {
        let page = get(&browser, &server.at(path)).await;
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(
            page.headers[header::REFERRER_POLICY],
            "no-referrer",
            "{path}"
        );
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store", "{path}");
        assert!(!page.body.contains("<script"), "{path}");
    }
    let css = get(&browser, &server.at("/login/assets/style.css")).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    // The login name from a hint is escaped.
    let page = get(
        &browser,
        &server.at("/login?login_hint=%22%3E%3Cscript%3Ex%3C/script%3E"),
    )
    .await;
    assert!(!page.body.contains("<script>x"), "{}", page.body);
    assert!(
        page.body
            .contains("value=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\"")
    );
    // An unknown authorization request is a clear 400 page.
    let page = get(&browser, &server.at("/login?authRequest=unknown")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        page.error().as_deref(),
        Some(warden_login::texts::EN.auth_request_unknown)
    );
}

async fn a_pre_authentication_action_denies(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("mallory").await;
    // Logins only from 10.0.0.0/8: the loopback client is refused before its password is checked.
    server
        .bind_org_claims("pre_authentication", "10.0.0.0/8", "fail_closed")
        .await;
    let browser = server.browser();
    let page = submit_password(&server, &browser, "mallory", PASSWORD).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let error = page.error().expect("an error");
    assert!(
        error.contains("sign-in is not allowed from your network"),
        "{error}"
    );
    let types = server.event_types("session").await;
    assert!(types.contains(&"session.denied".to_owned()), "{types:?}");
    assert!(!types.contains(&"session.password.checked".to_owned()));
}

async fn a_failing_fail_closed_action_shows_a_login_error(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("oscar").await;
    // A configuration the action cannot read makes it fail; bound failing closed, the login stops.
    server
        .bind_org_claims("post_authentication", "not-a-network", "fail_closed")
        .await;
    let browser = server.browser();
    let page = submit_password(&server, &browser, "oscar", PASSWORD).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert_eq!(
        page.error().as_deref(),
        Some(warden_login::texts::EN.action_failed)
    );
    let end = get(&browser, &server.at("/login/signed-in")).await;
    assert_eq!(end.status, StatusCode::SEE_OTHER, "not logged in");
}

async fn registration_needs_an_application_that_allows_it(t: TestStore) {
    let server = Server::start(t).await;
    let browser = server.browser();
    let page = get(&browser, &server.at("/login/register")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        page.error().as_deref(),
        Some(warden_login::texts::EN.register_not_allowed)
    );
    let form = get(&browser, &server.at("/login")).await.form("/login");
    let csrf = form.field("csrf").unwrap().to_owned();
    let page = post(
        &browser,
        &server.at("/login/register"),
        &[("csrf".into(), csrf)],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let users = server.event_types("user").await;
    assert!(!users.contains(&"user.human.added".to_owned()), "{users:?}");
}

async fn a_post_authentication_action_denies_after_the_password(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("peggy").await;
    server
        .bind_org_claims("post_authentication", "10.0.0.0/8", "fail_closed")
        .await;
    let browser = server.browser();
    // A wrong password is refused as usual: the action runs only after a right one.
    let page = submit_password(&server, &browser, "peggy", "Wrong-Password-1").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let page = submit_password(&server, &browser, "peggy", PASSWORD).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let error = page.error().expect("an error");
    assert!(
        error.contains("sign-in is not allowed from your network"),
        "{error}"
    );
    let types = server.event_types("session").await;
    let checked = types.iter().position(|t| t == "session.password.checked");
    let denied = types.iter().position(|t| t == "session.denied");
    assert!(checked.is_some() && denied > checked, "{types:?}");
    let end = get(&browser, &server.at("/login/signed-in")).await;
    assert_eq!(end.status, StatusCode::SEE_OTHER, "not logged in");
}

async fn an_action_allowed_to_fail_does_not_stop_the_login(t: TestStore) {
    let server = Server::start(t).await;
    server.add_user("rupert").await;
    server
        .bind_org_claims("pre_authentication", "not-a-network", "allow_failure")
        .await;
    let browser = server.browser();
    let end = login_via_form(&browser, &server.at("/login"), "rupert", PASSWORD)
        .await
        .expect("login goes on");
    assert!(end.ends_with("/login/signed-in"), "{end}");
}

async fn a_required_password_change_comes_before_the_signed_in_page(t: TestStore) {
    let server = Server::start(t).await;
    let user_id = server.add_user_with("paula", true).await;
    let browser = server.browser();
    let page = submit_password(&server, &browser, "paula", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/login/password/change"));
    // Signed in, but not usable yet: the provider does not see the session.
    let cookie = page.set_cookie(SESSIONS_COOKIE).expect("cookie");
    let mut headers = header::HeaderMap::new();
    headers.insert(
        header::COOKIE,
        header::HeaderValue::from_str(cookie.split(';').next().unwrap()).unwrap(),
    );
    let provider_view = || server.login.sessions();
    assert!(
        provider_view()
            .sessions(&server.instance_id, &headers)
            .await
            .unwrap()
            .is_empty()
    );

    let page = get(&browser, &server.at("/login/password/change")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let form = page.form("/login/password/change");
    let new_password = "Paula-New-Passw0rd";
    let mut fields = form.with("password", new_password);
    fields.retain(|(n, _)| n != "password_confirm");
    fields.push(("password_confirm".into(), new_password.into()));
    let done = post(&browser, &server.at("/login/password/change"), &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), Some("/login/signed-in"));
    let page = get(&browser, &server.at("/login/signed-in")).await;
    assert!(page.body.contains("You are signed in as"), "{}", page.body);
    assert_eq!(
        provider_view()
            .sessions(&server.instance_id, &headers)
            .await
            .unwrap()
            .len(),
        1,
        "the session counts once the password is changed"
    );
    let user = server
        .commands
        .load::<User>(&server.instance_id, &user_id)
        .await
        .unwrap();
    assert!(
        !user
            .state
            .human()
            .is_some_and(|h| h.password_change_required)
    );
    // The form cannot be used again once the change is done.
    let again = post(&browser, &server.at("/login/password/change"), &fields).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    // The next login goes straight to the signed-in page.
    let end = login_via_form(
        &server.browser(),
        &server.at("/login"),
        "paula",
        new_password,
    )
    .await
    .expect("login");
    assert!(end.ends_with("/login/signed-in"), "{end}");
}
