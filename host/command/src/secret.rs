//! Credentials: Argon2id password hashing off the async runtime, generated secrets and personal access
//! tokens.
//!
//! Passwords are hashed with Argon2id at OWASP's minimum (m = 19 MiB, t = 2, p = 1) on the blocking thread
//! pool, never more at once than a semaphore allows, so a burst of logins or password changes cannot starve
//! the server. Generated secrets (client secrets, tokens) carry 256 bits from the OS random number generator;
//! they are shown once and stored as SHA-256 hashes, which is enough for values of that entropy.

use std::{fmt, sync::Arc};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::CommandError;

/// Argon2id memory cost in KiB (OWASP minimum).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Argon2id iterations (OWASP minimum).
pub const ARGON2_ITERATIONS: u32 = 2;
/// Argon2id lanes (OWASP minimum).
pub const ARGON2_PARALLELISM: u32 = 1;

/// The prefix of every personal access token.
pub const PAT_PREFIX: &str = "wdn_pat_";

/// A plaintext secret (password, client secret, token); its `Debug` form hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a plaintext secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The plaintext, consuming the wrapper.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// Hashes and verifies passwords with Argon2id, bounded in concurrency.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at once (at least one).
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    fn argon2() -> Result<Argon2<'static>, CommandError> {
        let params = Params::new(
            ARGON2_MEMORY_KIB,
            ARGON2_ITERATIONS,
            ARGON2_PARALLELISM,
            None,
        )
        .map_err(|e| CommandError::Hashing(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
    ) -> Result<T, CommandError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| CommandError::Hashing(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| CommandError::Hashing(e.to_string()))?
    }

    /// The PHC string of a new Argon2id hash of `password`, with a fresh random salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, CommandError> {
        let mut salt = [0u8; 16];
        fill_random(&mut salt)?;
        self.run(move || {
            let salt =
                SaltString::encode_b64(&salt).map_err(|e| CommandError::Hashing(e.to_string()))?;
            Self::argon2()?
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| CommandError::Hashing(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches the PHC string `hash` (false for a hash that does not parse).
    pub async fn verify(&self, hash: &str, password: SecretString) -> Result<bool, CommandError> {
        let hash = hash.to_owned();
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return Ok(false);
            };
            Ok(Self::argon2()?
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok())
        })
        .await
    }
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), CommandError> {
    getrandom::getrandom(buf)
        .map_err(|e| CommandError::Hashing(format!("random number generator: {e}")))
}

/// A new secret: 32 random bytes, hex-encoded.
pub fn generate_secret() -> Result<SecretString, CommandError> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(SecretString(hex::encode(bytes)))
}

/// The stored form of a generated secret: its SHA-256, hex-encoded.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored` (compared in constant time).
pub fn secret_matches(secret: &str, stored: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

/// A personal access token taken apart: `wdn_pat_<user id>_<token id>_<secret>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken<'a> {
    /// The machine user the token belongs to.
    pub user_id: &'a str,
    /// The token's id.
    pub token_id: &'a str,
}

/// Builds a personal access token from its parts.
pub(crate) fn format_token(user_id: &str, token_id: &str, secret: &SecretString) -> SecretString {
    SecretString(format!(
        "{PAT_PREFIX}{user_id}_{token_id}_{}",
        secret.expose()
    ))
}

/// Splits a personal access token into owner and token id; `None` when it does not have the format.
pub fn parse_token(token: &str) -> Option<ParsedToken<'_>> {
    let rest = token.strip_prefix(PAT_PREFIX)?;
    let mut parts = rest.splitn(3, '_');
    let (user_id, token_id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = |part: &str| {
        !part.is_empty()
            && part.len() <= 200
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    (well_formed(user_id) && well_formed(token_id) && well_formed(secret))
        .then_some(ParsedToken { user_id, token_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip() {
        let secret = generate_secret().expect("random");
        let token = format_token("0190-aa", "0190-bb", &secret);
        let parsed = parse_token(token.expose()).expect("parses");
        assert_eq!(
            parsed,
            ParsedToken {
                user_id: "0190-aa",
                token_id: "0190-bb"
            }
        );
        assert!(parse_token("wdn_pat_a_b").is_none());
        assert!(parse_token("wdn_pat__b_c").is_none());
        assert!(parse_token("Bearer x").is_none());
        assert!(
            parse_token("wdn_pat_a_b_c_d").is_none(),
            "the secret holds no underscore"
        );
    }

    #[test]
    fn secrets_are_random_and_hashes_compare() {
        let a = generate_secret().expect("random");
        let b = generate_secret().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(secret_matches(a.expose(), &hash_secret(a.expose())));
        assert!(!secret_matches(b.expose(), &hash_secret(a.expose())));
        assert_eq!(format!("{a:?}"), "SecretString(***)");
    }

    #[tokio::test]
    async fn argon2id_hash_has_owasp_parameters_and_verifies() {
        let hasher = PasswordHasher::new(1);
        let hash = hasher
            .hash(SecretString::new("Correct-Horse-1"))
            .await
            .expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify(&hash, SecretString::new("Correct-Horse-1"))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify(&hash, SecretString::new("wrong"))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("not a hash", SecretString::new("x"))
                .await
                .expect("verify")
        );
    }
}
