//! The example plugins of `examples/plugins/`, run through the runtime with real inputs.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{
    ActionOutcome, Binding, CallError, Claim, Event, Hook, MemoryViewStore, PluginError, Profile,
    ValidatorOutcome, ViewFuture, ViewStore, ViewStoreError, World,
};

use common::{load, login, new_user, runtime};

fn domains(allowed: &str) -> Binding {
    Binding::with_config([("allowed_domains", allowed)])
}

#[tokio::test]
async fn email_domains_refuses_a_disallowed_domain_and_passes_an_allowed_one() {
    let plugin = load("email-domains", fixtures::EMAIL_DOMAINS).await;
    assert_eq!(plugin.world(), World::Validator);
    let rt = runtime();
    let binding = domains("example.com, *.acme.org");

    let outcome = rt
        .validate(&plugin, &binding, &new_user(Some("ada@evil.test")))
        .await
        .expect("call");
    let ValidatorOutcome::Violations(violations) = outcome else {
        panic!("expected violations, got {outcome:?}");
    };
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "email");
    assert_eq!(violations[0].code, "email.domain-not-allowed");
    assert!(
        violations[0].message.contains("evil.test")
            && violations[0].message.contains("example.com"),
        "{}",
        violations[0].message
    );

    for ok in ["ada@example.com", "ada@EXAMPLE.com", "ada@eu.acme.org"] {
        let outcome = rt.validate(&plugin, &binding, &new_user(Some(ok))).await;
        assert_eq!(outcome, Ok(ValidatorOutcome::Ok), "{ok}");
    }
    // `*.acme.org` allows subdomains only.
    let outcome = rt
        .validate(&plugin, &binding, &new_user(Some("ada@acme.org")))
        .await;
    assert!(
        matches!(outcome, Ok(ValidatorOutcome::Violations(_))),
        "{outcome:?}"
    );
    // No email: nothing to check.
    assert_eq!(
        rt.validate(&plugin, &binding, &new_user(None)).await,
        Ok(ValidatorOutcome::Ok)
    );
}

#[tokio::test]
async fn email_domains_without_configuration_is_a_plugin_failure() {
    let plugin = load("email-domains", fixtures::EMAIL_DOMAINS).await;
    let err = runtime()
        .validate(
            &plugin,
            &Binding::default(),
            &new_user(Some("ada@example.com")),
        )
        .await
        .expect_err("unconfigured");
    assert!(
        matches!(&err, CallError::Plugin(m) if m.contains("allowed_domains")),
        "{err:?}"
    );
    assert!(err.is_plugin_fault());
}

fn event(event_type: &str, org: Option<&str>, user: &str, created_at: i64) -> Event {
    Event {
        instance_id: "inst-1".into(),
        org_id: org.map(Into::into),
        aggregate_type: "user".into(),
        aggregate_id: user.into(),
        sequence: 1,
        position: 1,
        event_type: event_type.into(),
        revision: 1,
        creator: "system".into(),
        created_at,
        payload: json!({}),
    }
}

const DAY1: i64 = 1_717_243_200_000_000; // 2024-06-01T12:00:00Z in microseconds
const DAY2: i64 = DAY1 + 86_400_000_000;

fn row(views: &MemoryViewStore, table: &str, key: &str) -> Value {
    let row = views
        .row(table, key)
        .unwrap_or_else(|| panic!("no row {table}/{key} in {:?}", views.rows()));
    serde_json::from_str(&row).expect("row is JSON")
}

#[tokio::test]
async fn org_stats_counts_users_and_logins_per_org_and_day() {
    let plugin = load("org-stats", fixtures::ORG_STATS).await;
    assert_eq!(plugin.world(), World::Projection);
    assert!(plugin.wants("user.human.added") && plugin.wants("user.human.password.check.failed"));
    assert!(!plugin.wants("org.added"));

    let rt = runtime();
    let views = MemoryViewStore::new();
    let binding = Binding::default();
    let events = [
        event("user.human.added", Some("org-a"), "u1", DAY1),
        event("user.human.added", Some("org-a"), "u2", DAY1 + 1),
        event("user.machine.added", Some("org-b"), "m1", DAY1),
        event(
            "user.human.password.check.succeeded",
            Some("org-a"),
            "u1",
            DAY1 + 2,
        ),
        event(
            "user.human.password.check.succeeded",
            Some("org-a"),
            "u1",
            DAY2,
        ),
        event(
            "user.human.password.check.failed",
            Some("org-a"),
            "u2",
            DAY2,
        ),
        event("user.removed", Some("org-a"), "u2", DAY2),
        event("user.human.added", None, "instance-admin", DAY1),
    ];
    for e in &events {
        rt.project(&plugin, &binding, e, views.clone())
            .await
            .expect("project");
    }

    assert_eq!(
        row(&views, "org_daily_stats", "org-a/2024-06-01"),
        json!({"org_id": "org-a", "day": "2024-06-01", "users_added": 2, "users_removed": 0,
               "logins_succeeded": 1, "logins_failed": 0})
    );
    assert_eq!(
        row(&views, "org_daily_stats", "org-a/2024-06-02"),
        json!({"org_id": "org-a", "day": "2024-06-02", "users_added": 0, "users_removed": 1,
               "logins_succeeded": 1, "logins_failed": 1})
    );
    assert_eq!(
        row(&views, "org_users", "org-a"),
        json!({"org_id": "org-a", "users": 1})
    );
    assert_eq!(
        row(&views, "org_users", "org-b"),
        json!({"org_id": "org-b", "users": 1})
    );
    let rows = views.rows();
    assert_eq!(rows["org_daily_stats"].len(), 3, "{rows:?}");
    assert_eq!(rows["org_users"].len(), 2, "{rows:?}");
}

/// A store whose reads fail, as a database that went away.
struct BrokenStore;

impl ViewStore for BrokenStore {
    fn get<'a>(&'a self, _: &'a str, _: &'a str) -> ViewFuture<'a, Option<String>> {
        Box::pin(async { Err(ViewStoreError("connection reset".into())) })
    }
    fn upsert<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> ViewFuture<'a, ()> {
        Box::pin(async { panic!("a failed call must not write") })
    }
    fn delete<'a>(&'a self, _: &'a str, _: &'a str) -> ViewFuture<'a, ()> {
        Box::pin(async { panic!("a failed call must not write") })
    }
}

#[tokio::test]
async fn a_failing_view_store_fails_the_projection_call_without_writes() {
    let plugin = load("org-stats", fixtures::ORG_STATS).await;
    let err = runtime()
        .project(
            &plugin,
            &Binding::default(),
            &event("user.human.added", Some("org-a"), "u1", DAY1),
            Arc::new(BrokenStore),
        )
        .await
        .expect_err("store is broken");
    assert_eq!(err, CallError::ViewStore("connection reset".into()));
    assert!(!err.is_plugin_fault());
}

fn claims_binding(extra: &[(&str, &str)]) -> Binding {
    let mut config: BTreeMap<String, String> = [(
        "allowed_networks".to_owned(),
        "10.1.0.0/16, 2001:db8::/32".to_owned(),
    )]
    .into();
    config.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Binding {
        config: Arc::new(config),
        ..Binding::default()
    }
}

#[tokio::test]
async fn org_claims_adds_org_and_roles_claims() {
    let plugin = load("org-claims", fixtures::ORG_CLAIMS).await;
    assert_eq!(plugin.world(), World::Action);
    let rt = runtime();
    let hook = Hook::PreToken {
        claims: vec![Claim {
            name: "email".into(),
            value: json!("ada@acme.example.com"),
        }],
    };
    let outcome = rt
        .action(&plugin, &claims_binding(&[]), &hook, &login("10.1.2.3"))
        .await
        .expect("call");
    assert_eq!(
        outcome,
        ActionOutcome::Claims {
            claims: vec![
                Claim {
                    name: "org".into(),
                    value: json!({"id": "org-1", "name": "Acme \"Rockets\"", "primary_domain": "acme.example.com"}),
                },
                Claim {
                    name: "roles".into(),
                    value: json!(["admin", "billing"]),
                },
            ]
        }
    );

    let userinfo = rt
        .action(
            &plugin,
            &claims_binding(&[("roles_claim", "urn:acme:roles")]),
            &Hook::PreUserinfo { claims: vec![] },
            &login("10.1.2.3"),
        )
        .await
        .expect("call");
    let ActionOutcome::Claims { claims } = userinfo else {
        panic!("{userinfo:?}")
    };
    assert!(
        claims.iter().any(|c| c.name == "urn:acme:roles"),
        "{claims:?}"
    );
}

#[tokio::test]
async fn org_claims_denies_logins_outside_the_allowed_networks() {
    let plugin = load("org-claims", fixtures::ORG_CLAIMS).await;
    let rt = runtime();
    let binding = claims_binding(&[]);

    for (ip, allowed) in [
        ("10.1.200.7", true),
        ("2001:db8::5", true),
        ("10.2.0.1", false),
        ("192.168.1.1", false),
    ] {
        for hook in [Hook::PreAuthentication, Hook::PostAuthentication] {
            let outcome = rt
                .action(&plugin, &binding, &hook, &login(ip))
                .await
                .expect("call");
            if allowed {
                assert_eq!(outcome, ActionOutcome::Allow, "{ip} {}", hook.name());
            } else {
                assert!(
                    matches!(&outcome, ActionOutcome::Deny { reason } if reason.contains("network")),
                    "{ip} {}: {outcome:?}",
                    hook.name()
                );
            }
        }
    }

    let registration = Hook::PreRegistration {
        profile: Profile {
            username: "eve".into(),
            ..Profile::default()
        },
    };
    let outcome = rt
        .action(&plugin, &binding, &registration, &login("8.8.8.8"))
        .await;
    assert!(
        matches!(outcome, Ok(ActionOutcome::Deny { .. })),
        "{outcome:?}"
    );

    // No address known: denied too.
    let mut unknown = login("10.1.0.1");
    unknown.ip = None;
    let outcome = rt
        .action(&plugin, &binding, &Hook::PreAuthentication, &unknown)
        .await;
    assert!(
        matches!(outcome, Ok(ActionOutcome::Deny { .. })),
        "{outcome:?}"
    );

    // Without the setting, every network is allowed.
    let outcome = rt
        .action(
            &plugin,
            &Binding::default(),
            &Hook::PreAuthentication,
            &login("8.8.8.8"),
        )
        .await;
    assert_eq!(outcome, Ok(ActionOutcome::Allow));
}

#[tokio::test]
async fn org_claims_records_the_creation_address_as_metadata() {
    let plugin = load("org-claims", fixtures::ORG_CLAIMS).await;
    let ctx = login("10.1.0.9");
    let user = ctx.user.clone().expect("user");
    let outcome = runtime()
        .action(
            &plugin,
            &claims_binding(&[]),
            &Hook::PostCreation { user },
            &ctx,
        )
        .await;
    assert_eq!(
        outcome,
        Ok(ActionOutcome::Metadata {
            metadata: vec![warden_wasm_runtime::Metadata {
                key: "created_from_ip".into(),
                value: "10.1.0.9".into()
            }]
        })
    );
}

#[tokio::test]
async fn the_host_refuses_reserved_claims() {
    let plugin = load("org-claims", fixtures::ORG_CLAIMS).await;
    let rt = runtime();
    for reserved in ["sub", "iss", "aud", "exp", "nonce", "auth_time", "amr"] {
        let outcome = rt
            .action(
                &plugin,
                &claims_binding(&[("org_claim", reserved)]),
                &Hook::PreToken { claims: vec![] },
                &login("10.1.0.1"),
            )
            .await;
        assert_eq!(outcome, Err(CallError::ReservedClaim(reserved.into())));
    }
}

#[tokio::test]
async fn calls_for_another_world_are_refused() {
    let validator = load("email-domains", fixtures::EMAIL_DOMAINS).await;
    let outcome = runtime()
        .action(
            &validator,
            &Binding::default(),
            &Hook::PreAuthentication,
            &login("10.0.0.1"),
        )
        .await;
    assert_eq!(
        outcome,
        Err(CallError::WrongWorld {
            expected: World::Action,
            actual: World::Validator
        })
    );
}

#[tokio::test]
async fn load_rejects_what_is_not_a_plugin_component() {
    let rt = runtime();
    // A core module, not a component.
    let core_module = b"\0asm\x01\0\0\0";
    let err = rt.load("core", core_module).await.expect_err("core module");
    assert!(matches!(err, PluginError::InvalidComponent(_)), "{err}");
    let err = rt.load("junk", b"not wasm at all").await.expect_err("junk");
    assert!(matches!(err, PluginError::InvalidComponent(_)), "{err}");
    // An empty component exports no world.
    let empty_component = b"\0asm\x0d\0\x01\0";
    let err = rt.load("empty", empty_component).await.expect_err("empty");
    assert!(
        matches!(&err, PluginError::UnknownWorld(m) if m.contains("warden:plugin/validation")),
        "{err}"
    );
}

#[tokio::test]
async fn load_rejects_a_plugin_importing_what_its_world_does_not_provide() {
    let err = runtime()
        .load("overreach", &fixtures::bytes(fixtures::HOSTILE_OVERREACH))
        .await
        .expect_err("a validator may not import views");
    assert!(
        matches!(&err, PluginError::Link { world: World::Validator, reason } if reason.contains("warden:plugin/views")),
        "{err}"
    );
}

#[tokio::test]
async fn loading_the_same_bytes_twice_shares_the_compiled_plugin() {
    // A runtime of its own, so that no other test's loads count.
    let rt = warden_wasm_runtime::PluginRuntime::new(warden_wasm_runtime::RuntimeConfig::default())
        .expect("runtime");
    let bytes = fixtures::bytes(fixtures::EMAIL_DOMAINS);
    let a = rt.load("a", &bytes).await.expect("load");
    assert_eq!(rt.compilations(), 1);
    let b = rt.load("b", &bytes).await.expect("load");
    assert_eq!(rt.compilations(), 1, "the second load compiled again");
    assert!(a.shares_code_with(&b));
    let other = rt
        .load("c", &fixtures::bytes(fixtures::HOSTILE_SPIN))
        .await
        .expect("load");
    assert_eq!(rt.compilations(), 2);
    assert!(!a.shares_code_with(&other));
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.digest().len(), 64);
    assert_eq!((a.name(), b.name()), ("a", "b"));
}

#[tokio::test]
async fn metrics_count_calls_failures_and_timeouts() {
    let plugin = load("email-domains-metrics", fixtures::EMAIL_DOMAINS).await;
    let rt = runtime();
    rt.validate(
        &plugin,
        &domains("example.com"),
        &new_user(Some("a@example.com")),
    )
    .await
    .expect("ok");
    rt.validate(
        &plugin,
        &Binding::default(),
        &new_user(Some("a@example.com")),
    )
    .await
    .expect_err("unconfigured");
    let m = plugin.metrics();
    assert_eq!((m.calls, m.failures, m.timeouts), (2, 1, 0));
    assert_eq!(m.latency_buckets.last(), Some(&2));
    let text = warden_wasm_runtime::render_prometheus(&[(plugin.name(), m)]);
    assert!(
        text.contains("warden_plugin_calls_total{plugin=\"email-domains-metrics\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn compiled_plugins_are_cached_on_disk_and_a_bad_cache_file_is_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let config = warden_wasm_runtime::RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..warden_wasm_runtime::RuntimeConfig::default()
    };
    let bytes = fixtures::bytes(fixtures::EMAIL_DOMAINS);
    let cached_files = || {
        std::fs::read_dir(&cache)
            .expect("cache dir")
            .map(|e| e.expect("entry").path())
            .collect::<Vec<_>>()
    };

    let first = warden_wasm_runtime::PluginRuntime::new(config.clone()).expect("runtime");
    let digest = first
        .load("a", &bytes)
        .await
        .expect("load")
        .digest()
        .to_owned();
    drop(first);
    let files = cached_files();
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].clone();
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned();
    assert!(
        name.starts_with(&digest) && name.ends_with(".cwasm"),
        "{name}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let written = std::fs::metadata(&file)
        .expect("meta")
        .modified()
        .expect("mtime");

    // A new process (runtime) loads the cached code instead of compiling and writing again.
    let second = warden_wasm_runtime::PluginRuntime::new(config.clone()).expect("runtime");
    let plugin = second.load("b", &bytes).await.expect("load from cache");
    let outcome = second
        .validate(
            &plugin,
            &domains("example.com"),
            &new_user(Some("ada@example.com")),
        )
        .await;
    assert_eq!(outcome, Ok(ValidatorOutcome::Ok));
    assert_eq!(
        std::fs::metadata(&file)
            .expect("meta")
            .modified()
            .expect("mtime"),
        written
    );
    drop((plugin, second));

    // A damaged file is not trusted: the plugin is compiled again and the file replaced.
    std::fs::write(&file, b"not compiled code").expect("damage");
    let third = warden_wasm_runtime::PluginRuntime::new(config).expect("runtime");
    let plugin = third.load("c", &bytes).await.expect("load despite damage");
    let outcome = third
        .validate(
            &plugin,
            &domains("example.com"),
            &new_user(Some("ada@evil.test")),
        )
        .await;
    assert!(
        matches!(outcome, Ok(ValidatorOutcome::Violations(_))),
        "{outcome:?}"
    );
    assert!(std::fs::metadata(&file).expect("meta").len() > 1024);
}
