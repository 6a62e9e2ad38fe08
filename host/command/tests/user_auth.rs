//! TOTP, emailed codes and their notifications through the command pipeline, on both backends: what the
//! login pages and the management API rely on.

use std::time::{SystemTime, UNIX_EPOCH};

use totp_rs::{Algorithm, Secret, TOTP};
use warden_command::{
    Caller, CommandError, Commands, CommandsConfig, FirstInstance, Identity, NewHumanUser,
    SecretString, bootstrap, seal::SecretBox, user_auth::notification_owner,
};
use warden_domain::{
    ErrorKind,
    notification::{Notification, NotificationKind},
    policy::{LockoutPolicy, Policy},
    user::{Profile, User},
};
use warden_eventstore::Store;

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let t = warden_eventstore::testing::sqlite().await;
                    super::$name(t.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(t) = warden_eventstore::testing::postgres().await else {
                        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
                        return;
                    };
                    super::$name(t.store.clone()).await;
                }
            )*
        }
    };
}

both_backends!(
    otp_enrolment_check_and_replay,
    otp_failures_lock_the_user_at_the_policy_maximum,
    password_reset_code_sets_a_password_once,
    email_code_verifies_the_email,
    codes_need_a_master_key_and_store_nothing_without,
    users_manage_their_own_factors_but_not_others,
);

struct Setup {
    commands: Commands,
    instance_id: String,
    org_id: String,
    admin: Caller,
    secret_box: SecretBox,
    _dir: tempfile::TempDir,
}

async fn setup_with(store: Store, secret_box: Option<SecretBox>) -> Setup {
    let key = SecretBox::generate().expect("key");
    let commands = Commands::new(
        store,
        CommandsConfig {
            secret_box: secret_box.clone(),
            ..CommandsConfig::default()
        },
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
        .await
        .expect("bootstrap");
    let admin = Caller {
        instance_id: report.instance_id.clone(),
        identity: Identity::User {
            user_id: report.admin_user_id.clone(),
            org_id: report.org_id.clone(),
        },
    };
    let org = commands
        .for_caller(&admin)
        .add_org("Acme")
        .await
        .expect("org");
    Setup {
        commands,
        instance_id: report.instance_id,
        org_id: org.id,
        admin,
        secret_box: secret_box.unwrap_or(key),
        _dir: dir,
    }
}

async fn setup(store: Store) -> Setup {
    let secret_box = SecretBox::generate().expect("key");
    setup_with(store, Some(secret_box)).await
}

async fn add_user(s: &Setup, login_name: &str) -> String {
    s.commands
        .for_caller(&s.admin)
        .add_human_user(&NewHumanUser {
            org_id: s.org_id.clone(),
            login_name: login_name.to_owned(),
            profile: Profile {
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                display_name: String::new(),
                preferred_language: "en".into(),
            },
            email: format!("{login_name}@example.com"),
            email_verified: false,
            phone: None,
            password: Some(SecretString::new("Initial-Passw0rd!")),
            password_change_required: false,
        })
        .await
        .expect("user")
        .id
}

fn user_caller(s: &Setup, user_id: &str) -> Caller {
    Caller {
        instance_id: s.instance_id.clone(),
        identity: Identity::User {
            user_id: user_id.to_owned(),
            org_id: s.org_id.clone(),
        },
    }
}

/// The ids of the `notification.requested` events, oldest first.
async fn notification_ids(store: &Store) -> Vec<String> {
    let sql = "SELECT aggregate_id FROM events WHERE event_type = 'notification.requested' ORDER BY position";
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_all(s.reader()).await,
        Store::Postgres(s) => sqlx::query_scalar(sql).fetch_all(s.pool()).await,
    }
    .expect("notification ids")
}

/// The code the latest notification carries, opened as the notifier opens it.
async fn mailed_code(s: &Setup, kind: NotificationKind, user_id: &str) -> String {
    let ids = notification_ids(s.commands.store()).await;
    let id = ids.last().expect("a notification was requested");
    let model = s
        .commands
        .load::<Notification>(&s.instance_id, id)
        .await
        .expect("load");
    let request = model.state.request.clone().expect("requested");
    assert_eq!(request.kind, kind);
    assert_eq!(request.user_id, user_id);
    assert!(!model.state.sent);
    let code = s
        .secret_box
        .open(
            &request.code_sealed,
            &notification_owner(&s.instance_id, id),
        )
        .expect("the sealed code opens for its notification");
    String::from_utf8(code).expect("text")
}

fn totp_of(secret: &SecretString) -> TOTP {
    let bytes = Secret::Encoded(secret.expose().to_owned())
        .to_bytes()
        .expect("base32");
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, None, "test".to_owned()).expect("totp")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn refusal(error: &CommandError) -> (ErrorKind, String, Option<String>) {
    let r = error
        .as_refusal()
        .unwrap_or_else(|| panic!("a refusal: {error:?}"));
    (r.kind, r.code.to_string(), r.field.clone())
}

async fn otp_enrolment_check_and_replay(store: Store) {
    let s = setup(store.clone()).await;
    let user_id = add_user(&s, "ada").await;
    let me = user_caller(&s, &user_id);
    let commands = s.commands.for_caller(&me);

    let enrolment = commands.enroll_otp(&user_id).await.expect("enrol");
    let uri = enrolment.uri.expose();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(
        uri.contains(&format!("secret={}", enrolment.secret.expose())),
        "{uri}"
    );
    assert!(
        uri.contains(":ada?"),
        "the account is the login name: {uri}"
    );
    // The secret is stored sealed, never in plain text.
    let model = s
        .commands
        .load::<User>(&s.instance_id, &user_id)
        .await
        .expect("load");
    let otp = model
        .state
        .human()
        .and_then(|h| h.otp.clone())
        .expect("pending");
    assert!(!otp.verified);
    assert!(!otp.secret_sealed.contains(enrolment.secret.expose()));

    // Not usable at login until verified.
    let not_yet = commands
        .check_otp(&user_id, "123456")
        .await
        .expect_err("pending");
    assert_eq!(refusal(&not_yet).1, "user.otp.not_enrolled");

    let totp = totp_of(&enrolment.secret);
    let wrong = commands
        .verify_otp_enrollment(&user_id, "000000x")
        .await
        .expect_err("wrong code");
    assert_eq!(
        refusal(&wrong),
        (
            ErrorKind::InvalidArgument,
            "user.otp.code.invalid".to_owned(),
            Some("code".to_owned())
        )
    );
    let now = now_secs();
    let first = totp.generate(now);
    commands
        .verify_otp_enrollment(&user_id, &first)
        .await
        .expect("verified with a first code");

    // The code that confirmed the enrolment cannot log in: its time step is used up.
    let replay = commands
        .check_otp(&user_id, &first)
        .await
        .expect("recorded");
    assert!(!replay.valid, "replayed code refused");
    // The next step's code (within the accepted skew) logs in once.
    let next = totp.generate(now + 30);
    let ok = commands.check_otp(&user_id, &next).await.expect("recorded");
    assert!(ok.valid && !ok.locked, "{ok:?}");
    let again = commands.check_otp(&user_id, &next).await.expect("recorded");
    assert!(!again.valid, "a code works once");
    let garbage = commands
        .check_otp(&user_id, "not a code")
        .await
        .expect("recorded");
    assert!(!garbage.valid);

    // Enrolling again needs the old factor removed; an administrator may remove it.
    let twice = commands
        .enroll_otp(&user_id)
        .await
        .expect_err("already enrolled");
    assert_eq!(refusal(&twice).1, "user.otp.already_enrolled");
    s.commands
        .for_caller(&s.admin)
        .remove_otp(&user_id)
        .await
        .expect("removed");
    let gone = commands
        .check_otp(&user_id, &next)
        .await
        .expect_err("removed");
    assert_eq!(refusal(&gone).1, "user.otp.not_enrolled");
}

async fn otp_failures_lock_the_user_at_the_policy_maximum(store: Store) {
    let s = setup(store).await;
    s.commands
        .for_caller(&s.admin)
        .set_org_policy(
            &s.org_id,
            &Policy::Lockout(LockoutPolicy {
                max_password_attempts: 2,
                show_lockout_failures: true,
            }),
        )
        .await
        .expect("lockout policy");
    let user_id = add_user(&s, "bob").await;
    let system = Caller::system(&s.instance_id);
    let commands = s.commands.for_caller(&system);
    let enrolment = commands.enroll_otp(&user_id).await.expect("enrol");
    let totp = totp_of(&enrolment.secret);
    commands
        .verify_otp_enrollment(&user_id, &totp.generate(now_secs()))
        .await
        .expect("verify");
    let first = commands
        .check_otp(&user_id, "000000")
        .await
        .expect("recorded");
    assert!(!first.valid && !first.locked);
    let second = commands
        .check_otp(&user_id, "000001")
        .await
        .expect("recorded");
    assert!(!second.valid && second.locked, "{second:?}");
    let locked = commands
        .check_otp(&user_id, &totp.generate(now_secs() + 30))
        .await
        .expect_err("locked");
    assert_eq!(refusal(&locked).1, "user.locked");
    let model = s
        .commands
        .load::<User>(&s.instance_id, &user_id)
        .await
        .expect("load");
    assert!(model.state.locked);
}

async fn password_reset_code_sets_a_password_once(store: Store) {
    let s = setup(store.clone()).await;
    let user_id = add_user(&s, "carol").await;
    s.commands
        .for_caller(&s.admin)
        .request_password_reset(&user_id)
        .await
        .expect("reset requested");
    let code = mailed_code(&s, NotificationKind::PasswordReset, &user_id).await;
    assert_eq!(code.len(), 14, "{code}");

    // The login pages act as the system on behalf of an anonymous visitor.
    let system = Caller::system(&s.instance_id);
    let commands = s.commands.for_caller(&system);
    let wrong = commands
        .reset_password_with_code(
            &user_id,
            "AAAA-AAAA-AAAA",
            &SecretString::new("New-Passw0rd!"),
        )
        .await
        .expect_err("wrong code");
    assert_eq!(
        refusal(&wrong),
        (
            ErrorKind::InvalidArgument,
            "user.password.code.invalid".to_owned(),
            Some("code".to_owned())
        )
    );
    let weak = commands
        .reset_password_with_code(&user_id, &code, &SecretString::new("weak"))
        .await
        .expect_err("weak password");
    assert_eq!(refusal(&weak).2.as_deref(), Some("password"));
    // Typed in lower case with spaces, the code still works; the new password is stored as Argon2id.
    let typed = code.to_lowercase().replace('-', " ");
    commands
        .reset_password_with_code(&user_id, &typed, &SecretString::new("New-Passw0rd!"))
        .await
        .expect("reset");
    let model = s
        .commands
        .load::<User>(&s.instance_id, &user_id)
        .await
        .expect("load");
    let human = model.state.human().expect("human");
    let hash = human.password_hash.clone().expect("hash");
    assert!(
        s.commands
            .hasher()
            .verify(&hash, SecretString::new("New-Passw0rd!"))
            .await
            .expect("verify")
    );
    assert!(!human.password_change_required);
    let reused = commands
        .reset_password_with_code(&user_id, &code, &SecretString::new("Other-Passw0rd!"))
        .await
        .expect_err("single use");
    assert_eq!(refusal(&reused).1, "user.password.code.not_found");
    // The code never appears in the store, only its hash and the sealed copy.
    let sql = format!("SELECT COUNT(*) FROM events WHERE payload LIKE '%{code}%'");
    let sql_pg = format!("SELECT COUNT(*) FROM events WHERE payload::text LIKE '%{code}%'");
    let leaked: i64 = match &store {
        Store::Sqlite(db) => sqlx::query_scalar(&sql).fetch_one(db.reader()).await,
        Store::Postgres(db) => sqlx::query_scalar(&sql_pg).fetch_one(db.pool()).await,
    }
    .expect("search");
    assert_eq!(leaked, 0, "the plaintext code is stored nowhere");
}

async fn email_code_verifies_the_email(store: Store) {
    let s = setup(store).await;
    let user_id = add_user(&s, "dave").await;
    let me = user_caller(&s, &user_id);
    let commands = s.commands.for_caller(&me);
    commands
        .send_email_verification_code(&user_id)
        .await
        .expect("first code");
    let old = mailed_code(&s, NotificationKind::EmailVerification, &user_id).await;
    commands
        .send_email_verification_code(&user_id)
        .await
        .expect("resent");
    let code = mailed_code(&s, NotificationKind::EmailVerification, &user_id).await;
    assert_ne!(old, code);
    let replaced = commands
        .verify_email_with_code(&user_id, &old)
        .await
        .expect_err("the older code was replaced");
    assert_eq!(refusal(&replaced).1, "user.email.code.invalid");
    let empty = commands
        .verify_email_with_code(&user_id, " - ")
        .await
        .expect_err("empty");
    assert_eq!(
        refusal(&empty),
        (
            ErrorKind::InvalidArgument,
            "user.code.required".to_owned(),
            Some("code".to_owned())
        )
    );
    commands
        .verify_email_with_code(&user_id, &code)
        .await
        .expect("verified");
    let model = s
        .commands
        .load::<User>(&s.instance_id, &user_id)
        .await
        .expect("load");
    assert!(model.state.human().is_some_and(|h| h.email_verified));
    let again = commands
        .send_email_verification_code(&user_id)
        .await
        .expect_err("verified already");
    assert_eq!(refusal(&again).1, "user.email.already_verified");
    // A password reset code does not verify an email (the hashes are bound to their purpose).
    assert_eq!(notification_ids(s.commands.store()).await.len(), 2);
}

async fn codes_need_a_master_key_and_store_nothing_without(store: Store) {
    let s = setup_with(store.clone(), None).await;
    let user_id = add_user(&s, "erin").await;
    let admin = s.commands.for_caller(&s.admin);
    let error = admin
        .request_password_reset(&user_id)
        .await
        .expect_err("no master key");
    assert!(matches!(error, CommandError::Sealing(_)), "{error:?}");
    assert!(error.is_internal());
    assert!(notification_ids(&store).await.is_empty());
    let error = admin.enroll_otp(&user_id).await.expect_err("no master key");
    assert!(matches!(error, CommandError::Sealing(_)), "{error:?}");
}

async fn users_manage_their_own_factors_but_not_others(store: Store) {
    let s = setup(store.clone()).await;
    let alice = add_user(&s, "alice").await;
    let mallory = add_user(&s, "mallory").await;
    let as_mallory = user_caller(&s, &mallory);
    let commands = s.commands.for_caller(&as_mallory);
    for error in [
        commands.request_password_reset(&alice).await.map(|_| ()),
        commands.remove_otp(&alice).await.map(|_| ()),
        commands.enroll_otp(&alice).await.map(|_| ()),
        commands
            .send_email_verification_code(&alice)
            .await
            .map(|_| ()),
    ] {
        let error = error.expect_err("not on another user");
        let (kind, _, _) = refusal(&error);
        assert!(
            matches!(kind, ErrorKind::PermissionDenied | ErrorKind::NotFound),
            "{error:?}"
        );
    }
    assert!(notification_ids(&store).await.is_empty());
    // An unknown user is not found, whoever asks.
    let missing = s
        .commands
        .for_caller(&s.admin)
        .request_password_reset("0190-no-such-user")
        .await
        .expect_err("unknown");
    assert_eq!(refusal(&missing).1, "user.not_found");
}
