//! Input validation helpers. Each returns the normalized value or a [`DomainError`] naming the field.
//!
//! Every helper takes a `code` prefix and a `field`: the error code is `"{code}.{problem}"` (e.g.
//! `"user.email.invalid"`) and the error names `field` (e.g. `"email"` or `"redirect_uris[1]"`).
//! Problems are `required`, `too_long`, `too_short`, `invalid` and a few specific ones documented per helper.

use crate::error::DomainError;

/// Maximum length of names (display names, organization, project, application and role names), in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Maximum length of descriptions, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// Maximum length of an email address (RFC 5321 path limit), in characters.
pub const MAX_EMAIL_LEN: usize = 254;
/// Maximum length of a login name, in characters.
pub const MAX_LOGIN_NAME_LEN: usize = 200;
/// Maximum length of an identifier passed in from outside (ids, client ids, key ids), in characters.
pub const MAX_ID_LEN: usize = 200;
/// Maximum length of a role key, in characters.
pub const MAX_ROLE_KEY_LEN: usize = 200;
/// Maximum length of a URI, in characters.
pub const MAX_URI_LEN: usize = 2048;
/// Maximum length of a domain name (RFC 1035), in characters.
pub const MAX_DOMAIN_LEN: usize = 253;
/// Maximum length of a language tag, in characters.
pub const MAX_LANGUAGE_LEN: usize = 35;
/// Maximum length of a metadata key, in characters.
pub const MAX_METADATA_KEY_LEN: usize = 200;
/// Maximum size of a metadata value, in bytes of UTF-8.
pub const MAX_METADATA_VALUE_BYTES: usize = 8 * 1024;
/// Maximum length of a stored hash (password, secret or token hash), in characters.
pub const MAX_HASH_LEN: usize = 1024;
/// Maximum size of a public key (PEM or JWK), in bytes.
pub const MAX_PUBLIC_KEY_BYTES: usize = 16 * 1024;

fn code(prefix: &str, problem: &str) -> String {
    format!("{prefix}.{problem}")
}

fn too_long(prefix: &str, field: &str, max: usize, unit: &str, got: usize) -> DomainError {
    DomainError::invalid(
        field,
        code(prefix, "too_long"),
        format!("{field} must be at most {max} {unit}, got {got}"),
    )
}

fn required(prefix: &str, field: &str) -> DomainError {
    DomainError::invalid(
        field,
        code(prefix, "required"),
        format!("{field} is required and must not be blank"),
    )
}

/// A required single-line text of at most `max` characters, trimmed; control characters are refused.
pub fn text(prefix: &str, field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let value = optional_text(prefix, field, value, max)?;
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    Ok(value)
}

/// An optional single-line text (may be empty) of at most `max` characters, trimmed.
pub fn optional_text(
    prefix: &str,
    field: &str,
    value: &str,
    max: usize,
) -> Result<String, DomainError> {
    let value = value.trim();
    let len = value.chars().count();
    if len > max {
        return Err(too_long(prefix, field, max, "characters", len));
    }
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} must not contain control characters such as line breaks or tabs"),
        ));
    }
    Ok(value.to_owned())
}

/// An identifier passed in from outside (ids, client ids, key ids): 1 to [`MAX_ID_LEN`] characters of ASCII
/// letters, digits and `- _ . @ :`.
pub fn identifier(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    let len = value.chars().count();
    if len > MAX_ID_LEN {
        return Err(too_long(prefix, field, MAX_ID_LEN, "characters", len));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
    {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} may only contain ASCII letters, digits and - _ . @ :"),
        ));
    }
    Ok(value.to_owned())
}

/// An email address (ASCII, `local@domain` with a dotted domain), trimmed; the domain part is lower-cased.
pub fn email(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    let len = value.chars().count();
    if len > MAX_EMAIL_LEN {
        return Err(too_long(prefix, field, MAX_EMAIL_LEN, "characters", len));
    }
    let invalid = |why: &str| {
        DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} is not a valid email address: {why}"),
        )
    };
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Err(invalid("it has no @"));
    };
    if local.is_empty() || local.len() > 64 {
        return Err(invalid("the part before @ must have 1 to 64 characters"));
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if !local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
    {
        return Err(invalid(
            "the part before @ has a character that is not allowed or misplaced dots",
        ));
    }
    if check_host_name(domain, true).is_err() {
        return Err(invalid(
            "the part after @ must be a domain name such as example.com",
        ));
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A phone number in international form: `+` then 7 to 15 digits (E.164); spaces, dashes, dots and
/// parentheses are removed.
pub fn phone(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    let compact: String = value
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if compact.is_empty() {
        return Err(required(prefix, field));
    }
    let digits = compact.strip_prefix('+').unwrap_or("");
    let valid = (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if !valid {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!(
                "{field} must be in international form: + and country code, 7 to 15 digits (e.g. +41 44 123 45 67)"
            ),
        ));
    }
    Ok(compact)
}

/// A login name: 1 to [`MAX_LOGIN_NAME_LEN`] characters of ASCII letters, digits and `. _ - @ +`, trimmed.
/// The case is kept; uniqueness uses the lower-cased form.
pub fn login_name(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    let len = value.chars().count();
    if len > MAX_LOGIN_NAME_LEN {
        return Err(too_long(
            prefix,
            field,
            MAX_LOGIN_NAME_LEN,
            "characters",
            len,
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
    {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} may only contain ASCII letters, digits and . _ - @ +"),
        ));
    }
    Ok(value.to_owned())
}

/// A language tag in the shape of BCP 47 (`en`, `de-CH`, `zh-Hant-TW`), or `und` for undetermined.
pub fn language(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    let mut parts = value.split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if value.len() > MAX_LANGUAGE_LEN || !primary_ok || !rest_ok {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} must be a language tag such as en, de-CH or und"),
        ));
    }
    Ok(value.to_owned())
}

/// Checks a host name: labels of ASCII letters, digits and `-`, 1 to 63 each, at most 253 in all.
fn check_host_name(value: &str, require_dot: bool) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > MAX_DOMAIN_LEN {
        return Err("length");
    }
    let labels: Vec<&str> = value.split('.').collect();
    if require_dot && labels.len() < 2 {
        return Err("dot");
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return Err("label");
    }
    // A name whose last label is numeric is an IP address, not a domain.
    if labels.len() > 1
        && labels
            .last()
            .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("numeric");
    }
    Ok(())
}

/// A domain name (host name without port, IDNs in their `xn--` form), trimmed and lower-cased.
/// With `require_dot`, single-label names such as `localhost` are refused.
pub fn domain(
    prefix: &str,
    field: &str,
    value: &str,
    require_dot: bool,
) -> Result<String, DomainError> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    if value.len() > MAX_DOMAIN_LEN {
        return Err(too_long(
            prefix,
            field,
            MAX_DOMAIN_LEN,
            "characters",
            value.len(),
        ));
    }
    if check_host_name(&value, require_dot).is_err() {
        let example = if require_dot {
            "example.com"
        } else {
            "example.com or localhost"
        };
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!(
                "{field} must be a domain name such as {example} (letters, digits and hyphens in dot-separated labels, no port or scheme)"
            ),
        ));
    }
    Ok(value)
}

/// A role key: 1 to [`MAX_ROLE_KEY_LEN`] characters of ASCII letters, digits and `. _ - :`.
pub fn role_key(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    let len = value.chars().count();
    if len > MAX_ROLE_KEY_LEN {
        return Err(too_long(prefix, field, MAX_ROLE_KEY_LEN, "characters", len));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
    {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} may only contain ASCII letters, digits and . _ - :"),
        ));
    }
    Ok(value.to_owned())
}

/// A list of role keys: each valid, none repeated. Problems: those of [`role_key`], and `duplicate`.
pub fn role_keys(prefix: &str, field: &str, values: &[String]) -> Result<Vec<String>, DomainError> {
    let mut keys: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let item = format!("{field}[{i}]");
        let key = role_key(prefix, &item, value)?;
        if keys.contains(&key) {
            let message = format!("{item} repeats the role key {key:?}");
            return Err(DomainError::invalid(
                item,
                code(prefix, "duplicate"),
                message,
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// A metadata key: 1 to [`MAX_METADATA_KEY_LEN`] characters of ASCII letters, digits and `. _ - : /`.
pub fn metadata_key(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    let len = value.chars().count();
    if len > MAX_METADATA_KEY_LEN {
        return Err(too_long(
            prefix,
            field,
            MAX_METADATA_KEY_LEN,
            "characters",
            len,
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'))
    {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} may only contain ASCII letters, digits and . _ - : /"),
        ));
    }
    Ok(value.to_owned())
}

/// A metadata value: not empty, at most [`MAX_METADATA_VALUE_BYTES`] bytes of UTF-8 (any content).
pub fn metadata_value(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() {
        return Err(DomainError::invalid(
            field,
            code(prefix, "required"),
            format!("{field} must not be empty; remove the key instead"),
        ));
    }
    if value.len() > MAX_METADATA_VALUE_BYTES {
        return Err(too_long(
            prefix,
            field,
            MAX_METADATA_VALUE_BYTES,
            "bytes",
            value.len(),
        ));
    }
    Ok(value.to_owned())
}

/// A password hash in PHC or modular-crypt form (`$argon2id$...`, `$2b$...`); anything else is refused, so a
/// plaintext password can never be stored by mistake.
pub fn password_hash(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    let value = secret_hash(prefix, field, value)?;
    if !value.starts_with('$') || value.len() < 8 {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} must be a password hash in PHC form such as $argon2id$v=19$..."),
        ));
    }
    Ok(value)
}

/// A hash of a secret or token: 1 to [`MAX_HASH_LEN`] printable ASCII characters without spaces.
pub fn secret_hash(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() {
        return Err(required(prefix, field));
    }
    if value.len() > MAX_HASH_LEN {
        return Err(too_long(
            prefix,
            field,
            MAX_HASH_LEN,
            "characters",
            value.len(),
        ));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} must be a hash of printable ASCII characters without spaces"),
        ));
    }
    Ok(value.to_owned())
}

/// An expiry time (ms since the Unix epoch) that must lie after `now_unix_ms`.
pub fn expiry(
    prefix: &str,
    field: &str,
    expires_at_unix_ms: i64,
    now_unix_ms: i64,
) -> Result<i64, DomainError> {
    if expires_at_unix_ms <= now_unix_ms {
        return Err(DomainError::invalid(
            field,
            code(prefix, "in_past"),
            format!("{field} must lie in the future"),
        ));
    }
    Ok(expires_at_unix_ms)
}

/// The parts of an absolute URI that the domain's rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUri {
    /// The scheme, lower-cased.
    pub scheme: String,
    /// The host of the authority, lower-cased (IPv6 literals keep their brackets), if there is an authority.
    pub host: Option<String>,
    /// The explicit port, if any.
    pub port: Option<u16>,
    /// True when the authority has user information (`user:pass@`).
    pub has_userinfo: bool,
    /// True when the URI has a fragment (`#...`).
    pub has_fragment: bool,
}

impl ParsedUri {
    /// True for `localhost`, `127.0.0.1` and `[::1]`.
    pub fn is_loopback(&self) -> bool {
        matches!(
            self.host.as_deref(),
            Some("localhost" | "127.0.0.1" | "[::1]")
        )
    }
}

/// Why a string is not an absolute URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriProblem {
    /// Longer than [`MAX_URI_LEN`].
    TooLong,
    /// Has spaces, control or non-ASCII characters (they must be percent-encoded).
    BadCharacter,
    /// No scheme: a relative reference.
    NotAbsolute,
    /// The authority is malformed (empty host, bad port).
    BadAuthority,
}

/// Parses an absolute URI (RFC 3986) far enough to check scheme, host, port, user information and fragment.
pub fn parse_uri(value: &str) -> Result<ParsedUri, UriProblem> {
    if value.len() > MAX_URI_LEN {
        return Err(UriProblem::TooLong);
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(UriProblem::BadCharacter);
    }
    let (scheme, rest) = value.split_once(':').ok_or(UriProblem::NotAbsolute)?;
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(UriProblem::NotAbsolute);
    }
    let has_fragment = rest.contains('#');
    let mut parsed = ParsedUri {
        scheme: scheme.to_ascii_lowercase(),
        host: None,
        port: None,
        has_userinfo: false,
        has_fragment,
    };
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let mut authority = &after[..end];
        if let Some((_, host_port)) = authority.rsplit_once('@') {
            parsed.has_userinfo = true;
            authority = host_port;
        }
        let (host, port) = if authority.starts_with('[') {
            let close = authority.find(']').ok_or(UriProblem::BadAuthority)?;
            let (host, tail) = authority.split_at(close + 1);
            match tail {
                "" => (host, None),
                _ => (
                    host,
                    Some(tail.strip_prefix(':').ok_or(UriProblem::BadAuthority)?),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UriProblem::BadAuthority);
        }
        parsed.port = match port {
            None | Some("") => None,
            Some(port) => Some(port.parse().map_err(|_| UriProblem::BadAuthority)?),
        };
        parsed.host = Some(host.to_ascii_lowercase());
    }
    Ok(parsed)
}

/// An absolute URI (see [`parse_uri`]). Problems: `too_long`, `invalid`, `not_absolute`.
pub fn absolute_uri(prefix: &str, field: &str, value: &str) -> Result<ParsedUri, DomainError> {
    parse_uri(value).map_err(|problem| match problem {
        UriProblem::TooLong => too_long(prefix, field, MAX_URI_LEN, "characters", value.len()),
        UriProblem::BadCharacter => DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} must not contain spaces, control or non-ASCII characters (percent-encode them)"),
        ),
        UriProblem::NotAbsolute => DomainError::invalid(
            field,
            code(prefix, "not_absolute"),
            format!("{field} must be an absolute URI with a scheme, such as https://app.example.com/callback"),
        ),
        UriProblem::BadAuthority => DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} has a malformed host or port"),
        ),
    })
}

/// An absolute `https` URL (or `http` on a loopback host) without user information or fragment, such as a
/// default redirect after login.
pub fn web_url(prefix: &str, field: &str, value: &str) -> Result<String, DomainError> {
    let uri = absolute_uri(prefix, field, value)?;
    let web = uri.scheme == "https" || (uri.scheme == "http" && uri.is_loopback());
    if !web || uri.host.is_none() {
        return Err(DomainError::invalid(
            field,
            code(prefix, "https_required"),
            format!("{field} must be an https URL (http is allowed only for localhost)"),
        ));
    }
    if uri.has_userinfo || uri.has_fragment {
        return Err(DomainError::invalid(
            field,
            code(prefix, "invalid"),
            format!("{field} must not contain user information or a fragment"),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests;
