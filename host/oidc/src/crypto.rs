//! Key material: the master key that seals private keys at rest (ChaCha20-Poly1305), generation of signing
//! key pairs, and the random values and hashes of the protocol (codes, tokens, PKCE, `at_hash`).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use warden_domain::signing_key::{KeyGenerated, SigningAlgorithm};

use crate::OidcError;

/// The version prefix of a sealed private key (`v1.<base64url nonce + ciphertext>`).
const SEALED_PREFIX: &str = "v1.";

/// The 256-bit key that encrypts signing keys at rest. Its `Debug` form hides the value.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A new random master key.
    pub fn generate() -> Result<Self, OidcError> {
        let mut key = [0u8; 32];
        fill_random(&mut key)?;
        Ok(Self(key))
    }

    /// Parses a master key written as 64 hex digits or as 43 base64url characters (32 bytes either way).
    pub fn parse(text: &str) -> Result<Self, OidcError> {
        let text = text.trim();
        let bytes = if text.len() == 64 {
            hex::decode(text).ok()
        } else {
            URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
        };
        match bytes.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()) {
            Some(key) => Ok(Self(key)),
            None => Err(OidcError::Invalid(
                "master_key must be 32 bytes written as 64 hex digits (e.g. `openssl rand -hex 32`)".into(),
            )),
        }
    }

    /// The key's bytes, for deriving other keys from it (never use them as a cipher key directly).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The cipher key for signing keys: SHA-256 of a purpose label and the master key, so the master key
    /// itself is never the key of two ciphers.
    fn signing_keys_cipher(&self) -> Result<ChaCha20Poly1305, OidcError> {
        let mut hasher = Sha256::new();
        hasher.update(b"warden.signing_keys");
        hasher.update(self.0);
        ChaCha20Poly1305::new_from_slice(&hasher.finalize())
            .map_err(|_| OidcError::Unavailable("master key".into()))
    }

    /// The key as 64 hex digits (the form written to `master.key`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Encrypts `plaintext`, binding it to `context` (the key id): a sealed key cannot be swapped for another.
    pub(crate) fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, OidcError> {
        let cipher = self.signing_keys_cipher()?;
        let mut nonce = [0u8; 12];
        fill_random(&mut nonce)?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OidcError::Unavailable("sealing a key failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts what [`seal`](Self::seal) made for the same `context`.
    pub(crate) fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, OidcError> {
        let wrong = || OidcError::MasterKeyMismatch {
            kid: context.to_owned(),
        };
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
            .filter(|b| b.len() > 12)
            .ok_or_else(wrong)?;
        let cipher = self.signing_keys_cipher().map_err(|_| wrong())?;
        cipher
            .decrypt(
                Nonce::from_slice(&bytes[..12]),
                Payload {
                    msg: &bytes[12..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| wrong())
    }
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), OidcError> {
    getrandom::getrandom(buf).map_err(|e| OidcError::Unavailable(format!("random numbers: {e}")))
}

/// A new random secret value: 32 bytes, base64url (43 characters, 256 bits).
pub(crate) fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a code or token: its SHA-256, hex.
pub(crate) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// base64url(SHA-256(verifier)) == challenge, compared in constant time (PKCE S256).
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// `at_hash`: base64url of the left half of the hash of the access token, the hash being the one of the ID
/// token's algorithm (OIDC Core §3.1.3.6): SHA-256 for RS256 and ES256, SHA-512 for EdDSA with Ed25519 (the
/// hash Ed25519 uses, as relying-party libraries compute it).
pub(crate) fn at_hash(access_token: &str, id_token_alg: SigningAlgorithm) -> String {
    match id_token_alg {
        SigningAlgorithm::RS256 | SigningAlgorithm::ES256 => {
            URL_SAFE_NO_PAD.encode(&Sha256::digest(access_token.as_bytes())[..16])
        }
        SigningAlgorithm::EdDSA => {
            URL_SAFE_NO_PAD.encode(&sha2::Sha512::digest(access_token.as_bytes())[..32])
        }
    }
}

/// A freshly generated key pair: the event payload (private key sealed) and the keys to use at once.
pub(crate) struct GeneratedKey {
    pub(crate) event: KeyGenerated,
}

/// Generates a key pair for `alg` under `kid`, sealing the private key with `master`.
pub(crate) fn generate_key(
    master: &MasterKey,
    alg: SigningAlgorithm,
    kid: &str,
    now_ms: i64,
) -> Result<GeneratedKey, OidcError> {
    let failed =
        |e: String| OidcError::Unavailable(format!("generating a {} key: {e}", alg.as_str()));
    let (der, mut jwk) = match alg {
        SigningAlgorithm::RS256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::PrivateKey::new(&mut getrandom04::SysRng, 2048)
                .map_err(|e| failed(e.to_string()))?;
            let der = key.to_pkcs1_der().map_err(|e| failed(e.to_string()))?;
            let public = key.to_public_key();
            (
                der.as_bytes().to_vec(),
                json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(public.n_bytes()),
                    "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
                }),
            )
        }
        SigningAlgorithm::ES256 => {
            use p256::pkcs8::EncodePrivateKey as _;
            let mut seed = [0u8; 32];
            let key = loop {
                fill_random(&mut seed)?;
                if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&seed) {
                    break key;
                }
            };
            let der = key.to_pkcs8_der().map_err(|e| failed(e.to_string()))?;
            let point = key.verifying_key().to_sec1_point(false);
            let bytes = point.as_bytes();
            if bytes.len() != 65 {
                return Err(failed("unexpected point encoding".into()));
            }
            (
                der.as_bytes().to_vec(),
                json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&bytes[1..33]),
                    "y": URL_SAFE_NO_PAD.encode(&bytes[33..65]),
                }),
            )
        }
        SigningAlgorithm::EdDSA => {
            use ed25519_dalek::pkcs8::EncodePrivateKey as _;
            let mut seed = [0u8; 32];
            fill_random(&mut seed)?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let der = key.to_pkcs8_der().map_err(|e| failed(e.to_string()))?;
            (
                der.as_bytes().to_vec(),
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
                }),
            )
        }
    };
    if let Value::Object(fields) = &mut jwk {
        fields.insert("kid".into(), Value::String(kid.to_owned()));
        fields.insert("alg".into(), Value::String(alg.as_str().to_owned()));
        fields.insert("use".into(), Value::String("sig".into()));
    }
    let sealed = master.seal(kid, &der)?;
    Ok(GeneratedKey {
        event: KeyGenerated {
            kid: kid.to_owned(),
            alg,
            public_jwk: jwk,
            private_key_sealed: sealed,
            generated_at_unix_ms: now_ms,
        },
    })
}

/// The signing key from a decrypted private key (PKCS#1 DER for RSA, PKCS#8 DER otherwise).
pub(crate) fn encoding_key(alg: SigningAlgorithm, der: &[u8]) -> EncodingKey {
    match alg {
        SigningAlgorithm::RS256 => EncodingKey::from_rsa_der(der),
        SigningAlgorithm::ES256 => EncodingKey::from_ec_der(der),
        SigningAlgorithm::EdDSA => EncodingKey::from_ed_der(der),
    }
}

/// The verifying key from a public JWK of Warden's own making.
pub(crate) fn decoding_key(alg: SigningAlgorithm, jwk: &Value) -> Result<DecodingKey, OidcError> {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Unavailable(format!("signing key JWK without `{name}`")))
    };
    let key = match alg {
        SigningAlgorithm::RS256 => DecodingKey::from_rsa_components(field("n")?, field("e")?),
        SigningAlgorithm::ES256 => DecodingKey::from_ec_components(field("x")?, field("y")?),
        SigningAlgorithm::EdDSA => DecodingKey::from_ed_components(field("x")?),
    };
    key.map_err(|e| OidcError::Unavailable(format!("signing key JWK: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_master_key_and_kid() {
        let master = MasterKey::generate().expect("random");
        let sealed = master.seal("kid-1", b"private").expect("seal");
        assert_eq!(master.open("kid-1", &sealed).expect("open"), b"private");
        assert!(master.open("kid-2", &sealed).is_err(), "bound to the kid");
        let other = MasterKey::generate().expect("random");
        assert!(other.open("kid-1", &sealed).is_err(), "another master key");
        let parsed = MasterKey::parse(&master.to_hex()).expect("parse");
        assert_eq!(parsed.open("kid-1", &sealed).expect("open"), b"private");
        assert!(MasterKey::parse("short").is_err());
        assert_eq!(format!("{master:?}"), "MasterKey(***)");
    }

    #[test]
    fn pkce_and_at_hash_follow_the_rfc_examples() {
        // RFC 7636 appendix B.
        assert!(pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert_eq!(at_hash("x", SigningAlgorithm::RS256).len(), 22);
        assert_eq!(
            at_hash("x", SigningAlgorithm::RS256),
            at_hash("x", SigningAlgorithm::ES256)
        );
        assert_eq!(at_hash("x", SigningAlgorithm::EdDSA).len(), 43);
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        let master = MasterKey::generate().expect("random");
        for alg in SigningAlgorithm::ALL {
            let generated = generate_key(&master, alg, "k", 0).expect("generate");
            let der = master
                .open("k", &generated.event.private_key_sealed)
                .expect("open");
            let encoding = encoding_key(alg, &der);
            let jws_alg = crate::keys::jws_algorithm(alg);
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jws_alg),
                &json!({ "sub": "u", "exp": 4_000_000_000_i64 }),
                &encoding,
            )
            .expect("sign");
            let decoding = decoding_key(alg, &generated.event.public_jwk).expect("jwk");
            let mut validation = jsonwebtoken::Validation::new(jws_alg);
            validation.validate_aud = false;
            jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("verifies");
        }
    }
}
