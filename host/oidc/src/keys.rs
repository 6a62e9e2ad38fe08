//! The signing keys of each instance, decrypted once and kept in memory.
//!
//! The key ring is the `signing_key` aggregate (see [`warden_domain::signing_key`]). A node loads it at the
//! first use, and again when its refresh task runs (every [`KeyConfig::refresh_interval`]) or when a token
//! names a `kid` it does not know (a key another node just generated). The refresh also rotates: an
//! algorithm whose active key is older than [`KeyConfig::rotation_period`] gets a new key; the old one keeps
//! verifying, and stays in the JWKS, for [`KeyConfig::overlap`] (longer than any token it signed lives).
//! Two nodes rotating at once conflict on the ring's sequence: one wins, the other reloads.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use warden_command::Commands;
use warden_domain::{
    Aggregate as _, CommandContext, DomainEvent as _,
    signing_key::{SigningAlgorithm, SigningKeys},
};
use warden_eventstore::{AggregateKey, Eventstore as _, Expected, NewEvent, Push};

use crate::{
    OidcError,
    crypto::{self, MasterKey},
};

/// The creator recorded on key ring events.
const ACTOR: &str = "system:oidc-keys";

/// How keys are rotated and refreshed.
#[derive(Debug, Clone)]
pub struct KeyConfig {
    /// How long a key signs before a new one replaces it.
    pub rotation_period: Duration,
    /// How long a retired key keeps verifying (and stays in the JWKS): at least the longest token lifetime.
    pub overlap: Duration,
    /// How often a node re-reads the ring (and rotates when due).
    pub refresh_interval: Duration,
}

impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            rotation_period: Duration::from_secs(30 * 24 * 3600),
            overlap: Duration::from_secs(2 * 24 * 3600),
            refresh_interval: Duration::from_secs(60),
        }
    }
}

/// The JWS algorithm of `alg`.
pub(crate) fn jws_algorithm(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// A key that signs.
struct Signer {
    kid: String,
    alg: SigningAlgorithm,
    key: EncodingKey,
    /// The key parsed once, for the algorithms whose parsing costs about as much as a signature:
    /// `jsonwebtoken` parses the DER document at every signature (for ES256 it also derives the public key;
    /// for RS256 it checks the key and computes its CRT values).
    parsed: Option<ParsedKey>,
}

/// A private key ready to sign. RS256 signs with `ring`, whose RSA private-key operation is several times
/// faster than the `rsa` crate's (an RS256 ID token is signed at every login).
enum ParsedKey {
    Es256(p256::ecdsa::SigningKey),
    Rs256(Box<ring::rsa::KeyPair>),
}

impl ParsedKey {
    fn parse(alg: SigningAlgorithm, der: &[u8]) -> Option<Self> {
        match alg {
            SigningAlgorithm::ES256 => {
                use p256::pkcs8::DecodePrivateKey as _;
                p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .ok()
                    .map(Self::Es256)
            }
            SigningAlgorithm::RS256 => ring::rsa::KeyPair::from_der(der)
                .ok()
                .map(|key| Self::Rs256(Box::new(key))),
            SigningAlgorithm::EdDSA => None,
        }
    }

    /// The signature of `message`: `r || s` for ES256 (RFC 7518 §3.4, deterministic nonces per RFC 6979),
    /// PKCS#1 v1.5 with SHA-256 for RS256.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, OidcError> {
        match self {
            Self::Es256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = key.sign(message);
                Ok(signature.to_bytes().to_vec())
            }
            Self::Rs256(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| OidcError::Unavailable("signing: RS256 failed".to_owned()))?;
                Ok(signature)
            }
        }
    }
}

/// A key that verifies.
struct Verifier {
    alg: SigningAlgorithm,
    key: DecodingKey,
    not_after_ms: Option<i64>,
}

/// One instance's ring, decrypted.
pub(crate) struct Ring {
    sequence: i64,
    signers: BTreeMap<SigningAlgorithm, Signer>,
    verifiers: HashMap<String, Verifier>,
    jwks: Value,
    loaded_at: Instant,
}

/// The key rings of every instance this node serves.
pub(crate) struct KeyStore {
    commands: Commands,
    master: MasterKey,
    config: KeyConfig,
    rings: RwLock<HashMap<String, Arc<Ring>>>,
    /// Serialises reloads, so a burst of unknown `kid`s reloads once.
    reload: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a token did not verify (every case is "invalid token" to the caller).
#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyError {
    /// Not a JWT, unknown key, wrong algorithm, bad signature, expired, wrong issuer.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] OidcError),
}

impl KeyStore {
    pub(crate) fn new(commands: Commands, master: MasterKey, config: KeyConfig) -> Self {
        Self {
            commands,
            master,
            config,
            rings: RwLock::new(HashMap::new()),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, instance_id: &str) -> Option<Arc<Ring>> {
        self.rings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(instance_id)
            .cloned()
    }

    async fn ring(&self, instance_id: &str) -> Result<Arc<Ring>, OidcError> {
        if let Some(ring) = self.cached(instance_id) {
            return Ok(ring);
        }
        self.refresh(instance_id).await
    }

    /// Whether `instance_id` has no signing key at all (its first start).
    pub(crate) async fn is_empty(&self, instance_id: &str) -> Result<bool, OidcError> {
        let model = self
            .commands
            .load::<SigningKeys>(instance_id, instance_id)
            .await
            .map_err(|e| OidcError::Storage(e.to_string()))?;
        Ok(model.state.keys.is_empty())
    }

    /// Re-reads the ring of `instance_id`, generating keys that are missing or due for rotation.
    pub(crate) async fn refresh(&self, instance_id: &str) -> Result<Arc<Ring>, OidcError> {
        self.refresh_after(instance_id, || {}).await
    }

    /// [`KeyStore::refresh`], calling `locked` once it holds the reload lock (every other reader of the keys
    /// that finds none waits for it from then on).
    pub(crate) async fn refresh_after(
        &self,
        instance_id: &str,
        locked: impl FnOnce(),
    ) -> Result<Arc<Ring>, OidcError> {
        let _guard = self.reload.lock().await;
        locked();
        // Rotate at most once per call: the ring read after a rotation is used as it is.
        let mut rotated = false;
        for _ in 0..5 {
            let model = self
                .commands
                .load::<SigningKeys>(instance_id, instance_id)
                .await
                .map_err(|e| OidcError::Storage(e.to_string()))?;
            let now_ms = now_ms();
            let rotation_ms =
                i64::try_from(self.config.rotation_period.as_millis()).unwrap_or(i64::MAX);
            let due: Vec<SigningAlgorithm> = SigningAlgorithm::ALL
                .into_iter()
                .filter(|alg| !rotated && model.state.needs_rotation(*alg, rotation_ms, now_ms))
                .collect();
            if due.is_empty() {
                if let Some(ring) = self.cached(instance_id)
                    && ring.sequence == model.sequence
                {
                    return Ok(ring);
                }
                let ring = Arc::new(self.decrypt(&model.state, model.sequence, now_ms)?);
                self.rings
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(instance_id.to_owned(), ring.clone());
                return Ok(ring);
            }
            let ctx = CommandContext::new(instance_id, ACTOR, now_ms);
            let overlap_ms = i64::try_from(self.config.overlap.as_millis()).unwrap_or(i64::MAX);
            let mut state = model.state.clone();
            let mut events = Vec::new();
            for alg in due {
                let kid = uuid::Uuid::now_v7().simple().to_string();
                let generated = {
                    let master = self.master.clone();
                    let kid = kid.clone();
                    tokio::task::spawn_blocking(move || {
                        crypto::generate_key(&master, alg, &kid, now_ms)
                    })
                    .await
                    .map_err(|e| OidcError::Unavailable(e.to_string()))??
                };
                let decision = state
                    .rotate(generated.event, overlap_ms, &ctx)
                    .map_err(|e| OidcError::Invalid(e.message.to_string()))?;
                for event in decision.events {
                    state.apply(&event);
                    events.push(NewEvent::new(
                        event.event_type(),
                        event.revision(),
                        event.to_payload(),
                    ));
                }
            }
            let push = Push::new(ACTOR).append(
                AggregateKey::new(instance_id, SigningKeys::TYPE, instance_id),
                Expected::Exact(model.sequence),
                events,
            );
            match self.commands.store().push(push).await {
                Ok(stored) => {
                    rotated = true;
                    self.commands.observe(&stored);
                    tracing::info!(instance_id, "signing keys generated");
                }
                Err(error) if error.is_conflict() => continue,
                Err(error) => return Err(OidcError::Storage(error.to_string())),
            }
        }
        Err(OidcError::Unavailable(
            "the signing keys keep changing; try again".into(),
        ))
    }

    fn decrypt(&self, state: &SigningKeys, sequence: i64, now_ms: i64) -> Result<Ring, OidcError> {
        let mut signers = BTreeMap::new();
        let mut verifiers = HashMap::new();
        let mut keys = Vec::new();
        for (kid, key) in &state.keys {
            if !key.verifies_at(now_ms) {
                continue;
            }
            verifiers.insert(
                kid.clone(),
                Verifier {
                    alg: key.alg,
                    key: crypto::decoding_key(key.alg, &key.public_jwk)?,
                    not_after_ms: key.not_after_unix_ms,
                },
            );
            keys.push(key.public_jwk.clone());
        }
        for (alg, kid) in &state.active {
            if let Some(key) = state.keys.get(kid) {
                let der = self.master.open(kid, &key.private_key_sealed)?;
                signers.insert(
                    *alg,
                    Signer {
                        kid: kid.clone(),
                        alg: *alg,
                        key: crypto::encoding_key(*alg, &der),
                        parsed: ParsedKey::parse(*alg, &der),
                    },
                );
            }
        }
        Ok(Ring {
            sequence,
            signers,
            verifiers,
            jwks: json!({ "keys": keys }),
            loaded_at: Instant::now(),
        })
    }

    /// The public keys of `instance_id` as a JWK set.
    pub(crate) async fn jwks(&self, instance_id: &str) -> Result<Value, OidcError> {
        Ok(self.ring(instance_id).await?.jwks.clone())
    }

    /// Signs `claims` with the active key of `alg`; `typ` goes into the header (`JWT`, `at+jwt`).
    pub(crate) async fn sign<T: Serialize>(
        &self,
        instance_id: &str,
        alg: SigningAlgorithm,
        typ: &str,
        claims: &T,
    ) -> Result<String, OidcError> {
        let ring = self.ring(instance_id).await?;
        let signer = ring
            .signers
            .get(&alg)
            .ok_or_else(|| OidcError::Unavailable(format!("no active {} key", alg.as_str())))?;
        let mut header = Header::new(jws_algorithm(signer.alg));
        header.kid = Some(signer.kid.clone());
        header.typ = Some(typ.to_owned());
        if let Some(key) = &signer.parsed {
            return compact_jws(&header, claims, key);
        }
        jsonwebtoken::encode(&header, claims, &signer.key)
            .map_err(|e| OidcError::Unavailable(format!("signing: {e}")))
    }

    /// Verifies a token signed by one of the instance's keys: its signature with the key its `kid` names (the
    /// key's own algorithm, whatever the header says: no `none`, no HMAC), `exp`, and `iss == issuer`.
    /// Audience and other claims are the caller's to check.
    pub(crate) async fn verify<T: DeserializeOwned>(
        &self,
        instance_id: &str,
        issuer: &str,
        token: &str,
        check_expiry: bool,
    ) -> Result<T, VerifyError> {
        self.verify_keyed(instance_id, issuer, token, check_expiry)
            .await
            .map(|(claims, _)| claims)
    }

    /// [`KeyStore::verify`], also answering the id of the key that verified the token.
    pub(crate) async fn verify_keyed<T: DeserializeOwned>(
        &self,
        instance_id: &str,
        issuer: &str,
        token: &str,
        check_expiry: bool,
    ) -> Result<(T, String), VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Invalid(format!("header: {e}")))?;
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Invalid("no kid".into()))?;
        let mut ring = self.ring(instance_id).await?;
        if !ring.verifiers.contains_key(&kid) && ring.loaded_at.elapsed() > Duration::from_secs(2) {
            ring = self.refresh(instance_id).await?;
        }
        let verifier = ring
            .verifiers
            .get(&kid)
            .ok_or_else(|| VerifyError::Invalid("unknown kid".into()))?;
        if verifier.not_after_ms.is_some_and(|t| now_ms() >= t) {
            return Err(VerifyError::Invalid("retired key".into()));
        }
        let alg = jws_algorithm(verifier.alg);
        if header.alg != alg {
            return Err(VerifyError::Invalid(
                "algorithm does not match the key".into(),
            ));
        }
        let mut validation = Validation::new(alg);
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_exp = check_expiry;
        jsonwebtoken::decode::<T>(token, &verifier.key, &validation)
            .map(|data| (data.claims, kid.clone()))
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }

    /// Whether the key `kid` of `instance_id` verifies now on this node: in the ring as last loaded, and not
    /// past the end of its overlap. A token it verified before is still good as far as its key goes.
    pub(crate) fn verifies_now(&self, instance_id: &str, kid: &str) -> bool {
        self.cached(instance_id).is_some_and(|ring| {
            ring.verifiers
                .get(kid)
                .is_some_and(|v| v.not_after_ms.is_none_or(|t| now_ms() < t))
        })
    }

    /// The instances whose rings this node has loaded.
    pub(crate) fn instances(&self) -> Vec<String> {
        self.rings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// How often the refresh task runs.
    pub(crate) fn refresh_interval(&self) -> Duration {
        self.config.refresh_interval
    }
}

/// A compact JWS (RFC 7515) of `claims` signed with a parsed key.
fn compact_jws<T: Serialize>(
    header: &Header,
    claims: &T,
    key: &ParsedKey,
) -> Result<String, OidcError> {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let failed = |e: serde_json::Error| OidcError::Unavailable(format!("signing: {e}"));
    let header = serde_json::to_vec(header).map_err(failed)?;
    let claims = serde_json::to_vec(claims).map_err(failed)?;
    let mut jws = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 400);
    URL_SAFE_NO_PAD.encode_string(&header, &mut jws);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut jws);
    let signature = key.sign(jws.as_bytes())?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    Ok(jws)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
