//! The OpenID conformance suite's Basic OP and Config OP modules, reproduced: each test is named after the
//! module it follows and checks what that module checks, over real HTTP, on both backends. The login itself
//! is a browser session the test registers (the login pages are another crate's).

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{App, Env, pkce, query, start};
use serde_json::Value;
use warden_domain::application::{OidcAppType, OidcAuthMethod};
use warden_eventstore::testing::TestStore;

warden_eventstore::both_backends!(
    oidcc_server,
    oidcc_discovery_endpoint_verification,
    oidcc_client_secret_post,
    oidcc_response_type_missing,
    oidcc_idtoken_signature,
    oidcc_idtoken_unsigned,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
    oidcc_scope_all,
    oidcc_prompt_login,
    oidcc_prompt_none_not_logged_in,
    oidcc_prompt_none_logged_in,
    oidcc_max_age_1,
    oidcc_max_age_10000,
    oidcc_ensure_request_with_unknown_parameter_succeeds,
    oidcc_id_token_hint,
    oidcc_login_hint,
    oidcc_codereuse,
    oidcc_ensure_registered_redirect_uri,
    oidcc_ensure_post_request_succeeds,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported,
    oidcc_refresh_token,
    oidcc_ensure_request_with_valid_pkce_succeeds,
    pre_token_and_pre_userinfo_actions_add_claims,
    oidcc_idtoken_signature_per_client_alg,
);

/// A web app with a secret, a user with roles, and a browser logged in as that user (cookie `b1`).
async fn setup(t: TestStore) -> (Env, App, String) {
    let env = start(t).await;
    let app = env
        .app(OidcAppType::Web, OidcAuthMethod::Basic, false)
        .await;
    let user = env.human("ada", &["admin"]).await;
    env.log_in("b1", &user, 5);
    (env, app, user)
}

async fn exchange(env: &Env, app: &App, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", app.redirect_uri.as_str()),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    env.token(app, &form).await
}

async fn oidcc_server(t: TestStore) {
    let (env, app, user) = setup(t).await;
    let code = env.code(&app, "b1", None, "openid").await;
    let (status, body) = exchange(&env, &app, &code, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let claims = env
        .verify(body["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["azp"], app.client_id.as_str());
    assert!(claims["auth_time"].is_i64() && claims["iat"].is_i64() && claims["exp"].is_i64());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert!(claims["sid"].is_string());
    // at_hash binds the access token.
    let access = body["access_token"].as_str().unwrap();
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(access.as_bytes());
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    assert_eq!(claims["at_hash"], expected.as_str());
    assert_eq!(
        claims["urn:warden:project:roles"]["admin"][&env.org_id],
        env.org_id.as_str()
    );
}

async fn oidcc_discovery_endpoint_verification(t: TestStore) {
    let env = start(t).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = env
            .http
            .get(env.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["issuer"],
            env.base.as_str(),
            "issuer is the URL it was fetched under"
        );
        for endpoint in [
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
            "introspection_endpoint",
            "revocation_endpoint",
            "end_session_endpoint",
        ] {
            let url = doc[endpoint].as_str().unwrap();
            assert!(url.starts_with(&env.base), "{endpoint}: {url}");
        }
        let scopes = doc["scopes_supported"].as_array().unwrap();
        assert!(scopes.iter().any(|s| s == "openid"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        // Every advertised signing algorithm has a key in the JWKS, and every key names its algorithm.
        let jwks = env.jwks().await;
        for alg in doc["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
        {
            let alg = alg.as_str().unwrap();
            assert!(
                jwks.keys
                    .iter()
                    .any(|k| { serde_json::to_value(k).unwrap()["alg"] == alg }),
                "no {alg} key"
            );
        }
        assert!(jwks.keys.iter().all(|k| k.common.key_id.is_some()));
    }
}

async fn oidcc_client_secret_post(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let code = env.code(&app, "b1", None, "openid").await;
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", app.redirect_uri.as_str()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["id_token"].is_string());
}

async fn oidcc_response_type_missing(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("state", "s"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let q = query(&location.unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s");
    assert_eq!(q["iss"], env.base);
}

async fn oidcc_idtoken_signature(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let code = env.code(&app, "b1", None, "openid").await;
    let (_, body) = exchange(&env, &app, &code, None).await;
    let id_token = body["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "ID tokens default to RS256"
    );
    env.verify(id_token, &app.client_id).await;
    // A flipped signature byte fails.
    let mut tampered = id_token.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let jwks = env.jwks().await;
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&app.client_id]);
    assert!(jsonwebtoken::decode::<Value>(&tampered, &key, &validation).is_err());
}

async fn oidcc_idtoken_unsigned(t: TestStore) {
    // Warden never issues `alg: none`, and refuses such tokens wherever it reads one of its own.
    let (env, app, _) = setup(t).await;
    let code = env.code(&app, "b1", None, "openid").await;
    let (_, body) = exchange(&env, &app, &code, None).await;
    let access = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header: Value = serde_json::from_slice(&engine.decode(parts[0]).unwrap()).unwrap();
    header["alg"] = "none".into();
    let unsigned = format!("{}.{}.", engine.encode(header.to_string()), parts[1]);
    let (status, _) = env.userinfo(&unsigned).await;
    assert_eq!(status, 401, "alg none is refused");
    let discovery: Value = env
        .http
        .get(env.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !discovery["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "none")
    );
}

async fn tokens(env: &Env, app: &App, scope: &str) -> Value {
    let code = env.code(app, "b1", None, scope).await;
    let (status, body) = exchange(env, app, &code, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn oidcc_userinfo_get(t: TestStore) {
    let (env, app, user) = setup(t).await;
    let body = tokens(&env, &app, "openid profile email").await;
    let (status, info) = env.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], user.as_str());
    assert_eq!(info["name"], "Ada Lovelace");
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["email_verified"], true);
}

async fn oidcc_userinfo_post_header(t: TestStore) {
    let (env, app, user) = setup(t).await;
    let body = tokens(&env, &app, "openid").await;
    let response = env
        .http
        .post(env.url("/oauth/v2/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["sub"], user.as_str());
}

async fn oidcc_userinfo_post_body(t: TestStore) {
    let (env, app, user) = setup(t).await;
    let body = tokens(&env, &app, "openid").await;
    let response = env
        .http
        .post(env.url("/oauth/v2/userinfo"))
        .form(&[("access_token", body["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["sub"], user.as_str());
}

async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let code = query(&location.unwrap())["code"].clone();
    let (status, body) = exchange(&env, &app, &code, None).await;
    assert_eq!(status, 200);
    let claims = env
        .verify(body["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert!(claims.get("nonce").is_none());
}

async fn oidcc_scope_all(t: TestStore) {
    let (env, app, _) = setup(t).await;
    // Scopes in another order and all of them: profile, email, address, phone.
    let body = tokens(&env, &app, "phone address email profile openid").await;
    let (status, info) = env.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(info["given_name"], "Ada");
    assert_eq!(info["family_name"], "Lovelace");
    assert_eq!(info["preferred_username"], "ada");
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["phone_number"], "+41791234567");
    assert!(info["address"].is_object());
    // Without the scopes, none of those claims.
    let body = tokens(&env, &app, "openid").await;
    let (_, info) = env.userinfo(body["access_token"].as_str().unwrap()).await;
    assert!(
        info.get("email").is_none() && info.get("name").is_none(),
        "{info}"
    );
}

async fn oidcc_prompt_login(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("prompt", "login"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with("/login?authRequest="), "{location}");
    let id = location.trim_start_matches("/login?authRequest=");
    let request = env
        .provider
        .auth_requests()
        .get(&env.instance_id, id)
        .await
        .unwrap()
        .unwrap();
    assert!(request.forces_login());
    assert_eq!(request.client_id, app.client_id);
}

async fn oidcc_prompt_none_not_logged_in(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            None,
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("prompt", "none"),
                ("state", "xyz"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let q = query(&location.unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "xyz");
    assert!(!q.contains_key("code"));
}

async fn oidcc_prompt_none_logged_in(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("prompt", "none"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(query(&location.unwrap()).contains_key("code"));
}

async fn oidcc_max_age_1(t: TestStore) {
    let (env, app, _) = setup(t).await;
    // The session authenticated 5 s ago: max_age=1 sends the user to log in again.
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("max_age", "1"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(location.unwrap().starts_with("/login?authRequest="));
}

async fn oidcc_max_age_10000(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("max_age", "10000"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let code = query(&location.unwrap())["code"].clone();
    let (_, body) = exchange(&env, &app, &code, None).await;
    let claims = env
        .verify(body["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert!(
        claims["auth_time"].is_i64(),
        "auth_time is required with max_age"
    );
}

async fn oidcc_ensure_request_with_unknown_parameter_succeeds(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("extra", "foobar"),
                ("ui_locales", "de-CH en"),
                ("claims_locales", "de"),
                ("acr_values", "urn:example:loa:1"),
                ("display", "popup"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert!(query(&location.unwrap()).contains_key("code"));
}

async fn oidcc_id_token_hint(t: TestStore) {
    let (env, app, user) = setup(t).await;
    let body = tokens(&env, &app, "openid").await;
    let hint = body["id_token"].as_str().unwrap();
    // Another user is logged in on the same browser too: the hint picks the session of its subject.
    let other = env.human("grace", &[]).await;
    env.log_in("b1", &other, 1);
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("prompt", "none"),
                ("id_token_hint", hint),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let code = query(&location.unwrap())["code"].clone();
    let (_, body) = exchange(&env, &app, &code, None).await;
    let claims = env
        .verify(body["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert_eq!(claims["sub"], user.as_str());
    // A hint that is not an ID token of this provider is an error to the client.
    let (_, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("id_token_hint", "e30.e30.c2ln"),
            ],
        )
        .await;
    assert_eq!(query(&location.unwrap())["error"], "invalid_request");
}

async fn oidcc_login_hint(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            None,
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("login_hint", "ada@example.com"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    let id = location.trim_start_matches("/login?authRequest=");
    let request = env
        .provider
        .auth_requests()
        .get(&env.instance_id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.login_hint.as_deref(), Some("ada@example.com"));
}

async fn oidcc_codereuse(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    let (status, first) = exchange(&env, &app, &code, None).await;
    assert_eq!(status, 200);
    let (status, second) = exchange(&env, &app, &code, None).await;
    assert_eq!(status, 400);
    assert_eq!(second["error"], "invalid_grant");
    // oidcc-codereuse-30seconds: what the first exchange got is revoked.
    let (status, _) = env.userinfo(first["access_token"].as_str().unwrap()).await;
    assert_eq!(
        status, 401,
        "the access token of the first exchange is revoked"
    );
    let (status, refreshed) = env
        .token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 400, "{refreshed}");
}

async fn oidcc_ensure_registered_redirect_uri(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, body) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", "https://attacker.example.com/callback"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        location.is_none(),
        "never a redirect to an unregistered URI"
    );
    assert!(body.contains("redirect"), "{body}");
}

async fn oidcc_ensure_post_request_succeeds(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let response = env
        .http
        .post(env.url("/oauth/v2/authorize"))
        .header("cookie", "sid=b1")
        .form(&[
            ("response_type", "code"),
            ("client_id", app.client_id.as_str()),
            ("redirect_uri", app.redirect_uri.as_str()),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(query(&location).contains_key("code"));
}

async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    t: TestStore,
) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("request", "eyJhbGciOiJub25lIn0.e30."),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(query(&location.unwrap())["error"], "request_not_supported");
}

async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(t: TestStore) {
    let (env, app, _) = setup(t).await;
    let (status, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("request_uri", "https://rp.example.com/request.jwt"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(
        query(&location.unwrap())["error"],
        "request_uri_not_supported"
    );
}

async fn oidcc_refresh_token(t: TestStore) {
    let (env, app, user) = setup(t).await;
    let body = tokens(&env, &app, "openid offline_access").await;
    let first = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = env
        .token(
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let second = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(second, first, "refresh tokens rotate");
    let claims = env
        .verify(refreshed["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert_eq!(claims["sub"], user.as_str());
    let (status, _) = env
        .userinfo(refreshed["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
}

async fn oidcc_ensure_request_with_valid_pkce_succeeds(t: TestStore) {
    let env = start(t).await;
    let app = env
        .app(OidcAppType::UserAgent, OidcAuthMethod::None, false)
        .await;
    let user = env.human("ada", &[]).await;
    env.log_in("b1", &user, 5);
    let (verifier, challenge) = pkce();
    let code = env.code(&app, "b1", Some(&challenge), "openid").await;
    let (status, body) = exchange(&env, &app, &code, Some(&verifier)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
}

/// Not a conformance module: the pre-token and pre-userinfo actions of the plugin issue add claims to the ID
/// token and the userinfo response, never replacing reserved ones.
async fn pre_token_and_pre_userinfo_actions_add_claims(t: TestStore) {
    let (env, app, user) = setup(t).await;
    env.bind_org_claims("pre_token", "fail_closed").await;
    env.bind_org_claims("pre_userinfo", "fail_closed").await;
    let body = tokens(&env, &app, "openid").await;
    let claims = env
        .verify(body["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert_eq!(
        claims["organization"]["id"],
        env.org_id.as_str(),
        "{claims}"
    );
    assert_eq!(claims["organization"]["name"], "Acme");
    assert_eq!(claims["roles"], serde_json::json!(["admin"]));
    assert_eq!(claims["sub"], user.as_str());
    let (status, info) = env.userinfo(body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["organization"]["name"], "Acme", "{info}");
    assert_eq!(info["roles"], serde_json::json!(["admin"]));
}

/// What `at_hash` must be for an ID token signed with `alg` (OIDC Core §3.1.3.6: the left half of the hash of
/// the ID token's algorithm; SHA-512 for EdDSA with Ed25519, as relying-party libraries compute it).
fn expected_at_hash(access_token: &str, alg: jsonwebtoken::Algorithm) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    match alg {
        jsonwebtoken::Algorithm::EdDSA => {
            engine.encode(&sha2::Sha512::digest(access_token.as_bytes())[..32])
        }
        _ => engine.encode(&sha2::Sha256::digest(access_token.as_bytes())[..16]),
    }
}

/// The conformance suite's signature check for clients registered with `id_token_signed_response_alg`
/// ES256 and EdDSA (and an EdDSA access token): each token carries the chosen `alg`, verifies against the
/// JWKS with the key its `kid` names, and its `at_hash` follows that algorithm; the provider itself accepts
/// the access token at userinfo and introspection; discovery lists every algorithm; an app that chooses none
/// gets RS256 ID tokens and ES256 access tokens.
async fn oidcc_idtoken_signature_per_client_alg(t: TestStore) {
    use jsonwebtoken::Algorithm;
    use warden_domain::signing_key::SigningAlgorithm;
    let env = start(t).await;
    let user = env.human("ada", &["admin"]).await;
    env.log_in("b1", &user, 5);
    let discovery: Value = env
        .http
        .get(env.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(
            discovery["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == alg),
            "{alg} advertised: {discovery}"
        );
    }
    let cases = [
        (None, None, Algorithm::RS256, Algorithm::ES256),
        (
            Some(SigningAlgorithm::ES256),
            None,
            Algorithm::ES256,
            Algorithm::ES256,
        ),
        (
            Some(SigningAlgorithm::EdDSA),
            Some(SigningAlgorithm::EdDSA),
            Algorithm::EdDSA,
            Algorithm::EdDSA,
        ),
        (
            None,
            Some(SigningAlgorithm::RS256),
            Algorithm::RS256,
            Algorithm::RS256,
        ),
    ];
    for (id_alg, at_alg, want_id, want_at) in cases {
        let app = env
            .app_signing(
                OidcAppType::Web,
                OidcAuthMethod::Basic,
                false,
                id_alg,
                at_alg,
            )
            .await;
        let code = env.code(&app, "b1", None, "openid profile").await;
        let (status, body) = exchange(&env, &app, &code, None).await;
        assert_eq!(status, 200, "{body}");
        let id_token = body["id_token"].as_str().unwrap();
        let access = body["access_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.alg, want_id, "ID token of {id_alg:?}");
        let claims = env.verify(id_token, &app.client_id).await;
        assert_eq!(claims["sub"], user.as_str());
        assert_eq!(
            claims["at_hash"].as_str(),
            Some(expected_at_hash(access, want_id).as_str()),
            "at_hash with the hash of {want_id:?}"
        );
        let access_header = jsonwebtoken::decode_header(access).unwrap();
        assert_eq!(access_header.alg, want_at, "access token of {at_alg:?}");
        assert_eq!(access_header.typ.as_deref(), Some("at+jwt"));
        env.verify(access, &app.client_id).await;
        let (status, info) = env.userinfo(access).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["sub"], user.as_str());
        let seen = env
            .introspect(&app.client_id, app.secret.as_deref().unwrap(), access)
            .await;
        assert_eq!(seen["active"], true, "{seen}");
        // The ID token serves as id_token_hint whatever its algorithm.
        let (status, location, page) = env
            .authorize(
                Some("b1"),
                &[
                    ("response_type", "code"),
                    ("client_id", app.client_id.as_str()),
                    ("redirect_uri", app.redirect_uri.as_str()),
                    ("scope", "openid"),
                    ("prompt", "none"),
                    ("id_token_hint", id_token),
                ],
            )
            .await;
        assert_eq!(status, 303, "{page}");
        assert!(query(&location.unwrap()).contains_key("code"));
    }
}
