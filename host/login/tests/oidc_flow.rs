//! The login pages inside the OpenID Connect code flow, on both eventstore backends: authorize → login forms →
//! code at the client; an existing session; `prompt=login`, `login_hint` and `prompt=select_account`;
//! registration as the login policy allows; a second factor forced by policy (TOTP enrolment with a QR code);
//! email verification and password reset with the mailed codes; a password that must be changed before the code;
//! the consent page of `prompt=consent`.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod support;

use std::collections::HashMap;

use reqwest::StatusCode;
use support::{PASSWORD, Server, both_backends, get, post};
use warden_domain::policy::{LoginPolicy, Policy};
use warden_eventstore::testing::TestStore;
use warden_login::testing::{Steps, forms, login_via_form, login_via_form_with};

both_backends!(
    the_code_flow_runs_through_the_login_pages,
    prompt_login_hint_and_account_selection,
    registration_follows_the_login_policy,
    a_forced_second_factor_enrols_totp,
    a_password_reset_with_the_mailed_code,
    registration_runs_the_registration_actions,
    a_required_password_change_comes_before_the_code,
    prompt_consent_shows_the_consent_page,
    the_test_aid_changes_a_required_password,
);

fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The client got a code: the redirect URI with `code`, the request's `state` and `iss`.
fn assert_code(server: &Server, end: &str, redirect_uri: &str) {
    assert!(end.starts_with(redirect_uri), "{end}");
    let q = query(end);
    assert!(q.get("code").is_some_and(|c| !c.is_empty()), "{end}");
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"), "{end}");
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(server.url.as_str()),
        "{end}"
    );
}

/// Follows the authorize redirect to the login page's URL.
async fn login_page_url(server: &Server, browser: &reqwest::Client, authorize: &str) -> String {
    let page = get(browser, authorize).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().unwrap();
    assert!(location.contains("/login?authRequest="), "{location}");
    reqwest::Url::parse(&server.url)
        .unwrap()
        .join(location)
        .unwrap()
        .to_string()
}

async fn the_code_flow_runs_through_the_login_pages(t: TestStore) {
    let server = Server::start_with(t, true).await;
    server.add_user("alice").await;
    let (client_id, redirect_uri) = server.app().await;
    let browser = server.browser();
    let authorize = server.authorize_url(&client_id, &redirect_uri, "");
    // The login page names the application.
    let login = login_page_url(&server, &browser, &authorize).await;
    let page = get(&browser, &login).await;
    assert!(page.body.contains("Sign in to Shop"), "{}", page.body);
    assert!(
        page.body.contains("Acme Corp"),
        "the organization brands the page"
    );

    let end = login_via_form(&browser, &authorize, "alice", PASSWORD)
        .await
        .expect("login");
    assert_code(&server, &end, &redirect_uri);
    // With its session, the browser gets the next code without a form.
    let again = get(&browser, &authorize).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_code(&server, again.location().unwrap(), &redirect_uri);
    // A wrong password inside the flow keeps the user on the page with the uniform error.
    let other = server.browser();
    let refused = login_via_form(&other, &authorize, "alice", "Wrong-Password-1").await;
    let error = refused.expect_err("refused").to_string();
    assert!(
        error.contains(warden_login::texts::EN.invalid_credentials),
        "{error}"
    );
}

async fn prompt_login_hint_and_account_selection(t: TestStore) {
    let server = Server::start_with(t, true).await;
    server.add_user("heidi").await;
    server.add_user("ivan").await;
    let (client_id, redirect_uri) = server.app().await;
    let browser = server.browser();
    // login_hint pre-fills the login name.
    let hinted = server.authorize_url(&client_id, &redirect_uri, "&login_hint=heidi");
    let login = login_page_url(&server, &browser, &hinted).await;
    let page = get(&browser, &login).await;
    assert_eq!(page.form("/login").field("login_name"), Some("heidi"));
    let end = login_via_form(&browser, &hinted, "heidi", PASSWORD)
        .await
        .unwrap();
    assert_code(&server, &end, &redirect_uri);
    // prompt=login asks again even with a session.
    let forced = server.authorize_url(&client_id, &redirect_uri, "&prompt=login");
    let login = login_page_url(&server, &browser, &forced).await;
    let page = get(&browser, &login).await;
    assert!(page.body.contains("action=\"/login\""), "{}", page.body);
    assert!(!page.body.contains("action=\"/login/select\""));
    // A second account in the same browser: select_account offers both.
    let select = server.authorize_url(&client_id, &redirect_uri, "&prompt=select_account");
    let end = login_via_form(&browser, &select, "ivan", PASSWORD)
        .await
        .unwrap();
    assert_code(&server, &end, &redirect_uri);
    let login = login_page_url(&server, &browser, &select).await;
    let page = get(&browser, &login).await;
    assert!(
        page.body.contains("(heidi)") && page.body.contains("(ivan)"),
        "{}",
        page.body
    );
    let chosen = forms(&page.body)
        .into_iter()
        .find(|f| f.action == "/login/select")
        .unwrap();
    let done = post(&browser, &server.at("/login/select"), &chosen.fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_code(&server, done.location().unwrap(), &redirect_uri);
}

async fn registration_follows_the_login_policy(t: TestStore) {
    let server = Server::start_with(t, true).await;
    let (client_id, redirect_uri) = server.app().await;
    let authorize = server.authorize_url(&client_id, &redirect_uri, "");
    let browser = server.browser();
    let login = login_page_url(&server, &browser, &authorize).await;
    let id = query(&login)["authRequest"].clone();
    // Not allowed by default.
    let page = get(&browser, &login).await;
    assert!(!page.body.contains("/login/register"), "no link");
    let refused = get(
        &browser,
        &server.at(&format!("/login/register?authRequest={id}")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    server
        .commands
        .for_caller(&server.system())
        .set_org_policy(
            &server.org_id,
            &Policy::Login(LoginPolicy {
                allow_register: true,
                ..LoginPolicy::default()
            }),
        )
        .await
        .unwrap();
    let page = get(&browser, &login).await;
    assert!(
        page.body.contains("/login/register?authRequest="),
        "{}",
        page.body
    );
    let form = get(
        &browser,
        &server.at(&format!("/login/register?authRequest={id}")),
    )
    .await
    .form("/login/register");
    let mut fields = form.fields.clone();
    for (name, value) in [
        ("given_name", "Rita"),
        ("family_name", "Levi"),
        ("email", "rita@example.com"),
        ("login_name", "rita"),
        ("password", PASSWORD),
        ("password_confirm", "Another-Pass-9"),
    ] {
        fields.retain(|(n, _)| n != name);
        fields.push((name.into(), value.into()));
    }
    // Passwords that differ: nothing is created.
    let page = post(&browser, &server.at("/login/register"), &fields).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        page.error().as_deref(),
        Some(warden_login::texts::EN.passwords_differ)
    );
    fields.retain(|(n, _)| n != "password_confirm");
    fields.push(("password_confirm".into(), PASSWORD.into()));
    let page = post(&browser, &server.at("/login/register"), &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        page.location().unwrap().starts_with("/login/verify-email"),
        "{:?}",
        page.location()
    );
    let user = registered(&server, "rita").await;
    // The emailed code verifies the address and ends the login at the client.
    let verify = get(&browser, &server.at(page.location().unwrap())).await;
    let form = verify.form("/login/verify-email");
    let wrong = post(
        &browser,
        &server.at("/login/verify-email"),
        &form.with("code", "AAAA-BBBB-CCCC"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let code = server.mailed_code(&user.id).await;
    let done = post(
        &browser,
        &server.at("/login/verify-email"),
        &form.with("code", &code),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_code(&server, done.location().unwrap(), &redirect_uri);
    // A taken login name is refused with the reason.
    let other = server.browser();
    let login = login_page_url(&server, &other, &authorize).await;
    let id = query(&login)["authRequest"].clone();
    let form = get(
        &other,
        &server.at(&format!("/login/register?authRequest={id}")),
    )
    .await
    .form("/login/register");
    let mut fields = form.fields.clone();
    for (name, value) in [
        ("given_name", "Rita"),
        ("family_name", "Two"),
        ("email", "rita2@example.com"),
        ("login_name", "RITA"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ] {
        fields.retain(|(n, _)| n != name);
        fields.push((name.into(), value.into()));
    }
    let taken = post(&other, &server.at("/login/register"), &fields).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert!(taken.error().is_some());
}

/// Decodes RFC 4648 base32 (no padding).
fn base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

async fn a_forced_second_factor_enrols_totp(t: TestStore) {
    let server = Server::start_with(t, true).await;
    server.add_user("trudy").await;
    let (client_id, redirect_uri) = server.app().await;
    server
        .commands
        .for_caller(&server.system())
        .set_org_policy(
            &server.org_id,
            &Policy::Login(LoginPolicy {
                force_mfa: true,
                ..LoginPolicy::default()
            }),
        )
        .await
        .unwrap();
    let authorize = server.authorize_url(&client_id, &redirect_uri, "");
    let browser = server.browser();
    let login = login_page_url(&server, &browser, &authorize).await;
    let form = get(&browser, &login).await.form("/login");
    let page = post(
        &browser,
        &server.at("/login"),
        &form.with("login_name", "trudy"),
    )
    .await;
    let form = page.form("/login/password");
    let page = post(
        &browser,
        &server.at("/login/password"),
        &form.with("password", PASSWORD),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let otp = page.location().unwrap().to_owned();
    assert!(otp.starts_with("/login/otp"), "{otp}");
    // Not logged in before the second factor.
    let early = get(&browser, &authorize).await;
    assert!(early.location().unwrap().contains("/login?authRequest="));
    // The enrolment page shows a QR code and the secret.
    let page = get(&browser, &server.at(&otp)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<svg class=\"qr\""), "{}", page.body);
    let start = page.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let secret = &page.body[start..start + page.body[start..].find('<').unwrap()];
    let form = page.form("/login/otp");
    let wrong = post(
        &browser,
        &server.at("/login/otp"),
        &form.with("code", "000000"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // The wrong code replaced the enrolment: read the new secret.
    let start = wrong.body.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
    let secret2 = &wrong.body[start..start + wrong.body[start..].find('<').unwrap()];
    assert_ne!(secret, secret2);
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        base32(secret2),
        None,
        "trudy".into(),
    )
    .unwrap();
    let form = wrong.form("/login/otp");
    let done = post(
        &browser,
        &server.at("/login/otp"),
        &form.with("code", &totp.generate_current().unwrap()),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_code(&server, done.location().unwrap(), &redirect_uri);
    let types = server.event_types("session").await;
    assert!(
        types.contains(&"session.second_factor.checked".to_owned()),
        "{types:?}"
    );
    assert!(
        types.contains(&"session.second_factor.failed".to_owned()),
        "{types:?}"
    );
}

async fn a_password_reset_with_the_mailed_code(t: TestStore) {
    let server = Server::start_with(t, true).await;
    let victor = server.add_user("victor").await;
    let browser = server.browser();
    let page = get(&browser, &server.at("/login/reset?login_name=victor")).await;
    let form = page.form("/login/reset");
    assert_eq!(form.field("login_name"), Some("victor"));
    let sent = post(&browser, &server.at("/login/reset"), &form.fields).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.body.contains(warden_login::texts::EN.reset_sent));
    // An unknown login name reads the same.
    let unknown = post(
        &browser,
        &server.at("/login/reset"),
        &form.with("login_name", "nobody"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(unknown.body.contains(warden_login::texts::EN.reset_sent));

    let form = sent.form("/login/reset/password");
    let with = |code: &str| {
        let mut fields = form.with("code", code);
        fields.retain(|(n, _)| n != "password");
        fields.push(("password".into(), "New-Secret-42".into()));
        fields
    };
    let wrong = post(
        &browser,
        &server.at("/login/reset/password"),
        &with("AAAA-BBBB-CCCC"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        wrong.error().as_deref(),
        Some(warden_login::texts::EN.invalid_code)
    );
    let code = server.mailed_code(&victor).await;
    let done = post(&browser, &server.at("/login/reset/password"), &with(&code)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains(warden_login::texts::EN.reset_done));
    // The new password works, the old one does not.
    let fresh = server.browser();
    assert!(
        login_via_form(&fresh, &server.at("/login"), "victor", PASSWORD)
            .await
            .is_err()
    );
    let fresh = server.browser();
    let end = login_via_form(&fresh, &server.at("/login"), "victor", "New-Secret-42")
        .await
        .unwrap();
    assert!(end.ends_with("/login/signed-in"), "{end}");
}

/// Fills the registration form of a new authorization request in `browser`; returns the answer.
async fn register(
    server: &Server,
    browser: &reqwest::Client,
    authorize: &str,
    login_name: &str,
) -> support::Page {
    let login = login_page_url(server, browser, authorize).await;
    let id = query(&login)["authRequest"].clone();
    let form = get(
        browser,
        &server.at(&format!("/login/register?authRequest={id}")),
    )
    .await
    .form("/login/register");
    let mut fields = form.fields.clone();
    for (name, value) in [
        ("given_name", "Sam"),
        ("family_name", "Sample"),
        ("email", &format!("{login_name}@example.com")[..]),
        ("login_name", login_name),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ] {
        fields.retain(|(n, _)| n != name);
        fields.push((name.into(), value.into()));
    }
    post(browser, &server.at("/login/register"), &fields).await
}

async fn registration_runs_the_registration_actions(t: TestStore) {
    let server = Server::start_with(t, true).await;
    let (client_id, redirect_uri) = server.app().await;
    server
        .commands
        .for_caller(&server.system())
        .set_org_policy(
            &server.org_id,
            &Policy::Login(LoginPolicy {
                allow_register: true,
                ..LoginPolicy::default()
            }),
        )
        .await
        .unwrap();
    let authorize = server.authorize_url(&client_id, &redirect_uri, "");
    // post-creation: the example action records the address the user registered from.
    server
        .bind_org_claims("post_creation", "", "fail_closed")
        .await;
    let browser = server.browser();
    let page = register(&server, &browser, &authorize, "sam").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let sam = registered(&server, "sam").await;
    let user = server
        .commands
        .load::<warden_domain::user::User>(&server.instance_id, &sam.id)
        .await
        .unwrap();
    assert_eq!(
        user.state
            .metadata
            .get("created_from_ip")
            .map(String::as_str),
        Some("127.0.0.1")
    );
    // pre-registration: registrations only from 10.0.0.0/8 refuse this one, and create nobody.
    server
        .bind_org_claims("pre_registration", "10.0.0.0/8", "fail_closed")
        .await;
    let other = server.browser();
    let page = register(&server, &other, &authorize, "tom").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.error()
            .unwrap()
            .contains("not allowed from your network")
    );
    assert!(
        server
            .read_side
            .queries()
            .user_by_login_name(&server.instance_id, "tom")
            .await
            .unwrap()
            .is_none()
    );
}

/// The registered user `login_name` as the users view shows it, once the view has caught up with the
/// registration (the view is eventually consistent; the bound only stops a hang).
async fn registered(server: &Server, login_name: &str) -> warden_query::UserView {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let found = server
            .read_side
            .queries()
            .user_by_login_name(&server.instance_id, login_name)
            .await
            .unwrap();
        if let Some(user) = found {
            return user;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{login_name} is not in the users view"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether the user must still change its password, and how many times its password was set.
async fn password_state(server: &Server, user_id: &str) -> (bool, usize) {
    let user = server
        .commands
        .load::<warden_domain::user::User>(&server.instance_id, user_id)
        .await
        .unwrap();
    let required = user
        .state
        .human()
        .is_some_and(|h| h.password_change_required);
    let changes = server
        .event_types("user")
        .await
        .iter()
        .filter(|t| *t == "user.human.password.changed")
        .count();
    (required, changes)
}

async fn a_required_password_change_comes_before_the_code(t: TestStore) {
    let server = Server::start_with(t, true).await;
    let user_id = server.add_user_with("olga", true).await;
    let (client_id, redirect_uri) = server.app().await;
    let authorize = server.authorize_url(&client_id, &redirect_uri, "");
    let browser = server.browser();
    let login = login_page_url(&server, &browser, &authorize).await;
    let form = get(&browser, &login).await.form("/login");
    let page = post(
        &browser,
        &server.at("/login"),
        &form.with("login_name", "olga"),
    )
    .await;
    let form = page.form("/login/password");
    let page = post(
        &browser,
        &server.at("/login/password"),
        &form.with("password", PASSWORD),
    )
    .await;
    // The password was right, but the client gets no code yet: the change comes first.
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let change = page.location().unwrap().to_owned();
    assert!(
        change.starts_with("/login/password/change?authRequest="),
        "{change}"
    );
    let early = get(&browser, &authorize).await;
    assert_eq!(early.status, StatusCode::SEE_OTHER);
    assert!(
        early.location().unwrap().contains("/login?authRequest="),
        "no code while the password must be changed: {:?}",
        early.location()
    );
    let before = password_state(&server, &user_id).await;
    assert!(before.0);

    let page = get(&browser, &server.at(&change)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(warden_login::texts::EN.change_password_title),
        "{}",
        page.body
    );
    let form = page.form("/login/password/change");
    assert!(
        form.field("csrf").is_some_and(|v| !v.is_empty()),
        "{form:?}"
    );
    assert!(
        form.has("session_id") && form.has("authRequest"),
        "{form:?}"
    );

    // A new password too weak for the policy: the error sits on the field, nothing changes.
    let mut weak = form.with("password", "short");
    weak.retain(|(n, _)| n != "password_confirm");
    weak.push(("password_confirm".into(), "short".into()));
    let refused = post(&browser, &server.at("/login/password/change"), &weak).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"password-error\""),
        "the error is shown on the new password field: {}",
        refused.body
    );
    assert!(
        refused.body.contains("aria-describedby=\"password-error\""),
        "{}",
        refused.body
    );
    assert!(refused.error().is_some_and(|e| !e.is_empty()));
    assert_eq!(password_state(&server, &user_id).await, before);
    // Two different entries: nothing changes either.
    let new_password = "Brand-New-Passw0rd";
    let mut differ = form.with("password", new_password);
    differ.retain(|(n, _)| n != "password_confirm");
    differ.push(("password_confirm".into(), "Other-New-Passw0rd".into()));
    let refused = post(&browser, &server.at("/login/password/change"), &differ).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(
        refused.error().as_deref(),
        Some(warden_login::texts::EN.passwords_differ)
    );
    assert_eq!(password_state(&server, &user_id).await, before);
    // Without the CSRF token: refused, nothing changes.
    let mut forged = form.with("password", new_password);
    forged.retain(|(n, _)| n != "csrf" && n != "password_confirm");
    forged.push(("password_confirm".into(), new_password.into()));
    let refused = post(&browser, &server.at("/login/password/change"), &forged).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(password_state(&server, &user_id).await, before);
    // Another browser cannot use this session.
    let stranger = server.browser();
    let _ = get(&stranger, &server.at("/login")).await;
    let page = get(&stranger, &server.at(&change)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // A good new password: changed (by the user itself), and the client gets its code.
    let mut good = form.with("password", new_password);
    good.retain(|(n, _)| n != "password_confirm");
    good.push(("password_confirm".into(), new_password.into()));
    let done = post(&browser, &server.at("/login/password/change"), &good).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_code(&server, done.location().unwrap(), &redirect_uri);
    let after = password_state(&server, &user_id).await;
    assert!(!after.0, "no change required any more");
    assert_eq!(after.1, before.1 + 1);
    // The user changed it as itself: the audit trail names the user as the one who changed it.
    let sql = "SELECT creator FROM events WHERE event_type = 'user.human.password.changed' \
               AND aggregate_id = $1 ORDER BY position DESC LIMIT 1";
    let creator: String = match &server.store {
        warden_eventstore::Store::Sqlite(s) => {
            sqlx::query_scalar(sql)
                .bind(&user_id)
                .fetch_one(s.reader())
                .await
        }
        warden_eventstore::Store::Postgres(s) => {
            sqlx::query_scalar(sql)
                .bind(&user_id)
                .fetch_one(s.pool())
                .await
        }
    }
    .unwrap();
    assert_eq!(creator, user_id);
    // The session now counts for the provider: the next authorization needs no form.
    let again = get(&browser, &authorize).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_code(&server, again.location().unwrap(), &redirect_uri);

    // The next login goes straight through with the new password; the old one is gone.
    let end = login_via_form(&server.browser(), &authorize, "olga", new_password)
        .await
        .expect("login with the new password");
    assert_code(&server, &end, &redirect_uri);
    let old = login_via_form(&server.browser(), &authorize, "olga", PASSWORD).await;
    assert!(old.is_err(), "the old password no longer works");
}

/// `prompt=consent`: after the login the user sees the application and the scopes it asks for; Deny sends
/// `access_denied` with `state` and `iss` to the client, Allow its code; the form needs the CSRF token and the
/// browser's own session, and the page comes again with the next `prompt=consent` even with a session.
async fn prompt_consent_shows_the_consent_page(t: TestStore) {
    let server = Server::start_with(t, true).await;
    server.add_user("connie").await;
    let (client_id, redirect_uri) = server.app().await;
    let mut url = reqwest::Url::parse(&server.at("/oauth/v2/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid email offline_access")
        .append_pair("state", "st-123")
        .append_pair("prompt", "consent");
    let consent = url.to_string();
    let browser = server.browser();
    let login = login_page_url(&server, &browser, &consent).await;
    let page = get(&browser, &login).await;
    let form = page.form("/login");
    let page = post(
        &browser,
        &server.at("/login"),
        &form.with("login_name", "connie"),
    )
    .await;
    let form = page.form("/login/password");
    let page = post(
        &browser,
        &server.at("/login/password"),
        &form.with("password", PASSWORD),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let texts = warden_login::texts::EN;
    assert!(
        page.body.contains("Allow Shop to use your account?"),
        "the page names the application: {}",
        page.body
    );
    for (scope, text) in [
        ("openid", texts.scope_openid),
        ("email", texts.scope_email),
        ("offline_access", texts.scope_offline_access),
    ] {
        assert!(
            page.body.contains(&format!("data-scope=\"{scope}\"")) && page.body.contains(text),
            "{scope} is listed: {}",
            page.body
        );
    }
    assert!(!page.body.contains("data-scope=\"profile\""));
    assert!(!page.body.contains("<script"), "no script on the page");
    let decide = page.form("/login/consent");

    // Without the CSRF token nothing happens: the request is still pending.
    let mut forged = decide.with("decision", "allow");
    forged.retain(|(name, _)| name != "csrf");
    let refused = post(&browser, &server.at("/login/consent"), &forged).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    // Another browser cannot decide for this session.
    let stranger = server.browser();
    let own = get(&stranger, &server.at("/login")).await.form("/login");
    let mut theirs = decide.with("decision", "allow");
    for field in &mut theirs {
        if field.0 == "csrf" {
            field.1 = own.field("csrf").unwrap().to_owned();
        }
    }
    let theirs = post(&stranger, &server.at("/login/consent"), &theirs).await;
    assert_eq!(theirs.status, StatusCode::BAD_REQUEST, "{}", theirs.body);
    assert_eq!(theirs.error().as_deref(), Some(texts.session_expired));
    // A decision that is neither allow nor deny is refused, naming the field.
    let odd = post(
        &browser,
        &server.at("/login/consent"),
        &decide.with("decision", "maybe"),
    )
    .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
    assert!(
        odd.error().is_some_and(|e| e.contains("decision")),
        "{}",
        odd.body
    );

    // Deny: the client hears access_denied, with its state and the issuer.
    let denied = post(
        &browser,
        &server.at("/login/consent"),
        &decide.with("decision", "deny"),
    )
    .await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER, "{}", denied.body);
    let end = denied.location().unwrap();
    assert!(end.starts_with(&redirect_uri), "{end}");
    let q = query(end);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("access_denied"),
        "{end}"
    );
    assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
    assert_eq!(q.get("iss").map(String::as_str), Some(server.url.as_str()));
    assert!(!q.contains_key("code"));
    // The request is used up: a late Allow finds nothing.
    let late = post(
        &browser,
        &server.at("/login/consent"),
        &decide.with("decision", "allow"),
    )
    .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);

    // The browser has its session now: without prompt=consent the code comes at once ...
    let plain = server.authorize_url(&client_id, &redirect_uri, "");
    let direct = get(&browser, &plain).await;
    assert_eq!(direct.status, StatusCode::SEE_OTHER);
    assert_code(&server, direct.location().unwrap(), &redirect_uri);
    // ... with prompt=consent the page comes again (nothing is remembered), and Allow gives the code.
    let login = login_page_url(&server, &browser, &consent).await;
    let picker = get(&browser, &login).await;
    let chosen = picker.form("/login/select");
    let page = post(&browser, &server.at("/login/select"), &chosen.fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let allowed = post(
        &browser,
        &server.at("/login/consent"),
        &page.form("/login/consent").with("decision", "allow"),
    )
    .await;
    assert_eq!(allowed.status, StatusCode::SEE_OTHER, "{}", allowed.body);
    assert_code(&server, allowed.location().unwrap(), &redirect_uri);

    // The test aid answers the page too: allow by default, deny when asked.
    let end = login_via_form(&server.browser(), &consent, "connie", PASSWORD)
        .await
        .expect("login with consent");
    assert_code(&server, &end, &redirect_uri);
    let end = login_via_form_with(
        &server.browser(),
        &consent,
        "connie",
        PASSWORD,
        Steps {
            deny_consent: true,
            ..Steps::default()
        },
    )
    .await
    .expect("login denied by the user");
    assert_eq!(
        query(&end).get("error").map(String::as_str),
        Some("access_denied")
    );
}

/// `login_via_form_with` sets the new password of a user who must change it and ends at the client with a
/// code; without a new password it stops on that page and says why.
async fn the_test_aid_changes_a_required_password(t: TestStore) {
    let server = Server::start_with(t, true).await;
    server.add_user_with("rita", true).await;
    let (client_id, redirect_uri) = server.app().await;
    let authorize = server.authorize_url(&client_id, &redirect_uri, "");
    let stopped = login_via_form(&server.browser(), &authorize, "rita", PASSWORD).await;
    let error = stopped
        .expect_err("the password must be changed")
        .to_string();
    assert!(error.contains("must be changed"), "{error}");
    let new_password = "Fresh-Passw0rd-77";
    let end = login_via_form_with(
        &server.browser(),
        &authorize,
        "rita",
        PASSWORD,
        Steps {
            new_password: Some(new_password),
            ..Steps::default()
        },
    )
    .await
    .expect("login with the password change");
    assert_code(&server, &end, &redirect_uri);
    let end = login_via_form(&server.browser(), &authorize, "rita", new_password)
        .await
        .expect("the new password works");
    assert_code(&server, &end, &redirect_uri);
}
