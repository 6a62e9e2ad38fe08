//! Every event of every aggregate survives payload → `from_stored`, and decoding refuses what it cannot read.

use std::collections::BTreeSet;

use serde_json::json;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::application::{
    AccessTokenType, ApiAppAdded, ApiAuthMethod, ApiConfig, AppRenamed, AppSecretSet,
    ApplicationEvent, OidcAppAdded, OidcAppType, OidcAuthMethod, OidcConfig, OidcGrantType,
    OidcResponseType,
};
use crate::authz::Role;
use crate::error::DecodeError;
use crate::fixtures::{
    PASSWORD_HASH, human_added, machine_added, org_added, profile, role, strings,
};
use crate::instance::{InstanceAdded, InstanceDomain, InstanceEvent};
use crate::member::{MemberRemoved, MemberRoles};
use crate::org::{OrgDomainName, OrgEvent, OrgName};
use crate::policy::{LockoutPolicy, LoginPolicy, PasswordComplexityPolicy};
use crate::project::{
    ProjectAdded, ProjectEvent, ProjectGrantAdded, ProjectGrantChanged, ProjectGrantRemoved,
    ProjectRenamed, ProjectRoleRemoved,
};
use crate::user::{
    EmailChanged, HumanAdded, KeyFormat, MachineChanged, MachineKeyAdded, MachineKeyRemoved,
    MachineSecretSet, MetadataRemoved, MetadataSet, PasswordChanged, PersonalAccessTokenAdded,
    PersonalAccessTokenRemoved, PhoneChanged, UserEvent,
};
use crate::user_grant::{UserGrantAdded, UserGrantChanged, UserGrantEvent};

fn member() -> MemberRoles {
    MemberRoles {
        user_id: "user-1".to_owned(),
        roles: vec![Role::OrgOwner, Role::OrgUserManager],
    }
}

fn removed_member() -> MemberRemoved {
    MemberRemoved {
        user_id: "user-1".to_owned(),
    }
}

fn login_policy() -> LoginPolicy {
    LoginPolicy {
        default_redirect_uri: Some("https://portal.example.com".to_owned()),
        ..LoginPolicy::default()
    }
}

fn instance_events() -> Vec<InstanceEvent> {
    let d = || InstanceDomain {
        domain: "auth.example.com".to_owned(),
    };
    vec![
        InstanceEvent::Added(InstanceAdded {
            name: "Warden".to_owned(),
            default_language: "en".to_owned(),
        }),
        InstanceEvent::DomainAdded(d()),
        InstanceEvent::SystemOrgSet(crate::instance::SystemOrg {
            org_id: "0190-system".to_owned(),
        }),
        InstanceEvent::DomainRemoved(d()),
        InstanceEvent::PrimaryDomainSet(d()),
        InstanceEvent::PasswordComplexityPolicySet(PasswordComplexityPolicy::default()),
        InstanceEvent::LockoutPolicySet(LockoutPolicy::default()),
        InstanceEvent::LoginPolicySet(login_policy()),
        InstanceEvent::MemberAdded(member()),
        InstanceEvent::MemberChanged(member()),
        InstanceEvent::MemberRemoved(removed_member()),
    ]
}

fn org_events() -> Vec<OrgEvent> {
    let d = || OrgDomainName {
        domain: "acme.com".to_owned(),
    };
    vec![
        org_added("ACME"),
        OrgEvent::Renamed(OrgName {
            name: "Globex".to_owned(),
        }),
        OrgEvent::Deactivated,
        OrgEvent::Reactivated,
        OrgEvent::Removed,
        OrgEvent::DomainAdded(d()),
        OrgEvent::DomainVerified(d()),
        OrgEvent::PrimaryDomainSet(d()),
        OrgEvent::DomainRemoved(d()),
        OrgEvent::PasswordComplexityPolicySet(PasswordComplexityPolicy::default()),
        OrgEvent::PasswordComplexityPolicyReset,
        OrgEvent::LockoutPolicySet(LockoutPolicy::default()),
        OrgEvent::LockoutPolicyReset,
        OrgEvent::LoginPolicySet(login_policy()),
        OrgEvent::LoginPolicyReset,
        OrgEvent::MemberAdded(member()),
        OrgEvent::MemberChanged(member()),
        OrgEvent::MemberRemoved(removed_member()),
    ]
}

fn user_events() -> Vec<UserEvent> {
    vec![
        human_added(),
        UserEvent::HumanAdded(HumanAdded {
            phone: Some("+41441234567".to_owned()),
            password_hash: None,
            ..crate::fixtures::alice()
        }),
        machine_added(),
        UserEvent::ProfileChanged(profile()),
        UserEvent::EmailChanged(EmailChanged {
            email: "a@example.com".to_owned(),
        }),
        UserEvent::EmailVerified,
        UserEvent::PhoneChanged(PhoneChanged {
            phone: "+41441234567".to_owned(),
        }),
        UserEvent::PhoneRemoved,
        UserEvent::PasswordChanged(PasswordChanged {
            password_hash: PASSWORD_HASH.to_owned(),
            change_required: true,
        }),
        UserEvent::PasswordCheckSucceeded,
        UserEvent::PasswordCheckFailed,
        UserEvent::Locked,
        UserEvent::Unlocked,
        UserEvent::Deactivated,
        UserEvent::Reactivated,
        UserEvent::Removed,
        UserEvent::MetadataSet(MetadataSet {
            key: "k".to_owned(),
            value: "v \u{1f600}".to_owned(),
        }),
        UserEvent::MetadataRemoved(MetadataRemoved {
            key: "k".to_owned(),
        }),
        UserEvent::MachineChanged(MachineChanged {
            name: "bot".to_owned(),
            description: String::new(),
            access_token_type: AccessTokenType::Opaque,
        }),
        UserEvent::MachineKeyAdded(MachineKeyAdded {
            key_id: "k1".to_owned(),
            format: KeyFormat::Jwk,
            public_key: r#"{"kty":"OKP"}"#.to_owned(),
            expires_at_unix_ms: 1_800_000_000_000,
        }),
        UserEvent::MachineKeyRemoved(MachineKeyRemoved {
            key_id: "k1".to_owned(),
        }),
        UserEvent::MachineSecretSet(MachineSecretSet {
            secret_hash: "h".to_owned(),
        }),
        UserEvent::MachineSecretRemoved,
        UserEvent::PersonalAccessTokenAdded(PersonalAccessTokenAdded {
            token_id: "t1".to_owned(),
            token_hash: "h".to_owned(),
            expires_at_unix_ms: 1_800_000_000_000,
        }),
        UserEvent::PersonalAccessTokenRemoved(PersonalAccessTokenRemoved {
            token_id: "t1".to_owned(),
        }),
        UserEvent::MembershipAdded(crate::user::MembershipAdded {
            scope: crate::authz::ScopeKind::Project,
            scope_id: "p1".to_owned(),
        }),
        UserEvent::OtpAdded(crate::user::OtpAdded {
            secret_sealed: "v1.bm9uY2U.c2VhbGVk".to_owned(),
        }),
        UserEvent::OtpVerified(crate::user::OtpStep { step: 59_000_000 }),
        UserEvent::OtpRemoved,
        UserEvent::OtpCheckSucceeded(crate::user::OtpStep { step: u64::MAX }),
        UserEvent::OtpCheckFailed,
        UserEvent::EmailCodeAdded(crate::user::CodeAdded {
            code_hash: "h".to_owned(),
            expires_at_unix_ms: 1_800_000_000_000,
        }),
        UserEvent::PasswordCodeAdded(crate::user::CodeAdded {
            code_hash: "h".to_owned(),
            expires_at_unix_ms: 1_800_000_000_000,
        }),
    ]
}

fn project_events() -> Vec<ProjectEvent> {
    vec![
        ProjectEvent::Added(ProjectAdded {
            org_id: "org-1".to_owned(),
            name: "Shop".to_owned(),
        }),
        ProjectEvent::Renamed(ProjectRenamed {
            name: "Store".to_owned(),
        }),
        ProjectEvent::Deactivated,
        ProjectEvent::Reactivated,
        ProjectEvent::Removed,
        ProjectEvent::RoleAdded(role("reader")),
        ProjectEvent::RoleChanged(role("reader")),
        ProjectEvent::RoleRemoved(ProjectRoleRemoved {
            key: "reader".to_owned(),
        }),
        ProjectEvent::GrantAdded(ProjectGrantAdded {
            grant_id: "g".to_owned(),
            granted_org_id: "org-2".to_owned(),
            role_keys: strings(&["reader"]),
        }),
        ProjectEvent::GrantChanged(ProjectGrantChanged {
            grant_id: "g".to_owned(),
            role_keys: vec![],
        }),
        ProjectEvent::GrantRemoved(ProjectGrantRemoved {
            grant_id: "g".to_owned(),
        }),
        ProjectEvent::MemberAdded(MemberRoles {
            user_id: "u".to_owned(),
            roles: vec![Role::ProjectOwner],
        }),
        ProjectEvent::MemberChanged(MemberRoles {
            user_id: "u".to_owned(),
            roles: vec![Role::ProjectOwnerViewer],
        }),
        ProjectEvent::MemberRemoved(removed_member()),
    ]
}

fn oidc_config() -> OidcConfig {
    OidcConfig {
        app_type: OidcAppType::UserAgent,
        redirect_uris: strings(&["https://spa.example.com/cb"]),
        post_logout_redirect_uris: strings(&["https://spa.example.com/"]),
        response_types: vec![OidcResponseType::Code, OidcResponseType::IdTokenToken],
        grant_types: vec![OidcGrantType::AuthorizationCode, OidcGrantType::Implicit],
        auth_method: OidcAuthMethod::None,
        require_pkce: true,
        access_token_type: AccessTokenType::Opaque,
        dev_mode: true,
        id_token_signed_response_alg: Some(crate::signing_key::SigningAlgorithm::ES256),
        access_token_signed_response_alg: Some(crate::signing_key::SigningAlgorithm::EdDSA),
    }
}

fn application_events() -> Vec<ApplicationEvent> {
    vec![
        ApplicationEvent::OidcAdded(OidcAppAdded {
            project_id: "p".to_owned(),
            org_id: "o".to_owned(),
            name: "SPA".to_owned(),
            client_id: "c".to_owned(),
            config: oidc_config(),
            client_secret_hash: None,
        }),
        ApplicationEvent::ApiAdded(ApiAppAdded {
            project_id: "p".to_owned(),
            org_id: "o".to_owned(),
            name: "API".to_owned(),
            client_id: "c2".to_owned(),
            config: ApiConfig {
                auth_method: ApiAuthMethod::Basic,
                access_token_type: AccessTokenType::Opaque,
            },
            client_secret_hash: Some("h".to_owned()),
        }),
        ApplicationEvent::OidcConfigChanged(oidc_config()),
        ApplicationEvent::ApiConfigChanged(ApiConfig {
            auth_method: ApiAuthMethod::PrivateKeyJwt,
            access_token_type: AccessTokenType::Jwt,
        }),
        ApplicationEvent::Renamed(AppRenamed {
            name: "x".to_owned(),
        }),
        ApplicationEvent::SecretSet(AppSecretSet {
            client_secret_hash: "h".to_owned(),
        }),
        ApplicationEvent::SecretRemoved,
        ApplicationEvent::Deactivated,
        ApplicationEvent::Reactivated,
        ApplicationEvent::Removed,
        ApplicationEvent::KeyAdded(crate::public_key::PublicKeyAdded {
            key_id: "k1".to_owned(),
            format: KeyFormat::Pem,
            public_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".to_owned(),
            expires_at_unix_ms: 1_800_000_000_000,
        }),
        ApplicationEvent::KeyRemoved(crate::application::AppKeyRemoved {
            key_id: "k1".to_owned(),
        }),
    ]
}

fn user_grant_events() -> Vec<UserGrantEvent> {
    vec![
        UserGrantEvent::Added(UserGrantAdded {
            user_id: "u".to_owned(),
            project_id: "p".to_owned(),
            project_grant_id: Some("g".to_owned()),
            org_id: "org-2".to_owned(),
            role_keys: strings(&["reader"]),
        }),
        UserGrantEvent::Changed(UserGrantChanged { role_keys: vec![] }),
        UserGrantEvent::Deactivated,
        UserGrantEvent::Reactivated,
        UserGrantEvent::Removed,
    ]
}

/// Round-trips every sample, checks the samples cover every event type, and replays them without panicking.
#[track_caller]
fn check_all<A: Aggregate>(samples: &[A::Event], types: &[(&str, u16)])
where
    A::Event: PartialEq,
{
    for event in samples {
        let payload = event.to_payload();
        assert!(
            payload.is_object(),
            "{} payload is an object",
            event.event_type()
        );
        let decoded = A::Event::from_stored(event.event_type(), event.revision(), &payload);
        assert_eq!(
            decoded.as_ref(),
            Ok(event),
            "round trip of {}",
            event.event_type()
        );
        assert!(
            types.contains(&(event.event_type(), event.revision())),
            "{} is listed with its revision",
            event.event_type()
        );
    }
    let covered: BTreeSet<&str> = samples.iter().map(DomainEvent::event_type).collect();
    let listed: BTreeSet<&str> = types.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        covered,
        listed,
        "samples cover every event type of {}",
        A::TYPE
    );
    assert_eq!(
        listed.len(),
        types.len(),
        "event types of {} are distinct",
        A::TYPE
    );
    for (event_type, _) in types {
        assert!(
            event_type.starts_with(&format!("{}.", A::TYPE)),
            "{event_type} is named after its aggregate {}",
            A::TYPE
        );
    }
    let _ = A::replay(samples);
    let _ = A::replay(samples.iter().rev());
}

#[test]
fn instance_events_round_trip() {
    check_all::<crate::instance::Instance>(&instance_events(), InstanceEvent::EVENT_TYPES);
}

#[test]
fn org_events_round_trip() {
    check_all::<crate::org::Organization>(&org_events(), OrgEvent::EVENT_TYPES);
}

fn notification_events() -> Vec<crate::notification::NotificationEvent> {
    use crate::notification::{
        NotificationEvent, NotificationFailed, NotificationKind, NotificationRequested,
    };
    vec![
        NotificationEvent::Requested(NotificationRequested {
            kind: NotificationKind::EmailVerification,
            user_id: "user-1".to_owned(),
            org_id: "org-1".to_owned(),
            recipient: "a@example.com".to_owned(),
            display_name: "Alice \u{1f600}".to_owned(),
            language: "und".to_owned(),
            code_sealed: "v1.x".to_owned(),
            expires_at_unix_ms: 1_800_000_000_000,
        }),
        NotificationEvent::Failed(NotificationFailed {
            error: "connection refused".to_owned(),
        }),
        NotificationEvent::Sent,
    ]
}

#[test]
fn notification_events_round_trip() {
    check_all::<crate::notification::Notification>(
        &notification_events(),
        crate::notification::NotificationEvent::EVENT_TYPES,
    );
}

#[test]
fn user_events_round_trip() {
    check_all::<crate::user::User>(&user_events(), UserEvent::EVENT_TYPES);
}

#[test]
fn project_events_round_trip() {
    check_all::<crate::project::Project>(&project_events(), ProjectEvent::EVENT_TYPES);
}

#[test]
fn application_events_round_trip() {
    check_all::<crate::application::Application>(
        &application_events(),
        ApplicationEvent::EVENT_TYPES,
    );
}

#[test]
fn user_grant_events_round_trip() {
    check_all::<crate::user_grant::UserGrant>(&user_grant_events(), UserGrantEvent::EVENT_TYPES);
}

#[test]
fn event_type_names_are_unique_across_aggregates() {
    let all: Vec<&str> = [
        InstanceEvent::EVENT_TYPES,
        OrgEvent::EVENT_TYPES,
        UserEvent::EVENT_TYPES,
        ProjectEvent::EVENT_TYPES,
        ApplicationEvent::EVENT_TYPES,
        UserGrantEvent::EVENT_TYPES,
    ]
    .concat()
    .into_iter()
    .map(|(t, _)| t)
    .collect();
    let distinct: BTreeSet<&str> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len());
}

#[test]
fn payloads_are_plain_json_with_stable_names() {
    assert_eq!(
        OrgEvent::Renamed(OrgName {
            name: "Globex".to_owned()
        })
        .to_payload(),
        json!({ "name": "Globex" })
    );
    assert_eq!(UserEvent::Locked.to_payload(), json!({}));
    assert_eq!(
        InstanceEvent::MemberAdded(member()).to_payload(),
        json!({ "user_id": "user-1", "roles": ["ORG_OWNER", "ORG_USER_MANAGER"] })
    );
    let payload = human_added().to_payload();
    assert_eq!(payload["login_name"], "Alice");
    assert_eq!(payload["given_name"], "Alice");
    assert!(payload.get("phone").is_none());
}

#[test]
fn unknown_event_type_is_refused() {
    assert_eq!(
        UserEvent::from_stored("user.teleported", 1, &json!({})),
        Err(DecodeError::UnknownEventType {
            event_type: "user.teleported".to_owned()
        })
    );
}

#[test]
fn newer_or_unknown_older_revision_is_refused() {
    assert_eq!(
        UserEvent::from_stored("user.locked", 2, &json!({})),
        Err(DecodeError::UnsupportedRevision {
            event_type: "user.locked".to_owned(),
            revision: 2,
            current: 1
        })
    );
    assert_eq!(
        UserEvent::from_stored("user.human.added", 3, &human_added().to_payload()),
        Err(DecodeError::UnsupportedRevision {
            event_type: "user.human.added".to_owned(),
            revision: 3,
            current: 2
        })
    );
    assert!(matches!(
        UserEvent::from_stored("user.human.added", 0, &json!({})),
        Err(DecodeError::UnsupportedRevision { revision: 0, .. })
    ));
}

#[test]
fn malformed_payloads_are_refused() {
    assert!(matches!(
        OrgEvent::from_stored("org.added", 1, &json!({ "nom": "ACME" })),
        Err(DecodeError::InvalidPayload { .. })
    ));
    assert!(matches!(
        OrgEvent::from_stored("org.removed", 1, &json!([1])),
        Err(DecodeError::InvalidPayload { .. })
    ));
    assert!(matches!(
        InstanceEvent::from_stored(
            "instance.member.added",
            1,
            &json!({ "user_id": "u", "roles": ["GOD"] })
        ),
        Err(DecodeError::InvalidPayload { .. })
    ));
    assert_eq!(
        OrgEvent::from_stored("org.removed", 1, &json!(null)),
        Ok(OrgEvent::Removed)
    );
}
