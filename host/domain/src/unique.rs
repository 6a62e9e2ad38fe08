//! The unique-value types that commands claim and release through [`UniqueChange`](crate::UniqueChange).
//!
//! Values are normalized before they are claimed (see each constant), so the eventstore compares them as
//! plain strings.

use crate::aggregate::UniqueScope;
use crate::error::{DomainError, ErrorKind};

/// An instance domain (lower-cased host name); unique across the installation, since requests are routed to
/// an instance by host.
pub const INSTANCE_DOMAIN: &str = "instance_domain";
/// An organization name, lower-cased: unique per instance.
pub const ORG_NAME: &str = "org_name";
/// A verified organization domain, lower-cased: unique per instance.
pub const ORG_DOMAIN: &str = "org_domain";
/// A user's login name, lower-cased: unique per instance, so login is case-insensitive.
pub const LOGIN_NAME: &str = "login_name";
/// An application's OIDC/API client id, as given: unique per instance.
pub const CLIENT_ID: &str = "client_id";
/// One user grant per user, project and project grant: `"{user_id}/{project_id}/{project_grant_id}"` (the last
/// part empty without a project grant; `/` cannot occur in ids).
pub const USER_GRANT: &str = "user_grant";
/// A plugin's name, lower-cased: unique per instance.
pub const PLUGIN_NAME: &str = "plugin_name";

/// Every unique type with its scope.
pub const ALL: &[(&str, UniqueScope)] = &[
    (INSTANCE_DOMAIN, UniqueScope::Global),
    (ORG_NAME, UniqueScope::Instance),
    (ORG_DOMAIN, UniqueScope::Instance),
    (LOGIN_NAME, UniqueScope::Instance),
    (CLIENT_ID, UniqueScope::Instance),
    (USER_GRANT, UniqueScope::Instance),
    (PLUGIN_NAME, UniqueScope::Instance),
];

/// Where values of `unique_type` must be unique; unknown types are per instance.
pub fn scope(unique_type: &str) -> UniqueScope {
    ALL.iter()
        .find(|(t, _)| *t == unique_type)
        .map_or(UniqueScope::Instance, |(_, s)| *s)
}

/// The "already exists" error for a value of `unique_type` that is taken, naming `field` when known.
pub fn conflict_error(unique_type: &str, field: Option<&str>) -> DomainError {
    let (code, message) = match unique_type {
        INSTANCE_DOMAIN => (
            "instance.domain.taken",
            "this domain is already used by an instance",
        ),
        ORG_NAME => (
            "org.name.taken",
            "an organization with this name already exists in this instance",
        ),
        ORG_DOMAIN => (
            "org.domain.taken",
            "this domain is already verified by another organization",
        ),
        LOGIN_NAME => (
            "user.login_name.taken",
            "this login name is already taken (login names are compared case-insensitively)",
        ),
        CLIENT_ID => (
            "application.client_id.taken",
            "this client id is already used by another application",
        ),
        USER_GRANT => (
            "user_grant.already_exists",
            "the user already has a grant for this project",
        ),
        _ => ("unique.taken", "this value is already taken"),
    };
    let error = DomainError::new(ErrorKind::AlreadyExists, code, message);
    match field {
        Some(field) => error.with_field(field),
        None => error,
    }
}
