//! Client assertions: JWTs a client signs with a private key whose public half is registered with Warden
//! (RFC 7523; OIDC Core §9 `private_key_jwt`).
//!
//! An application whose auth method is `private_key_jwt` authenticates at the token, introspection and
//! revocation endpoints with `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
//! and a `client_assertion` that must:
//! - name the client: `iss` = `sub` = its client id (and `client_id`, if sent, the same);
//! - be meant for this provider: `aud` is the issuer or the token endpoint's URL;
//! - be signed by one of the application's registered, unexpired keys, named by `kid`, with an algorithm of
//!   that key's type ([`verifier`]: never `none`, never HMAC with the public key as secret);
//! - expire (`exp` required) within [`MAX_ASSERTION_LIFETIME_SECS`], and carry a `jti` that was not used
//!   before: each assertion is accepted once (the ids are kept until the assertion expires).
//!
//! A machine user's keys serve the same way: its assertion (`iss` = `sub` = the user's id) authenticates it as
//! a client under the same rules, and is also accepted as a JWT bearer grant (RFC 7523 §3), where `jti` is
//! optional but, when sent, single use too.
//!
//! Every failure is the same `invalid_client`, so a caller learns nothing about which check failed. Keys are
//! read from the application's write model at each use, so a removed key stops working at once on the node
//! that removed it, and on the others as soon as they see the event.

use std::sync::atomic::{AtomicU32, Ordering};

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation, jwk::Jwk};
use serde::Deserialize;
use warden_domain::application::Application;
use warden_domain::public_key::{KeyFormat, PublicKey};
use warden_domain::user::User;
use warden_spooler::params;

use crate::{
    http::{Endpoint, OAuthError},
    keys::now_ms,
};

/// The longest an assertion may be valid, from now to its `exp` (seconds): a leaked assertion is short-lived
/// and the replay store stays small.
pub(crate) const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// Leeway for clock skew on `exp`, `nbf` and `iat` (seconds).
const LEEWAY_SECS: u64 = 5;

/// The algorithms assertions may be signed with, as discovery lists them; each key accepts those of its type.
pub(crate) const ASSERTION_ALGORITHMS: [&str; 7] = [
    "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA",
];

const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
];
const EC: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];
const ED: &[Algorithm] = &[Algorithm::EdDSA];

/// The verifying key of a registered public key and the algorithms it may sign with (those of its type
/// only: the header's choice of algorithm is checked against them, so `none` and HMAC are never accepted).
/// `None` when the key cannot be read.
pub(crate) fn verifier(key: &PublicKey) -> Option<(DecodingKey, &'static [Algorithm])> {
    match key.format {
        KeyFormat::Jwk => {
            let jwk: Jwk = serde_json::from_str(&key.public_key).ok()?;
            let decoding = DecodingKey::from_jwk(&jwk).ok()?;
            let allowed = match decoding.family() {
                AlgorithmFamily::Rsa => RSA,
                AlgorithmFamily::Ec => EC,
                AlgorithmFamily::Ed => ED,
                _ => return None,
            };
            Some((decoding, allowed))
        }
        KeyFormat::Pem => {
            let pem = key.public_key.as_bytes();
            if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
                Some((k, RSA))
            } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
                Some((k, EC))
            } else {
                DecodingKey::from_ed_pem(pem).ok().map(|k| (k, ED))
            }
        }
    }
}

#[derive(Deserialize)]
struct Unverified {
    iss: String,
}

/// The client an assertion claims to come from (its `iss`), read before anything is verified: it only says
/// whose keys to try.
pub(crate) fn claimed_client(assertion: &str) -> Option<String> {
    jsonwebtoken::dangerous::insecure_decode::<Unverified>(assertion)
        .ok()
        .map(|data| data.claims.iss)
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
}

/// What an assertion is used for, which decides whether its `jti` is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Client authentication (`client_assertion`, OIDC Core §9): `jti` required, each accepted once.
    ClientAuthentication,
    /// An authorization grant (RFC 7523 §3, `grant_type=…:jwt-bearer`): `jti` optional (§3 item 7); when
    /// present, each is accepted once.
    Grant,
}

/// Verifies `assertion` as the client authentication of `app` (see the module docs). The caller has
/// checked that the app is active and that its auth method is `private_key_jwt`.
pub(crate) async fn verify_app_assertion(
    endpoint: &Endpoint,
    app: &Application,
    assertion: &str,
) -> Result<(), OAuthError> {
    let now = now_ms();
    let key = |kid: &str| app.keys.get(kid).filter(|key| key.valid_at(now));
    verify(
        endpoint,
        &app.client_id,
        key,
        assertion,
        Use::ClientAuthentication,
    )
    .await
}

/// Verifies a JWT a machine user signed with one of its registered keys (RFC 7523, as grant or as client
/// authentication): `iss` = `sub` = the user's id, and otherwise the rules of the module docs (`jti` only
/// as [`Use`] says). Returns the user's id and state.
pub(crate) async fn verify_machine_assertion(
    endpoint: &Endpoint,
    assertion: &str,
    used_for: Use,
) -> Result<(String, User), OAuthError> {
    // The claimed issuer names whose keys to try; nothing is trusted before the signature checks.
    let user_id = claimed_client(assertion).ok_or_else(refusal)?;
    let user = endpoint.core.user(&endpoint.instance_id, &user_id).await?;
    let now = now_ms();
    let key = |kid: &str| {
        user.machine()
            .and_then(|machine| machine.keys.get(kid))
            .filter(|key| key.expires_at_unix_ms > now)
    };
    verify(endpoint, &user_id, key, assertion, used_for).await?;
    Ok((user_id, user))
}

fn refusal() -> OAuthError {
    OAuthError::invalid_client("the client assertion is not valid", false)
}

/// The checks every assertion passes: signed by `key(kid)` with an algorithm of its type, `iss` = `sub` =
/// `client_id`, meant for this provider, expiring within [`MAX_ASSERTION_LIFETIME_SECS`], not issued in the
/// future, and its `jti` (required or optional as `used_for` says) not seen before. Every failure is the
/// same `invalid_client`.
async fn verify<'k>(
    endpoint: &Endpoint,
    client_id: &str,
    key: impl FnOnce(&str) -> Option<&'k PublicKey>,
    assertion: &str,
    used_for: Use,
) -> Result<(), OAuthError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| refusal())?;
    let kid = header.kid.as_deref().ok_or_else(refusal)?;
    let (decoding, allowed) = key(kid).and_then(verifier).ok_or_else(refusal)?;
    if !allowed.contains(&header.alg) {
        return Err(refusal());
    }
    let issuer = endpoint.core.issuer();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[issuer.to_owned(), format!("{issuer}/oauth/v2/token")]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = LEEWAY_SECS;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &decoding, &validation)
        .map_err(|_| refusal())?
        .claims;
    let now_secs = now_ms() / 1000;
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(0);
    let jti_ok = match (&claims.jti, used_for) {
        (None, Use::Grant) => true,
        (None, Use::ClientAuthentication) => false,
        (Some(jti), _) => !jti.is_empty() && jti.len() <= 256,
    };
    if claims.iss != client_id
        || claims.sub != client_id
        || claims.exp > now_secs + MAX_ASSERTION_LIFETIME_SECS + leeway
        || claims.iat.is_some_and(|iat| iat > now_secs + leeway)
        || !jti_ok
    {
        return Err(refusal());
    }
    if let Some(jti) = &claims.jti
        && !first_use(endpoint, client_id, jti, claims.exp).await?
    {
        tracing::info!(%client_id, "client assertion replayed");
        return Err(refusal());
    }
    Ok(())
}

/// Counts recorded assertion ids, to purge expired ones every [`PURGE_EVERY`] records.
static RECORDED: AtomicU32 = AtomicU32::new(0);
const PURGE_EVERY: u32 = 256;

/// Records the id of an assertion of `client_id`; false when it was recorded before (a replay). Kept until
/// the assertion expires, after which `exp` refuses it anyway.
async fn first_use(
    endpoint: &Endpoint,
    client_id: &str,
    jti: &str,
    exp_secs: i64,
) -> Result<bool, OAuthError> {
    let db = endpoint.core.rows.db();
    let instance_id = &*endpoint.instance_id;
    let storage =
        |error: sqlx::Error| OAuthError::from(crate::OidcError::Storage(error.to_string()));
    if RECORDED
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(PURGE_EVERY)
    {
        db.execute(
            "DELETE FROM oidc_client_assertions WHERE expires_at_ms < $1",
            &params![now_ms() - 1000 * i64::try_from(LEEWAY_SECS).unwrap_or(0)],
        )
        .await
        .map_err(storage)?;
    }
    let inserted = db
        .execute(
            "INSERT INTO oidc_client_assertions (instance_id, client_id, jti, expires_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id, client_id, jti) DO NOTHING",
            &params![instance_id, client_id, jti, exp_secs.saturating_mul(1000)],
        )
        .await
        .map_err(storage)?;
    Ok(inserted == 1)
}
