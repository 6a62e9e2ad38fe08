//! The token endpoint (`/oauth/v2/token`): authorization code with PKCE, refresh token with rotation and reuse
//! detection, client credentials for machine users and API applications, and JWT bearer (RFC 7523) for
//! machine users.
//!
//! Client secrets are checked with SHA-256 and a constant-time compare (they carry 256 bits); no token
//! writes an event; a JWT access token writes nothing at all.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use warden_domain::{
    application::{AppConfig, OidcGrantType},
    user::User,
};

use crate::{
    OidcError,
    client_assertion::{Use, verify_machine_assertion},
    crypto,
    db::TokenRow,
    http::{Endpoint, OAuthError, authenticate_client, parse_form, presented},
    keys::now_ms,
    provider::{AccessClaims, Client, CodeData, Login, RefreshData},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Scopes that only make sense for a user: refused in an API application's client credentials grant.
const USER_SCOPES: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
    crate::provider::MANAGEMENT_API_AUDIENCE,
];

/// `POST /oauth/v2/token`.
pub(crate) async fn token(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match grant(&endpoint, &headers, &body).await {
        Ok(response) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(response),
        )
            .into_response(),
        Err(error) => error.into_response(),
    }
}

fn scopes(text: Option<&String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in text
        .map(String::as_str)
        .unwrap_or_default()
        .split_whitespace()
    {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_owned());
        }
    }
    out
}

async fn grant(
    endpoint: &Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<crate::provider::TokenResponse, OAuthError> {
    let form = parse_form(body)?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::new("invalid_request", "grant_type is required"))?;
    let presented = presented(headers, &form)?;
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    match grant_type.as_str() {
        "client_credentials" => {
            let client = authenticate_client(endpoint, &presented, true).await?;
            let scope = scopes(form.get("scope"));
            match &client {
                Client::Machine { user_id } => {
                    let user = usable_user(endpoint, user_id).await?;
                    Ok(core
                        .issue(instance_id, &client, user_id, &user, &scope, None, false)
                        .await?)
                }
                Client::App { app, .. } if matches!(app.config, Some(AppConfig::Api(_))) => {
                    // No user stands behind the token: its subject is the application (RFC 9068 §2.2).
                    if let Some(user_scope) =
                        scope.iter().find(|s| USER_SCOPES.contains(&s.as_str()))
                    {
                        return Err(OAuthError::new(
                            "invalid_scope",
                            format!(
                                "scope `{user_scope}` needs a user; an API application's own token has none \
                                 (use a machine user for the management API)"
                            ),
                        ));
                    }
                    let client_id = client.client_id().to_owned();
                    Ok(core
                        .issue(
                            instance_id,
                            &client,
                            &client_id,
                            &User::default(),
                            &scope,
                            None,
                            false,
                        )
                        .await?)
                }
                Client::App { .. } => Err(OAuthError::new(
                    "unauthorized_client",
                    "client credentials are for API applications and machine users: this client is an OIDC application",
                )),
            }
        }
        JWT_BEARER => {
            let assertion = form
                .get("assertion")
                .ok_or_else(|| OAuthError::new("invalid_request", "assertion is required"))?;
            let (user_id, _) = verify_machine_assertion(endpoint, assertion, Use::Grant)
                .await
                .map_err(|_| OAuthError::new("invalid_grant", "the assertion is not valid"))?;
            let user = usable_user(endpoint, &user_id).await?;
            let client = Client::Machine {
                user_id: user_id.clone(),
            };
            let scope = scopes(form.get("scope"));
            Ok(core
                .issue(instance_id, &client, &user_id, &user, &scope, None, false)
                .await?)
        }
        "authorization_code" => authorization_code(endpoint, &presented, &form).await,
        "refresh_token" => refresh(endpoint, &presented, &form).await,
        "password" | "implicit" => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {grant_type} is not supported"),
        )),
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            format!("grant_type {grant_type} is not supported"),
        )),
    }
}

async fn usable_user(endpoint: &Endpoint, user_id: &str) -> Result<User, OAuthError> {
    endpoint
        .core
        .user_usable(&endpoint.instance_id, user_id)
        .await?
        .ok_or_else(|| OAuthError::new("invalid_grant", "the user is not active"))
}

async fn authorization_code(
    endpoint: &Endpoint,
    presented: &crate::http::Presented,
    form: &std::collections::HashMap<String, String>,
) -> Result<crate::provider::TokenResponse, OAuthError> {
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let client = authenticate_client(endpoint, presented, false).await?;
    let Client::App { app_id, app } = &client else {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client cannot use authorization codes",
        ));
    };
    let config = client.oidc().ok_or_else(|| {
        OAuthError::new(
            "unauthorized_client",
            "this client cannot use authorization codes",
        )
    })?;
    if !config
        .grant_types
        .contains(&OidcGrantType::AuthorizationCode)
    {
        return Err(OAuthError::new(
            "unauthorized_client",
            "the authorization_code grant is not enabled for this client",
        ));
    }
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::new("invalid_request", "code is required"))?;
    let now = now_ms();
    let used = core
        .rows
        .use_code::<CodeData>(instance_id, &crypto::hash_token(code), now)
        .await?;
    let (grant_id, data) = match used {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(OAuthError::new(
                "invalid_grant",
                "the code is invalid or expired",
            ));
        }
        Err(grant_id) => {
            // A second use: whoever holds the code may be an attacker; revoke what the first use got.
            core.rows.revoke_grant(instance_id, &grant_id, now).await?;
            tracing::warn!(client_id = %app.client_id, "authorization code used twice: its tokens are revoked");
            return Err(OAuthError::new(
                "invalid_grant",
                "the code was already used",
            ));
        }
    };
    let refuse = |why: &str| OAuthError::new("invalid_grant", why.to_owned());
    if data.client_id != app.client_id || data.app_id != *app_id {
        core.rows.revoke_grant(instance_id, &grant_id, now).await?;
        return Err(refuse("the code was issued to another client"));
    }
    if form.get("redirect_uri") != Some(&data.redirect_uri) {
        core.rows.revoke_grant(instance_id, &grant_id, now).await?;
        return Err(refuse(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&data.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) if crypto::pkce_s256_matches(verifier, challenge) => {}
        (Some(_), _) => {
            core.rows.revoke_grant(instance_id, &grant_id, now).await?;
            return Err(refuse("code_verifier does not match the code_challenge"));
        }
        (None, Some(_)) => {
            core.rows.revoke_grant(instance_id, &grant_id, now).await?;
            return Err(refuse("the authorization request had no code_challenge"));
        }
        (None, None) if config.require_pkce || crate::provider::is_public(config) => {
            core.rows.revoke_grant(instance_id, &grant_id, now).await?;
            return Err(refuse("this client must use PKCE"));
        }
        (None, None) => {}
    }
    let user = usable_user(endpoint, &data.user_id).await?;
    let login = Login {
        grant_id,
        session_id: data.session_id.clone(),
        auth_time: data.auth_time,
        amr: data.amr.clone(),
        acr: data.acr.clone(),
        nonce: data.nonce.clone(),
    };
    Ok(core
        .issue(
            instance_id,
            &client,
            &data.user_id,
            &user,
            &data.scope,
            Some(&login),
            true,
        )
        .await?)
}

/// A refresh token that is usable now: not used, not revoked, not expired, its grant active, its user and app
/// usable.
pub(crate) async fn active_refresh(
    endpoint: &Endpoint,
    token: &str,
) -> Result<Option<TokenRow>, OidcError> {
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let Some(row) = core
        .rows
        .token(instance_id, &crypto::hash_token(token))
        .await?
    else {
        return Ok(None);
    };
    if row.kind != "refresh"
        || row.used_at_ms.is_some()
        || row.revoked_at_ms.is_some()
        || row.expires_at_ms <= now_ms()
    {
        return Ok(None);
    }
    if !row.grant_active {
        return Ok(None);
    }
    let Ok(data) = serde_json::from_value::<RefreshData>(row.data.clone()) else {
        return Ok(None);
    };
    if core.user_usable(instance_id, &row.user_id).await?.is_none()
        || core.app_usable(instance_id, &data.app_id).await?.is_none()
    {
        return Ok(None);
    }
    Ok(Some(row))
}

async fn refresh(
    endpoint: &Endpoint,
    presented: &crate::http::Presented,
    form: &std::collections::HashMap<String, String>,
) -> Result<crate::provider::TokenResponse, OAuthError> {
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let client = authenticate_client(endpoint, presented, false).await?;
    let token = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::new("invalid_request", "refresh_token is required"))?;
    let invalid = || {
        OAuthError::new(
            "invalid_grant",
            "the refresh token is invalid, expired or revoked",
        )
    };
    let hash = crypto::hash_token(token);
    let now = now_ms();
    let row = core
        .rows
        .token(instance_id, &hash)
        .await?
        .ok_or_else(invalid)?;
    if row.kind != "refresh" || row.client_id != client.client_id() {
        return Err(invalid());
    }
    let grant_id = row.grant_id.clone().ok_or_else(invalid)?;
    if row.used_at_ms.is_some() || !core.rows.use_token(instance_id, &hash, now).await? {
        // Reuse of a rotated refresh token: the chain is compromised; revoke all of it.
        core.rows.revoke_grant(instance_id, &grant_id, now).await?;
        tracing::warn!(client_id = %row.client_id, "refresh token reused: its grant is revoked");
        return Err(invalid());
    }
    if row.revoked_at_ms.is_some() || row.expires_at_ms <= now || !row.grant_active {
        return Err(invalid());
    }
    let data: RefreshData = serde_json::from_value(row.data.clone()).map_err(|_| invalid())?;
    let Client::App { app_id, .. } = &client else {
        return Err(invalid());
    };
    if *app_id != data.app_id || core.app_usable(instance_id, app_id).await?.is_none() {
        return Err(invalid());
    }
    if !client
        .oidc()
        .is_some_and(|c| c.grant_types.contains(&OidcGrantType::RefreshToken))
    {
        return Err(OAuthError::new(
            "unauthorized_client",
            "the refresh_token grant is not enabled for this client",
        ));
    }
    let user = usable_user(endpoint, &row.user_id).await?;
    let scope = match form.get("scope") {
        None => data.scope.clone(),
        Some(asked) => {
            let asked = scopes(Some(asked));
            if asked.iter().any(|s| !data.scope.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    "a refresh cannot widen the scope",
                ));
            }
            asked
        }
    };
    let login = Login {
        grant_id,
        session_id: data.session_id.clone(),
        auth_time: data.auth_time,
        amr: data.amr.clone(),
        acr: data.acr.clone(),
        nonce: None,
    };
    let mut issued = core
        .issue(
            instance_id,
            &client,
            &row.user_id,
            &user,
            &scope,
            Some(&login),
            true,
        )
        .await?;
    if issued.refresh_token.is_none() {
        // The narrowed scope dropped offline_access: keep the chain alive only as asked.
        issued.refresh_token = None;
    }
    Ok(issued)
}

/// Revokes `token` if it belongs to `client` (RFC 7009 §2.1).
pub(crate) async fn revoke_token(
    endpoint: &Endpoint,
    client: &Client,
    token: &str,
) -> Result<(), OAuthError> {
    let core = &endpoint.core;
    let instance_id = &*endpoint.instance_id;
    let now = now_ms();
    if token.starts_with("wdn_rt_") || token.starts_with("wdn_at_") {
        let hash = crypto::hash_token(token);
        if let Some(row) = core.rows.token(instance_id, &hash).await?
            && row.client_id == client.client_id()
        {
            match (&row.kind[..], &row.grant_id) {
                ("refresh", Some(grant_id)) => {
                    core.rows.revoke_grant(instance_id, grant_id, now).await?
                }
                _ => core.rows.revoke_token(instance_id, &hash, now).await?,
            }
        }
        return Ok(());
    }
    if let Ok(claims) = core
        .keys
        .verify::<AccessClaims>(instance_id, core.issuer(), token, false)
        .await
        && claims.client_id == client.client_id()
        && let Some(grant_id) = &claims.gid
    {
        core.rows.revoke_grant(instance_id, grant_id, now).await?;
    }
    Ok(())
}
