//! Sealing secrets that the server must read back (TOTP secrets, the codes a notification carries) with
//! an authenticated cipher under the instance's master key.
//!
//! [`SecretBox`] is XChaCha20-Poly1305 (a 24-byte random nonce per value, so random nonces never collide in
//! practice) over a 32-byte key. Each sealed value is bound to what it belongs to through the associated
//! data (e.g. `user.otp|<instance>|<user id>`): a sealed value copied into another user's event does not
//! open. The stored form is `v1.<hex of nonce ‖ ciphertext ‖ tag>`; the `v1` names the key and algorithm, so
//! a later key rotation can tell old values apart.
//!
//! The key is given to [`crate::CommandsConfig::secret_box`] by the server: [`SecretBox::derived`] from the
//! master key (configuration `master_key`, or `master.key` in the data directory) with the purpose
//! [`PURPOSE`]. Without one, commands that must seal a secret fail with
//! [`CommandError::Sealing`](crate::CommandError::Sealing).

use std::fmt;

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};

use crate::secret::fill_random;

const PREFIX: &str = "v1.";

/// The purpose the server derives the box's key from the master key with.
pub const PURPOSE: &str = "warden.secret_box";
const NONCE_LEN: usize = 24;

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The stored value is not of the form `v1.<hex>`, or is too short.
    #[error("the sealed value is malformed")]
    Malformed,
    /// The value was sealed under another key or for another owner, or was altered.
    #[error(
        "the sealed value does not open with this key (another key, another owner, or altered)"
    )]
    Forged,
    /// The random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
}

/// Seals and opens secrets with a 32-byte key (XChaCha20-Poly1305). Its `Debug` form hides the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A box over `key` (e.g. the master key).
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A box over a key derived from `master` for `purpose` (SHA-256 of both), so the master key itself is
    /// never used by two ciphers: the server gives it the master key with purpose `"warden.secret_box"`.
    pub fn derived(master: &[u8; 32], purpose: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update((purpose.len() as u64).to_be_bytes());
        hasher.update(purpose.as_bytes());
        hasher.update(master);
        let key: [u8; 32] = hasher.finalize().into();
        Self::new(&key)
    }

    /// A box over a fresh random key (tests, and values that need not outlive the process).
    pub fn generate() -> Result<Self, SealError> {
        let mut key = [0u8; 32];
        fill_random(&mut key).map_err(|e| SealError::Random(e.to_string()))?;
        Ok(Self::new(&key))
    }

    /// Seals `plaintext` for `owner` (the associated data that must be given again to open it).
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SealError::Forged)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", hex::encode(out)))
    }

    /// Opens a value sealed for `owner`.
    pub fn open(&self, sealed: &str, owner: &str) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = hex::decode(body).map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SealError::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_owner_and_key() {
        let sealed_box = SecretBox::new(&[7u8; 32]);
        let sealed = sealed_box
            .seal(b"JBSWY3DPEHPK3PXP", "user.otp|i|u1")
            .expect("seal");
        assert!(sealed.starts_with("v1."), "{sealed}");
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            sealed_box.open(&sealed, "user.otp|i|u1").expect("open"),
            b"JBSWY3DPEHPK3PXP"
        );
        assert_eq!(
            sealed_box.open(&sealed, "user.otp|i|u2"),
            Err(SealError::Forged)
        );
        assert_eq!(
            SecretBox::new(&[8u8; 32]).open(&sealed, "user.otp|i|u1"),
            Err(SealError::Forged)
        );
        assert_eq!(
            sealed_box.open("v1.00", "user.otp|i|u1"),
            Err(SealError::Malformed)
        );
        assert_eq!(
            sealed_box.open("plain", "user.otp|i|u1"),
            Err(SealError::Malformed)
        );
        let again = sealed_box
            .seal(b"JBSWY3DPEHPK3PXP", "user.otp|i|u1")
            .expect("seal");
        assert_ne!(sealed, again, "a fresh nonce every time");
        assert_eq!(format!("{sealed_box:?}"), "SecretBox(***)");
    }
}
