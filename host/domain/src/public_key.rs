//! Public keys that clients sign JWTs with (RFC 7523): a machine user's keys for the JWT profile grant and
//! an application's keys for `private_key_jwt` client authentication. The private key stays with the client;
//! the domain checks the uploaded public half (a PEM `PUBLIC KEY` block or a JSON Web Key, never a private
//! key) and its expiry. Both owners share these rules; only the error codes' prefix and the limit differ.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DomainError;
use crate::validate;

/// The encoding of a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyFormat {
    /// A PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` block.
    Pem,
    /// A JSON Web Key.
    Jwk,
}

impl KeyFormat {
    /// The stable snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pem => "pem",
            Self::Jwk => "jwk",
        }
    }
}

/// A key as added: payload of `user.machine.key.added` and `application.key.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PublicKeyAdded {
    /// The key id (the JWT `kid`), generated outside.
    pub key_id: String,
    /// The encoding of `public_key`.
    pub format: KeyFormat,
    /// The public key; the private key stays with the client.
    pub public_key: String,
    /// When the key stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// A registered key in an aggregate's state, by key id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicKey {
    /// The encoding of `public_key`.
    pub format: KeyFormat,
    /// The public key.
    pub public_key: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

impl PublicKey {
    /// Whether the key is still accepted at `now_unix_ms`.
    pub fn valid_at(&self, now_unix_ms: i64) -> bool {
        self.expires_at_unix_ms > now_unix_ms
    }
}

impl From<&PublicKeyAdded> for PublicKey {
    fn from(added: &PublicKeyAdded) -> Self {
        Self {
            format: added.format,
            public_key: added.public_key.clone(),
            expires_at_unix_ms: added.expires_at_unix_ms,
        }
    }
}

/// Who holds keys, for the error codes and messages of [`check_new_key`] and [`check_key_id`].
pub(crate) struct KeyOwner {
    /// The prefix of error codes, e.g. `user.machine.key`.
    pub(crate) code: &'static str,
    /// The owner as named in messages, e.g. `machine user`.
    pub(crate) name: &'static str,
    /// The most keys the owner may have.
    pub(crate) max: usize,
}

/// Checks a key to add next to `keys`: a fresh id, room under the limit, a public key, an expiry in the
/// future. Answers the key as it is stored.
pub(crate) fn check_new_key(
    owner: &KeyOwner,
    keys: &BTreeMap<String, PublicKey>,
    key: &PublicKeyAdded,
    now_unix_ms: i64,
) -> Result<PublicKeyAdded, DomainError> {
    let code = |suffix: &str| format!("{}.{suffix}", owner.code);
    let key_id = validate::identifier(&code("id"), "key_id", &key.key_id)?;
    if keys.contains_key(&key_id) {
        return Err(DomainError::already_exists(
            code("already_exists"),
            format!("the {} already has a key with this id", owner.name),
        )
        .with_field("key_id"));
    }
    if keys.len() >= owner.max {
        return Err(DomainError::precondition(
            code("limit_reached"),
            format!(
                "a {} may have at most {} keys; remove expired ones first",
                owner.name, owner.max
            ),
        ));
    }
    let public_key = check_public_key(owner.code, key.format, &key.public_key)?;
    let expires_at_unix_ms = validate::expiry(
        &code("expires_at"),
        "expires_at",
        key.expires_at_unix_ms,
        now_unix_ms,
    )?;
    Ok(PublicKeyAdded {
        key_id,
        format: key.format,
        public_key,
        expires_at_unix_ms,
    })
}

/// Checks that `key_id` names one of `keys` (to remove it).
pub(crate) fn check_key_id(
    owner: &KeyOwner,
    keys: &BTreeMap<String, PublicKey>,
    key_id: &str,
) -> Result<(), DomainError> {
    if keys.contains_key(key_id) {
        Ok(())
    } else {
        Err(DomainError::not_found(
            format!("{}.not_found", owner.code),
            format!("the {} has no key with this id", owner.name),
        )
        .with_field("key_id"))
    }
}

/// Checks an uploaded public key: a PEM public-key block or a JWK object, never private material.
fn check_public_key(prefix: &str, format: KeyFormat, key: &str) -> Result<String, DomainError> {
    const FIELD: &str = "public_key";
    let code = |suffix: &str| format!("{prefix}.{suffix}");
    if key.trim().is_empty() {
        return Err(DomainError::invalid(
            FIELD,
            code("required"),
            "public_key is required",
        ));
    }
    if key.len() > validate::MAX_PUBLIC_KEY_BYTES {
        return Err(DomainError::invalid(
            FIELD,
            code("too_long"),
            format!(
                "public_key must be at most {} bytes",
                validate::MAX_PUBLIC_KEY_BYTES
            ),
        ));
    }
    let private = || {
        DomainError::invalid(
            FIELD,
            code("private"),
            "public_key contains a private key; send only the public key and keep the private key with the client",
        )
    };
    match format {
        KeyFormat::Pem => {
            let key = key.trim();
            if key.contains("PRIVATE KEY") {
                return Err(private());
            }
            let body = ["PUBLIC KEY", "RSA PUBLIC KEY"].iter().find_map(|label| {
                key.strip_prefix(&format!("-----BEGIN {label}-----"))?
                    .strip_suffix(&format!("-----END {label}-----"))
            });
            let valid = body.is_some_and(|b| {
                !b.trim().is_empty()
                    && b.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, '+' | '/' | '=')
                            || c.is_ascii_whitespace()
                    })
            });
            if !valid {
                return Err(DomainError::invalid(
                    FIELD,
                    code("invalid"),
                    "public_key must be a PEM block from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----",
                ));
            }
            Ok(key.to_owned())
        }
        KeyFormat::Jwk => {
            let not_jwk = || {
                DomainError::invalid(
                    FIELD,
                    code("invalid"),
                    "public_key must be a JSON Web Key: a JSON object with a \"kty\" member",
                )
            };
            let parsed: Result<Value, _> = serde_json::from_str(key);
            let Ok(Value::Object(jwk)) = parsed else {
                return Err(not_jwk());
            };
            if !jwk.get("kty").is_some_and(Value::is_string) {
                return Err(not_jwk());
            }
            if jwk.contains_key("d") || jwk.contains_key("k") {
                return Err(private());
            }
            Ok(key.to_owned())
        }
    }
}
