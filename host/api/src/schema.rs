//! The rules the domain enforces on input, spelled as JSON Schema keywords for the OpenAPI document.
//!
//! The domain's checks live in `warden_domain::validate`; these patterns describe the values those checks
//! accept, so that a client (or a fuzzer) that follows the document sends only values the server takes. Where
//! a rule cannot be written as a pattern (a total length of the part before `@` of an email, a trimmed
//! length), the pattern is the stricter, expressible part of it: every value it admits is accepted.
//!
//! Patterns are ECMA-262 regular expressions, anchored, and avoid lookaround and `\s` (whose meaning differs
//! between engines); whitespace is spelled out as Rust's `char::is_whitespace` defines it.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};
use warden_domain::validate;

/// Characters that are neither control characters nor whitespace (`char::is_control`, `char::is_whitespace`).
macro_rules! visible {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}

/// Characters that are not control characters.
macro_rules! not_control {
    () => {
        r"[^\x00-\x1f\x7f-\x9f]"
    };
}

/// A single-line text that is not blank: at least one visible character, no control characters.
pub const TEXT: &str = concat!("^", not_control!(), "*", visible!(), not_control!(), "*$");
/// Any text without U+0000 (which no field may hold).
pub const NO_NUL: &str = r"^[^\x00]*$";
/// A single-line text that may be empty: no control characters.
pub const OPTIONAL_TEXT: &str = concat!("^", not_control!(), "*$");
/// An identifier passed in from outside: ASCII letters, digits and `- _ . @ :`.
pub const IDENTIFIER: &str = r"^[A-Za-z0-9._@:-]+$";
/// A login name: ASCII letters, digits and `. _ - @ +`.
pub const LOGIN_NAME: &str = r"^[A-Za-z0-9._@+-]+$";
/// A role key: ASCII letters, digits and `. _ - :`.
pub const ROLE_KEY: &str = r"^[A-Za-z0-9._:-]+$";
/// A metadata key: ASCII letters, digits and `. _ - : /`.
pub const METADATA_KEY: &str = r"^[A-Za-z0-9._:/-]+$";
/// One label of a host name.
macro_rules! label {
    () => {
        r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    };
}
/// The last label of a host name: it starts with a letter, so the name is no IP address.
macro_rules! top_label {
    () => {
        r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    };
}
/// A domain name with at least one dot, such as `example.com`.
pub const DOTTED_DOMAIN: &str = concat!("^(?:", label!(), r"\.){1,8}", top_label!(), "$");
/// A domain name, dotted or a single label such as `localhost`.
pub const DOMAIN: &str = concat!("^(?:", label!(), r"\.){0,8}", top_label!(), "$");
/// Characters of an email's part before `@` (RFC 5322 `atext`).
macro_rules! atext {
    () => {
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
    };
}
/// An email address: dot-separated atoms (at most 64 characters in all) `@` a dotted domain name.
pub const EMAIL: &str = concat!(
    "^",
    atext!(),
    "{1,32}(?:\\.",
    atext!(),
    "{1,15}){0,2}@(?:",
    label!(),
    r"\.){1,8}",
    top_label!(),
    "$"
);
/// A phone number in international form: `+`, then 7 to 15 digits not starting with 0; spaces, dashes, dots
/// and parentheses may stand between them.
pub const PHONE: &str = r"^[ .()-]*\+[ .()-]*[1-9](?:[ .()-]*[0-9]){6,14}[ .()-]*$";
/// A language tag in the shape of BCP 47 (`en`, `de-CH`, `zh-Hant-TW`), or empty for undetermined.
pub const LANGUAGE: &str = r"^(?:[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3})?$";
/// An RFC 3339 time in UTC after 1970 (days up to 28, so every month has them).
pub const TIMESTAMP: &str = r"^(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?Z$";
/// Characters of a URL after its authority: visible ASCII without `#` (no fragment).
macro_rules! url_rest {
    () => {
        r#"(?:[/?][!-"$-~]*)?"#
    };
}
/// An `https` URL without user information or fragment.
pub const HTTPS_URL: &str = concat!(
    r"^https://",
    label!(),
    r"(?:\.",
    label!(),
    r"){0,8}(?::[1-9][0-9]{0,3})?",
    url_rest!(),
    "$"
);
/// An `https` URL, or an `http` one on a loopback host, without user information or fragment.
pub const WEB_URL: &str = concat!(
    r"^(?:https://",
    label!(),
    r"(?:\.",
    label!(),
    r"){0,8}|http://(?:localhost|127\.0\.0\.1|\[::1\]))(?::[1-9][0-9]{0,3})?",
    url_rest!(),
    "$"
);

/// An `If-Match` header: the sequence of a resource's `ETag`, quoted or not, possibly weak.
pub const IF_MATCH: &str = r#"^(?:W/)?"?[0-9]{1,18}"?$"#;

/// A PEM `PUBLIC KEY` (or `RSA PUBLIC KEY`) block: base64 lines between its armour lines.
pub const PEM_PUBLIC_KEY: &str = r"^[ \t\r\n]*-----BEGIN (PUBLIC KEY-----[A-Za-z0-9+/=\t\r\n]*[A-Za-z0-9+/=][A-Za-z0-9+/=\t\r\n]*-----END PUBLIC KEY|RSA PUBLIC KEY-----[A-Za-z0-9+/=\t\r\n]*[A-Za-z0-9+/=][A-Za-z0-9+/=\t\r\n]*-----END RSA PUBLIC KEY)-----[ \t\r\n]*$";
/// A JSON Web Key of a public key, written as a flat JSON object of string members: `kty` first, and neither
/// `d` nor `k` (private key material).
pub const JWK_PUBLIC_KEY: &str =
    r#"^\{"kty": ?"[A-Za-z0-9_-]*"(?:, ?"(?:[a-ce-jl-z]|[a-z][a-z0-9_]+)": ?"[A-Za-z0-9_-]*")*\}$"#;

/// Maximum length of a name, as the schema's `maxLength`.
pub const NAME_LEN: usize = validate::MAX_NAME_LEN;
/// Maximum length of a description.
pub const DESCRIPTION_LEN: usize = validate::MAX_DESCRIPTION_LEN;
/// Maximum length of an identifier.
pub const ID_LEN: usize = validate::MAX_ID_LEN;
/// Maximum length of a login name.
pub const LOGIN_NAME_LEN: usize = validate::MAX_LOGIN_NAME_LEN;
/// Maximum length of a role key.
pub const ROLE_KEY_LEN: usize = validate::MAX_ROLE_KEY_LEN;
/// Maximum length of an email address.
pub const EMAIL_LEN: usize = validate::MAX_EMAIL_LEN;
/// Maximum length of a domain name.
pub const DOMAIN_LEN: usize = validate::MAX_DOMAIN_LEN;
/// Maximum length of a URI.
pub const URI_LEN: usize = validate::MAX_URI_LEN;
/// Maximum length of a language tag.
pub const LANGUAGE_LEN: usize = validate::MAX_LANGUAGE_LEN;
/// Maximum length of a metadata key.
pub const METADATA_KEY_LEN: usize = validate::MAX_METADATA_KEY_LEN;
/// Maximum length, in characters, of a metadata value: its bound is in bytes of UTF-8, and a character takes
/// at most four.
pub const METADATA_VALUE_CHARS: usize = validate::MAX_METADATA_VALUE_BYTES / 4;
/// The shortest password any password complexity policy accepts.
pub const PASSWORD_MIN_LEN: u16 = warden_domain::policy::MIN_PASSWORD_LENGTH_FLOOR;
/// The longest password accepted.
pub const PASSWORD_LEN: usize = warden_domain::policy::MAX_PASSWORD_LENGTH;
/// Maximum size of a public key, in characters of the ASCII it is written in.
pub const PUBLIC_KEY_LEN: usize = validate::MAX_PUBLIC_KEY_BYTES;

/// The schema of the path parameter `name` of `path`: the rules the server applies to it before looking
/// anything up. An id the server never issued answers 404.
pub fn path_parameter(path: &str, name: &str) -> Value {
    let pattern = |max: usize, pattern: &str| json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": pattern });
    match name {
        "key" if path.contains("/metadata/") => pattern(METADATA_KEY_LEN, METADATA_KEY),
        "key" if path.contains("/roles/") => pattern(ROLE_KEY_LEN, ROLE_KEY),
        // A row key of a plugin view: 1 to 512 bytes, so at most 128 characters of any kind.
        "key" => pattern(128, NO_NUL),
        "domain" if path.starts_with("/api/v1/orgs/") => pattern(DOMAIN_LEN, DOTTED_DOMAIN),
        "domain" => pattern(DOMAIN_LEN, DOMAIN),
        "table" => pattern(63, r"^[a-z][a-z0-9_]*$"),
        _ => pattern(ID_LEN, IDENTIFIER),
    }
}

/// A schema for an optional RFC 3339 UTC timestamp.
pub fn optional_timestamp(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": ["string", "null"],
        "format": "date-time",
        "pattern": TIMESTAMP,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern)
            .expect("pattern compiles")
            .is_match(value)
    }

    /// Every value a pattern admits passes the domain's check: the schema never promises what the server
    /// refuses.
    #[test]
    fn what_a_pattern_admits_the_domain_accepts() {
        type Accepts = fn(&str) -> bool;
        let cases: &[(&str, &[&str], Accepts)] = &[
            (TEXT, &["Acme", " a b ", "Zürich AG"], |v| {
                validate::text("x", "x", v, NAME_LEN).is_ok()
            }),
            (IDENTIFIER, &["a", "user:1@x.y-z_"], |v| {
                validate::identifier("x", "x", v).is_ok()
            }),
            (LOGIN_NAME, &["alice", "a.b+c@d-e_f"], |v| {
                validate::login_name("x", "x", v).is_ok()
            }),
            (
                EMAIL,
                &[
                    "a@example.com",
                    "first.last+tag@sub.example.org",
                    "x@a-b.io",
                ],
                |v| validate::email("x", "x", v).is_ok(),
            ),
            (
                PHONE,
                &["+41441234567", "+41 44 123 45 67", "(+1) 555-123-4567"],
                |v| validate::phone("x", "x", v).is_ok(),
            ),
            (LANGUAGE, &["en", "de-CH", "zh-Hant-TW"], |v| {
                validate::language("x", "x", v).is_ok()
            }),
            (DOTTED_DOMAIN, &["example.com", "a-1.b.co"], |v| {
                validate::domain("x", "x", v, true).is_ok()
            }),
            (DOMAIN, &["localhost", "example.com"], |v| {
                validate::domain("x", "x", v, false).is_ok()
            }),
            (ROLE_KEY, &["admin", "a.b:c-d_e"], |v| {
                validate::role_key("x", "x", v).is_ok()
            }),
            (METADATA_KEY, &["a/b.c:d-e_f"], |v| {
                validate::metadata_key("x", "x", v).is_ok()
            }),
            (
                WEB_URL,
                &["https://app.example.com/x?y=1", "http://localhost:8080/cb"],
                |v| validate::web_url("x", "x", v).is_ok(),
            ),
        ];
        for (pattern, values, accepted) in cases {
            for value in *values {
                assert!(matches(pattern, value), "{pattern} must admit {value:?}");
                assert!(accepted(value), "the domain must accept {value:?}");
            }
        }
    }

    #[test]
    fn patterns_refuse_what_the_domain_refuses() {
        assert!(!matches(TEXT, "   "));
        assert!(!matches(TEXT, "a\tb"));
        assert!(!matches(TEXT, "\u{3000}"));
        assert!(!matches(EMAIL, "a..b@example.com"));
        assert!(!matches(EMAIL, "a@localhost"));
        assert!(!matches(EMAIL, "a@example.123"));
        assert!(!matches(PHONE, "+0441234567"));
        assert!(!matches(DOTTED_DOMAIN, "localhost"));
        assert!(!matches(WEB_URL, "http://example.com/"));
        assert!(!matches(WEB_URL, "https://user@example.com/"));
        assert!(!matches(WEB_URL, "https://example.com/#frag"));
        assert!(!matches(TIMESTAMP, "1969-12-31T23:59:59Z"));
        assert!(matches(
            PEM_PUBLIC_KEY,
            "-----BEGIN PUBLIC KEY-----\nMFkwEw==\n-----END PUBLIC KEY-----\n"
        ));
        assert!(!matches(
            PEM_PUBLIC_KEY,
            "-----BEGIN PUBLIC KEY-----\nPRIVATE KEY\n-----END PUBLIC KEY-----"
        ));
        assert!(!matches(
            PEM_PUBLIC_KEY,
            "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END RSA PUBLIC KEY-----"
        ));
        assert!(matches(
            JWK_PUBLIC_KEY,
            r#"{"kty":"EC","crv":"P-256","x":"f83O"}"#
        ));
        assert!(!matches(JWK_PUBLIC_KEY, r#"{"kty":"oct","k":"secret"}"#));
        assert!(!matches(JWK_PUBLIC_KEY, r#"{"kty":"EC","d":"private"}"#));
        assert!(matches(TIMESTAMP, "2030-01-28T12:00:00.123456Z"));
    }
}
