use super::*;
use crate::aggregate::{Aggregate, CommandContext, Decision, DomainEvent, Lifecycle, UniqueChange};
use crate::application::AccessTokenType;
use crate::error::{DecodeError, DomainError, ErrorKind};
use crate::fixtures::{
    DAY, NOW, OTHER_PASSWORD_HASH, PASSWORD_HASH, active_org, alice, ctx, human_added,
    inactive_org, machine_added, profile, removed_org,
};
use crate::policy::LockoutPolicy;
use crate::testing::given;
use crate::unique;

/// A command on a user, boxed so several can be run in a loop.
type Command<'a> = Box<dyn Fn(&User) -> Result<Decision<UserEvent>, DomainError> + 'a>;

const PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb8YmQ2nNXnR5bYyqkZbWkHlJr5zS\n\
e0l4R1V4mQ2nNXnR5bYyqkZbWkHlJr5zSe0l4R1V4mQ2nNXnR5bYyqkZbWkHlA==\n\
-----END PUBLIC KEY-----";

fn add_human_cmd() -> AddHuman {
    AddHuman {
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

fn add_machine_cmd() -> AddMachine {
    AddMachine {
        org_id: "org-1".to_owned(),
        login_name: "ci-bot".to_owned(),
        name: "CI bot".to_owned(),
        description: "Deploys from CI".to_owned(),
        access_token_type: AccessTokenType::Jwt,
    }
}

fn key(key_id: &str) -> MachineKeyAdded {
    MachineKeyAdded {
        key_id: key_id.to_owned(),
        format: KeyFormat::Pem,
        public_key: PEM.to_owned(),
        expires_at_unix_ms: NOW + 30 * DAY,
    }
}

fn pat(token_id: &str) -> PersonalAccessTokenAdded {
    PersonalAccessTokenAdded {
        token_id: token_id.to_owned(),
        token_hash: "sha256:9f86d081884c7d659a2feaa0c55ad015".to_owned(),
        expires_at_unix_ms: NOW + 365 * DAY,
    }
}

fn lockout(max: u16) -> LockoutPolicy {
    LockoutPolicy {
        max_password_attempts: max,
        show_lockout_failures: true,
    }
}

// ---- human add ----

#[test]
fn add_human_claims_the_lower_cased_login_name() {
    given::<User>(&[])
        .when(|u| u.add_human(&add_human_cmd(), &active_org(), &ctx()))
        .then_events([human_added()])
        .then_unique([UniqueChange::add(unique::LOGIN_NAME, "alice", "login_name")])
        .then_state(|u| {
            assert!(u.exists());
            assert_eq!(u.login_name, "Alice");
            assert_eq!(u.org_id, "org-1");
        });
}

#[test]
fn add_human_fills_display_name_and_language_and_normalizes_inputs() {
    let cmd = AddHuman {
        profile: Profile {
            given_name: " Alice ".to_owned(),
            family_name: "Liddell".to_owned(),
            display_name: String::new(),
            preferred_language: String::new(),
        },
        email: "alice@EXAMPLE.com".to_owned(),
        phone: Some("+41 44 123 45 67".to_owned()),
        password_hash: None,
        password_change_required: true,
        ..add_human_cmd()
    };
    given::<User>(&[])
        .when(|u| u.add_human(&cmd, &active_org(), &ctx()))
        .then_events([UserEvent::HumanAdded(HumanAdded {
            org_id: "org-1".to_owned(),
            login_name: "Alice".to_owned(),
            profile: Profile {
                given_name: "Alice".to_owned(),
                family_name: "Liddell".to_owned(),
                display_name: "Alice Liddell".to_owned(),
                preferred_language: UNDETERMINED_LANGUAGE.to_owned(),
            },
            email: "alice@example.com".to_owned(),
            email_verified: true,
            phone: Some("+41441234567".to_owned()),
            password_hash: None,
            password_change_required: false,
        })]);
}

#[test]
fn add_human_refuses_bad_fields_by_name() {
    let cases: Vec<(AddHuman, &str, &str)> = vec![
        (
            AddHuman {
                email: "not-an-email".to_owned(),
                ..add_human_cmd()
            },
            "user.email.invalid",
            "email",
        ),
        (
            AddHuman {
                login_name: "al ice".to_owned(),
                ..add_human_cmd()
            },
            "user.login_name.invalid",
            "login_name",
        ),
        (
            AddHuman {
                profile: Profile {
                    given_name: "x".repeat(201),
                    ..profile()
                },
                ..add_human_cmd()
            },
            "user.given_name.too_long",
            "given_name",
        ),
        (
            AddHuman {
                profile: Profile {
                    family_name: String::new(),
                    ..profile()
                },
                ..add_human_cmd()
            },
            "user.family_name.required",
            "family_name",
        ),
        (
            AddHuman {
                profile: Profile {
                    preferred_language: "english".to_owned(),
                    ..profile()
                },
                ..add_human_cmd()
            },
            "user.preferred_language.invalid",
            "preferred_language",
        ),
        (
            AddHuman {
                phone: Some("12".to_owned()),
                ..add_human_cmd()
            },
            "user.phone.invalid",
            "phone",
        ),
        (
            AddHuman {
                password_hash: Some("Secr3t!pw".to_owned()),
                ..add_human_cmd()
            },
            "user.password_hash.invalid",
            "password_hash",
        ),
        (
            AddHuman {
                org_id: String::new(),
                ..add_human_cmd()
            },
            "user.org_id.required",
            "org_id",
        ),
    ];
    for (cmd, code, field) in cases {
        given::<User>(&[])
            .when(|u| u.add_human(&cmd, &active_org(), &ctx()))
            .then_error(ErrorKind::InvalidArgument, code)
            .then_field(field);
    }
}

#[test]
fn add_human_needs_an_active_org() {
    given::<User>(&[])
        .when(|u| u.add_human(&add_human_cmd(), &removed_org(), &ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found")
        .then_field("org_id");
    given::<User>(&[])
        .when(|u| u.add_human(&add_human_cmd(), &inactive_org(), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.inactive");
}

#[test]
fn add_existing_user_is_refused() {
    given::<User>(&[human_added()])
        .when(|u| u.add_human(&add_human_cmd(), &active_org(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "user.already_exists");
    given::<User>(&[human_added(), UserEvent::Removed])
        .when(|u| u.add_machine(&add_machine_cmd(), &active_org(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "user.already_exists");
}

#[test]
fn login_name_conflict_is_reported_on_the_field() {
    let decision = User::default()
        .add_human(&add_human_cmd(), &active_org(), &ctx())
        .expect("decides");
    let error = decision.unique[0].conflict_error();
    assert_eq!(error.kind, ErrorKind::AlreadyExists);
    assert_eq!(error.code, "user.login_name.taken");
    assert_eq!(error.field.as_deref(), Some("login_name"));
}

// ---- machine add ----

#[test]
fn add_machine() {
    given::<User>(&[])
        .when(|u| u.add_machine(&add_machine_cmd(), &active_org(), &ctx()))
        .then_events([machine_added()])
        .then_unique([UniqueChange::add(
            unique::LOGIN_NAME,
            "ci-bot",
            "login_name",
        )])
        .then_state(|u| assert_eq!(u.machine().map(|m| m.name.as_str()), Some("CI bot")));
}

#[test]
fn add_machine_refusals() {
    let cmd = AddMachine {
        name: String::new(),
        ..add_machine_cmd()
    };
    given::<User>(&[])
        .when(|u| u.add_machine(&cmd, &active_org(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.machine.name.required")
        .then_field("name");
    let cmd = AddMachine {
        description: "d".repeat(501),
        ..add_machine_cmd()
    };
    given::<User>(&[])
        .when(|u| u.add_machine(&cmd, &active_org(), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "user.machine.description.too_long",
        )
        .then_field("description");
    given::<User>(&[])
        .when(|u| u.add_machine(&add_machine_cmd(), &inactive_org(), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.inactive");
}

// ---- profile, email, phone ----

#[test]
fn change_profile() {
    let new = Profile {
        given_name: "Alicia".to_owned(),
        display_name: "Alicia L.".to_owned(),
        ..profile()
    };
    given::<User>(&[human_added()])
        .when(|u| u.change_profile(&new, &ctx()))
        .then_events([UserEvent::ProfileChanged(new.clone())])
        .then_state(|u| assert_eq!(u.human().map(|h| &h.profile), Some(&new)));
}

#[test]
fn change_profile_to_the_same_is_unchanged() {
    given::<User>(&[human_added()])
        .when(|u| u.change_profile(&profile(), &ctx()))
        .then_unchanged();
}

#[test]
fn change_profile_refusals() {
    let bad = Profile {
        given_name: " ".to_owned(),
        ..profile()
    };
    given::<User>(&[human_added()])
        .when(|u| u.change_profile(&bad, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.given_name.required")
        .then_field("given_name");
    given::<User>(&[machine_added()])
        .when(|u| u.change_profile(&profile(), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_human");
    given::<User>(&[human_added(), UserEvent::Removed])
        .when(|u| u.change_profile(&profile(), &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found");
}

#[test]
fn change_email_makes_it_unverified() {
    given::<User>(&[human_added()])
        .when(|u| u.change_email("alice@wonderland.example", &ctx()))
        .then_events([UserEvent::EmailChanged(EmailChanged {
            email: "alice@wonderland.example".to_owned(),
        })])
        .then_state(|u| {
            let human = u.human().expect("human");
            assert_eq!(human.email, "alice@wonderland.example");
            assert!(!human.email_verified);
        });
}

#[test]
fn change_email_refusals_and_no_op() {
    given::<User>(&[human_added()])
        .when(|u| u.change_email("alice@EXAMPLE.COM", &ctx()))
        .then_unchanged();
    given::<User>(&[human_added()])
        .when(|u| u.change_email("alice(at)example.com", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.email.invalid")
        .then_field("email");
    given::<User>(&[machine_added()])
        .when(|u| u.change_email("bot@example.com", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_human");
}

#[test]
fn verify_email() {
    let changed = UserEvent::EmailChanged(EmailChanged {
        email: "new@example.com".to_owned(),
    });
    given::<User>(&[human_added(), changed])
        .when(|u| u.verify_email(&ctx()))
        .then_events([UserEvent::EmailVerified])
        .then_state(|u| assert!(u.human().is_some_and(|h| h.email_verified)));
}

#[test]
fn verify_verified_email_is_refused() {
    given::<User>(&[human_added()])
        .when(|u| u.verify_email(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.email.already_verified");
}

#[test]
fn change_and_remove_phone() {
    given::<User>(&[human_added()])
        .when(|u| u.change_phone(Some("+1 555 0100 123"), &ctx()))
        .then_events([UserEvent::PhoneChanged(PhoneChanged {
            phone: "+15550100123".to_owned(),
        })]);
    let with_phone = [
        human_added(),
        UserEvent::PhoneChanged(PhoneChanged {
            phone: "+15550100123".to_owned(),
        }),
    ];
    given::<User>(&with_phone)
        .when(|u| u.change_phone(Some("+15550100123"), &ctx()))
        .then_unchanged();
    given::<User>(&with_phone)
        .when(|u| u.change_phone(None, &ctx()))
        .then_events([UserEvent::PhoneRemoved])
        .then_state(|u| assert_eq!(u.human().and_then(|h| h.phone.clone()), None));
    given::<User>(&[human_added()])
        .when(|u| u.change_phone(None, &ctx()))
        .then_unchanged();
    given::<User>(&[human_added()])
        .when(|u| u.change_phone(Some("555"), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.phone.invalid")
        .then_field("phone");
}

// ---- password and lockout ----

#[test]
fn set_password_takes_a_hash() {
    given::<User>(&[human_added()])
        .when(|u| u.set_password(OTHER_PASSWORD_HASH, true, &ctx()))
        .then_events([UserEvent::PasswordChanged(PasswordChanged {
            password_hash: OTHER_PASSWORD_HASH.to_owned(),
            change_required: true,
        })])
        .then_state(|u| {
            let human = u.human().expect("human");
            assert_eq!(human.password_hash.as_deref(), Some(OTHER_PASSWORD_HASH));
            assert!(human.password_change_required);
        });
}

#[test]
fn set_password_refuses_plaintext_and_machines() {
    given::<User>(&[human_added()])
        .when(|u| u.set_password("Secr3t!password", false, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.password_hash.invalid")
        .then_field("password_hash");
    given::<User>(&[machine_added()])
        .when(|u| u.set_password(PASSWORD_HASH, false, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_human");
}

#[test]
fn failed_password_checks_lock_at_the_policy_maximum() {
    given::<User>(&[human_added(), UserEvent::PasswordCheckFailed])
        .when(|u| u.record_password_check(false, &lockout(3), &ctx()))
        .then_events([UserEvent::PasswordCheckFailed])
        .then_state(|u| assert!(!u.locked));
    given::<User>(&[
        human_added(),
        UserEvent::PasswordCheckFailed,
        UserEvent::PasswordCheckFailed,
    ])
    .when(|u| u.record_password_check(false, &lockout(3), &ctx()))
    .then_events([UserEvent::PasswordCheckFailed, UserEvent::Locked])
    .then_state(|u| assert!(u.locked));
}

#[test]
fn lockout_policy_zero_never_locks() {
    let many = vec![UserEvent::PasswordCheckFailed; 50];
    let events = [vec![human_added()], many].concat();
    given::<User>(&events)
        .when(|u| u.record_password_check(false, &lockout(0), &ctx()))
        .then_events([UserEvent::PasswordCheckFailed]);
}

#[test]
fn successful_check_resets_the_count() {
    given::<User>(&[
        human_added(),
        UserEvent::PasswordCheckFailed,
        UserEvent::PasswordCheckFailed,
    ])
    .when(|u| u.record_password_check(true, &lockout(3), &ctx()))
    .then_events([UserEvent::PasswordCheckSucceeded])
    .then_state(|u| assert_eq!(u.human().map(|h| h.failed_password_attempts), Some(0)));
}

#[test]
fn password_check_refusals() {
    given::<User>(&[human_added(), UserEvent::Locked])
        .when(|u| u.record_password_check(true, &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.locked");
    given::<User>(&[human_added(), UserEvent::Deactivated])
        .when(|u| u.record_password_check(true, &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.inactive");
    let without_password = UserEvent::HumanAdded(HumanAdded {
        password_hash: None,
        ..alice()
    });
    given::<User>(&[without_password])
        .when(|u| u.record_password_check(true, &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.password.not_set");
    given::<User>(&[machine_added()])
        .when(|u| u.record_password_check(true, &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_human");
}

// ---- lock, unlock, deactivate, reactivate, remove ----

#[test]
fn lock_and_unlock() {
    given::<User>(&[human_added()])
        .when(|u| u.lock(&ctx()))
        .then_events([UserEvent::Locked])
        .then_state(|u| assert!(u.locked));
    given::<User>(&[
        human_added(),
        UserEvent::PasswordCheckFailed,
        UserEvent::Locked,
    ])
    .when(|u| u.unlock(&ctx()))
    .then_events([UserEvent::Unlocked])
    .then_state(|u| {
        assert!(!u.locked);
        assert_eq!(u.human().map(|h| h.failed_password_attempts), Some(0));
    });
}

#[test]
fn lock_locked_or_unlock_unlocked_is_refused() {
    given::<User>(&[human_added(), UserEvent::Locked])
        .when(|u| u.lock(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.already_locked");
    given::<User>(&[human_added()])
        .when(|u| u.unlock(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_locked");
}

#[test]
fn machines_can_be_locked_too() {
    given::<User>(&[machine_added()])
        .when(|u| u.lock(&ctx()))
        .then_events([UserEvent::Locked]);
}

#[test]
fn deactivate_and_reactivate() {
    given::<User>(&[human_added()])
        .when(|u| u.deactivate(&ctx()))
        .then_events([UserEvent::Deactivated])
        .then_state(|u| assert_eq!(u.lifecycle, Lifecycle::Inactive));
    given::<User>(&[human_added(), UserEvent::Deactivated])
        .when(|u| u.reactivate(&ctx()))
        .then_events([UserEvent::Reactivated])
        .then_state(|u| assert_eq!(u.lifecycle, Lifecycle::Active));
}

#[test]
fn deactivate_inactive_or_reactivate_active_is_refused() {
    given::<User>(&[human_added(), UserEvent::Deactivated])
        .when(|u| u.deactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.already_inactive");
    given::<User>(&[human_added()])
        .when(|u| u.reactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_inactive");
}

#[test]
fn remove_frees_the_login_name() {
    given::<User>(&[human_added()])
        .when(|u| u.remove(&ctx()))
        .then_events([UserEvent::Removed])
        .then_unique([UniqueChange::remove(unique::LOGIN_NAME, "alice")])
        .then_state(|u| assert!(!u.exists()));
}

#[test]
fn every_command_on_a_removed_user_is_not_found() {
    let removed = [human_added(), UserEvent::Removed];
    let c = ctx();
    let commands: Vec<Command<'_>> = vec![
        Box::new(|u| u.lock(&c)),
        Box::new(|u| u.unlock(&c)),
        Box::new(|u| u.deactivate(&c)),
        Box::new(|u| u.reactivate(&c)),
        Box::new(|u| u.remove(&c)),
        Box::new(|u| u.verify_email(&c)),
        Box::new(|u| u.change_email("a@example.com", &c)),
        Box::new(|u| u.change_phone(None, &c)),
        Box::new(|u| u.set_password(PASSWORD_HASH, false, &c)),
        Box::new(|u| u.record_password_check(true, &lockout(3), &c)),
        Box::new(|u| u.set_metadata("k", "v", &c)),
        Box::new(|u| u.remove_metadata("k", &c)),
        Box::new(|u| u.change_machine("n", "", None, &c)),
        Box::new(|u| u.add_key(&key("k1"), &c)),
        Box::new(|u| u.remove_key("k1", &c)),
        Box::new(|u| u.set_secret("hash", &c)),
        Box::new(|u| u.remove_secret(&c)),
        Box::new(|u| u.add_personal_access_token(&pat("t1"), &c)),
        Box::new(|u| u.remove_personal_access_token("t1", &c)),
    ];
    for command in commands {
        given::<User>(&removed)
            .when(|u| command(u))
            .then_error(ErrorKind::NotFound, "user.not_found");
    }
}

// ---- metadata ----

#[test]
fn set_and_remove_metadata() {
    given::<User>(&[human_added()])
        .when(|u| u.set_metadata("crm/id", "C-42", &ctx()))
        .then_events([UserEvent::MetadataSet(MetadataSet {
            key: "crm/id".to_owned(),
            value: "C-42".to_owned(),
        })])
        .then_state(|u| assert_eq!(u.metadata.get("crm/id").map(String::as_str), Some("C-42")));
    let with_entry = [
        human_added(),
        UserEvent::MetadataSet(MetadataSet {
            key: "crm/id".to_owned(),
            value: "C-42".to_owned(),
        }),
    ];
    given::<User>(&with_entry)
        .when(|u| u.set_metadata("crm/id", "C-42", &ctx()))
        .then_unchanged();
    given::<User>(&with_entry)
        .when(|u| u.remove_metadata("crm/id", &ctx()))
        .then_events([UserEvent::MetadataRemoved(MetadataRemoved {
            key: "crm/id".to_owned(),
        })])
        .then_state(|u| assert!(u.metadata.is_empty()));
}

#[test]
fn metadata_refusals() {
    given::<User>(&[human_added()])
        .when(|u| u.set_metadata("bad key", "v", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.metadata.key.invalid")
        .then_field("key");
    given::<User>(&[human_added()])
        .when(|u| u.set_metadata("k", &"v".repeat(9000), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.metadata.value.too_long")
        .then_field("value");
    given::<User>(&[human_added()])
        .when(|u| u.remove_metadata("missing", &ctx()))
        .then_error(ErrorKind::NotFound, "user.metadata.not_found")
        .then_field("key");
}

#[test]
fn metadata_entries_are_limited() {
    let mut events = vec![human_added()];
    events.extend((0..MAX_METADATA_ENTRIES).map(|i| {
        UserEvent::MetadataSet(MetadataSet {
            key: format!("k{i}"),
            value: "v".to_owned(),
        })
    }));
    given::<User>(&events)
        .when(|u| u.set_metadata("one-more", "v", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.metadata.limit_reached");
    given::<User>(&events)
        .when(|u| u.set_metadata("k0", "changed", &ctx()))
        .then_events([UserEvent::MetadataSet(MetadataSet {
            key: "k0".to_owned(),
            value: "changed".to_owned(),
        })]);
}

// ---- machine ----

#[test]
fn change_machine() {
    given::<User>(&[machine_added()])
        .when(|u| u.change_machine("Deploy bot", "", None, &ctx()))
        .then_events([UserEvent::MachineChanged(MachineChanged {
            name: "Deploy bot".to_owned(),
            description: String::new(),
            access_token_type: AccessTokenType::Jwt,
        })]);
    given::<User>(&[machine_added()])
        .when(|u| u.change_machine("CI bot", "Deploys from CI", None, &ctx()))
        .then_unchanged();
    given::<User>(&[machine_added()])
        .when(|u| {
            u.change_machine(
                "CI bot",
                "Deploys from CI",
                Some(AccessTokenType::Jwt),
                &ctx(),
            )
        })
        .then_unchanged();
    given::<User>(&[human_added()])
        .when(|u| u.change_machine("x", "", None, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_machine");
}

#[test]
fn a_machine_chooses_opaque_access_tokens() {
    let cmd = AddMachine {
        access_token_type: AccessTokenType::Opaque,
        ..add_machine_cmd()
    };
    let UserEvent::MachineAdded(jwt) = machine_added() else {
        unreachable!()
    };
    let opaque = UserEvent::MachineAdded(MachineAdded {
        access_token_type: AccessTokenType::Opaque,
        ..jwt
    });
    given::<User>(&[])
        .when(|u| u.add_machine(&cmd, &active_org(), &ctx()))
        .then_events([opaque.clone()]);
    // A change that leaves the kind out keeps it; one that names it switches.
    given::<User>(std::slice::from_ref(&opaque))
        .when(|u| u.change_machine("Deploy bot", "", None, &ctx()))
        .then_events([UserEvent::MachineChanged(MachineChanged {
            name: "Deploy bot".to_owned(),
            description: String::new(),
            access_token_type: AccessTokenType::Opaque,
        })]);
    given::<User>(&[opaque])
        .when(|u| {
            u.change_machine(
                "CI bot",
                "Deploys from CI",
                Some(AccessTokenType::Jwt),
                &ctx(),
            )
        })
        .then_events([UserEvent::MachineChanged(MachineChanged {
            name: "CI bot".to_owned(),
            description: "Deploys from CI".to_owned(),
            access_token_type: AccessTokenType::Jwt,
        })]);
    // Events written before machines had a choice read as JWT.
    let old: MachineAdded = serde_json::from_value(serde_json::json!({
        "org_id": "o", "login_name": "l", "name": "n", "description": ""
    }))
    .unwrap();
    assert_eq!(old.access_token_type, AccessTokenType::Jwt);
}

#[test]
fn add_and_remove_key() {
    given::<User>(&[machine_added()])
        .when(|u| u.add_key(&key("k1"), &ctx()))
        .then_events([UserEvent::MachineKeyAdded(key("k1"))])
        .then_state(|u| assert!(u.machine().is_some_and(|m| m.keys.contains_key("k1"))));
    given::<User>(&[machine_added(), UserEvent::MachineKeyAdded(key("k1"))])
        .when(|u| u.remove_key("k1", &ctx()))
        .then_events([UserEvent::MachineKeyRemoved(MachineKeyRemoved {
            key_id: "k1".to_owned(),
        })])
        .then_state(|u| assert!(u.machine().is_some_and(|m| m.keys.is_empty())));
}

#[test]
fn add_jwk_key() {
    let jwk = MachineKeyAdded {
        format: KeyFormat::Jwk,
        public_key:
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
                .to_owned(),
        ..key("k2")
    };
    given::<User>(&[machine_added()])
        .when(|u| u.add_key(&jwk, &ctx()))
        .then_events([UserEvent::MachineKeyAdded(jwk.clone())]);
}

#[test]
fn add_key_refusals() {
    let cases = [
        (
            MachineKeyAdded {
                public_key:
                    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----"
                        .to_owned(),
                ..key("k1")
            },
            ErrorKind::InvalidArgument,
            "user.machine.key.private",
            "public_key",
        ),
        (
            MachineKeyAdded {
                format: KeyFormat::Jwk,
                public_key: r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"secret"}"#.to_owned(),
                ..key("k1")
            },
            ErrorKind::InvalidArgument,
            "user.machine.key.private",
            "public_key",
        ),
        (
            MachineKeyAdded {
                format: KeyFormat::Jwk,
                public_key: "not json".to_owned(),
                ..key("k1")
            },
            ErrorKind::InvalidArgument,
            "user.machine.key.invalid",
            "public_key",
        ),
        (
            MachineKeyAdded {
                public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA".to_owned(),
                ..key("k1")
            },
            ErrorKind::InvalidArgument,
            "user.machine.key.invalid",
            "public_key",
        ),
        (
            MachineKeyAdded {
                expires_at_unix_ms: NOW - 1,
                ..key("k1")
            },
            ErrorKind::InvalidArgument,
            "user.machine.key.expires_at.in_past",
            "expires_at",
        ),
        (
            MachineKeyAdded {
                key_id: "k 1".to_owned(),
                ..key("k1")
            },
            ErrorKind::InvalidArgument,
            "user.machine.key.id.invalid",
            "key_id",
        ),
    ];
    for (cmd, kind, code, field) in cases {
        given::<User>(&[machine_added()])
            .when(|u| u.add_key(&cmd, &ctx()))
            .then_error(kind, code)
            .then_field(field);
    }
    given::<User>(&[machine_added(), UserEvent::MachineKeyAdded(key("k1"))])
        .when(|u| u.add_key(&key("k1"), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "user.machine.key.already_exists")
        .then_field("key_id");
    given::<User>(&[human_added()])
        .when(|u| u.add_key(&key("k1"), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_machine");
    given::<User>(&[machine_added()])
        .when(|u| u.remove_key("k9", &ctx()))
        .then_error(ErrorKind::NotFound, "user.machine.key.not_found");
}

#[test]
fn keys_are_limited() {
    let mut events = vec![machine_added()];
    events.extend((0..MAX_MACHINE_KEYS).map(|i| UserEvent::MachineKeyAdded(key(&format!("k{i}")))));
    given::<User>(&events)
        .when(|u| u.add_key(&key("extra"), &ctx()))
        .then_error(
            ErrorKind::PreconditionFailed,
            "user.machine.key.limit_reached",
        );
}

#[test]
fn set_and_remove_secret() {
    given::<User>(&[machine_added()])
        .when(|u| u.set_secret("sha256:abc", &ctx()))
        .then_events([UserEvent::MachineSecretSet(MachineSecretSet {
            secret_hash: "sha256:abc".to_owned(),
        })]);
    given::<User>(&[
        machine_added(),
        UserEvent::MachineSecretSet(MachineSecretSet {
            secret_hash: "sha256:abc".to_owned(),
        }),
    ])
    .when(|u| u.remove_secret(&ctx()))
    .then_events([UserEvent::MachineSecretRemoved])
    .then_state(|u| assert!(u.machine().is_some_and(|m| m.secret_hash.is_none())));
}

#[test]
fn secret_refusals() {
    given::<User>(&[machine_added()])
        .when(|u| u.remove_secret(&ctx()))
        .then_error(ErrorKind::NotFound, "user.machine.secret.not_found");
    given::<User>(&[machine_added()])
        .when(|u| u.set_secret("", &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "user.machine.secret_hash.required",
        )
        .then_field("secret_hash");
    given::<User>(&[human_added()])
        .when(|u| u.set_secret("sha256:abc", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_machine");
}

#[test]
fn add_and_remove_personal_access_token() {
    given::<User>(&[machine_added()])
        .when(|u| u.add_personal_access_token(&pat("t1"), &ctx()))
        .then_events([UserEvent::PersonalAccessTokenAdded(pat("t1"))])
        .then_state(|u| assert!(u.machine().is_some_and(|m| m.tokens.contains_key("t1"))));
    given::<User>(&[
        machine_added(),
        UserEvent::PersonalAccessTokenAdded(pat("t1")),
    ])
    .when(|u| u.remove_personal_access_token("t1", &ctx()))
    .then_events([UserEvent::PersonalAccessTokenRemoved(
        PersonalAccessTokenRemoved {
            token_id: "t1".to_owned(),
        },
    )]);
}

#[test]
fn personal_access_token_refusals() {
    given::<User>(&[
        machine_added(),
        UserEvent::PersonalAccessTokenAdded(pat("t1")),
    ])
    .when(|u| u.add_personal_access_token(&pat("t1"), &ctx()))
    .then_error(ErrorKind::AlreadyExists, "user.machine.pat.already_exists")
    .then_field("token_id");
    let expired = PersonalAccessTokenAdded {
        expires_at_unix_ms: NOW,
        ..pat("t2")
    };
    given::<User>(&[machine_added()])
        .when(|u| u.add_personal_access_token(&expired, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "user.machine.pat.expires_at.in_past",
        )
        .then_field("expires_at");
    let blank = PersonalAccessTokenAdded {
        token_hash: String::new(),
        ..pat("t2")
    };
    given::<User>(&[machine_added()])
        .when(|u| u.add_personal_access_token(&blank, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "user.machine.pat.token_hash.required",
        )
        .then_field("token_hash");
    given::<User>(&[machine_added()])
        .when(|u| u.remove_personal_access_token("t9", &ctx()))
        .then_error(ErrorKind::NotFound, "user.machine.pat.not_found");
    given::<User>(&[human_added()])
        .when(|u| u.add_personal_access_token(&pat("t1"), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_machine");
}

#[test]
fn personal_access_tokens_are_limited() {
    let mut events = vec![machine_added()];
    events.extend(
        (0..MAX_PERSONAL_ACCESS_TOKENS)
            .map(|i| UserEvent::PersonalAccessTokenAdded(pat(&format!("t{i}")))),
    );
    given::<User>(&events)
        .when(|u| u.add_personal_access_token(&pat("extra"), &ctx()))
        .then_error(
            ErrorKind::PreconditionFailed,
            "user.machine.pat.limit_reached",
        );
}

// ---- upcasting ----

#[test]
fn human_added_revision_1_is_upcast_to_revision_2() {
    let stored = serde_json::json!({
        "org_id": "org-1",
        "user_name": "Alice",
        "first_name": "Alice",
        "last_name": "Liddell",
        "display_name": "Alice Liddell",
        "preferred_language": "en",
        "email": "alice@example.com",
        "email_verified": true,
        "password_hash": PASSWORD_HASH,
    });
    let event = UserEvent::from_stored("user.human.added", 1, &stored).expect("upcasts");
    assert_eq!(event, human_added());
    assert_eq!(event.revision(), 2);
}

#[test]
fn malformed_revision_1_payload_is_a_decode_error() {
    let error = UserEvent::from_stored("user.human.added", 1, &serde_json::json!([1, 2]))
        .expect_err("not an object");
    assert!(matches!(
        error,
        DecodeError::InvalidPayload { revision: 1, .. }
    ));
}

#[test]
fn apply_ignores_events_for_the_other_kind() {
    let mut user = User::replay(&[machine_added()]);
    user.apply(&UserEvent::EmailVerified);
    user.apply(&UserEvent::PasswordCheckFailed);
    assert_eq!(user, User::replay(&[machine_added()]));
    let mut nobody = User::default();
    nobody.apply(&UserEvent::MachineSecretRemoved);
    nobody.apply(&UserEvent::Unlocked);
    assert!(!nobody.exists());
}

#[test]
fn add_human_with_initial_password_requiring_change() {
    let cmd = AddHuman {
        password_change_required: true,
        ..add_human_cmd()
    };
    given::<User>(&[])
        .when(|u| u.add_human(&cmd, &active_org(), &ctx()))
        .then_state(|u| assert!(u.human().is_some_and(|h| h.password_change_required)));
}

#[test]
fn state_serializes_for_plugins_with_hashes_redactable() {
    let state = serde_json::to_value(User::replay(&[human_added()])).expect("serializes");
    assert_eq!(state["kind"]["kind"], "human");
    assert_eq!(state["kind"]["password_hash"], PASSWORD_HASH);
    let redacted = crate::audit::redact_secrets(&state);
    assert_eq!(redacted["kind"]["password_hash"], crate::audit::REDACTED);
    assert_eq!(redacted["login_name"], "Alice");
}

#[test]
fn a_user_records_each_organization_and_project_it_joins_once() {
    let joined = UserEvent::MembershipAdded(MembershipAdded {
        scope: crate::authz::ScopeKind::Org,
        scope_id: "org-2".to_owned(),
    });
    given::<User>(&[machine_added()])
        .when(|u| u.record_membership(crate::authz::ScopeKind::Org, "org-2", &ctx()))
        .then_events([joined.clone()]);
    given::<User>(&[machine_added(), joined])
        .when(|u| u.record_membership(crate::authz::ScopeKind::Org, "org-2", &ctx()))
        .then_unchanged();
    given::<User>(&[])
        .when(|u| u.record_membership(crate::authz::ScopeKind::Project, "p-1", &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found");
}

// ---- second factor (TOTP) and emailed codes ----

const SEALED: &str = "v1.bm9uY2U.c2VhbGVk";
const CODE_HASH: &str = "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5";
const OTHER_CODE_HASH: &str = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";

fn otp_enrolled(step: u64) -> Vec<UserEvent> {
    vec![
        human_added(),
        UserEvent::OtpAdded(OtpAdded {
            secret_sealed: SEALED.to_owned(),
        }),
        UserEvent::OtpVerified(OtpStep { step }),
    ]
}

fn code(expires_at_unix_ms: i64) -> CodeAdded {
    CodeAdded {
        code_hash: CODE_HASH.to_owned(),
        expires_at_unix_ms,
    }
}

#[test]
fn otp_enrolment_is_pending_until_a_first_code_verifies_it() {
    given::<User>(&[human_added()])
        .when(|u| u.add_otp(SEALED, &ctx()))
        .then_events([UserEvent::OtpAdded(OtpAdded {
            secret_sealed: SEALED.to_owned(),
        })])
        .then_state(|u| assert!(!u.has_verified_otp(), "pending until verified"));
    let pending = [
        human_added(),
        UserEvent::OtpAdded(OtpAdded {
            secret_sealed: SEALED.to_owned(),
        }),
    ];
    given::<User>(&pending)
        .when(|u| u.verify_otp(None, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.otp.code.invalid")
        .then_field("code");
    given::<User>(&pending)
        .when(|u| u.verify_otp(Some(100), &ctx()))
        .then_events([UserEvent::OtpVerified(OtpStep { step: 100 })])
        .then_state(|u| {
            assert!(u.has_verified_otp());
            assert_eq!(
                u.human()
                    .and_then(|h| h.otp.as_ref())
                    .and_then(|o| o.last_step),
                Some(100)
            );
        });
    // A pending enrolment may be restarted with a new secret.
    given::<User>(&pending)
        .when(|u| u.add_otp("v1.other", &ctx()))
        .then_events([UserEvent::OtpAdded(OtpAdded {
            secret_sealed: "v1.other".to_owned(),
        })]);
}

#[test]
fn otp_enrolment_refusals() {
    given::<User>(&otp_enrolled(100))
        .when(|u| u.add_otp(SEALED, &ctx()))
        .then_error(ErrorKind::AlreadyExists, "user.otp.already_enrolled");
    given::<User>(&otp_enrolled(100))
        .when(|u| u.verify_otp(Some(101), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.otp.already_verified");
    given::<User>(&[human_added()])
        .when(|u| u.verify_otp(Some(101), &ctx()))
        .then_error(ErrorKind::NotFound, "user.otp.not_found");
    given::<User>(&[human_added()])
        .when(|u| u.add_otp("  ", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.otp.secret.invalid")
        .then_field("secret_sealed");
    given::<User>(&[machine_added()])
        .when(|u| u.add_otp(SEALED, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_human");
    given::<User>(&[human_added()])
        .when(|u| u.remove_otp(&ctx()))
        .then_error(ErrorKind::NotFound, "user.otp.not_found");
}

#[test]
fn otp_check_accepts_each_time_step_once() {
    given::<User>(&otp_enrolled(100))
        .when(|u| u.record_otp_check(Some(101), &lockout(3), &ctx()))
        .then_events([UserEvent::OtpCheckSucceeded(OtpStep { step: 101 })]);
    // The enrolment's own code, and any older one, is a replay.
    for replayed in [100, 99] {
        given::<User>(&otp_enrolled(100))
            .when(|u| u.record_otp_check(Some(replayed), &lockout(3), &ctx()))
            .then_events([UserEvent::OtpCheckFailed]);
    }
    let mut used = otp_enrolled(100);
    used.push(UserEvent::OtpCheckSucceeded(OtpStep { step: 105 }));
    given::<User>(&used)
        .when(|u| u.record_otp_check(Some(105), &lockout(3), &ctx()))
        .then_events([UserEvent::OtpCheckFailed]);
    given::<User>(&used)
        .when(|u| u.record_otp_check(Some(106), &lockout(3), &ctx()))
        .then_events([UserEvent::OtpCheckSucceeded(OtpStep { step: 106 })]);
}

#[test]
fn otp_failures_lock_at_the_policy_maximum_apart_from_password_failures() {
    let mut history = otp_enrolled(100);
    history.extend([
        UserEvent::OtpCheckFailed,
        UserEvent::OtpCheckFailed,
        UserEvent::PasswordCheckSucceeded,
    ]);
    given::<User>(&history)
        .when(|u| u.record_otp_check(None, &lockout(3), &ctx()))
        .then_events([UserEvent::OtpCheckFailed, UserEvent::Locked]);
    given::<User>(&history)
        .when(|u| u.record_otp_check(None, &lockout(0), &ctx()))
        .then_events([UserEvent::OtpCheckFailed]);
    let mut reset = history.clone();
    reset.push(UserEvent::OtpCheckSucceeded(OtpStep { step: 101 }));
    given::<User>(&reset)
        .when(|u| u.record_otp_check(None, &lockout(3), &ctx()))
        .then_events([UserEvent::OtpCheckFailed]);
    let mut locked = history;
    locked.push(UserEvent::Locked);
    given::<User>(&locked)
        .when(|u| u.record_otp_check(Some(200), &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.locked");
    locked.push(UserEvent::Unlocked);
    given::<User>(&locked)
        .when(|u| u.record_otp_check(None, &lockout(3), &ctx()))
        .then_events([UserEvent::OtpCheckFailed])
        // Unlocking reset the count: this failure is the first again.
        .then_state(|u| assert_eq!(u.human().map(|h| h.failed_otp_attempts), Some(1)));
}

#[test]
fn otp_check_needs_a_verified_factor_and_removal_clears_it() {
    given::<User>(&[human_added()])
        .when(|u| u.record_otp_check(Some(1), &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.otp.not_enrolled");
    given::<User>(&otp_enrolled(100))
        .when(|u| u.remove_otp(&ctx()))
        .then_events([UserEvent::OtpRemoved])
        .then_state(|u| assert!(!u.has_verified_otp()));
    let mut removed = otp_enrolled(100);
    removed.push(UserEvent::OtpRemoved);
    given::<User>(&removed)
        .when(|u| u.record_otp_check(Some(200), &lockout(3), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.otp.not_enrolled");
}

#[test]
fn email_code_verifies_the_email_once() {
    let unverified = UserEvent::EmailChanged(EmailChanged {
        email: "alice@example.org".to_owned(),
    });
    given::<User>(&[human_added(), unverified.clone()])
        .when(|u| u.add_email_code(CODE_HASH, NOW + DAY, &ctx()))
        .then_events([UserEvent::EmailCodeAdded(code(NOW + DAY))]);
    let pending = [
        human_added(),
        unverified.clone(),
        UserEvent::EmailCodeAdded(code(NOW + DAY)),
    ];
    given::<User>(&pending)
        .when(|u| u.verify_email_with_code(OTHER_CODE_HASH, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.email.code.invalid")
        .then_field("code");
    given::<User>(&pending)
        .when(|u| u.verify_email_with_code(CODE_HASH, &ctx()))
        .then_events([UserEvent::EmailVerified])
        .then_state(|u| assert_eq!(u.human().map(|h| h.email_code.is_none()), Some(true)));
    let mut verified = pending.to_vec();
    verified.push(UserEvent::EmailVerified);
    given::<User>(&verified)
        .when(|u| u.verify_email_with_code(CODE_HASH, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.email.already_verified");
    given::<User>(&verified)
        .when(|u| u.add_email_code(CODE_HASH, NOW + DAY, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.email.already_verified");
    // A code sent to an address no longer holds once the address changes.
    let mut changed = pending.to_vec();
    changed.push(UserEvent::EmailChanged(EmailChanged {
        email: "alice@example.net".to_owned(),
    }));
    given::<User>(&changed)
        .when(|u| u.verify_email_with_code(CODE_HASH, &ctx()))
        .then_error(ErrorKind::NotFound, "user.email.code.not_found");
}

#[test]
fn email_code_expires() {
    let unverified = UserEvent::EmailChanged(EmailChanged {
        email: "alice@example.org".to_owned(),
    });
    let pending = [
        human_added(),
        unverified,
        UserEvent::EmailCodeAdded(code(NOW + 1000)),
    ];
    let later = CommandContext::new("instance-1", "user-1", NOW + 1000);
    given::<User>(&pending)
        .when(|u| u.verify_email_with_code(CODE_HASH, &later))
        .then_error(ErrorKind::PreconditionFailed, "user.email.code.expired");
    given::<User>(&[human_added()])
        .when(|u| u.add_password_code(CODE_HASH, NOW, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.code.expires_at.in_past");
}

#[test]
fn password_code_sets_a_password_once_until_expiry() {
    given::<User>(&[human_added()])
        .when(|u| u.add_password_code(CODE_HASH, NOW + DAY, &ctx()))
        .then_events([UserEvent::PasswordCodeAdded(code(NOW + DAY))]);
    let pending = [human_added(), UserEvent::PasswordCodeAdded(code(NOW + DAY))];
    given::<User>(&pending)
        .when(|u| u.reset_password_with_code(CODE_HASH, OTHER_PASSWORD_HASH, &ctx()))
        .then_events([UserEvent::PasswordChanged(PasswordChanged {
            password_hash: OTHER_PASSWORD_HASH.to_owned(),
            change_required: false,
        })]);
    given::<User>(&pending)
        .when(|u| u.reset_password_with_code(OTHER_CODE_HASH, OTHER_PASSWORD_HASH, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.password.code.invalid")
        .then_field("code");
    let mut used = pending.to_vec();
    used.push(UserEvent::PasswordChanged(PasswordChanged {
        password_hash: OTHER_PASSWORD_HASH.to_owned(),
        change_required: false,
    }));
    given::<User>(&used)
        .when(|u| u.reset_password_with_code(CODE_HASH, PASSWORD_HASH, &ctx()))
        .then_error(ErrorKind::NotFound, "user.password.code.not_found");
    let expired = CommandContext::new("instance-1", "user-1", NOW + DAY);
    given::<User>(&pending)
        .when(|u| u.reset_password_with_code(CODE_HASH, PASSWORD_HASH, &expired))
        .then_error(ErrorKind::PreconditionFailed, "user.password.code.expired");
    // A newer code replaces the older.
    let mut replaced = pending.to_vec();
    replaced.push(UserEvent::PasswordCodeAdded(CodeAdded {
        code_hash: OTHER_CODE_HASH.to_owned(),
        expires_at_unix_ms: NOW + DAY,
    }));
    given::<User>(&replaced)
        .when(|u| u.reset_password_with_code(CODE_HASH, PASSWORD_HASH, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.password.code.invalid");
}

#[test]
fn password_code_refusals() {
    let mut inactive = vec![human_added(), UserEvent::Deactivated];
    given::<User>(&inactive)
        .when(|u| u.add_password_code(CODE_HASH, NOW + DAY, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.inactive");
    inactive.push(UserEvent::Removed);
    given::<User>(&inactive)
        .when(|u| u.add_password_code(CODE_HASH, NOW + DAY, &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found");
    given::<User>(&[machine_added()])
        .when(|u| u.add_password_code(CODE_HASH, NOW + DAY, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user.not_human");
    given::<User>(&[human_added()])
        .when(|u| u.add_password_code("has space", NOW + DAY, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user.code_hash.invalid")
        .then_field("code_hash");
}
