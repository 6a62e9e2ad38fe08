//! Shared fixtures of the domain tests: a context, and events and states of typical aggregates.

use crate::aggregate::{Aggregate, CommandContext};
use crate::org::{OrgEvent, OrgName, Organization};
use crate::project::{Project, ProjectAdded, ProjectEvent, ProjectGrantAdded, ProjectRole};
use crate::user::{HumanAdded, MachineAdded, Profile, User, UserEvent};

/// The time of every test command: 2023-11-14T22:13:20Z.
pub(crate) const NOW: i64 = 1_700_000_000_000;
/// One day in milliseconds.
pub(crate) const DAY: i64 = 86_400_000;
/// A password hash in PHC form.
pub(crate) const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
/// Another password hash in PHC form.
pub(crate) const OTHER_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXJoYXNo";

pub(crate) fn ctx() -> CommandContext {
    CommandContext::new("instance-1", "admin-1", NOW)
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(crate) fn org_added(name: &str) -> OrgEvent {
    OrgEvent::Added(OrgName {
        name: name.to_owned(),
    })
}

pub(crate) fn active_org() -> Organization {
    Organization::replay(&[org_added("ACME")])
}

pub(crate) fn inactive_org() -> Organization {
    Organization::replay(&[org_added("ACME"), OrgEvent::Deactivated])
}

pub(crate) fn removed_org() -> Organization {
    Organization::replay(&[org_added("ACME"), OrgEvent::Removed])
}

pub(crate) fn profile() -> Profile {
    Profile {
        given_name: "Alice".to_owned(),
        family_name: "Liddell".to_owned(),
        display_name: "Alice Liddell".to_owned(),
        preferred_language: "en".to_owned(),
    }
}

/// Alice, a human of `org-1` with a verified email and a password.
pub(crate) fn human_added() -> UserEvent {
    UserEvent::HumanAdded(alice())
}

/// The payload of [`human_added`].
pub(crate) fn alice() -> HumanAdded {
    HumanAdded {
        org_id: "org-1".to_owned(),
        login_name: "Alice".to_owned(),
        profile: profile(),
        email: "alice@example.com".to_owned(),
        email_verified: true,
        phone: None,
        password_hash: Some(PASSWORD_HASH.to_owned()),
        password_change_required: false,
    }
}

/// A machine user of `org-1`.
pub(crate) fn machine_added() -> UserEvent {
    UserEvent::MachineAdded(MachineAdded {
        org_id: "org-1".to_owned(),
        login_name: "ci-bot".to_owned(),
        name: "CI bot".to_owned(),
        description: "Deploys from CI".to_owned(),
        access_token_type: crate::application::AccessTokenType::Jwt,
    })
}

pub(crate) fn human() -> User {
    User::replay(&[human_added()])
}

pub(crate) fn removed_user() -> User {
    User::replay(&[human_added(), UserEvent::Removed])
}

pub(crate) fn role(key: &str) -> ProjectRole {
    ProjectRole {
        key: key.to_owned(),
        display_name: key.to_uppercase(),
        group: String::new(),
    }
}

/// Project "Shop" of `org-1` with roles reader, writer, admin, granted to `org-2` as `grant-1` with reader
/// and writer.
pub(crate) fn shop_events() -> Vec<ProjectEvent> {
    vec![
        ProjectEvent::Added(ProjectAdded {
            org_id: "org-1".to_owned(),
            name: "Shop".to_owned(),
        }),
        ProjectEvent::RoleAdded(role("reader")),
        ProjectEvent::RoleAdded(role("writer")),
        ProjectEvent::RoleAdded(role("admin")),
        ProjectEvent::GrantAdded(ProjectGrantAdded {
            grant_id: "grant-1".to_owned(),
            granted_org_id: "org-2".to_owned(),
            role_keys: strings(&["reader", "writer"]),
        }),
    ]
}

pub(crate) fn shop() -> Project {
    Project::replay(&shop_events())
}
