//! The Python and JavaScript example validators, built by `examples/plugins/build.sh`.

mod common;

use std::time::Duration;

use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{
    Binding, CallError, CommandPayload, Limits, ValidatorOutcome, Violation, World,
};

use common::{new_user, runtime};

fn path(file: &str) -> String {
    fixtures::dist(file)
        .unwrap_or_else(|why| panic!("{why}"))
        .display()
        .to_string()
}

/// Interpreted plugins start bigger and slower than compiled ones: give them room.
fn binding(key: &str, value: &str) -> Binding {
    Binding {
        limits: Limits {
            deadline: Duration::from_secs(1),
            memory: 256 << 20,
            ..Limits::default()
        },
        ..Binding::with_config([(key, value)])
    }
}

#[tokio::test]
async fn python_validator_refuses_blocked_usernames() {
    let plugin = common::load("python-blocked-usernames", &path("python-validator.wasm")).await;
    assert_eq!(plugin.world(), World::Validator);
    let rt = runtime();
    let blocked = binding("blocked", "root, Admin");

    let mut input = new_user(Some("ada@example.com"));
    assert_eq!(
        rt.validate(&plugin, &blocked, &input).await,
        Ok(ValidatorOutcome::Ok)
    );

    if let CommandPayload::AddHumanUser(profile) = &mut input.command.payload {
        profile.username = "ADMIN".into();
    }
    assert_eq!(
        rt.validate(&plugin, &blocked, &input).await,
        Ok(ValidatorOutcome::Violations(vec![Violation {
            field: "username".into(),
            code: "username.blocked".into(),
            message: "the username 'ADMIN' is reserved; choose another one".into(),
        }]))
    );

    let unconfigured = Binding {
        limits: blocked.limits,
        ..Binding::default()
    };
    let err = rt
        .validate(&plugin, &unconfigured, &input)
        .await
        .expect_err("unconfigured");
    assert!(
        matches!(&err, CallError::Plugin(m) if m.contains("blocked")),
        "{err:?}"
    );
}

#[tokio::test]
async fn javascript_validator_requires_names_of_a_minimum_length() {
    let plugin = common::load("js-profile-names", &path("js-validator.wasm")).await;
    assert_eq!(plugin.world(), World::Validator);
    let rt = runtime();

    let input = new_user(Some("ada@example.com")); // given "Ada", family "Lovelace"
    assert_eq!(
        rt.validate(&plugin, &binding("min_length", "3"), &input)
            .await,
        Ok(ValidatorOutcome::Ok)
    );
    assert_eq!(
        rt.validate(&plugin, &binding("min_length", "4"), &input)
            .await,
        Ok(ValidatorOutcome::Violations(vec![Violation {
            field: "given_name".into(),
            code: "profile.name-too-short".into(),
            message: "a given name of at least 4 characters is required".into(),
        }]))
    );
    let err = rt
        .validate(&plugin, &binding("min_length", "many"), &input)
        .await
        .expect_err("bad setting");
    assert!(
        matches!(&err, CallError::Plugin(m) if m.contains("min_length")),
        "{err:?}"
    );
}
