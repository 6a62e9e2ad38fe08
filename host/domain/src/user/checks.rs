//! Checks of the input of user commands that several commands share.

use super::*;
use crate::error::DomainError;
use crate::org::Organization;
use crate::validate;
use serde_json::Value;

pub(super) fn check_org(org: &Organization) -> Result<(), DomainError> {
    if !org.exists() {
        return Err(
            DomainError::not_found("org.not_found", "the organization does not exist")
                .with_field("org_id"),
        );
    }
    if !org.is_active() {
        return Err(DomainError::precondition(
            "org.inactive",
            "the organization is deactivated; reactivate it before adding users",
        )
        .with_field("org_id"));
    }
    Ok(())
}

pub(super) fn check_profile(profile: &Profile) -> Result<Profile, DomainError> {
    let given_name = validate::text(
        "user.given_name",
        "given_name",
        &profile.given_name,
        validate::MAX_NAME_LEN,
    )?;
    let family_name = validate::text(
        "user.family_name",
        "family_name",
        &profile.family_name,
        validate::MAX_NAME_LEN,
    )?;
    let display_name = validate::optional_text(
        "user.display_name",
        "display_name",
        &profile.display_name,
        validate::MAX_NAME_LEN,
    )?;
    let display_name = if display_name.is_empty() {
        let joined = format!("{given_name} {family_name}");
        joined.chars().take(validate::MAX_NAME_LEN).collect()
    } else {
        display_name
    };
    let preferred_language = if profile.preferred_language.trim().is_empty() {
        UNDETERMINED_LANGUAGE.to_owned()
    } else {
        validate::language(
            "user.preferred_language",
            "preferred_language",
            &profile.preferred_language,
        )?
    };
    Ok(Profile {
        given_name,
        family_name,
        display_name,
        preferred_language,
    })
}

pub(super) fn check_public_key(format: KeyFormat, key: &str) -> Result<String, DomainError> {
    const FIELD: &str = "public_key";
    if key.trim().is_empty() {
        return Err(DomainError::invalid(
            FIELD,
            "user.machine.key.required",
            "public_key is required",
        ));
    }
    if key.len() > validate::MAX_PUBLIC_KEY_BYTES {
        return Err(DomainError::invalid(
            FIELD,
            "user.machine.key.too_long",
            format!(
                "public_key must be at most {} bytes",
                validate::MAX_PUBLIC_KEY_BYTES
            ),
        ));
    }
    let private = || {
        DomainError::invalid(
            FIELD,
            "user.machine.key.private",
            "public_key contains a private key; send only the public key and keep the private key with the client",
        )
    };
    match format {
        KeyFormat::Pem => {
            let key = key.trim();
            if key.contains("PRIVATE KEY") {
                return Err(private());
            }
            let body = ["PUBLIC KEY", "RSA PUBLIC KEY"].iter().find_map(|label| {
                key.strip_prefix(&format!("-----BEGIN {label}-----"))?
                    .strip_suffix(&format!("-----END {label}-----"))
            });
            let valid = body.is_some_and(|b| {
                !b.trim().is_empty()
                    && b.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, '+' | '/' | '=')
                            || c.is_ascii_whitespace()
                    })
            });
            if !valid {
                return Err(DomainError::invalid(
                    FIELD,
                    "user.machine.key.invalid",
                    "public_key must be a PEM block from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----",
                ));
            }
            Ok(key.to_owned())
        }
        KeyFormat::Jwk => {
            let parsed: Result<Value, _> = serde_json::from_str(key);
            let Ok(Value::Object(jwk)) = parsed else {
                return Err(DomainError::invalid(
                    FIELD,
                    "user.machine.key.invalid",
                    "public_key must be a JSON Web Key: a JSON object with a \"kty\" member",
                ));
            };
            if !jwk.get("kty").is_some_and(Value::is_string) {
                return Err(DomainError::invalid(
                    FIELD,
                    "user.machine.key.invalid",
                    "public_key must be a JSON Web Key: a JSON object with a \"kty\" member",
                ));
            }
            if jwk.contains_key("d") || jwk.contains_key("k") {
                return Err(private());
            }
            Ok(key.to_owned())
        }
    }
}

pub(super) fn lower(login_name: &str) -> String {
    login_name.to_lowercase()
}
