use super::*;
use crate::aggregate::DomainEvent;
use crate::error::ErrorKind;
use crate::fixtures::{NOW, ctx};
use crate::testing::given;

const TOKEN_1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const TOKEN_2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const TOKEN_3: &str = "3333333333333333333333333333333333333333333333333333333333333333";

fn started() -> SessionEvent {
    SessionEvent::Started(SessionStarted {
        user_agent: "Firefox 128 on Linux".to_owned(),
        token_hash: TOKEN_1.to_owned(),
        created_at_unix_ms: NOW,
    })
}

fn identified() -> SessionEvent {
    SessionEvent::UserIdentified(UserIdentified {
        user_id: "user-1".to_owned(),
        org_id: "org-1".to_owned(),
        login_name: "alice".to_owned(),
    })
}

fn password_checked(second_factor_required: bool) -> SessionEvent {
    SessionEvent::PasswordChecked(PasswordChecked {
        checked_at_unix_ms: NOW,
        token_hash: TOKEN_2.to_owned(),
        second_factor_required,
    })
}

#[test]
fn a_session_starts_once_with_a_short_user_agent() {
    given::<Session>(&[])
        .when(|s| s.start("Firefox 128 on Linux", TOKEN_1, &ctx()))
        .then_events([started()])
        .then_state(|s| {
            assert!(s.is_active());
            assert!(!s.is_authenticated());
            assert_eq!(s.token_hash, TOKEN_1);
        });
    let long = "x".repeat(1000) + "\n";
    let then = given::<Session>(&[]).when(|s| s.start(&long, TOKEN_1, &ctx()));
    let SessionEvent::Started(e) = &then.decided().events[0] else {
        panic!("started expected");
    };
    assert_eq!(e.user_agent.chars().count(), MAX_USER_AGENT_LEN);
    given::<Session>(&[started()])
        .when(|s| s.start("x", TOKEN_1, &ctx()))
        .then_error(ErrorKind::AlreadyExists, "session.already_exists");
    given::<Session>(&[])
        .when(|s| s.start("x", "", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "session.token_hash.required")
        .then_field("token_hash");
}

#[test]
fn password_then_authenticated_with_a_new_token() {
    given::<Session>(&[started()])
        .when(|s| s.identify_user("user-1", "org-1", "alice", &ctx()))
        .then_events([identified()]);
    given::<Session>(&[started(), identified()])
        .when(|s| s.check_password(TOKEN_2, false, &ctx()))
        .then_events([password_checked(false)])
        .then_state(|s| {
            assert!(s.is_authenticated());
            assert_eq!(s.token_hash, TOKEN_2, "the pre-login token no longer works");
            assert_eq!(s.auth_time_unix_ms, Some(NOW));
            assert_eq!(s.amr(), vec!["pwd".to_owned()]);
        });
}

#[test]
fn no_password_check_without_a_user() {
    given::<Session>(&[started()])
        .when(|s| s.check_password(TOKEN_2, false, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "session.user.unknown");
    given::<Session>(&[])
        .when(|s| s.check_password(TOKEN_2, false, &ctx()))
        .then_error(ErrorKind::NotFound, "session.not_found");
}

#[test]
fn a_second_factor_completes_the_login() {
    let events = [started(), identified(), password_checked(true)];
    let then = given::<Session>(&events);
    assert!(then.state().awaits_second_factor());
    assert!(!then.state().is_authenticated());
    then.when(|s| s.check_second_factor("otp", TOKEN_3, &ctx()))
        .then_events([SessionEvent::SecondFactorChecked(SecondFactorChecked {
            method: "otp".to_owned(),
            checked_at_unix_ms: NOW,
            token_hash: TOKEN_3.to_owned(),
        })])
        .then_state(|s| {
            assert!(s.is_authenticated());
            assert_eq!(s.amr(), ["pwd", "otp", "mfa"].map(str::to_owned).to_vec());
            assert_eq!(s.token_hash, TOKEN_3);
        });
    given::<Session>(&events)
        .when(|s| s.fail_second_factor("otp", &ctx()))
        .then_events([SessionEvent::SecondFactorFailed(SecondFactorFailed {
            method: "otp".to_owned(),
        })])
        .then_state(|s| {
            assert_eq!(s.failed_attempts, 1);
            assert!(!s.is_authenticated());
        });
    given::<Session>(&events)
        .when(|s| s.check_second_factor("carrier-pigeon", TOKEN_3, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "session.second_factor.method.unknown",
        )
        .then_field("method");
    given::<Session>(&[started(), identified()])
        .when(|s| s.check_second_factor("otp", TOKEN_3, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "session.password.unchecked");
}

#[test]
fn failures_are_recorded() {
    given::<Session>(&[started()])
        .when(|s| s.fail_password("nobody", FailureReason::UnknownUser, &ctx()))
        .then_events([SessionEvent::PasswordFailed(PasswordFailed {
            login_name: "nobody".to_owned(),
            reason: FailureReason::UnknownUser,
        })])
        .then_state(|s| assert_eq!(s.failed_attempts, 1));
}

#[test]
fn another_user_needs_a_new_session_once_authenticated() {
    given::<Session>(&[started(), identified()])
        .when(|s| s.identify_user("user-2", "org-1", "bob", &ctx()))
        .then_events([SessionEvent::UserIdentified(UserIdentified {
            user_id: "user-2".to_owned(),
            org_id: "org-1".to_owned(),
            login_name: "bob".to_owned(),
        })]);
    given::<Session>(&[started(), identified(), password_checked(false)])
        .when(|s| s.identify_user("user-2", "org-1", "bob", &ctx()))
        .then_error(
            ErrorKind::PreconditionFailed,
            "session.user.already_authenticated",
        );
    given::<Session>(&[started(), identified()])
        .when(|s| s.identify_user("user-1", "org-1", "alice", &ctx()))
        .then_unchanged();
}

#[test]
fn a_denied_session_cannot_go_on() {
    let denied = SessionEvent::Denied(SessionDenied {
        hook: "post-authentication".to_owned(),
        reason: "not from this network".to_owned(),
    });
    given::<Session>(&[started(), identified(), password_checked(false)])
        .when(|s| s.deny("post-authentication", "not from this network", &ctx()))
        .then_events([denied.clone()])
        .then_state(|s| assert!(!s.is_authenticated()));
    given::<Session>(&[started(), identified(), denied])
        .when(|s| s.check_password(TOKEN_2, false, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "session.denied");
}

#[test]
fn logout_ends_the_session_once() {
    let terminated = SessionEvent::Terminated(SessionTerminated {
        reason: TerminationReason::Logout,
    });
    given::<Session>(&[started(), identified(), password_checked(false)])
        .when(|s| s.terminate(TerminationReason::Logout, &ctx()))
        .then_events([terminated.clone()])
        .then_state(|s| {
            assert!(!s.is_authenticated());
            assert!(!s.is_active());
        });
    given::<Session>(&[started(), terminated.clone()])
        .when(|s| s.terminate(TerminationReason::Logout, &ctx()))
        .then_unchanged();
    given::<Session>(&[started(), terminated])
        .when(|s| s.fail_password("alice", FailureReason::WrongPassword, &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "session.terminated");
    given::<Session>(&[])
        .when(|s| s.terminate(TerminationReason::Logout, &ctx()))
        .then_error(ErrorKind::NotFound, "session.not_found");
}

#[test]
fn every_event_type_round_trips_and_unknown_ones_are_refused() {
    let all = [
        started(),
        identified(),
        password_checked(true),
        SessionEvent::PasswordFailed(PasswordFailed {
            login_name: "alice".to_owned(),
            reason: FailureReason::Locked,
        }),
        SessionEvent::SecondFactorChecked(SecondFactorChecked {
            method: "otp".to_owned(),
            checked_at_unix_ms: NOW,
            token_hash: TOKEN_3.to_owned(),
        }),
        SessionEvent::SecondFactorFailed(SecondFactorFailed {
            method: "otp".to_owned(),
        }),
        SessionEvent::Denied(SessionDenied {
            hook: "pre-authentication".to_owned(),
            reason: "no".to_owned(),
        }),
        SessionEvent::Terminated(SessionTerminated {
            reason: TerminationReason::Replaced,
        }),
    ];
    let types: Vec<&str> = all.iter().map(DomainEvent::event_type).collect();
    let known: Vec<&str> = SessionEvent::EVENT_TYPES.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, known, "every event type is covered");
    for event in &all {
        let decoded =
            SessionEvent::from_stored(event.event_type(), event.revision(), &event.to_payload());
        assert_eq!(decoded.as_ref(), Ok(event));
    }
    assert!(SessionEvent::from_stored("session.teleported", 1, &serde_json::json!({})).is_err());
    assert!(SessionEvent::from_stored("session.started", 9, &serde_json::json!({})).is_err());
}
