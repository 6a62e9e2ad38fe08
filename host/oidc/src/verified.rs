//! A bounded cache of verified JWT access tokens: a token presented again (introspection, userinfo, the
//! management API) skips the signature check and the decoding of its claims, the costly part of its use.
//!
//! What it guarantees: an entry holds the claims of a token whose signature, issuer and expiry were checked,
//! and the id of the key that signed it. It answers only while the token has not expired and while that key
//! still verifies on this node (not retired, still in the ring); otherwise the token is verified again. Only
//! the signature is remembered: every use still checks the grant, the user, the organization and the
//! application as the first use did, so a revoked grant, a locked user or a deactivated app is refused at
//! once, cached or not.
//!
//! Bounds: at most [`MAX_ENTRIES`] entries and [`MAX_BYTES`] bytes of claims; a token larger than
//! [`MAX_TOKEN_BYTES`] is never cached. When a bound is reached, expired entries go first, and if that is
//! not enough the cache starts again empty (tokens are then verified once more, as on a cold start).
//! Entries are keyed by the SHA-256 of the instance id and the token, so the cache holds no token.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use sha2::{Digest as _, Sha256};

use crate::provider::AccessClaims;

/// The most entries kept.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// The most bytes of claims kept (an estimate: the lengths of their strings plus a fixed overhead each).
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Tokens longer than this are verified at every use.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a verified token left behind.
#[derive(Debug)]
pub(crate) struct Verified {
    /// Its claims, as verified.
    pub(crate) claims: AccessClaims,
    /// The key that signed it.
    pub(crate) kid: String,
    /// The estimated size of this entry.
    bytes: usize,
}

/// The cache (see the module docs).
#[derive(Debug)]
pub(crate) struct VerifiedTokens {
    max_entries: usize,
    max_bytes: usize,
    inner: RwLock<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_hash: HashMap<[u8; 32], Arc<Verified>>,
    bytes: usize,
}

/// The cache key of `token` in `instance_id`.
pub(crate) fn key(instance_id: &str, token: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(instance_id.as_bytes());
    hasher.update([0]);
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::with_bounds(MAX_ENTRIES, MAX_BYTES)
    }
}

impl VerifiedTokens {
    /// A cache holding at most `max_entries` entries and `max_bytes` bytes.
    pub(crate) fn with_bounds(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries,
            max_bytes,
            inner: RwLock::new(Entries::default()),
        }
    }

    /// The entry of `key` if its token has not expired at `now_secs` (Unix seconds); an expired entry is
    /// dropped.
    pub(crate) fn get(&self, key: &[u8; 32], now_secs: i64) -> Option<Arc<Verified>> {
        let found = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_hash
            .get(key)
            .cloned()?;
        if found.claims.exp > now_secs {
            return Some(found);
        }
        self.remove(key);
        None
    }

    /// Drops the entry of `key`.
    pub(crate) fn remove(&self, key: &[u8; 32]) {
        let mut entries = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(gone) = entries.by_hash.remove(key) {
            entries.bytes = entries.bytes.saturating_sub(gone.bytes);
        }
    }

    /// Remembers the claims of a token that verified with `kid`, unless the token is too large or has
    /// expired at `now_secs`.
    pub(crate) fn insert(
        &self,
        key: [u8; 32],
        token_len: usize,
        claims: AccessClaims,
        kid: String,
        now_secs: i64,
    ) {
        if token_len > MAX_TOKEN_BYTES || claims.exp <= now_secs {
            return;
        }
        let bytes = size_of::<Verified>()
            + 64
            + kid.len()
            + claims.iss.len()
            + claims.sub.len()
            + claims.aud.iter().map(|a| a.len() + 24).sum::<usize>()
            + claims.client_id.len()
            + claims.jti.len()
            + claims.scope.len()
            + claims.gid.as_ref().map_or(0, String::len)
            + claims.sid.as_ref().map_or(0, String::len);
        let entry = Arc::new(Verified { claims, kid, bytes });
        let mut entries = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(gone) = entries.by_hash.remove(&key) {
            entries.bytes = entries.bytes.saturating_sub(gone.bytes);
        }
        if entries.by_hash.len() >= self.max_entries || entries.bytes + bytes > self.max_bytes {
            entries.by_hash.retain(|_, v| v.claims.exp > now_secs);
            entries.bytes = entries.by_hash.values().map(|v| v.bytes).sum();
            if entries.by_hash.len() >= self.max_entries || entries.bytes + bytes > self.max_bytes {
                entries.by_hash.clear();
                entries.bytes = 0;
            }
            if bytes > self.max_bytes {
                return;
            }
        }
        entries.bytes += bytes;
        entries.by_hash.insert(key, entry);
    }

    /// The number of entries and their estimated bytes.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let entries = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        (entries.by_hash.len(), entries.bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn claims(jti: &str, exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://id.example.com".into(),
            sub: "user".into(),
            aud: vec!["client".into()],
            client_id: "client".into(),
            exp,
            iat: exp - 3600,
            jti: jti.into(),
            scope: "openid".into(),
            gid: None,
            sid: None,
            auth_time: None,
        }
    }

    #[test]
    fn an_entry_answers_until_its_token_expires() {
        let cache = VerifiedTokens::default();
        let k = key("i1", "token");
        cache.insert(k, 5, claims("a", 1_000), "kid".into(), 900);
        assert_eq!(cache.get(&k, 999).unwrap().claims.jti, "a");
        assert!(cache.get(&k, 1_000).is_none(), "expired: never answers");
        assert_eq!(cache.size(), (0, 0), "the expired entry is dropped");
        // A token already expired is not remembered.
        cache.insert(k, 5, claims("b", 1_000), "kid".into(), 1_000);
        assert!(cache.get(&k, 0).is_none());
    }

    #[test]
    fn keys_differ_by_instance_and_token() {
        assert_ne!(key("i1", "token"), key("i2", "token"));
        assert_ne!(key("i1", "token"), key("i1", "token2"));
        assert_ne!(key("i1", "xtoken"), key("i1x", "token"));
    }

    #[test]
    fn entries_and_bytes_stay_within_bounds() {
        let cache = VerifiedTokens::with_bounds(10, 1_000_000);
        for n in 0..95 {
            let k = key("i1", &format!("t{n}"));
            cache.insert(k, 5, claims(&format!("j{n}"), 2_000), "kid".into(), 1_000);
            assert!(cache.size().0 <= 10);
        }
        // The newest entry is always kept.
        assert!(cache.get(&key("i1", "t94"), 1_000).is_some());

        let one = {
            let probe = VerifiedTokens::default();
            probe.insert(key("i", "t"), 5, claims("j0", 2_000), "kid".into(), 1_000);
            probe.size().1
        };
        let cache = VerifiedTokens::with_bounds(1_000, one * 3);
        for n in 0..20 {
            let k = key("i1", &format!("t{n}"));
            cache.insert(k, 5, claims(&format!("j{n}"), 2_000), "kid".into(), 1_000);
            assert!(cache.size().1 <= one * 3, "{:?}", cache.size());
        }
        // Too large a token is not remembered.
        let k = key("i1", "huge");
        cache.insert(
            k,
            MAX_TOKEN_BYTES + 1,
            claims("h", 2_000),
            "kid".into(),
            1_000,
        );
        assert!(cache.get(&k, 1_000).is_none());
    }

    #[test]
    fn expired_entries_make_room_first() {
        let cache = VerifiedTokens::with_bounds(3, 1_000_000);
        cache.insert(key("i", "old"), 5, claims("o", 1_100), "kid".into(), 1_000);
        cache.insert(key("i", "a"), 5, claims("a", 5_000), "kid".into(), 1_000);
        cache.insert(key("i", "b"), 5, claims("b", 5_000), "kid".into(), 1_000);
        // At 1_200 the first has expired: it goes, the others stay.
        cache.insert(key("i", "c"), 5, claims("c", 5_000), "kid".into(), 1_200);
        assert_eq!(cache.size().0, 3);
        for name in ["a", "b", "c"] {
            assert!(cache.get(&key("i", name), 1_200).is_some(), "{name}");
        }
    }
}
