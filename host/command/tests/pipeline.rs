//! The command pipeline against both eventstore backends: bootstrap, authentication, caching across nodes,
//! the validator seam and password hashing. The domain's rules are tested in the domain crate; the API's
//! behaviour through the router in the API crate.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use warden_command::{
    Caller, Clock, CommandError, CommandValidator, Commands, CommandsConfig, FirstInstance,
    Identity, NewHumanUser, NewMachineUser, SecretString, ValidationRequest, Violation, bootstrap,
    validator::ValidationFuture,
};
use warden_domain::{
    ErrorKind,
    authz::{Permission, Role, Target},
    instance::Instance,
    user::{Profile, User},
};
use warden_eventstore::Store;
use warden_eventstore::both_backends;

both_backends!(
    store:
    bootstrap_writes_private_token_once,
    bootstrap_registers_the_console_and_a_human_administrator,
    concurrent_bootstraps_create_one_instance,
    token_authenticates_only_while_valid,
    second_node_sees_changes_through_conflicts_and_refusals,
    revoked_membership_is_honoured_within_the_dependency_age,
    authorizations_under_load_see_a_revocation_made_before_them,
    no_command_of_a_member_commits_after_its_revocation,
    recover_issues_a_new_administrator_token,
    the_system_organization_is_managed_by_instance_roles_only,
    validators_see_the_command_and_can_refuse_it,
    passwords_are_checked_then_hashed_with_argon2id,
    if_sequence_refuses_stale_state,
);

/// The number of stored events, committed or not yet visible to stream readers.
async fn event_count(store: &Store) -> i64 {
    count(store, "SELECT COUNT(*) FROM events").await
}

/// The number of stored events of one type.
async fn count_of(store: &Store, event_type: &str) -> i64 {
    count(
        store,
        &format!("SELECT COUNT(*) FROM events WHERE event_type = '{event_type}'"),
    )
    .await
}

async fn count(store: &Store, sql: &str) -> i64 {
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.reader()).await,
        Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
    }
    .expect("count events")
}

struct Setup {
    commands: Commands,
    instance_id: String,
    /// An ordinary organization (not the system organization).
    org_id: String,
    /// The system organization, holding the administrator.
    system_org_id: String,
    admin: Caller,
    token: String,
    _dir: tempfile::TempDir,
}

async fn setup(store: Store, config: CommandsConfig) -> Setup {
    let commands = Commands::new(store, config);
    let dir = tempfile::tempdir().expect("temp dir");
    let report = bootstrap(&commands, dir.path(), &FirstInstance::default())
        .await
        .expect("bootstrap");
    let path = report.admin_token_path.expect("token written");
    let token = std::fs::read_to_string(path)
        .expect("token file")
        .trim()
        .to_owned();
    let admin = commands
        .authenticate(&report.instance_id, &token)
        .await
        .expect("admin token authenticates");
    let org = commands
        .for_caller(&admin)
        .add_org("Acme")
        .await
        .expect("an ordinary organization");
    Setup {
        commands,
        instance_id: report.instance_id,
        org_id: org.id,
        system_org_id: report.org_id,
        admin,
        token,
        _dir: dir,
    }
}

fn human(org_id: &str, login_name: &str) -> NewHumanUser {
    NewHumanUser {
        org_id: org_id.to_owned(),
        login_name: login_name.to_owned(),
        profile: Profile {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            display_name: String::new(),
            preferred_language: String::new(),
        },
        email: format!("{login_name}@example.com"),
        email_verified: false,
        phone: None,
        password: None,
        password_change_required: false,
    }
}

async fn bootstrap_writes_private_token_once(store: Store) {
    let commands = Commands::new(store.clone(), CommandsConfig::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let first = bootstrap(&commands, dir.path(), &FirstInstance::default())
        .await
        .expect("bootstrap");
    assert!(first.set_up);
    let path = first.admin_token_path.clone().expect("token written");
    assert_eq!(path, dir.path().join("admin.pat"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin.pat must be private");
    }
    let token = std::fs::read_to_string(&path).expect("read token");
    assert!(token.starts_with("wdn_pat_"), "{token}");
    let caller = commands
        .authenticate(&first.instance_id, token.trim())
        .await
        .expect("token works");
    assert_eq!(
        caller.identity,
        Identity::User {
            user_id: first.admin_user_id.clone(),
            org_id: first.org_id.clone()
        }
    );
    let instance = commands
        .load::<Instance>(&first.instance_id, &first.instance_id)
        .await
        .expect("load");
    assert_eq!(
        instance.state.members.roles_of(&first.admin_user_id),
        Some(&[Role::IamOwner][..])
    );
    assert_eq!(instance.state.domains, vec!["localhost".to_owned()]);

    let events = event_count(&store).await;
    let again = Commands::new(store.clone(), CommandsConfig::default());
    let second = bootstrap(&again, dir.path(), &FirstInstance::default())
        .await
        .expect("second start");
    assert!(!second.set_up, "a complete instance is left alone");
    assert_eq!(second.admin_token_path, None);
    assert_eq!(
        (second.instance_id, second.org_id),
        (first.instance_id, first.org_id)
    );
    assert_eq!(
        event_count(&store).await,
        events,
        "the second start stores nothing"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read token"),
        token,
        "admin.pat is kept"
    );
}

async fn bootstrap_registers_the_console_and_a_human_administrator(store: Store) {
    use warden_domain::application::{AppConfig, Application, OidcAuthMethod};
    let commands = Commands::new(store.clone(), CommandsConfig::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = |url: &str| FirstInstance {
        console_base_url: Some(url.to_owned()),
        ..FirstInstance::default()
    };
    let first = bootstrap(&commands, dir.path(), &settings("http://127.0.0.1:8080"))
        .await
        .expect("bootstrap");
    let password_path = first.admin_password_path.clone().expect("password written");
    assert_eq!(password_path, dir.path().join("admin.password"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "admin.password must be private");
    }
    let password = std::fs::read_to_string(&password_path)
        .expect("read password")
        .trim()
        .to_owned();
    assert!(password.len() >= 20, "{password}");

    // The human administrator: in the system organization, IAM_OWNER, with that password to change.
    let instance = commands
        .load::<Instance>(&first.instance_id, &first.instance_id)
        .await
        .expect("load");
    let human_id = instance
        .state
        .owners()
        .find(|id| *id != first.admin_user_id)
        .expect("a second owner")
        .to_owned();
    let human = commands
        .load::<User>(&first.instance_id, &human_id)
        .await
        .expect("load");
    assert_eq!(human.state.org_id, first.org_id);
    assert_eq!(human.state.login_name, "admin");
    let profile = human.state.human().expect("a human");
    assert!(profile.password_change_required);
    let hasher = warden_command::PasswordHasher::new(1);
    assert!(
        hasher
            .verify(
                profile.password_hash.as_deref().expect("hash"),
                SecretString::new(password.clone())
            )
            .await
            .expect("verify"),
        "the written password is the user's"
    );

    // The console: a public client with PKCE under the external URL.
    let client_id = first.console_client_id.clone().expect("console registered");
    let apps = count_of(&store, "application.oidc.added").await;
    assert_eq!(apps, 1);
    let app_id: String = sqlx_app_id(&store).await;
    let app = commands
        .load::<Application>(&first.instance_id, &app_id)
        .await
        .expect("load app");
    assert_eq!(app.state.client_id, client_id);
    assert_eq!(app.state.name, "Console");
    let Some(AppConfig::Oidc(config)) = &app.state.config else {
        panic!("an OIDC app: {:?}", app.state.config);
    };
    assert_eq!(
        config.redirect_uris,
        vec!["http://127.0.0.1:8080/console/callback".to_owned()]
    );
    assert_eq!(
        config.post_logout_redirect_uris,
        vec!["http://127.0.0.1:8080/console/".to_owned()]
    );
    assert_eq!(config.auth_method, OidcAuthMethod::None);
    assert!(config.require_pkce && config.dev_mode);

    // A second start with the same URL changes nothing and keeps the password file.
    let events = event_count(&store).await;
    let again = bootstrap(&commands, dir.path(), &settings("http://127.0.0.1:8080"))
        .await
        .expect("second start");
    assert_eq!(again.admin_password_path, None);
    assert_eq!(again.console_client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(event_count(&store).await, events, "nothing stored");
    assert_eq!(
        std::fs::read_to_string(&password_path)
            .expect("read")
            .trim(),
        password
    );

    // A new external URL moves the registered URIs with it.
    let moved = bootstrap(&commands, dir.path(), &settings("https://id.example.com/"))
        .await
        .expect("start with a new URL");
    assert_eq!(moved.console_client_id.as_deref(), Some(client_id.as_str()));
    let app = commands
        .load::<Application>(&first.instance_id, &app_id)
        .await
        .expect("load app");
    let Some(AppConfig::Oidc(config)) = &app.state.config else {
        panic!("an OIDC app");
    };
    assert_eq!(
        config.redirect_uris,
        vec!["https://id.example.com/console/callback".to_owned()]
    );
    assert_eq!(
        config.post_logout_redirect_uris,
        vec!["https://id.example.com/console/".to_owned()]
    );
    assert!(!config.dev_mode, "https needs no development mode");
    assert_eq!(count_of(&store, "application.oidc.added").await, 1);
}

/// The id of the one OIDC application stored.
async fn sqlx_app_id(store: &Store) -> String {
    let sql = "SELECT aggregate_id FROM events WHERE event_type = 'application.oidc.added'";
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.reader()).await,
        Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
    }
    .expect("app id")
}

async fn concurrent_bootstraps_create_one_instance(store: Store) {
    let dirs: Vec<_> = (0..4)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let starts = dirs.iter().map(|dir| {
        let commands = Commands::new(store.clone(), CommandsConfig::default());
        let path = dir.path().to_owned();
        async move { bootstrap(&commands, &path, &FirstInstance::default()).await }
    });
    let reports = futures_join_all(starts).await;
    for report in &reports {
        assert!(report.is_ok(), "{report:?}");
    }
    let instance_id = warden_command::default_instance_id();
    let setups = count_of(&store, "instance.added").await;
    let orgs = count_of(&store, "org.added").await;
    let admins = count_of(&store, "user.machine.added").await;
    assert_eq!(
        (setups, orgs, admins),
        (1, 1, 1),
        "one instance, organization and administrator"
    );
    let commands = Commands::new(store, CommandsConfig::default());
    let instance = commands
        .load::<Instance>(&instance_id, &instance_id)
        .await
        .expect("load");
    assert_eq!(instance.state.members.count_with(Role::IamOwner), 1);
    for dir in &dirs {
        let path = dir.path().join("admin.pat");
        if let Ok(token) = std::fs::read_to_string(&path) {
            commands
                .authenticate(&instance_id, token.trim())
                .await
                .expect("every written token works");
        }
    }
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

async fn token_authenticates_only_while_valid(store: Store) {
    // A manual clock: expiry is checked against the pipeline's clock, which the test moves on.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let clock = Clock::manual(now);
    let config = CommandsConfig {
        clock: clock.clone(),
        ..CommandsConfig::default()
    };
    let s = setup(store, config).await;
    let admin = s.commands.for_caller(&s.admin);
    let bot = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.org_id.clone(),
            login_name: "bot".into(),
            name: "Bot".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("machine user");
    let issued = admin
        .add_personal_access_token(&bot.id, now + 60_000)
        .await
        .expect("token");
    let token = issued.token.expose().to_owned();
    assert!(token.starts_with(&format!("wdn_pat_{}_{}_", bot.id, issued.token_id)));
    s.commands
        .authenticate(&s.instance_id, &token)
        .await
        .expect("valid token");

    let unauthenticated =
        |r: Result<Caller, CommandError>| matches!(r, Err(CommandError::Unauthenticated));
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('0') { '1' } else { '0' });
    assert!(unauthenticated(
        s.commands.authenticate(&s.instance_id, &tampered).await
    ));
    assert!(unauthenticated(
        s.commands
            .authenticate(&s.instance_id, "wdn_pat_x_y_z")
            .await
    ));
    assert!(unauthenticated(
        s.commands.authenticate("other-instance", &token).await
    ));

    admin.deactivate_user(&bot.id).await.expect("deactivate");
    assert!(
        unauthenticated(s.commands.authenticate(&s.instance_id, &token).await),
        "inactive user"
    );
    admin.reactivate_user(&bot.id).await.expect("reactivate");
    s.commands
        .authenticate(&s.instance_id, &token)
        .await
        .expect("active again");
    admin.lock_user(&bot.id).await.expect("lock");
    assert!(
        unauthenticated(s.commands.authenticate(&s.instance_id, &token).await),
        "locked user"
    );
    admin.unlock_user(&bot.id).await.expect("unlock");
    admin
        .remove_personal_access_token(&bot.id, &issued.token_id)
        .await
        .expect("revoke");
    assert!(
        unauthenticated(s.commands.authenticate(&s.instance_id, &token).await),
        "revoked token"
    );

    let short = admin
        .add_personal_access_token(&bot.id, now + 1_500)
        .await
        .expect("token");
    s.commands
        .authenticate(&s.instance_id, short.token.expose())
        .await
        .expect("not expired yet");
    clock.advance(Duration::from_millis(1_499));
    s.commands
        .authenticate(&s.instance_id, short.token.expose())
        .await
        .expect("not expired 1 ms before its expiry");
    clock.advance(Duration::from_millis(1));
    assert!(
        unauthenticated(
            s.commands
                .authenticate(&s.instance_id, short.token.expose())
                .await
        ),
        "expired"
    );
    assert!(!s.token.is_empty());
}

async fn second_node_sees_changes_through_conflicts_and_refusals(store: Store) {
    let s = setup(store.clone(), CommandsConfig::default()).await;
    let node_a = s.commands.for_caller(&s.admin);
    let user = node_a
        .add_human_user(&human(&s.org_id, "ada"))
        .await
        .expect("user");
    node_a.lock_user(&user.id).await.expect("lock on node A");

    // Node B caches the locked user, then node A unlocks it: node B's cache is stale.
    let node_b_commands = Commands::new(store, CommandsConfig::default());
    let node_b = node_b_commands.for_caller(&s.admin);
    let refused = node_b
        .lock_user(&user.id)
        .await
        .expect_err("already locked");
    assert_eq!(
        refused.as_refusal().map(|e| e.code.as_ref()),
        Some("user.already_locked")
    );
    node_a
        .unlock_user(&user.id)
        .await
        .expect("unlock on node A");

    // A refusal is never answered from unverified cache: node B re-reads and locks.
    let locked = node_b
        .lock_user(&user.id)
        .await
        .expect("node B locks after re-reading");
    assert_eq!(locked.sequence, 4);
    // A change decided on stale cache conflicts on push and is decided again on fresh state.
    let profile = Profile {
        given_name: "Augusta".into(),
        family_name: "King".into(),
        display_name: String::new(),
        preferred_language: "en".into(),
    };
    let changed = node_a
        .change_profile(&user.id, &profile)
        .await
        .expect("node A retries after conflict");
    assert_eq!(changed.sequence, 5);
    let model = node_a_load(&s.commands, &s.instance_id, &user.id).await;
    assert!(
        model.state.locked,
        "node A's decision included node B's lock"
    );
    assert_eq!(
        model.state.human().map(|h| h.profile.given_name.as_str()),
        Some("Augusta")
    );
}

async fn node_a_load(
    commands: &Commands,
    instance_id: &str,
    id: &str,
) -> Arc<warden_command::Model<User>> {
    commands.load::<User>(instance_id, id).await.expect("load")
}

async fn revoked_membership_is_honoured_within_the_dependency_age(store: Store) {
    let config = CommandsConfig {
        dependency_max_age: Duration::ZERO,
        ..CommandsConfig::default()
    };
    let s = setup(store.clone(), config.clone()).await;
    let admin = s.commands.for_caller(&s.admin);
    let bot = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.org_id.clone(),
            login_name: "owner-bot".into(),
            name: "Bot".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("bot");
    admin
        .add_org_member(&s.org_id, &bot.id, &[Role::OrgOwner])
        .await
        .expect("member");
    let bot_caller = Caller {
        instance_id: s.instance_id.clone(),
        identity: Identity::User {
            user_id: bot.id.clone(),
            org_id: s.org_id.clone(),
        },
    };
    let node_b = Commands::new(store, config);
    let target = Target::Org {
        org_id: s.org_id.clone(),
    };
    node_b
        .for_caller(&bot_caller)
        .authorize(Permission::UserWrite, &target)
        .await
        .expect("org owner may write users");
    admin
        .remove_org_member(&s.org_id, &bot.id)
        .await
        .expect("revoke on node A");
    let denied = node_b
        .for_caller(&bot_caller)
        .authorize(Permission::UserWrite, &target)
        .await
        .expect_err("with a zero dependency age, node B sees the revocation at once");
    assert_eq!(
        denied.as_refusal().map(|e| e.kind),
        Some(ErrorKind::PermissionDenied)
    );
}

/// Many authorizations at once on a second node (on PostgreSQL they share their reads of the instance
/// aggregate) while an instance membership is granted and revoked again and again: every one that began
/// after a revocation returned, and before the membership was granted again, is refused, however the reads
/// were shared.
async fn authorizations_under_load_see_a_revocation_made_before_them(store: Store) {
    use std::{
        sync::atomic::{AtomicBool, Ordering},
        time::Instant,
    };

    let s = setup(store.clone(), CommandsConfig::default()).await;
    let admin = s.commands.for_caller(&s.admin);
    let bot = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.org_id.clone(),
            login_name: "user-manager".into(),
            name: "Bot".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("bot");
    let bot_caller = Caller {
        instance_id: s.instance_id.clone(),
        identity: Identity::User {
            user_id: bot.id.clone(),
            org_id: s.org_id.clone(),
        },
    };
    let node_b = Commands::new(store, CommandsConfig::default());
    let target = Target::Org {
        org_id: s.org_id.clone(),
    };

    // Callers on node B authorize in a loop, each noting when it began and whether it was allowed.
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let (node_b, caller, target, stop) = (
                node_b.clone(),
                bot_caller.clone(),
                target.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let allowed = match node_b
                        .for_caller(&caller)
                        .authorize(Permission::UserWrite, &target)
                        .await
                    {
                        Ok(()) => true,
                        Err(e)
                            if e.as_refusal().map(|e| e.kind)
                                == Some(ErrorKind::PermissionDenied) =>
                        {
                            false
                        }
                        Err(e) => panic!("authorize failed: {e}"),
                    };
                    seen.push((began..Instant::now(), allowed));
                    // A SQLite read runs on this thread without waiting: let the other tasks run.
                    tokio::task::yield_now().await;
                }
                seen
            })
        })
        .collect();
    // Times at which the bot is certainly not a member: from a revocation's return to the next grant.
    let mut revoked = Vec::new();
    for _ in 0..20 {
        admin
            .add_instance_member(&bot.id, &[Role::IamUserManager])
            .await
            .expect("grant on node A");
        tokio::time::sleep(Duration::from_millis(15)).await;
        admin
            .remove_instance_member(&bot.id)
            .await
            .expect("revoke on node A");
        let from = Instant::now();
        tokio::time::sleep(Duration::from_millis(15)).await;
        revoked.push(from..Instant::now());
    }
    stop.store(true, Ordering::Relaxed);
    let (mut allowed_at_all, mut checked) = (0, 0);
    for caller in callers {
        for (ran, allowed) in caller.await.expect("caller") {
            allowed_at_all += usize::from(allowed);
            // Begun after a revocation returned and ended before the bot was made a member again.
            if revoked
                .iter()
                .any(|window| window.contains(&ran.start) && ran.end < window.end)
            {
                assert!(
                    !allowed,
                    "an authorization begun after a revocation was allowed"
                );
                checked += 1;
            }
        }
    }
    assert!(
        allowed_at_all > 0,
        "some authorizations ran while the bot was a member"
    );
    assert!(checked > 0, "some authorizations ran after the revocations");
}

#[derive(Debug, Default)]
struct RecordingValidator {
    seen: Mutex<Vec<ValidationRequest>>,
}

impl CommandValidator for RecordingValidator {
    fn validate<'a>(&'a self, request: &'a ValidationRequest) -> ValidationFuture<'a> {
        Box::pin(async move {
            self.seen.lock().expect("lock").push(request.clone());
            let login = request
                .payload
                .get("login_name")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            Ok(if login.contains("forbidden") {
                vec![Violation {
                    field: "login_name".into(),
                    code: "example.login_name.forbidden".into(),
                    message: "this login name is not allowed here".into(),
                }]
            } else {
                Vec::new()
            })
        })
    }
}

async fn validators_see_the_command_and_can_refuse_it(store: Store) {
    let validator = Arc::new(RecordingValidator::default());
    let config = CommandsConfig {
        validators: vec![validator.clone()],
        ..CommandsConfig::default()
    };
    let s = setup(store.clone(), config).await;
    let admin = s.commands.for_caller(&s.admin);
    let before = event_count(&store).await;
    let mut refused = human(&s.org_id, "forbidden-name");
    refused.password = Some(SecretString::new("Str0ng-Passw0rd!"));
    let error = admin
        .add_human_user(&refused)
        .await
        .expect_err("validator refuses");
    match error {
        CommandError::Rejected(violations) => {
            assert_eq!(violations.len(), 1);
            assert_eq!(violations[0].code, "example.login_name.forbidden");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(event_count(&store).await, before, "nothing stored");

    let user = admin
        .add_human_user(&human(&s.org_id, "grace"))
        .await
        .expect("allowed");
    admin
        .set_password(&user.id, &SecretString::new("An0ther-Passw0rd!"), false)
        .await
        .expect("password");
    let seen = validator.seen.lock().expect("lock").clone();
    let add = seen
        .iter()
        .find(|r| r.command_type == "user.human.add" && r.aggregate_id == user.id)
        .expect("validator saw the add");
    assert_eq!(add.aggregate_type, "user");
    assert_eq!(add.org_id.as_deref(), Some(s.org_id.as_str()));
    assert_eq!(add.actor.user_id, s.admin.actor());
    assert_eq!(add.state, None, "a new aggregate has no state yet");
    assert_eq!(add.events[0].event_type, "user.human.added");
    let first = seen
        .iter()
        .find(|r| r.command_type == "user.human.add")
        .expect("first add");
    assert_eq!(first.payload["password_set"], true);
    assert!(
        !first.payload.to_string().contains("Str0ng"),
        "no plaintext password"
    );
    let set = seen
        .iter()
        .find(|r| r.command_type == "user.password.set")
        .expect("password set");
    assert!(set.state.is_some());
    let payload = set.events[0].payload.to_string();
    assert!(
        payload.contains("[redacted]") && !payload.contains("argon2"),
        "{payload}"
    );
}

async fn passwords_are_checked_then_hashed_with_argon2id(store: Store) {
    let s = setup(store.clone(), CommandsConfig::default()).await;
    let admin = s.commands.for_caller(&s.admin);
    let before = event_count(&store).await;
    let mut weak = human(&s.org_id, "weak");
    weak.password = Some(SecretString::new("short"));
    let error = admin.add_human_user(&weak).await.expect_err("too weak");
    let refusal = error.as_refusal().expect("a refusal");
    assert_eq!(refusal.field.as_deref(), Some("password"));
    assert_eq!(event_count(&store).await, before);

    let mut strong = human(&s.org_id, "strong");
    strong.password = Some(SecretString::new("Str0ng-Passw0rd!"));
    let user = admin.add_human_user(&strong).await.expect("user");
    let model = s
        .commands
        .load::<User>(&s.instance_id, &user.id)
        .await
        .expect("load");
    let hash = model
        .state
        .human()
        .and_then(|h| h.password_hash.clone())
        .expect("hash stored");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(
        s.commands
            .hasher()
            .verify(&hash, SecretString::new("Str0ng-Passw0rd!"))
            .await
            .expect("verify")
    );
}

async fn if_sequence_refuses_stale_state(store: Store) {
    let s = setup(store.clone(), CommandsConfig::default()).await;
    let admin = s.commands.for_caller(&s.admin);
    let user = admin
        .add_human_user(&human(&s.org_id, "eve"))
        .await
        .expect("user");
    let stale = admin
        .clone()
        .if_sequence(Some(user.sequence + 1))
        .lock_user(&user.id)
        .await
        .expect_err("stale");
    assert!(
        matches!(
            stale,
            CommandError::Stale {
                expected: 2,
                actual: 1,
                ..
            }
        ),
        "{stale:?}"
    );
    admin
        .if_sequence(Some(user.sequence))
        .lock_user(&user.id)
        .await
        .expect("current sequence accepted");
}

fn bot_caller(instance_id: &str, user_id: &str, org_id: &str) -> Caller {
    Caller {
        instance_id: instance_id.to_owned(),
        identity: Identity::User {
            user_id: user_id.to_owned(),
            org_id: org_id.to_owned(),
        },
    }
}

/// A stored event's type and creator, as the stream orders it.
struct Stored {
    event_type: String,
    creator: String,
}

/// Every committed event of the store in stream order `(tx_id, position)`, also those a stream reader does
/// not see yet (PostgreSQL readers wait for older transactions of other tests in the same database).
async fn all_events(store: &Store) -> Vec<Stored> {
    let sql = "SELECT event_type, creator FROM events ORDER BY tx_id, position";
    let rows: Vec<(String, String)> = match store {
        Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.reader()).await,
        Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
    }
    .expect("read the events");
    rows.into_iter()
        .map(|(event_type, creator)| Stored {
            event_type,
            creator,
        })
        .collect()
}

async fn no_command_of_a_member_commits_after_its_revocation(store: Store) {
    let s = setup(store.clone(), CommandsConfig::default()).await;
    let admin = s.commands.for_caller(&s.admin);
    let bot = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.org_id.clone(),
            login_name: "manager-bot".into(),
            name: "Bot".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("bot");
    admin
        .add_org_member(&s.org_id, &bot.id, &[Role::OrgUserManager])
        .await
        .expect("member");
    let user = admin
        .add_human_user(&human(&s.org_id, "ada"))
        .await
        .expect("user");

    // Node B has its own cache (dependencies up to 1 s old): it authorizes the bot on cached memberships.
    let node_b = Commands::new(store.clone(), CommandsConfig::default());
    let caller = bot_caller(&s.instance_id, &bot.id, &s.org_id);
    let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let node_b = node_b.clone();
        let user_id = user.id.clone();
        let revoked = revoked.clone();
        tokio::spawn(async move {
            let (mut stored, mut refused_after) = (0u32, 0u32);
            for i in 0..5000u32 {
                let result = node_b
                    .for_caller(&caller)
                    .set_user_metadata(&user_id, "counter", &i.to_string())
                    .await;
                match result {
                    Ok(_) => stored += 1,
                    Err(CommandError::Contended { .. }) => {}
                    Err(error) => {
                        assert_eq!(
                            error.as_refusal().map(|e| e.kind),
                            Some(ErrorKind::NotFound),
                            "the revoked member no longer sees the user: {error:?}"
                        );
                        assert!(revoked.load(std::sync::atomic::Ordering::SeqCst));
                        refused_after += 1;
                        if refused_after == 20 {
                            break;
                        }
                    }
                }
                if i % 8 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            (stored, refused_after)
        })
    };
    // Let the member's commands run on node B, then revoke through node A.
    while s
        .commands
        .load::<User>(&s.instance_id, &user.id)
        .await
        .expect("load")
        .sequence
        < 6
    {
        tokio::task::yield_now().await;
    }
    revoked.store(true, std::sync::atomic::Ordering::SeqCst);
    admin
        .remove_org_member(&s.org_id, &bot.id)
        .await
        .expect("revoke on node A");
    let (stored, refused_after) = worker.await.expect("worker");
    assert!(
        stored >= 5,
        "the member's commands ran before the revocation"
    );
    assert_eq!(refused_after, 20, "refused after the revocation");

    let events = all_events(&store).await;
    let revocation = events
        .iter()
        .position(|e| e.event_type == "org.member.removed")
        .expect("the revocation is stored");
    let members: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.creator == bot.id)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        members.len(),
        stored as usize,
        "every stored command is in the stream"
    );
    let late = members.iter().filter(|&&i| i > revocation).count();
    assert_eq!(
        late, 0,
        "commands of the member committed after the revocation (stream index {revocation})"
    );
}

async fn recover_issues_a_new_administrator_token(store: Store) {
    let s = setup(store.clone(), CommandsConfig::default()).await;
    let admin = s.commands.for_caller(&s.admin);
    let Identity::User {
        user_id: first_admin,
        ..
    } = &s.admin.identity
    else {
        panic!("the administrator is a user");
    };
    // A second owner takes over and removes the first administrator; then its tokens are lost too.
    let second = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.system_org_id.clone(),
            login_name: "second-admin".into(),
            name: "Second".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("second administrator");
    admin
        .add_instance_member(&second.id, &[Role::IamOwner])
        .await
        .expect("second owner");
    let second_caller = bot_caller(&s.instance_id, &second.id, &s.system_org_id);
    s.commands
        .for_caller(&second_caller)
        .remove_user(first_admin)
        .await
        .expect("the first administrator is removed");

    let dir = tempfile::tempdir().expect("temp dir");
    let report = warden_command::recover(&s.commands, dir.path(), &s.instance_id)
        .await
        .expect("recover");
    assert!(report.created, "a recovery administrator was created");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&report.admin_token_path)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let token = std::fs::read_to_string(&report.admin_token_path)
        .expect("token")
        .trim()
        .to_owned();
    let recovered = s
        .commands
        .authenticate(&s.instance_id, &token)
        .await
        .expect("the recovered token authenticates");
    recovered_is_owner(&s, &recovered).await;
    let events = all_events(&store).await;
    let recovery_events: Vec<&str> = events
        .iter()
        .filter(|e| e.creator == warden_command::RECOVER_ACTOR)
        .map(|e| e.event_type.as_str())
        .collect();
    assert!(
        recovery_events.contains(&"instance.member.added")
            && recovery_events.contains(&"user.machine.pat.added"),
        "recovery is in the audit trail: {recovery_events:?}"
    );

    // A second recovery reuses the recovery administrator.
    let again = warden_command::recover(&s.commands, dir.path(), &s.instance_id)
        .await
        .expect("recover again");
    assert!(!again.created);
    assert_eq!(again.admin_user_id, report.admin_user_id);
}

async fn recovered_is_owner(s: &Setup, caller: &Caller) {
    s.commands
        .for_caller(caller)
        .authorize(Permission::InstanceMemberWrite, &Target::Instance)
        .await
        .expect("the recovered administrator is IAM_OWNER");
}

async fn the_system_organization_is_managed_by_instance_roles_only(store: Store) {
    let s = setup(store.clone(), CommandsConfig::default()).await;
    let admin = s.commands.for_caller(&s.admin);
    let code = |result: Result<warden_command::Details, CommandError>| {
        result
            .expect_err("refused")
            .as_refusal()
            .map(|e| e.code.to_string())
    };
    let Identity::User {
        user_id: admin_id, ..
    } = &s.admin.identity
    else {
        panic!("the administrator is a user");
    };
    assert_eq!(
        code(
            admin
                .add_org_member(&s.system_org_id, admin_id, &[Role::OrgOwner])
                .await
        )
        .as_deref(),
        Some("org.system")
    );
    assert_eq!(
        code(admin.deactivate_org(&s.system_org_id).await).as_deref(),
        Some("org.system")
    );
    assert_eq!(
        code(admin.remove_org(&s.system_org_id).await).as_deref(),
        Some("org.system")
    );
    // The last active owner stays.
    for result in [
        admin.deactivate_user(admin_id).await,
        admin.lock_user(admin_id).await,
        admin.remove_user(admin_id).await,
        admin.remove_instance_member(admin_id).await,
        admin
            .change_instance_member(admin_id, &[Role::IamOwnerViewer])
            .await,
    ] {
        assert_eq!(code(result).as_deref(), Some("instance.last_owner"));
    }
    // An owner that is locked does not count.
    let second = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.system_org_id.clone(),
            login_name: "second-admin".into(),
            name: "Second".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("second administrator");
    admin
        .add_instance_member(&second.id, &[Role::IamOwner])
        .await
        .expect("second owner");
    admin.lock_user(&second.id).await.expect("lock the second");
    assert_eq!(
        code(admin.deactivate_user(admin_id).await).as_deref(),
        Some("instance.last_owner")
    );
    admin.unlock_user(&second.id).await.expect("unlock");
    admin
        .deactivate_user(admin_id)
        .await
        .expect("another active owner remains");
    // The organization holding the last active owner cannot be deactivated or removed.
    let third = admin
        .add_machine_user(&NewMachineUser {
            org_id: s.org_id.clone(),
            login_name: "third-admin".into(),
            name: "Third".into(),
            description: String::new(),
            access_token_type: Default::default(),
        })
        .await
        .expect("third administrator");
    admin
        .add_instance_member(&third.id, &[Role::IamOwner])
        .await
        .expect("third owner");
    admin.lock_user(&second.id).await.expect("lock the second");
    assert_eq!(
        code(admin.deactivate_org(&s.org_id).await).as_deref(),
        Some("instance.last_owner")
    );
    assert_eq!(
        code(admin.remove_org(&s.org_id).await).as_deref(),
        Some("instance.last_owner")
    );

    // Ids are random per installation.
    let other = warden_eventstore::testing::sqlite().await;
    let other = setup(other.store.clone(), CommandsConfig::default()).await;
    assert_ne!(other.system_org_id, s.system_org_id);
    assert_ne!(other.admin, s.admin);
}
