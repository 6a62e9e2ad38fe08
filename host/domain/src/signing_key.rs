//! The keys an instance signs its tokens with (ID tokens, JWT access tokens).
//!
//! All keys of an instance live in one aggregate (`"signing_key"`, id = the instance id), a key ring: every
//! node reads the ring with one query, and two nodes that decide to rotate at the same moment conflict on
//! the ring's sequence, so only one new key per algorithm is ever activated.
//!
//! A key is generated (algorithm, `kid`, public JWK, private key encrypted with the master key outside the
//! domain), then activated: the newly active key of an algorithm retires the previous one, which keeps
//! verifying (and stays in the JWKS) until its `not_after`, when every token it signed has expired.
//! The private key never appears in clear in an event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, CommandContext, Decision, domain_events, no_upcast};
use crate::error::DomainError;

/// A JWS algorithm Warden signs with.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys); the algorithm every OIDC client supports.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlgorithm {
    /// Every algorithm, in the order keys are generated.
    pub const ALL: [SigningAlgorithm; 3] = [Self::RS256, Self::ES256, Self::EdDSA];

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `name` (a JWS `alg`), if Warden signs with it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Payload of `signing_key.generated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyGenerated {
    /// The key id (`kid`).
    pub kid: String,
    /// The algorithm.
    pub alg: SigningAlgorithm,
    /// The public key as a JWK (with `kid`, `alg`, `use: sig`).
    pub public_jwk: serde_json::Value,
    /// The private key, encrypted with the master key (AEAD), encoded as the key store writes it; redacted in
    /// the audit trail.
    pub private_key_sealed: String,
    /// When the key was generated (ms since the Unix epoch).
    pub generated_at_unix_ms: i64,
}

/// Payload of `signing_key.activated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyActivated {
    /// The key id.
    pub kid: String,
    /// When it was activated (ms since the Unix epoch).
    pub activated_at_unix_ms: i64,
}

/// Payload of `signing_key.retired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRetired {
    /// The key id.
    pub kid: String,
    /// From this time (ms since the Unix epoch) the key no longer verifies anything and leaves the JWKS.
    pub not_after_unix_ms: i64,
}

domain_events! {
    /// Events of the signing key ring.
    pub enum SigningKeyEvent {
        /// A key pair was generated.
        Generated(KeyGenerated) => "signing_key.generated" @ 1,
        /// A key became the one its algorithm signs with.
        Activated(KeyActivated) => "signing_key.activated" @ 1,
        /// A key stopped signing; it verifies until `not_after_unix_ms`.
        Retired(KeyRetired) => "signing_key.retired" @ 1,
    }
    upcast = no_upcast;
}

/// One key of the ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigningKey {
    /// The algorithm.
    pub alg: SigningAlgorithm,
    /// The public key as a JWK.
    pub public_jwk: serde_json::Value,
    /// The encrypted private key.
    pub private_key_sealed: String,
    /// When the key was generated (ms since the Unix epoch).
    pub generated_at_unix_ms: i64,
    /// When the key was activated, if it was.
    pub activated_at_unix_ms: Option<i64>,
    /// When the key stops verifying, once retired.
    pub not_after_unix_ms: Option<i64>,
}

impl SigningKey {
    /// Whether the key verifies tokens at `now_ms` (active, or retired but not yet past `not_after`).
    pub fn verifies_at(&self, now_ms: i64) -> bool {
        self.activated_at_unix_ms.is_some() && self.not_after_unix_ms.is_none_or(|t| now_ms < t)
    }
}

/// State of an instance's key ring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SigningKeys {
    /// Keys by `kid`.
    pub keys: BTreeMap<String, SigningKey>,
    /// The signing key of each algorithm.
    pub active: BTreeMap<SigningAlgorithm, String>,
}

impl Aggregate for SigningKeys {
    const TYPE: &'static str = "signing_key";
    type Event = SigningKeyEvent;

    fn apply(&mut self, event: &SigningKeyEvent) {
        match event {
            SigningKeyEvent::Generated(e) => {
                self.keys.insert(
                    e.kid.clone(),
                    SigningKey {
                        alg: e.alg,
                        public_jwk: e.public_jwk.clone(),
                        private_key_sealed: e.private_key_sealed.clone(),
                        generated_at_unix_ms: e.generated_at_unix_ms,
                        activated_at_unix_ms: None,
                        not_after_unix_ms: None,
                    },
                );
            }
            SigningKeyEvent::Activated(e) => {
                if let Some(key) = self.keys.get_mut(&e.kid) {
                    key.activated_at_unix_ms = Some(e.activated_at_unix_ms);
                    key.not_after_unix_ms = None;
                    self.active.insert(key.alg, e.kid.clone());
                }
            }
            SigningKeyEvent::Retired(e) => {
                if let Some(key) = self.keys.get_mut(&e.kid) {
                    key.not_after_unix_ms = Some(e.not_after_unix_ms);
                    if self.active.get(&key.alg) == Some(&e.kid) {
                        self.active.remove(&key.alg);
                    }
                }
            }
        }
    }
}

impl SigningKeys {
    /// The active key of `alg`, if any.
    pub fn active_key(&self, alg: SigningAlgorithm) -> Option<(&str, &SigningKey)> {
        let kid = self.active.get(&alg)?;
        self.keys.get(kid).map(|key| (kid.as_str(), key))
    }

    /// Adds a generated key and makes it the active key of its algorithm; the previous active key of that
    /// algorithm retires, verifying for `overlap_ms` more (the longest lifetime of a token it signed).
    pub fn rotate(
        &self,
        key: KeyGenerated,
        overlap_ms: i64,
        ctx: &CommandContext,
    ) -> Result<Decision<SigningKeyEvent>, DomainError> {
        if key.kid.is_empty() || self.keys.contains_key(&key.kid) {
            return Err(DomainError::invalid(
                "kid",
                "signing_key.kid.invalid",
                "a new signing key needs a new, non-empty key id",
            ));
        }
        if key.private_key_sealed.is_empty() || !key.public_jwk.is_object() {
            return Err(DomainError::invalid(
                "public_jwk",
                "signing_key.invalid",
                "a signing key needs a public JWK and an encrypted private key",
            ));
        }
        let mut decision = Decision::event(SigningKeyEvent::Generated(KeyGenerated {
            kid: key.kid.clone(),
            ..key.clone()
        }))
        .and(SigningKeyEvent::Activated(KeyActivated {
            kid: key.kid.clone(),
            activated_at_unix_ms: ctx.now_unix_ms,
        }));
        if let Some((previous, _)) = self.active_key(key.alg) {
            decision = decision.and(SigningKeyEvent::Retired(KeyRetired {
                kid: previous.to_owned(),
                not_after_unix_ms: ctx.now_unix_ms.saturating_add(overlap_ms.max(0)),
            }));
        }
        Ok(decision)
    }

    /// Whether the active key of `alg` is missing or was activated at least `max_age_ms` before `now_ms`.
    pub fn needs_rotation(&self, alg: SigningAlgorithm, max_age_ms: i64, now_ms: i64) -> bool {
        match self.active_key(alg) {
            None => true,
            Some((_, key)) => key
                .activated_at_unix_ms
                .is_none_or(|at| now_ms.saturating_sub(at) >= max_age_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;

    fn generated(kid: &str, alg: SigningAlgorithm) -> KeyGenerated {
        KeyGenerated {
            kid: kid.to_owned(),
            alg,
            public_jwk: serde_json::json!({ "kty": "EC", "kid": kid }),
            private_key_sealed: "v1.nonce.ciphertext".to_owned(),
            generated_at_unix_ms: 1,
        }
    }

    #[test]
    fn first_key_is_generated_and_activated() {
        let ctx = CommandContext::new("i1", "system", 1_000);
        given::<SigningKeys>(&[])
            .when(|ring| ring.rotate(generated("k1", SigningAlgorithm::ES256), 60_000, &ctx))
            .then_events([
                SigningKeyEvent::Generated(generated("k1", SigningAlgorithm::ES256)),
                SigningKeyEvent::Activated(KeyActivated {
                    kid: "k1".into(),
                    activated_at_unix_ms: 1_000,
                }),
            ]);
    }

    #[test]
    fn rotation_retires_the_previous_key_of_the_same_algorithm_only() {
        let ctx = CommandContext::new("i1", "system", 5_000);
        let history = [
            SigningKeyEvent::Generated(generated("r1", SigningAlgorithm::RS256)),
            SigningKeyEvent::Activated(KeyActivated {
                kid: "r1".into(),
                activated_at_unix_ms: 1,
            }),
            SigningKeyEvent::Generated(generated("e1", SigningAlgorithm::ES256)),
            SigningKeyEvent::Activated(KeyActivated {
                kid: "e1".into(),
                activated_at_unix_ms: 2,
            }),
        ];
        given::<SigningKeys>(&history)
            .when(|ring| ring.rotate(generated("e2", SigningAlgorithm::ES256), 60_000, &ctx))
            .then_events([
                SigningKeyEvent::Generated(generated("e2", SigningAlgorithm::ES256)),
                SigningKeyEvent::Activated(KeyActivated {
                    kid: "e2".into(),
                    activated_at_unix_ms: 5_000,
                }),
                SigningKeyEvent::Retired(KeyRetired {
                    kid: "e1".into(),
                    not_after_unix_ms: 65_000,
                }),
            ])
            .then_state(|ring| {
                assert_eq!(
                    ring.active_key(SigningAlgorithm::ES256).map(|k| k.0),
                    Some("e2")
                );
                assert_eq!(
                    ring.active_key(SigningAlgorithm::RS256).map(|k| k.0),
                    Some("r1")
                );
                let old = &ring.keys["e1"];
                assert!(
                    old.verifies_at(64_999),
                    "the old key verifies until not_after"
                );
                assert!(!old.verifies_at(65_000));
            });
    }

    #[test]
    fn a_reused_kid_is_refused() {
        let ctx = CommandContext::new("i1", "system", 0);
        let history = [SigningKeyEvent::Generated(generated(
            "k1",
            SigningAlgorithm::EdDSA,
        ))];
        given::<SigningKeys>(&history)
            .when(|ring| ring.rotate(generated("k1", SigningAlgorithm::EdDSA), 0, &ctx))
            .then_error(crate::ErrorKind::InvalidArgument, "signing_key.kid.invalid");
    }

    #[test]
    fn rotation_is_due_without_a_key_or_after_the_period() {
        let mut ring = SigningKeys::default();
        assert!(ring.needs_rotation(SigningAlgorithm::RS256, 10, 0));
        ring.apply(&SigningKeyEvent::Generated(generated(
            "r1",
            SigningAlgorithm::RS256,
        )));
        ring.apply(&SigningKeyEvent::Activated(KeyActivated {
            kid: "r1".into(),
            activated_at_unix_ms: 100,
        }));
        assert!(!ring.needs_rotation(SigningAlgorithm::RS256, 10, 109));
        assert!(ring.needs_rotation(SigningAlgorithm::RS256, 10, 110));
        assert_eq!(
            SigningAlgorithm::parse("EdDSA"),
            Some(SigningAlgorithm::EdDSA)
        );
        assert_eq!(SigningAlgorithm::parse("none"), None);
    }
}
