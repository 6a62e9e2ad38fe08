//! Helpers for showing stored events in the audit trail.

use serde_json::Value;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A copy of an event payload with every hash of a secret (any member whose name ends in `_hash`, at any depth)
/// and every sealed (encrypted) secret (`_sealed`) replaced by [`REDACTED`], for the audit trail: who changed
/// a password is shown, the hash is not.
pub fn redact_secrets(payload: &Value) -> Value {
    match payload {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| {
                    let value = if (key.ends_with("_hash") || key.ends_with("_sealed"))
                        && !value.is_null()
                    {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_secrets(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_secrets).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hashes_are_redacted_at_any_depth_and_other_fields_kept() {
        let payload = json!({
            "login_name": "alice",
            "password_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "nested": [{ "token_hash": "abc", "expires_at_unix_ms": 5 }],
            "client_secret_hash": null,
        });
        assert_eq!(
            redact_secrets(&payload),
            json!({
                "login_name": "alice",
                "password_hash": REDACTED,
                "nested": [{ "token_hash": REDACTED, "expires_at_unix_ms": 5 }],
                "client_secret_hash": null,
            })
        );
    }
}
