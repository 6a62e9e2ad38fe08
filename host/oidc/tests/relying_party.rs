//! A third-party relying party, the `openidconnect` crate, against Warden over HTTP with its real login pages:
//! discovery, code flow with PKCE through the login form, ID token validation against the JWKS, userinfo,
//! refresh with rotation, introspection, revocation; and client credentials for a machine user.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use common::{PASSWORD, query, start_with_login};
use openidconnect::{
    AccessToken, AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims},
};
use warden_domain::application::{OidcAppType, OidcAuthMethod};
use warden_eventstore::testing::TestStore;

both_backends!(
    code_flow_with_pkce_through_the_login_pages,
    client_credentials_for_a_machine_user,
);

fn rp_http() -> reqwest::Client {
    // Relying parties must not follow redirects from the token endpoint (SSRF).
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn code_flow_with_pkce_through_the_login_pages(t: TestStore) {
    let env = start_with_login(t).await;
    let app = env
        .app(OidcAppType::Web, OidcAuthMethod::Basic, false)
        .await;
    let user = env.human("ada", &["admin"]).await;
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(env.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(app.client_id.clone()),
        Some(ClientSecret::new(app.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(app.redirect_uri.clone()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(env.url("/oauth/v2/introspect")).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let end =
        warden_login::testing::login_via_form(&browser, authorize_url.as_str(), "ada", PASSWORD)
            .await
            .unwrap();
    assert!(end.starts_with(&app.redirect_uri), "{end}");
    let q = query(&end);
    assert_eq!(q["state"], *state.secret());
    assert_eq!(q["iss"], env.base);

    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).unwrap();
    assert_eq!(claims.subject().as_str(), user);
    assert!(claims.auth_time().is_some());
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));

    // Refresh rotates the refresh token; the old one is then refused.
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        first_refresh.secret()
    );

    let introspected = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(introspected.active());
    assert_eq!(introspected.sub(), Some(user.as_str()));

    // Revoking the refresh token ends the whole grant: the access token is inactive at once.
    // (The crate sends revocations over https only; the test server is plain http.)
    let revoked = env
        .http
        .post(env.url("/oauth/v2/revoke"))
        .basic_auth(&app.client_id, app.secret.as_deref())
        .form(&[(
            "token",
            refreshed.refresh_token().unwrap().secret().as_str(),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let introspected = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!introspected.active());
    assert!(
        client
            .exchange_refresh_token(refreshed.refresh_token().unwrap())
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );
}

async fn client_credentials_for_a_machine_user(t: TestStore) {
    let env = start_with_login(t).await;
    let (user_id, login, secret) = env.machine("reporting").await;
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(env.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(login),
        Some(ClientSecret::new(secret)),
    );
    let token = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("urn:warden:api".into()))
        .request_async(&http)
        .await
        .unwrap();
    let subject = env
        .provider
        .authenticate_access_token(&env.instance_id, token.access_token().secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subject.user_id, user_id);
    let forged = AccessToken::new(format!("{}x", token.access_token().secret()));
    assert!(
        env.provider
            .authenticate_access_token(&env.instance_id, forged.secret())
            .await
            .unwrap()
            .is_none()
    );
}
