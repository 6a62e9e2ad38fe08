//! Attacks the provider must refuse (RFC 9700, Keycloak's and Kanidm's suites, ZITADEL's advisories), and the
//! machine-user grants, over real HTTP on both backends.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{App, Env, pkce, query, start};
use serde_json::{Value, json};
use warden_command::{Caller, NewMachineKey};
use warden_domain::{
    application::{AccessTokenType, ApiAuthMethod, OidcAppType, OidcAuthMethod},
    user::KeyFormat,
};
use warden_eventstore::testing::TestStore;

warden_eventstore::both_backends!(
    pkce_downgrade_and_wrong_verifier_are_refused,
    public_clients_must_use_pkce,
    redirect_uri_variants_are_refused_on_a_warden_page,
    native_apps_may_use_any_loopback_port,
    refresh_token_reuse_revokes_the_whole_chain,
    a_locked_user_stops_at_once,
    a_removed_app_stops_at_once,
    tokens_of_one_client_are_not_accepted_for_another,
    client_credentials_for_a_machine_user,
    jwt_bearer_with_a_machine_key,
    forged_tokens_are_refused,
    opaque_access_tokens_are_rows_revoked_at_once,
    end_session_redirects_only_to_registered_uris,
    token_endpoint_errors_follow_rfc_6749,
    rotated_keys_keep_verifying_until_their_tokens_expire,
    client_credentials_for_an_api_app,
    api_apps_introspect_the_tokens_of_their_project,
    another_master_key_cannot_open_the_signing_keys,
    prompt_consent_always_goes_to_the_login_pages,
    opaque_client_credentials_for_an_api_app,
    opaque_client_credentials_for_a_machine_user,
    cached_jwt_introspection_sees_revocation_lock_and_key_retirement_at_once,
    an_authorization_request_completes_once,
);

/// Two completions of one authorization request racing (a login form submitted twice, or on two nodes): one
/// gets a code, which works, and the other nothing; the request is gone afterwards.
async fn an_authorization_request_completes_once(t: TestStore) {
    let (env, app, user) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let params = [
        ("response_type", "code"),
        ("client_id", app.client_id.as_str()),
        ("redirect_uri", app.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "st-1"),
    ];
    // Without a session the browser goes to the login pages with the pending request.
    let (status, location, body) = env.authorize(None, &params).await;
    assert_eq!(status, 303, "{body}");
    let location = location.unwrap();
    let id = query(&env.url(&location))["authRequest"].clone();
    let session = env.log_in("b2", &user, 0);
    let requests = env.provider.auth_requests();
    let (first, second) = tokio::join!(
        requests.complete(&env.instance_id, &id, &session),
        requests.complete(&env.instance_id, &id, &session),
    );
    let mut codes = Vec::new();
    for outcome in [first, second] {
        match outcome {
            Ok(response) => {
                assert_eq!(response.status().as_u16(), 303);
                let to = response.headers()["location"].to_str().unwrap().to_owned();
                codes.push(query(&to)["code"].clone());
            }
            Err(err) => assert!(
                matches!(err, warden_oidc::OidcError::AuthRequestNotFound(_)),
                "{err}"
            ),
        }
    }
    assert_eq!(codes.len(), 1, "exactly one completion issues a code");
    let (status, body) = exchange(&env, &app, &codes[0], None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string(), "{body}");
    assert!(
        requests.get(&env.instance_id, &id).await.unwrap().is_none(),
        "the request is gone once completed"
    );
    assert!(matches!(
        requests.complete(&env.instance_id, &id, &session).await,
        Err(warden_oidc::OidcError::AuthRequestNotFound(_))
    ));
}

async fn setup(t: TestStore, app_type: OidcAppType, auth: OidcAuthMethod) -> (Env, App, String) {
    let env = start(t).await;
    let app = env.app(app_type, auth, false).await;
    let user = env.human("ada", &["reader"]).await;
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

async fn pkce_downgrade_and_wrong_verifier_are_refused(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let (verifier, challenge) = pkce();
    // A code issued with a challenge, redeemed without a verifier.
    let code = env.code(&app, "b1", Some(&challenge), "openid").await;
    let (status, body) = exchange(&env, &app, &code, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // With a wrong verifier.
    let code = env.code(&app, "b1", Some(&challenge), "openid").await;
    let (status, body) = exchange(&env, &app, &code, Some(&"x".repeat(43))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A verifier for a code issued without a challenge.
    let code = env.code(&app, "b1", None, "openid").await;
    let (status, _) = exchange(&env, &app, &code, Some(&verifier)).await;
    assert_eq!(status, 400);
    // The right verifier works.
    let code = env.code(&app, "b1", Some(&challenge), "openid").await;
    let (status, _) = exchange(&env, &app, &code, Some(&verifier)).await;
    assert_eq!(status, 200);
    // `plain` is not offered.
    let (_, location, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
                ("code_challenge", &verifier),
                ("code_challenge_method", "plain"),
            ],
        )
        .await;
    assert_eq!(query(&location.unwrap())["error"], "invalid_request");
}

async fn public_clients_must_use_pkce(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::UserAgent, OidcAuthMethod::None).await;
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
    assert_eq!(query(&location.unwrap())["error"], "invalid_request");
}

async fn redirect_uri_variants_are_refused_on_a_warden_page(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    for uri in [
        "https://rp.example.com/callback?extra=1",
        "https://rp.example.com/callback#fragment",
        "http://rp.example.com/callback",
        "https://rp.example.com:8443/callback",
        "https://rp.example.com/callback/",
        "https://rp.example.com.evil.example/callback",
    ] {
        let (status, location, body) = env
            .authorize(
                Some("b1"),
                &[
                    ("response_type", "code"),
                    ("client_id", &app.client_id),
                    ("redirect_uri", uri),
                    ("scope", "openid"),
                ],
            )
            .await;
        assert_eq!(status, 400, "{uri}");
        assert!(location.is_none(), "{uri}: no redirect");
        assert!(body.contains("<html"), "{uri}: an HTML page on Warden");
    }
    // An unknown client too.
    let (status, location, _) = env
        .authorize(
            None,
            &[
                ("response_type", "code"),
                ("client_id", "no-such-client"),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!((status, location), (400, None));
}

async fn native_apps_may_use_any_loopback_port(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Native, OidcAuthMethod::None).await;
    let (_, challenge) = pkce();
    let (status, location, body) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", "http://127.0.0.1:49152/callback"),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(
        location
            .unwrap()
            .starts_with("http://127.0.0.1:49152/callback?code=")
    );
    let (status, _, _) = env
        .authorize(
            Some("b1"),
            &[
                ("response_type", "code"),
                ("client_id", &app.client_id),
                ("redirect_uri", "http://localhost:49152/callback"),
                ("scope", "openid"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(status, 400, "only the loopback IP literals");
}

async fn refresh_token_reuse_revokes_the_whole_chain(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    let (_, first) = exchange(&env, &app, &code, None).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = env
        .token(
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(status, 200);
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    // The old token comes back: a thief or a replay. Both tokens die, and so do the access tokens.
    let (status, body) = env
        .token(
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = env
        .token(
            &app,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .await;
    assert_eq!(status, 400, "the newest token of the chain is revoked too");
    let (status, _) = env.userinfo(second["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
}

async fn a_locked_user_stops_at_once(t: TestStore) {
    let (env, app, user) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    let (_, tokens) = exchange(&env, &app, &code, None).await;
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .lock_user(&user)
        .await
        .unwrap();
    let (status, body) = env
        .token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = env.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    let introspected = env
        .introspect(
            &app.client_id,
            app.secret.as_deref().unwrap(),
            tokens["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(introspected["active"], false);
    // A new login of the locked user gets no code.
    let (_, location, _) = env
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
    assert_eq!(query(&location.unwrap())["error"], "access_denied");
}

async fn a_removed_app_stops_at_once(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    let (_, tokens) = exchange(&env, &app, &code, None).await;
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .remove_app(&app.app_id)
        .await
        .unwrap();
    let (status, _) = env
        .token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert!(status == 400 || status == 401, "{status}");
    let (status, _) = env.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
}

async fn tokens_of_one_client_are_not_accepted_for_another(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let other = env
        .app(OidcAppType::Web, OidcAuthMethod::Basic, false)
        .await;
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    // Another client cannot redeem the code...
    let (status, _) = exchange(&env, &other, &code, None).await;
    assert_eq!(status, 400);
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    let (_, tokens) = exchange(&env, &app, &code, None).await;
    // ...nor the refresh token...
    let (status, _) = env
        .token(
            &other,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 400);
    // ...and a machine user outside the token's audience sees it inactive.
    let (_, login, secret) = env.machine("probe").await;
    let seen = env
        .introspect(&login, &secret, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(seen["active"], false);
    let seen = env
        .introspect(
            &app.client_id,
            app.secret.as_deref().unwrap(),
            tokens["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(seen["active"], true, "{seen}");
    // The ID token's audience and authorized party are the client that asked.
    let claims = env
        .verify(tokens["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert_eq!(claims["aud"], json!([app.client_id]));
}

async fn client_credentials_for_a_machine_user(t: TestStore) {
    let env = start(t).await;
    let (user_id, login, secret) = env.machine("billing-bot").await;
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .basic_auth(&login, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "urn:warden:api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let claims = env.verify(access, &user_id).await;
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["client_id"], user_id.as_str());
    assert!(claims["jti"].is_string());
    assert_eq!(claims["scope"], "urn:warden:api");
    // The user id works as client id too, and client_secret_post as the method.
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", user_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Introspection by the machine user itself.
    let seen = env.introspect(&login, &secret, access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], user_id.as_str());
    // The management API accepts the token for this user.
    let subject = env
        .provider
        .authenticate_access_token(&env.instance_id, access)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subject.user_id, user_id);
    // A wrong secret: 401 with a Basic challenge.
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .basic_auth(&login, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    // Deactivated: no more tokens, and the issued one is inactive at once.
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .deactivate_user(&user_id)
        .await
        .unwrap();
    let seen = env.introspect(&login, &secret, access).await;
    assert_eq!(seen["active"], false);
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, access)
            .await
            .unwrap()
            .is_none()
    );
}

async fn jwt_bearer_with_a_machine_key(t: TestStore) {
    use p256::pkcs8::EncodePrivateKey as _;
    let env = start(t).await;
    let (user_id, _, _) = env.machine("deploy-bot").await;
    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&bytes[33..65]),
    });
    let caller = Caller::system(&env.instance_id);
    let added = env
        .commands
        .for_caller(&caller)
        .add_machine_key(
            &user_id,
            &NewMachineKey {
                format: KeyFormat::Jwk,
                public_key: jwk.to_string(),
                expires_at_unix_ms: 4_000_000_000_000,
            },
        )
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let encoding = jsonwebtoken::EncodingKey::from_ec_der(key.to_pkcs8_der().unwrap().as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(added.key_id.clone());
    let assertion = |aud: &str| {
        jsonwebtoken::encode(
            &header,
            &json!({ "iss": user_id, "sub": user_id, "aud": aud, "iat": now, "exp": now + 60 }),
            &encoding,
        )
        .unwrap()
    };
    let grant = |assertion: String| {
        env.http
            .post(env.url("/oauth/v2/token"))
            .form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned(),
                ),
                ("assertion", assertion),
                ("scope", "openid".to_owned()),
            ])
            .send()
    };
    let response = grant(assertion(&env.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = env
        .verify(body["access_token"].as_str().unwrap(), &user_id)
        .await;
    assert_eq!(claims["sub"], user_id.as_str());
    // Another audience, or a key the user does not have, is refused.
    let response = grant(assertion("https://elsewhere.example.com"))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let other = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let forged = jsonwebtoken::encode(
        &header,
        &json!({ "iss": user_id, "sub": user_id, "aud": env.base, "exp": now + 60 }),
        &jsonwebtoken::EncodingKey::from_ec_der(other.to_pkcs8_der().unwrap().as_bytes()),
    )
    .unwrap();
    assert_eq!(grant(forged).await.unwrap().status(), 400);
    // A grant assertion valid for longer than an hour is refused; one with a `jti` is accepted once.
    let signed = |claims: Value| jsonwebtoken::encode(&header, &claims, &encoding).unwrap();
    let base = json!({ "iss": user_id, "sub": user_id, "aud": env.base, "iat": now });
    let with = |extra: Value| {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let long = signed(with(json!({ "exp": now + 7200 })));
    assert_eq!(grant(long).await.unwrap().status(), 400);
    let once = signed(with(json!({ "exp": now + 60, "jti": "grant-1" })));
    assert_eq!(grant(once.clone()).await.unwrap().status(), 200);
    assert_eq!(grant(once).await.unwrap().status(), 400, "grant replayed");

    // The same key authenticates the machine user as a client (`private_key_jwt`), where a `jti` is required
    // and each assertion is accepted once.
    let as_client = |assertion: String| {
        env.http
            .post(env.url("/oauth/v2/token"))
            .form(&[
                ("grant_type", "client_credentials".to_owned()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ),
                ("client_assertion", assertion),
                ("scope", "openid".to_owned()),
            ])
            .send()
    };
    let good = signed(with(json!({ "exp": now + 60, "jti": "client-1" })));
    let response = as_client(good.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let claims = env
        .verify(body["access_token"].as_str().unwrap(), &user_id)
        .await;
    assert_eq!(claims["sub"], user_id.as_str());
    for (case, assertion) in [
        ("replayed", good),
        ("no jti", signed(with(json!({ "exp": now + 60 })))),
        (
            "valid for too long",
            signed(with(json!({ "exp": now + 7200, "jti": "client-2" }))),
        ),
        (
            "issued in the future",
            signed(with(
                json!({ "exp": now + 60, "iat": now + 600, "jti": "client-3" }),
            )),
        ),
    ] {
        let response = as_client(assertion).await.unwrap();
        assert_eq!(response.status(), 401, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{case}");
    }
}

async fn forged_tokens_are_refused(t: TestStore) {
    let env = start(t).await;
    let (user_id, login, secret) = env.machine("bot").await;
    let response: Value = env
        .http
        .post(env.url("/oauth/v2/token"))
        .basic_auth(&login, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "openid urn:warden:api"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = response["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    // HS256 "signed" with the public key as the HMAC secret.
    let jwks = env.jwks().await;
    let jwk = serde_json::to_vec(jwks.find(header["kid"].as_str().unwrap()).unwrap()).unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let hs = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&jwk).unwrap(),
    )
    .unwrap();
    // `alg: none`.
    let none_header = json!({ "alg": "none", "kid": header["kid"], "typ": "at+jwt" });
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(none_header.to_string()),
        parts[1]
    );
    // Claims changed under the original signature.
    let mut changed = claims.clone();
    changed["sub"] = "someone-else".into();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(changed.to_string()),
        parts[2]
    );
    for forged in [hs, none, swapped] {
        assert!(
            env.provider
                .authenticate_access_token(&env.instance_id, &forged)
                .await
                .unwrap()
                .is_none(),
            "{forged}"
        );
        let (status, _) = env.userinfo(&forged).await;
        assert_eq!(status, 401);
        let seen = env.introspect(&login, &secret, &forged).await;
        assert_eq!(seen["active"], false);
    }
    // The genuine token still works.
    let subject = env
        .provider
        .authenticate_access_token(&env.instance_id, access)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subject.user_id, user_id);
}

async fn opaque_access_tokens_are_rows_revoked_at_once(t: TestStore) {
    let env = start(t).await;
    let app = env.app(OidcAppType::Web, OidcAuthMethod::Post, true).await;
    let user = env.human("ada", &[]).await;
    env.log_in("b1", &user, 5);
    let code = env.code(&app, "b1", None, "openid").await;
    let response: Value = env
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
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = response["access_token"].as_str().unwrap();
    assert!(
        access.starts_with("wdn_at_") && !access.contains('.'),
        "opaque: {access}"
    );
    let (status, info) = env.userinfo(access).await;
    assert_eq!((status, info["sub"].as_str()), (200, Some(user.as_str())));
    let seen = env
        .introspect(&app.client_id, app.secret.as_deref().unwrap(), access)
        .await;
    assert_eq!(seen["active"], true);
    let revoked = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .form(&[
            ("token", access),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _) = env.userinfo(access).await;
    assert_eq!(status, 401);
    let seen = env
        .introspect(&app.client_id, app.secret.as_deref().unwrap(), access)
        .await;
    assert_eq!(seen["active"], false);
    // Revoking an unknown token is fine (RFC 7009 §2.2).
    let unknown = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .form(&[
            ("token", "no-such-token"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200);
}

async fn end_session_redirects_only_to_registered_uris(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let code = env.code(&app, "b1", None, "openid").await;
    let (_, tokens) = exchange(&env, &app, &code, None).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let response = env
        .http
        .get(env.url("/oauth/v2/end_session"))
        .header("cookie", "sid=b1")
        .query(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://rp.example.com/bye"),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "https://rp.example.com/bye?state=bye-1"
    );
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("sid=;")
    );
    let terminated = env.sessions.terminated.lock().unwrap().clone();
    assert_eq!(terminated.len(), 1);
    assert!(terminated[0].as_deref().unwrap().starts_with("session-b1-"));
    // The browser has no session any more: prompt=none answers login_required.
    let (_, location, _) = env
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
    assert_eq!(query(&location.unwrap())["error"], "login_required");
    // An unregistered target, or one without a client to check it against: a page, no redirect.
    for params in [
        vec![
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ],
        vec![("post_logout_redirect_uri", "https://rp.example.com/bye")],
    ] {
        let response = env
            .http
            .get(env.url("/oauth/v2/end_session"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
    }
}

async fn token_endpoint_errors_follow_rfc_6749(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let post = |form: Vec<(&'static str, String)>| {
        env.http
            .post(env.url("/oauth/v2/token"))
            .basic_auth(&app.client_id, app.secret.as_deref())
            .form(&form)
            .send()
    };
    let response = post(vec![("grant_type", "password".into())]).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    assert!(body["error_description"].is_string());
    let body: Value = post(vec![]).await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    let body: Value = post(vec![
        ("grant_type", "authorization_code".into()),
        ("code", "bogus".into()),
        ("redirect_uri", app.redirect_uri.clone()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // A repeated parameter.
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .basic_auth(&app.client_id, app.secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn rotated_keys_keep_verifying_until_their_tokens_expire(t: TestStore) {
    let env = start(t).await;
    let (user_id, login, secret) = env.machine("rotating-bot").await;
    let issue = || async {
        let body: Value = env
            .http
            .post(env.url("/oauth/v2/token"))
            .basic_auth(&login, Some(&secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "urn:warden:api"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let before = issue().await;
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    // A second node, configured to rotate at once, rotates every algorithm's key in the shared ring.
    let mut config = warden_oidc::ProviderConfig::new(&env.base, env.master_key.clone());
    config.keys.rotation_period = std::time::Duration::ZERO;
    let other = warden_oidc::Provider::new(
        config,
        env.commands.clone(),
        env.read.queries().clone(),
        env.store(),
    );
    other.ensure_keys(&env.instance_id).await.unwrap();
    // The old key still verifies the token it signed, on the node that rotated...
    let subject = other
        .authenticate_access_token(&env.instance_id, &before)
        .await
        .unwrap()
        .expect("a token of the retired key verifies");
    assert_eq!(subject.user_id, user_id);
    // The ring now holds a new active key per algorithm; the retired ones keep verifying.
    let ring_events = warden_eventstore::Eventstore::read_aggregate(
        env.store(),
        &warden_eventstore::AggregateKey::new(&env.instance_id, "signing_key", &env.instance_id),
        0,
    )
    .await
    .unwrap();
    let retired = ring_events
        .iter()
        .filter(|e| e.event_type == "signing_key.retired")
        .count();
    assert_eq!(retired, 3, "one retired key per algorithm");
    let new_kid = ring_events
        .iter()
        .rev()
        .filter(|e| e.event_type == "signing_key.activated")
        .find_map(|e| e.payload["kid"].as_str().map(str::to_owned))
        .unwrap();
    assert_ne!(new_kid, old_kid);
    let seen = env.introspect(&login, &secret, &before).await;
    assert_eq!(
        seen["active"], true,
        "the first node still accepts the old key's token"
    );
}

/// `POST /oauth/v2/token` with `grant_type=client_credentials` as `client_id`/`secret` (Basic).
async fn client_credentials(
    env: &Env,
    client_id: &str,
    secret: &str,
    scope: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An API application with a secret gets its own access token by client credentials: `sub` = `client_id` =
/// the app's client id, audience the app and its project; scopes that need a user are refused; the token is
/// introspectable by the app, never accepted by the management API or userinfo, and stops working when the app
/// is deactivated. OIDC apps and API apps without a secret get no such token.
async fn client_credentials_for_an_api_app(t: TestStore) {
    let env = start(t).await;
    let api = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let secret = api.secret.clone().unwrap();
    let (status, body) =
        client_credentials(&env, &api.client_id, &secret, Some("orders:read")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders:read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = body["access_token"].as_str().unwrap();
    let claims = env.verify(access, &api.client_id).await;
    assert_eq!(claims["sub"], api.client_id.as_str());
    assert_eq!(claims["client_id"], api.client_id.as_str());
    assert_eq!(claims["aud"], json!([api.client_id, env.project_id]));
    assert_eq!(claims["scope"], "orders:read");

    let seen = env.introspect(&api.client_id, &secret, access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], api.client_id.as_str());
    assert_eq!(seen["client_id"], api.client_id.as_str());
    assert!(seen.get("username").is_none(), "no user behind it: {seen}");
    // Not a user: the management API and userinfo refuse it.
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, access)
            .await
            .unwrap()
            .is_none()
    );
    let (status, _) = env.userinfo(access).await;
    assert_eq!(status, 403);

    for scope in [
        "openid",
        "offline_access",
        "urn:warden:api",
        "orders:read email",
    ] {
        let (status, body) = client_credentials(&env, &api.client_id, &secret, Some(scope)).await;
        assert_eq!(status, 400, "{scope}: {body}");
        assert_eq!(body["error"], "invalid_scope", "{scope}");
        assert!(
            body["error_description"].as_str().unwrap().contains('`'),
            "{body}"
        );
    }
    let (status, body) = client_credentials(&env, &api.client_id, "wrong", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // An OIDC web app with a secret: not for this grant.
    let web = env
        .app(OidcAppType::Web, OidcAuthMethod::Basic, false)
        .await;
    let (status, body) =
        client_credentials(&env, &web.client_id, web.secret.as_deref().unwrap(), None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "unauthorized_client");
    // An API app authenticating with keys has no secret to present.
    let keyed = env
        .api_app(&env.project_id, ApiAuthMethod::PrivateKeyJwt)
        .await;
    assert!(keyed.secret.is_none());
    let (status, body) = client_credentials(&env, &keyed.client_id, "anything", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // Deactivated: no new token, and the issued one is inactive at once.
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .deactivate_app(&api.app_id)
        .await
        .unwrap();
    let (status, _) = client_credentials(&env, &api.client_id, &secret, None).await;
    assert_eq!(status, 401);
    let other = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let seen = env
        .introspect(&other.client_id, other.secret.as_deref().unwrap(), access)
        .await;
    assert_eq!(seen["active"], false, "{seen}");
}

/// RFC 7662 resource servers are API apps: one authenticated with its secret sees the active tokens whose
/// audience is its project (a user's token from an OIDC app of the project, another API app's token), and
/// nothing of another project.
async fn api_apps_introspect_the_tokens_of_their_project(t: TestStore) {
    let (env, app, user) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let code = env.code(&app, "b1", None, "openid").await;
    let (_, body) = exchange(&env, &app, &code, None).await;
    let user_token = body["access_token"].as_str().unwrap().to_owned();
    let resource = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let peer = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let (status, body) =
        client_credentials(&env, &peer.client_id, peer.secret.as_deref().unwrap(), None).await;
    assert_eq!(status, 200, "{body}");
    let peer_token = body["access_token"].as_str().unwrap().to_owned();
    let secret = resource.secret.as_deref().unwrap();
    let seen = env
        .introspect(&resource.client_id, secret, &user_token)
        .await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], user.as_str());
    assert_eq!(seen["username"], "ada");
    assert_eq!(seen["client_id"], app.client_id.as_str());
    let seen = env
        .introspect(&resource.client_id, secret, &peer_token)
        .await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], peer.client_id.as_str());

    let caller = Caller::system(&env.instance_id);
    let elsewhere = env
        .commands
        .for_caller(&caller)
        .add_project(&env.org_id, "Elsewhere")
        .await
        .unwrap()
        .id;
    let stranger = env.api_app(&elsewhere, ApiAuthMethod::Basic).await;
    let stranger_secret = stranger.secret.as_deref().unwrap();
    for token in [&user_token, &peer_token] {
        let seen = env
            .introspect(&stranger.client_id, stranger_secret, token)
            .await;
        assert_eq!(seen, json!({ "active": false }));
    }
    // A wrong secret is a failed client authentication, not an inactive token.
    let response = env
        .http
        .post(env.url("/oauth/v2/introspect"))
        .basic_auth(&resource.client_id, Some("wrong"))
        .form(&[("token", user_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// A provider given another master key than the one the stored signing keys were sealed with cannot load
/// them and says so (the server refuses to start on this error).
async fn another_master_key_cannot_open_the_signing_keys(t: TestStore) {
    let env = start(t).await;
    let other = warden_oidc::Provider::new(
        warden_oidc::ProviderConfig::new(&env.base, warden_oidc::MasterKey::generate().unwrap()),
        env.commands.clone(),
        env.read.queries().clone(),
        env.store(),
    );
    let error = other
        .ensure_keys(&env.instance_id)
        .await
        .expect_err("another master key");
    assert!(
        matches!(error, warden_oidc::OidcError::MasterKeyMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("WARDEN_MASTER_KEY"), "{error}");
    // At start, keys that exist are loaded at once, so the server refuses to start rather than serve unsigned.
    let error = other
        .start_keys(&env.instance_id)
        .await
        .expect_err("another master key at start");
    assert!(
        matches!(error, warden_oidc::OidcError::MasterKeyMismatch { .. }),
        "{error:?}"
    );
    // The same master key loads them.
    let same = warden_oidc::Provider::new(
        warden_oidc::ProviderConfig::new(&env.base, env.master_key.clone()),
        env.commands.clone(),
        env.read.queries().clone(),
        env.store(),
    );
    same.ensure_keys(&env.instance_id).await.unwrap();
}

/// `prompt=consent` never completes at once, even with exactly one usable session: the browser goes to the
/// login pages, which ask for the consent. `prompt=none consent` is a contradiction.
async fn prompt_consent_always_goes_to_the_login_pages(t: TestStore) {
    let (env, app, _) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let params = [
        ("response_type", "code"),
        ("client_id", app.client_id.as_str()),
        ("redirect_uri", app.redirect_uri.as_str()),
        ("scope", "openid"),
        ("state", "s"),
    ];
    let (status, location, _) = env.authorize(Some("b1"), &params).await;
    assert_eq!(status, 303);
    assert!(
        query(&location.unwrap()).contains_key("code"),
        "one session: a code at once"
    );
    let mut consent = params.to_vec();
    consent.push(("prompt", "consent"));
    let (status, location, _) = env.authorize(Some("b1"), &consent).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with("/login?authRequest="), "{location}");
    let mut contradiction = params.to_vec();
    contradiction.push(("prompt", "none consent"));
    let (status, location, _) = env.authorize(Some("b1"), &contradiction).await;
    assert_eq!(status, 303);
    let q = query(&location.unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
}

/// Whether the provider's table holds a row for `token`, found by its SHA-256 (never the token itself).
async fn stored(env: &Env, token: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    let db = warden_spooler::Db::of(env.store());
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let by_hash = db
        .fetch_optional(
            "SELECT kind FROM oidc_tokens WHERE instance_id = $1 AND token_hash = $2",
            &warden_spooler::params![env.instance_id.as_str(), hash.as_str()],
        )
        .await
        .unwrap();
    let by_value = db
        .fetch_optional(
            "SELECT kind FROM oidc_tokens WHERE token_hash = $1",
            &warden_spooler::params![token],
        )
        .await
        .unwrap();
    assert!(by_value.is_none(), "the token itself is never stored");
    by_hash.is_some_and(|row| row.get::<String>("kind").unwrap() == "access")
}

/// An API application configured with opaque access tokens gets a stored token by client credentials:
/// introspectable by the app and its project's resource servers, revocable at once, and inactive at once
/// when the app is deactivated.
async fn opaque_client_credentials_for_an_api_app(t: TestStore) {
    let env = start(t).await;
    let api = env
        .api_app_with(
            &env.project_id,
            ApiAuthMethod::Basic,
            AccessTokenType::Opaque,
        )
        .await;
    let secret = api.secret.clone().unwrap();
    let (status, body) =
        client_credentials(&env, &api.client_id, &secret, Some("orders:read")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "orders:read");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(
        access.starts_with("wdn_at_") && !access.contains('.'),
        "opaque: {access}"
    );
    assert!(stored(&env, &access).await, "a durable row");
    let seen = env.introspect(&api.client_id, &secret, &access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], api.client_id.as_str());
    assert_eq!(seen["client_id"], api.client_id.as_str());
    assert_eq!(seen["aud"], json!([api.client_id, env.project_id]));
    assert_eq!(seen["scope"], "orders:read");
    assert!(seen.get("username").is_none(), "no user behind it: {seen}");
    let resource = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let resource_secret = resource.secret.clone().unwrap();
    let seen = env
        .introspect(&resource.client_id, &resource_secret, &access)
        .await;
    assert_eq!(
        seen["active"], true,
        "a resource server of the project: {seen}"
    );
    // Not a user: the management API and userinfo refuse it.
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, &access)
            .await
            .unwrap()
            .is_none()
    );
    let (status, _) = env.userinfo(&access).await;
    assert_eq!(status, 403);

    // Revoked by the app: inactive at once, for everyone.
    let revoked = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .basic_auth(&api.client_id, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    for (client_id, secret) in [
        (&api.client_id, &secret),
        (&resource.client_id, &resource_secret),
    ] {
        let seen = env.introspect(client_id, secret, &access).await;
        assert_eq!(seen, json!({ "active": false }));
    }

    // Another client cannot revoke the app's token.
    let (_, body) = client_credentials(&env, &api.client_id, &secret, None).await;
    let second = body["access_token"].as_str().unwrap().to_owned();
    assert!(second.starts_with("wdn_at_"), "{second}");
    let response = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .basic_auth(&resource.client_id, Some(&resource_secret))
        .form(&[("token", second.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = env.introspect(&api.client_id, &secret, &second).await;
    assert_eq!(seen["active"], true, "{seen}");

    // Deactivated: no new token, and the issued one is inactive at once.
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .deactivate_app(&api.app_id)
        .await
        .unwrap();
    let (status, _) = client_credentials(&env, &api.client_id, &secret, None).await;
    assert_eq!(status, 401);
    let seen = env
        .introspect(&resource.client_id, &resource_secret, &second)
        .await;
    assert_eq!(seen, json!({ "active": false }));
    // Reactivated: the token works again (it was not revoked), as a JWT of the app would.
    env.commands
        .for_caller(&caller)
        .reactivate_app(&api.app_id)
        .await
        .unwrap();
    let seen = env
        .introspect(&resource.client_id, &resource_secret, &second)
        .await;
    assert_eq!(seen["active"], true, "{seen}");
    // Removed: inactive for good.
    env.commands
        .for_caller(&caller)
        .remove_app(&api.app_id)
        .await
        .unwrap();
    let seen = env
        .introspect(&resource.client_id, &resource_secret, &second)
        .await;
    assert_eq!(seen, json!({ "active": false }));
}

/// A machine user configured with opaque access tokens gets a stored token by client credentials: it
/// introspects it, the management API accepts it, revoking it or deactivating the user stops it at once.
async fn opaque_client_credentials_for_a_machine_user(t: TestStore) {
    let env = start(t).await;
    let (user_id, login, secret) = env.machine_with("vault-bot", AccessTokenType::Opaque).await;
    let (status, body) = client_credentials(&env, &login, &secret, Some("urn:warden:api")).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert!(access.starts_with("wdn_at_"), "opaque: {access}");
    assert!(stored(&env, &access).await, "a durable row");
    let seen = env.introspect(&login, &secret, &access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["sub"], user_id.as_str());
    assert_eq!(seen["client_id"], user_id.as_str());
    assert_eq!(seen["username"], "vault-bot");
    let subject = env
        .provider
        .authenticate_access_token(&env.instance_id, &access)
        .await
        .unwrap()
        .expect("the management API accepts it");
    assert_eq!(subject.user_id, user_id);
    // Someone else's machine user sees it inactive.
    let (_, other_login, other_secret) = env.machine("probe").await;
    let seen = env.introspect(&other_login, &other_secret, &access).await;
    assert_eq!(seen, json!({ "active": false }));

    // Revoked: inactive at once, everywhere.
    let revoked = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .basic_auth(&login, Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let seen = env.introspect(&login, &secret, &access).await;
    assert_eq!(seen, json!({ "active": false }));
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, &access)
            .await
            .unwrap()
            .is_none()
    );

    // Deactivated: no new token, and the issued one is inactive at once.
    let (_, body) = client_credentials(&env, &login, &secret, Some("urn:warden:api")).await;
    let second = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        env.introspect(&login, &secret, &second).await["active"],
        true
    );
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .deactivate_user(&user_id)
        .await
        .unwrap();
    let (status, _) = client_credentials(&env, &login, &secret, None).await;
    assert_eq!(status, 400);
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, &second)
            .await
            .unwrap()
            .is_none()
    );

    // Switched back to JWT, a machine user gets JWTs again.
    env.commands
        .for_caller(&caller)
        .reactivate_user(&user_id)
        .await
        .unwrap();
    env.commands
        .for_caller(&caller)
        .change_machine_user(&user_id, "vault-bot", "", Some(AccessTokenType::Jwt))
        .await
        .unwrap();
    let (status, body) = client_credentials(&env, &login, &secret, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["access_token"].as_str().unwrap().contains('.'),
        "a JWT: {body}"
    );
}

/// A JWT access token presented again is answered from the cache of verified tokens, and the cache never
/// outlives what makes the token inactive: a locked user, a revoked grant, a retired signing key.
async fn cached_jwt_introspection_sees_revocation_lock_and_key_retirement_at_once(t: TestStore) {
    let (env, app, user) = setup(t, OidcAppType::Web, OidcAuthMethod::Basic).await;
    let app_secret = app.secret.clone().unwrap();
    // A machine user's token: active twice (the second from the cache), then the user is locked.
    let (bot, login, secret) = env.machine("cache-bot").await;
    let (_, body) = client_credentials(&env, &login, &secret, Some("urn:warden:api")).await;
    let bot_token = body["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let seen = env.introspect(&login, &secret, &bot_token).await;
        assert_eq!(seen["active"], true, "{seen}");
    }
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .lock_user(&bot)
        .await
        .unwrap();
    let (_, other_login, other_secret) = env.machine("cache-probe").await;
    let api = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let seen = env
        .introspect(&api.client_id, api.secret.as_deref().unwrap(), &bot_token)
        .await;
    assert_eq!(seen, json!({ "active": false }), "locked: inactive at once");
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, &bot_token)
            .await
            .unwrap()
            .is_none()
    );
    env.commands
        .for_caller(&caller)
        .unlock_user(&bot)
        .await
        .unwrap();
    let subject = env
        .provider
        .authenticate_access_token(&env.instance_id, &bot_token)
        .await
        .unwrap()
        .expect("unlocked: the token works again");
    assert_eq!(subject.user_id, bot);
    let seen = env
        .introspect(&other_login, &other_secret, &bot_token)
        .await;
    assert_eq!(seen, json!({ "active": false }), "not its audience");

    // A login's token: active twice, then its grant is revoked.
    let code = env.code(&app, "b1", None, "openid").await;
    let (_, tokens) = exchange(&env, &app, &code, None).await;
    let login_token = tokens["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let seen = env
            .introspect(&app.client_id, &app_secret, &login_token)
            .await;
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["sub"], user.as_str());
    }
    let revoked = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .basic_auth(&app.client_id, Some(&app_secret))
        .form(&[("token", login_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let seen = env
        .introspect(&app.client_id, &app_secret, &login_token)
        .await;
    assert_eq!(
        seen,
        json!({ "active": false }),
        "revoked: inactive at once"
    );
    let (status, _) = env.userinfo(&login_token).await;
    assert_eq!(status, 401);

    // A token whose signing key is retired with no overlap: inactive once this node reloads its keys.
    let (_, body) = client_credentials(&env, &other_login, &other_secret, None).await;
    let probe_token = body["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let seen = env
            .introspect(&other_login, &other_secret, &probe_token)
            .await;
        assert_eq!(seen["active"], true, "{seen}");
    }
    let mut config = warden_oidc::ProviderConfig::new(&env.base, env.master_key.clone());
    config.keys.rotation_period = std::time::Duration::ZERO;
    config.keys.overlap = std::time::Duration::ZERO;
    let other = warden_oidc::Provider::new(
        config,
        env.commands.clone(),
        env.read.queries().clone(),
        env.store(),
    );
    other.ensure_keys(&env.instance_id).await.unwrap();
    env.provider.ensure_keys(&env.instance_id).await.unwrap();
    let seen = env
        .introspect(&other_login, &other_secret, &probe_token)
        .await;
    assert_eq!(seen, json!({ "active": false }), "retired key: inactive");
    // A token of the new key is cached and answered like any other.
    let (_, body) = client_credentials(&env, &other_login, &other_secret, None).await;
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let seen = env.introspect(&other_login, &other_secret, &fresh).await;
        assert_eq!(seen["active"], true, "{seen}");
    }
}
