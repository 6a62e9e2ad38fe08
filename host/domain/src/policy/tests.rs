use super::*;
use crate::error::ErrorKind;

#[track_caller]
fn weak(policy: &PasswordComplexityPolicy, password: &str, code: &str) -> String {
    let error = policy
        .check(password)
        .expect_err("expected the password to be refused");
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert_eq!(error.code, code);
    assert_eq!(error.field.as_deref(), Some("password"));
    error.message
}

#[test]
fn default_password_policy_needs_eight_characters_of_every_class() {
    let policy = PasswordComplexityPolicy::default();
    assert_eq!(policy.min_length, 8);
    assert_eq!(policy.check("Secr3t!pw"), Ok(()));
    weak(&policy, "S3t!a", "password.too_short");
    weak(&policy, "secr3t!pw", "password.missing_uppercase");
    weak(&policy, "SECR3T!PW", "password.missing_lowercase");
    weak(&policy, "Secret!pw", "password.missing_number");
    weak(&policy, "Secr3tpw1", "password.missing_symbol");
}

#[test]
fn password_refusal_lists_every_unmet_rule() {
    let message = weak(
        &PasswordComplexityPolicy::default(),
        "abc",
        "password.too_short",
    );
    assert_eq!(
        message,
        "password must be at least 8 characters long, contain an upper-case letter, contain a digit, \
         contain a symbol (a character that is neither a letter nor a digit)"
    );
}

#[test]
fn password_length_counts_characters_and_is_bounded() {
    let lenient = PasswordComplexityPolicy {
        min_length: 8,
        has_uppercase: false,
        has_lowercase: false,
        has_number: false,
        has_symbol: false,
    };
    assert_eq!(lenient.check("äöüäöüäö"), Ok(()));
    weak(&lenient, "äöüäöüä", "password.too_short");
    weak(
        &lenient,
        &"a".repeat(MAX_PASSWORD_LENGTH + 1),
        "password.too_long",
    );
}

#[test]
fn password_policy_min_length_bounds() {
    let mut policy = PasswordComplexityPolicy {
        min_length: 7,
        ..PasswordComplexityPolicy::default()
    };
    let error = policy.validate().expect_err("7 is below the floor");
    assert_eq!(error.field.as_deref(), Some("min_length"));
    assert_eq!(
        error.code,
        "policy.password_complexity.min_length.out_of_range"
    );
    policy.min_length = 129;
    assert!(policy.validate().is_err());
    policy.min_length = 12;
    assert_eq!(policy.validate(), Ok(()));
}

#[test]
fn lockout_policy_bounds() {
    assert_eq!(LockoutPolicy::default().validate(), Ok(()));
    let error = LockoutPolicy {
        max_password_attempts: 1001,
        show_lockout_failures: false,
    }
    .validate()
    .expect_err("too many attempts");
    assert_eq!(error.field.as_deref(), Some("max_password_attempts"));
}

#[test]
fn login_policy_keeps_a_way_to_log_in() {
    assert_eq!(LoginPolicy::default().validate(), Ok(()));
    let error = LoginPolicy {
        allow_username_password: false,
        allow_external_idp: false,
        ..LoginPolicy::default()
    }
    .validate()
    .expect_err("no login method");
    assert_eq!(error.code, "policy.login.no_login_method");
    assert_eq!(error.field.as_deref(), Some("allow_username_password"));
}

#[test]
fn login_policy_default_redirect_must_be_https() {
    let mut policy = LoginPolicy {
        default_redirect_uri: Some("http://portal.example.com".to_owned()),
        ..LoginPolicy::default()
    };
    let error = policy.validate().expect_err("http");
    assert_eq!(error.field.as_deref(), Some("default_redirect_uri"));
    assert_eq!(
        error.code,
        "policy.login.default_redirect_uri.https_required"
    );
    policy.default_redirect_uri = Some("https://portal.example.com".to_owned());
    assert_eq!(policy.validate(), Ok(()));
}

#[test]
fn resolve_takes_overrides_over_defaults() {
    let defaults = PolicySet::default();
    let strict = PasswordComplexityPolicy {
        min_length: 16,
        ..PasswordComplexityPolicy::default()
    };
    let mut overrides = PolicyOverrides::default();
    assert_eq!(resolve(&defaults, &overrides), defaults);

    overrides.set(Policy::PasswordComplexity(strict.clone()));
    let resolved = resolve(&defaults, &overrides);
    assert_eq!(resolved.password_complexity, strict);
    assert_eq!(resolved.lockout, defaults.lockout);
    assert_eq!(resolved.login, defaults.login);
    assert!(overrides.is_overridden(PolicyKind::PasswordComplexity));
    assert!(!overrides.is_overridden(PolicyKind::Login));

    overrides.reset(PolicyKind::PasswordComplexity);
    assert_eq!(resolve(&defaults, &overrides), defaults);
}

#[test]
fn policy_enum_round_trips_with_its_kind() {
    let policy = Policy::Lockout(LockoutPolicy::default());
    let json = serde_json::to_value(&policy).expect("serializes");
    assert_eq!(json["kind"], "lockout");
    assert_eq!(
        serde_json::from_value::<Policy>(json).expect("deserializes"),
        policy
    );
    assert_eq!(PolicySet::default().get(PolicyKind::Lockout), policy);
}
