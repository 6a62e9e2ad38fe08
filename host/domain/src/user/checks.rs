//! Checks of the input of user commands that several commands share.

use super::*;
use crate::error::DomainError;
use crate::org::Organization;
use crate::validate;

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

pub(super) fn lower(login_name: &str) -> String {
    login_name.to_lowercase()
}
