//! The login pages' cookies and CSRF tokens.
//!
//! * `warden_sessions`: the browser's login sessions, up to [`MAX_SESSIONS`] entries `<session id>.<token>`
//!   separated by `~`. The token is 256 random bits; the session aggregate keeps only its SHA-256
//!   (`token_hash`) and a new token replaces it after every successful factor, so a token known before the
//!   login (planted by someone else) is worthless after it.
//! * `warden_csrf`: a random nonce naming the browser's login flow. Every form carries
//!   `HMAC-SHA-256(server secret, "csrf" ‖ nonce)`; a form whose token does not match the browser's nonce is
//!   refused before anything happens. A site that cannot read the page cannot know the token, and cannot
//!   compute one for a nonce it planted without the server secret.
//!
//! Both are `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` when the external URL is https.

use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie holding the browser's sessions.
pub const SESSIONS_COOKIE: &str = "warden_sessions";
/// The cookie holding the browser's CSRF nonce.
pub const CSRF_COOKIE: &str = "warden_csrf";
/// The most sessions one browser keeps (the oldest is dropped beyond).
pub const MAX_SESSIONS: usize = 8;
/// The name of the CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";

/// A random 256-bit value, hex-encoded.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS generator failing is not survivable for a login service; a zero token would be guessable, so the
    // request fails instead (the caller maps the panic-free error below).
    if getrandom::getrandom(&mut bytes).is_err() {
        tracing::error!("the operating system's random number generator failed");
        return String::new();
    }
    hex::encode(bytes)
}

/// The stored form of a session token: its SHA-256, hex-encoded.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` hashes to `stored`, compared in constant time.
pub fn token_matches(token: &str, stored: &str) -> bool {
    !token.is_empty() && token_hash(token).as_bytes().ct_eq(stored.as_bytes()).into()
}

/// One entry of the sessions cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// The session aggregate's id.
    pub session_id: String,
    /// The browser's token for it.
    pub token: String,
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn well_formed(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 100
        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The sessions the browser holds, newest last; malformed entries are skipped.
pub fn sessions(headers: &HeaderMap) -> Vec<SessionEntry> {
    let Some(value) = cookie(headers, SESSIONS_COOKIE) else {
        return Vec::new();
    };
    value
        .split('~')
        .filter_map(|entry| entry.split_once('.'))
        .filter(|(id, token)| well_formed(id) && well_formed(token))
        .map(|(id, token)| SessionEntry {
            session_id: id.to_owned(),
            token: token.to_owned(),
        })
        .take(MAX_SESSIONS)
        .collect()
}

/// Cookie attributes for the configured external URL.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Adds `Secure`.
    pub secure: bool,
    /// Lifetime of the sessions cookie, in seconds.
    pub max_age_secs: u64,
}

impl CookiePolicy {
    fn attributes(&self) -> &'static str {
        if self.secure {
            "; Path=/; HttpOnly; SameSite=Lax; Secure"
        } else {
            "; Path=/; HttpOnly; SameSite=Lax"
        }
    }

    /// The `Set-Cookie` value storing `entries` (clearing the cookie when empty).
    pub fn sessions_cookie(&self, entries: &[SessionEntry]) -> HeaderValue {
        if entries.is_empty() {
            return self.clear(SESSIONS_COOKIE);
        }
        let start = entries.len().saturating_sub(MAX_SESSIONS);
        let value: Vec<String> = entries[start..]
            .iter()
            .map(|e| format!("{}.{}", e.session_id, e.token))
            .collect();
        header_value(&format!(
            "{SESSIONS_COOKIE}={}; Max-Age={}{}",
            value.join("~"),
            self.max_age_secs,
            self.attributes()
        ))
    }

    /// The `Set-Cookie` value of a new CSRF nonce (a browser session cookie).
    pub fn csrf_cookie(&self, nonce: &str) -> HeaderValue {
        header_value(&format!("{CSRF_COOKIE}={nonce}{}", self.attributes()))
    }

    /// The `Set-Cookie` value removing cookie `name`.
    pub fn clear(&self, name: &str) -> HeaderValue {
        header_value(&format!("{name}=; Max-Age=0{}", self.attributes()))
    }
}

fn header_value(value: &str) -> HeaderValue {
    // Built from hex, uuids and fixed attributes only: always a valid header value.
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Issues and checks CSRF tokens with a server secret.
#[derive(Clone)]
pub struct Csrf {
    key: [u8; 32],
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf(***)")
    }
}

impl Csrf {
    /// A CSRF service keyed by `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The token of the forms shown to the browser whose nonce is `nonce`.
    pub fn token(&self, nonce: &str) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(b"csrf\0");
        mac.update(nonce.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `token` (from the form) belongs to `nonce` (from the cookie).
    pub fn check(&self, nonce: Option<&str>, token: Option<&str>) -> bool {
        match (nonce, token) {
            (Some(nonce), Some(token)) if !nonce.is_empty() && !token.is_empty() => {
                self.token(nonce).as_bytes().ct_eq(token.as_bytes()).into()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_nonce_and_key() {
        let csrf = Csrf::new([7; 32]);
        let token = csrf.token("nonce-a");
        assert!(csrf.check(Some("nonce-a"), Some(&token)));
        assert!(!csrf.check(Some("nonce-b"), Some(&token)));
        assert!(!csrf.check(None, Some(&token)));
        assert!(!csrf.check(Some("nonce-a"), None));
        assert!(!csrf.check(Some("nonce-a"), Some("")));
        assert!(!Csrf::new([8; 32]).check(Some("nonce-a"), Some(&token)));
    }

    #[test]
    fn session_cookie_round_trip_and_attributes() {
        let policy = CookiePolicy {
            secure: true,
            max_age_secs: 60,
        };
        let entries = vec![
            SessionEntry {
                session_id: "0190-a".into(),
                token: "abc".into(),
            },
            SessionEntry {
                session_id: "0190-b".into(),
                token: "def".into(),
            },
        ];
        let set = policy.sessions_cookie(&entries);
        let set = set.to_str().unwrap_or_default();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
        let value = set.split(';').next().unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {value}"))
                .unwrap_or(HeaderValue::from_static("")),
        );
        assert_eq!(sessions(&headers), entries);
        let plain = CookiePolicy {
            secure: false,
            max_age_secs: 60,
        };
        assert!(
            !plain
                .csrf_cookie("n")
                .to_str()
                .unwrap_or_default()
                .contains("Secure")
        );
    }

    #[test]
    fn tokens_are_random_and_compared_by_hash() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert!(token_matches(&a, &token_hash(&a)));
        assert!(!token_matches("", &token_hash("")));
        assert!(!token_matches(&random_token(), &token_hash(&a)));
    }
}
