//! `private_key_jwt` client authentication (RFC 7523 §2.2, OIDC Core §9) of applications over real HTTP, on
//! both backends: the code flow of a web app and client credentials of an API app, each authenticated with
//! an assertion signed by a key registered on the app, at the token, introspection and revocation endpoints;
//! and every assertion that must be refused.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use common::{App, Env, start};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};
use warden_command::{Caller, NewPublicKey};
use warden_domain::{
    application::{ApiAuthMethod, OidcAppType, OidcAuthMethod},
    public_key::KeyFormat,
};
use warden_eventstore::testing::TestStore;

warden_eventstore::both_backends!(
    a_web_app_exchanges_its_code_with_a_client_assertion,
    an_api_app_gets_tokens_with_a_client_assertion,
    bad_assertions_are_refused,
    secrets_and_assertions_do_not_mix,
);

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A key pair of a client: its private half signs, its public half is registered on the app under `kid`.
struct ClientKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

async fn register(env: &Env, app: &App, format: KeyFormat, public_key: String) -> String {
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .add_app_key(
            &app.app_id,
            &NewPublicKey {
                format,
                public_key,
                expires_at_unix_ms: 4_000_000_000_000,
            },
        )
        .await
        .unwrap()
        .key_id
}

/// An ES256 key registered as a JWK.
async fn es256_key(env: &Env, app: &App, seed: u8) -> ClientKey {
    let key = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&bytes[33..65]),
    });
    let kid = register(env, app, KeyFormat::Jwk, jwk.to_string()).await;
    ClientKey {
        kid,
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(key.to_pkcs8_der().unwrap().as_bytes()),
    }
}

/// An Ed25519 key registered as a PEM `PUBLIC KEY` block.
async fn ed25519_key(env: &Env, app: &App, seed: u8) -> ClientKey {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    // SubjectPublicKeyInfo and PKCS #8 of Ed25519 (RFC 8410): a fixed prefix and the 32 key bytes.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(key.verifying_key().as_bytes());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        STANDARD.encode(&spki)
    );
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&[seed; 32]);
    let kid = register(env, app, KeyFormat::Pem, pem).await;
    ClientKey {
        kid,
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(&pkcs8),
    }
}

/// The claims of a good assertion of `client_id` for `env`, with a fresh `jti`.
fn claims(env: &Env, client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": env.url("/oauth/v2/token"),
        "iat": now(),
        "exp": now() + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn sign(key: &ClientKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// A form post to `path` with `form` and the client assertion.
async fn post(env: &Env, path: &str, form: &[(&str, &str)], assertion: &str) -> (u16, Value) {
    let mut form: Vec<(&str, &str)> = form.to_vec();
    form.push(("client_assertion_type", ASSERTION_TYPE));
    form.push(("client_assertion", assertion));
    let response = env
        .http
        .post(env.url(path))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[track_caller]
fn assert_invalid_client(answer: &(u16, Value), case: &str) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (401, Some("invalid_client")),
        "{case}: {}",
        answer.1
    );
}

async fn a_web_app_exchanges_its_code_with_a_client_assertion(t: TestStore) {
    let env = start(t).await;
    let app = env
        .app(OidcAppType::Web, OidcAuthMethod::PrivateKeyJwt, false)
        .await;
    assert!(app.secret.is_none(), "private_key_jwt has no client secret");
    let key = es256_key(&env, &app, 7).await;
    let user = env.human("ada", &["reader"]).await;
    env.log_in("b1", &user, 5);
    let code = env.code(&app, "b1", None, "openid offline_access").await;
    let assertion = sign(&key, &claims(&env, &app.client_id));
    let (status, body) = post(
        &env,
        "/oauth/v2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri),
            ("client_id", &app.client_id),
        ],
        &assertion,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id_token = env
        .verify(body["id_token"].as_str().unwrap(), &app.client_id)
        .await;
    assert_eq!(id_token["sub"], user.as_str());
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // The same assertion again: a replay.
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let replay = post(&env, "/oauth/v2/token", &refresh_form, &assertion).await;
    assert_invalid_client(&replay, "replayed assertion");
    // A fresh one, with the issuer as audience, refreshes.
    let mut to_issuer = claims(&env, &app.client_id);
    to_issuer["aud"] = json!(env.base);
    let (status, body) = post(
        &env,
        "/oauth/v2/token",
        &refresh_form,
        &sign(&key, &to_issuer),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Revocation authenticates the same way; the revoked chain is refused afterwards.
    let (status, body) = post(
        &env,
        "/oauth/v2/revoke",
        &[("token", refresh.as_str())],
        &sign(&key, &claims(&env, &app.client_id)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(
        &env,
        "/oauth/v2/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ],
        &sign(&key, &claims(&env, &app.client_id)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn client_credentials(env: &Env, assertion: &str) -> (u16, Value) {
    post(
        env,
        "/oauth/v2/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", "orders:read"),
        ],
        assertion,
    )
    .await
}

async fn an_api_app_gets_tokens_with_a_client_assertion(t: TestStore) {
    let env = start(t).await;
    let api = env
        .api_app(&env.project_id, ApiAuthMethod::PrivateKeyJwt)
        .await;
    assert!(api.secret.is_none());
    let key = ed25519_key(&env, &api, 3).await;
    let (status, body) = client_credentials(&env, &sign(&key, &claims(&env, &api.client_id))).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let token_claims = env.verify(&access, &api.client_id).await;
    assert_eq!(token_claims["sub"], api.client_id.as_str());
    assert_eq!(token_claims["client_id"], api.client_id.as_str());

    // Introspection with an assertion sees the app's own token.
    let (status, seen) = post(
        &env,
        "/oauth/v2/introspect",
        &[("token", access.as_str())],
        &sign(&key, &claims(&env, &api.client_id)),
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], api.client_id.as_str());

    // A removed key stops working at once; another registered key keeps working.
    let second = es256_key(&env, &api, 11).await;
    let caller = Caller::system(&env.instance_id);
    env.commands
        .for_caller(&caller)
        .remove_app_key(&api.app_id, &key.kid)
        .await
        .unwrap();
    let removed = client_credentials(&env, &sign(&key, &claims(&env, &api.client_id))).await;
    assert_invalid_client(&removed, "removed key");
    let (status, body) =
        client_credentials(&env, &sign(&second, &claims(&env, &api.client_id))).await;
    assert_eq!(status, 200, "{body}");

    // A deactivated application is refused whatever it signs.
    env.commands
        .for_caller(&caller)
        .deactivate_app(&api.app_id)
        .await
        .unwrap();
    let deactivated = client_credentials(&env, &sign(&second, &claims(&env, &api.client_id))).await;
    assert_invalid_client(&deactivated, "deactivated app");
}

async fn bad_assertions_are_refused(t: TestStore) {
    let env = start(t).await;
    let api = env
        .api_app(&env.project_id, ApiAuthMethod::PrivateKeyJwt)
        .await;
    let key = es256_key(&env, &api, 5).await;
    let good = || claims(&env, &api.client_id);
    let with = |field: &str, value: Value| {
        let mut claims = good();
        claims[field] = value;
        claims
    };
    let without = |field: &str| {
        let mut claims = good();
        claims.as_object_mut().unwrap().remove(field);
        claims
    };
    // Signed by a key the app does not have, under the kid of one it has.
    let stranger = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let wrong_key = ClientKey {
        kid: key.kid.clone(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(stranger.to_pkcs8_der().unwrap().as_bytes()),
    };
    let unknown_kid = ClientKey {
        kid: "not-registered".to_owned(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(
            p256::ecdsa::SigningKey::from_slice(&[5u8; 32])
                .unwrap()
                .to_pkcs8_der()
                .unwrap()
                .as_bytes(),
        ),
    };
    // HS256 with the registered public key (as sent) as the HMAC secret.
    let point = p256::ecdsa::SigningKey::from_slice(&[5u8; 32])
        .unwrap()
        .verifying_key()
        .to_sec1_point(false);
    let bytes = point.as_bytes();
    let public_jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&bytes[33..65]),
    })
    .to_string();
    let hmac = ClientKey {
        kid: key.kid.clone(),
        alg: Algorithm::HS256,
        encoding: EncodingKey::from_secret(public_jwk.as_bytes()).unwrap(),
    };
    let none = {
        let header = json!({ "alg": "none", "kid": key.kid, "typ": "JWT" });
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(good().to_string())
        )
    };
    let cases: Vec<(&str, String)> = vec![
        ("another key", sign(&wrong_key, &good())),
        ("unknown kid", sign(&unknown_kid, &good())),
        ("HS256 with the public key", sign(&hmac, &good())),
        ("alg none", none),
        ("expired", sign(&key, &with("exp", json!(now() - 120)))),
        (
            "valid for too long",
            sign(&key, &with("exp", json!(now() + 7200))),
        ),
        ("no exp", sign(&key, &without("exp"))),
        ("no jti", sign(&key, &without("jti"))),
        (
            "issued in the future",
            sign(&key, &with("iat", json!(now() + 600))),
        ),
        (
            "wrong audience",
            sign(&key, &with("aud", json!("https://elsewhere.example.com"))),
        ),
        (
            "introspection endpoint as audience",
            sign(&key, &with("aud", json!(env.url("/oauth/v2/introspect")))),
        ),
        (
            "sub is another client",
            sign(&key, &with("sub", json!("someone-else"))),
        ),
        (
            "iss is another client",
            sign(&key, &with("iss", json!("someone-else"))),
        ),
        ("not a JWT", "not.a.jwt".to_owned()),
    ];
    for (case, assertion) in &cases {
        assert_invalid_client(&client_credentials(&env, assertion).await, case);
    }
    // A client_id that differs from the assertion's issuer.
    let (status, body) = post(
        &env,
        "/oauth/v2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "someone-else"),
        ],
        &sign(&key, &good()),
    )
    .await;
    assert_invalid_client(&(status, body), "client_id differs");
    // None of the refusals used up a good assertion: one signed right passes, once.
    let assertion = sign(&key, &good());
    let (status, body) = client_credentials(&env, &assertion).await;
    assert_eq!(status, 200, "{body}");
    assert_invalid_client(&client_credentials(&env, &assertion).await, "replay");
}

async fn secrets_and_assertions_do_not_mix(t: TestStore) {
    let env = start(t).await;
    // A client with a secret may not authenticate with an assertion, even one signed by its own key.
    let basic = env.api_app(&env.project_id, ApiAuthMethod::Basic).await;
    let key = es256_key(&env, &basic, 13).await;
    let answer = client_credentials(&env, &sign(&key, &claims(&env, &basic.client_id))).await;
    assert_invalid_client(&answer, "secret-based client with an assertion");
    // A private_key_jwt client may not authenticate with a secret (it has none; any secret is refused),
    // nor with its client id alone, nor with both an assertion and a secret.
    let jwt = env
        .api_app(&env.project_id, ApiAuthMethod::PrivateKeyJwt)
        .await;
    let key = es256_key(&env, &jwt, 17).await;
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .basic_auth(&jwt.client_id, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", jwt.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, body) = post(
        &env,
        "/oauth/v2/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", "guess"),
        ],
        &sign(&key, &claims(&env, &jwt.client_id)),
    )
    .await;
    assert_invalid_client(&(status, body), "assertion and secret");
    // An unsupported assertion type is a bad request.
    let response = env
        .http
        .post(env.url("/oauth/v2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            (
                "client_assertion",
                sign(&key, &claims(&env, &jwt.client_id)).as_str(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Discovery lists the algorithms assertions may use.
    let discovery: Value = env
        .http
        .get(env.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = discovery["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&json!(alg)), "{alg} in {algs:?}");
    }
    assert!(!algs.contains(&json!("HS256")) && !algs.contains(&json!("none")));
}
