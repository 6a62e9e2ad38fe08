//! Plugins as resources, end to end: upload and bind through the API, the effect on commands and the login
//! flow, failure policies, and hot reload on a second node.

use std::time::{Duration, Instant};

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use serde_json::{Value, json};
use warden_api::ApiError;
use warden_command::{Caller, Identity};
use warden_eventstore::both_backends;
use warden_eventstore::{ConnectOptions, Eventstore, Store, testing::TestStore};
use warden_plugin_fixtures as fixtures;
use warden_plugin_host::{PluginApiState, PluginRegistry};
use warden_wasm_runtime::{ActionContext, ActionOutcome, Hook, Org};

#[macro_use]
mod common;

use common::{Server, runtime, send};

both_backends!(
    email_domains_refuses_a_disallowed_user_through_the_api,
    fail_closed_refuses_and_allow_failure_goes_on,
    uploads_are_checked_and_need_the_permission,
    action_hooks_run_in_order_through_the_registry,
    projection_plugin_view_is_read_through_the_api,
    uploading_the_same_bytes_again_returns_the_existing_plugin,
);

async fn email_domains_refuses_a_disallowed_user_through_the_api(t: TestStore) {
    let server = Server::start(t).await;
    let id = server
        .upload("email-domains", fixtures::EMAIL_DOMAINS)
        .await;
    let bound = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            json!({
                "target": { "kind": "validator", "command_types": ["user.human.add"] },
                "config": { "allowed_domains": "example.com" },
            }),
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:#}", bound.body);
    assert!(bound.body["binding_id"].is_string());

    let head = server.store.head().await.expect("head");
    let refused = server.add_user("eve", "eve@evil.test").await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    assert_eq!(refused.body["code"], "command.rejected");
    let violation = &refused.body["violations"][0];
    assert_eq!(violation["field"], "email");
    assert_eq!(violation["code"], "email.domain-not-allowed");
    assert!(
        violation["message"]
            .as_str()
            .is_some_and(|m| m.contains("evil.test")),
        "{violation}"
    );
    assert_eq!(
        server.store.head().await.expect("head"),
        head,
        "a refused command stores nothing"
    );

    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);

    let plugin = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(plugin.status, StatusCode::OK, "{:#}", plugin.body);
    assert_eq!(plugin.body["name"], "email-domains");
    assert_eq!(plugin.body["world"], "validator");
    assert_eq!(plugin.body["loaded"], true);
    assert_eq!(plugin.body["bindings"].as_array().map(Vec::len), Some(1));
    let list = server
        .json(Method::GET, "/api/v1/plugins", Value::Null)
        .await;
    assert_eq!(list.body["plugins"][0]["id"], id.as_str());

    let metrics = server.registry.render_metrics();
    assert!(metrics.contains("email-domains"), "{metrics}");

    // Removing the plugin unbinds it: the disallowed domain is accepted.
    let removed = server
        .json(
            Method::DELETE,
            &format!("/api/v1/plugins/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{:#}", removed.body);
    let created = server.add_user("eve", "eve@evil.test").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let gone = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{:#}", gone.body);
}

async fn fail_closed_refuses_and_allow_failure_goes_on(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("trap", fixtures::HOSTILE_TRAP).await;
    let settings = |policy: &str| {
        json!({
            "target": { "kind": "validator", "command_types": ["user.*"] },
            "failure_policy": policy,
        })
    };
    let bound = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            settings("fail_closed"),
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:#}", bound.body);
    let binding_id = bound.body["binding_id"].as_str().expect("binding id");

    let refused = server.add_user("ada", "ada@example.com").await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    let violation = &refused.body["violations"][0];
    assert_eq!(violation["code"], warden_plugin_host::PLUGIN_FAILED);
    assert!(
        violation["message"]
            .as_str()
            .is_some_and(|m| m.contains("`trap`")),
        "{violation}"
    );

    let changed = server
        .json(
            Method::PUT,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            settings("allow_failure"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);

    let metrics = server.registry.render_metrics();
    assert!(metrics.contains("trap"), "{metrics}");

    let unbound = server
        .json(
            Method::DELETE,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(unbound.status, StatusCode::OK, "{:#}", unbound.body);
    assert!(
        server
            .registry
            .validators_for(&server.instance_id, Some(&server.org_id), "user.human.add")
            .is_empty()
    );
}

async fn uploads_are_checked_and_need_the_permission(t: TestStore) {
    let server = Server::start(t).await;
    let invalid = server
        .send(
            Method::POST,
            "/api/v1/plugins?name=junk",
            Body::from("not a component"),
            "application/wasm",
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        invalid.body
    );
    assert_eq!(invalid.body["code"], "plugin.component.invalid");

    let anonymous = send(
        &server.app,
        "wdn_pat_nobody",
        Method::GET,
        "/api/v1/plugins",
        Body::empty(),
        "application/json",
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // A user without memberships may neither upload nor list.
    let stranger = Caller {
        instance_id: server.instance_id.clone(),
        identity: Identity::User {
            user_id: "stranger".into(),
            org_id: server.org_id.clone(),
        },
    };
    let bytes = fixtures::bytes(fixtures::EMAIL_DOMAINS);
    let denied = server
        .service
        .upload(&stranger, "email-domains", "", &bytes)
        .await
        .expect_err("not permitted");
    assert_eq!(ApiError::from(denied).status(), StatusCode::FORBIDDEN);
    let denied = server
        .service
        .list(&stranger)
        .await
        .expect_err("not permitted");
    assert_eq!(ApiError::from(denied).status(), StatusCode::FORBIDDEN);

    // Over the size limit: 413.
    let small = warden_api::router_with(
        warden_api::ApiState::new(
            server.service.commands().clone(),
            server.instance_id.clone(),
            &server.read_side,
        ),
        PluginApiState::new(
            server.service.clone().with_max_component_bytes(1024),
            server.instance_id.clone(),
        )
        .into_endpoints(),
    );
    let too_large = send(
        &small,
        &server.token,
        Method::POST,
        "/api/v1/plugins?name=big",
        Body::from(bytes.clone()),
        "application/wasm",
    )
    .await;
    assert_eq!(
        too_large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:#}",
        too_large.body
    );

    // A second version of another world is refused; of the same world it is kept and can be activated.
    let id = server
        .upload("email-domains", fixtures::EMAIL_DOMAINS)
        .await;
    let wrong = server
        .send(
            Method::POST,
            &format!("/api/v1/plugins/{id}/versions"),
            Body::from(fixtures::bytes(fixtures::ORG_CLAIMS)),
            "application/wasm",
        )
        .await;
    assert!(wrong.status.is_client_error(), "{:#}", wrong.body);
    let same = server
        .send(
            Method::POST,
            &format!("/api/v1/plugins/{id}/versions?activate=false"),
            Body::from(fixtures::bytes(fixtures::HOSTILE_TRAP)),
            "application/wasm",
        )
        .await;
    assert_eq!(same.status, StatusCode::CREATED, "{:#}", same.body);
    let plugin = server
        .service
        .get(&caller(&server), &id)
        .await
        .expect("get");
    assert_eq!(plugin.versions.len(), 2);
    let first = plugin.versions[0].digest.clone();
    let second = plugin.versions[1].digest.clone();
    assert_eq!(plugin.active_digest.as_deref(), Some(first.as_str()));
    let activated = server
        .json(
            Method::PUT,
            &format!("/api/v1/plugins/{id}/active-version"),
            json!({ "digest": second }),
        )
        .await;
    assert_eq!(activated.status, StatusCode::OK, "{:#}", activated.body);
    let entry = server
        .registry
        .get(&server.instance_id, &id)
        .expect("registered");
    assert_eq!(
        entry.loaded.as_ref().map(|l| l.digest().to_owned()),
        Some(second)
    );
}

fn caller(server: &Server) -> Caller {
    Caller::system(server.instance_id.clone())
}

fn login(instance_id: &str, ip: &str) -> ActionContext {
    ActionContext {
        instance_id: instance_id.to_owned(),
        org: Some(Org {
            id: "org-1".into(),
            name: "Acme".into(),
            primary_domain: None,
        }),
        roles: vec!["admin".into()],
        ip: Some(ip.parse().expect("ip")),
        ..ActionContext::default()
    }
}

async fn action_hooks_run_in_order_through_the_registry(t: TestStore) {
    let server = Server::start(t).await;
    let system = caller(&server);
    let bytes = fixtures::bytes(fixtures::ORG_CLAIMS);
    let details = server
        .service
        .upload(&system, "org-claims", "claims and networks", &bytes)
        .await
        .expect("upload");
    let bind = |hook: &str, order: i32, policy: &str, networks: Option<&str>| {
        let mut config = serde_json::Map::new();
        if let Some(networks) = networks {
            config.insert("allowed_networks".into(), networks.into());
        }
        serde_json::from_value(json!({
            "target": { "kind": "action", "hook": hook, "order": order },
            "failure_policy": policy,
            "config": config,
        }))
        .expect("settings")
    };
    for settings in [
        bind("pre_token", 1, "fail_closed", Some("10.1.0.0/16")),
        bind("pre_authentication", 2, "fail_closed", Some("10.1.0.0/16")),
    ] {
        server
            .service
            .add_binding(&system, &details.id, &settings)
            .await
            .expect("bind");
    }
    let registry = &server.registry;
    let outcomes = registry
        .run_hook(
            &server.instance_id,
            Some("org-1"),
            &Hook::PreToken { claims: Vec::new() },
            &login(&server.instance_id, "10.1.2.3"),
        )
        .await
        .expect("hook");
    assert!(
        matches!(outcomes.as_slice(), [ActionOutcome::Claims { claims }] if claims.iter().any(|c| c.name == "org")),
        "{outcomes:?}"
    );
    let outcomes = registry
        .run_hook(
            &server.instance_id,
            Some("org-1"),
            &Hook::PreAuthentication,
            &login(&server.instance_id, "192.168.1.1"),
        )
        .await
        .expect("hook");
    assert!(
        matches!(outcomes.as_slice(), [ActionOutcome::Deny { .. }]),
        "{outcomes:?}"
    );
    // Nothing bound to this hook: nothing runs.
    let outcomes = registry
        .run_hook(
            &server.instance_id,
            None,
            &Hook::PostAuthentication,
            &login(&server.instance_id, "10.1.2.3"),
        )
        .await
        .expect("hook");
    assert!(outcomes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_node_loads_an_upload_within_two_seconds() {
    let Some(t) = warden_eventstore::testing::postgres().await else {
        eprintln!("skipped: WARDEN_TEST_POSTGRES_URL is not set");
        return;
    };
    let other_store = Store::connect(&t.url, &ConnectOptions::default())
        .await
        .expect("second node's store");
    let other = PluginRegistry::new(other_store, runtime());
    other.sync().await.expect("sync");
    let follower = other.spawn();
    let mut synced = other.synced();

    let server = Server::start(t).await;
    let id = server
        .upload("email-domains", fixtures::EMAIL_DOMAINS)
        .await;
    let loaded = async {
        loop {
            if other
                .get(&server.instance_id, &id)
                .is_some_and(|e| e.loaded.is_some())
            {
                break;
            }
            synced.changed().await.expect("registry alive");
        }
    };
    // Woken by the registry's change notifications; the bound only keeps a broken follower from hanging.
    tokio::time::timeout(Duration::from_secs(60), loaded)
        .await
        .expect("the second node loads the plugin");

    server
        .service
        .remove(&caller(&server), &id)
        .await
        .expect("remove");
    let unloaded = async {
        while other.get(&server.instance_id, &id).is_some() {
            synced.changed().await.expect("registry alive");
        }
    };
    tokio::time::timeout(Duration::from_secs(2), unloaded)
        .await
        .expect("the second node unloads the plugin within 2 s");
    follower.abort();
}

/// Upload the org-stats projection, bind it, create users: its view, read through the API, counts them
/// (with the administrator, the machine user the first start created in the same organization).
async fn projection_plugin_view_is_read_through_the_api(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("org-stats", fixtures::ORG_STATS).await;
    let bound = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            json!({ "target": { "kind": "projection" } }),
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:#}", bound.body);
    for (login, email) in [("ada", "ada@example.com"), ("bob", "bob@example.com")] {
        let created = server.add_user(login, email).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    }

    let path = format!("/api/v1/plugins/{id}/views/org_users/{}", server.org_id);
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = loop {
        let reply = server.json(Method::GET, &path, Value::Null).await;
        if reply.status == StatusCode::OK && reply.body["value"]["users"] == json!(3) {
            break reply.body;
        }
        assert!(
            Instant::now() < deadline,
            "the view did not count the administrator and both users: {} {:#}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(row["value"]["org_id"], json!(server.org_id));

    let page = server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{id}/views/org_daily_stats?limit=10"),
            Value::Null,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:#}", page.body);
    let items = page.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "one organization, one day: {:#}", page.body);
    assert_eq!(items[0]["value"]["users_added"], json!(3));

    let bad = server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{id}/views/org_daily_stats?limit=0"),
            Value::Null,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "limit");
    let missing = server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{id}/views/org_users/no-such-org"),
            Value::Null,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

/// A retried upload (same name, same bytes) answers with the plugin the first one made; the same name with
/// other bytes is a conflict, and the same bytes under another name another plugin.
async fn uploading_the_same_bytes_again_returns_the_existing_plugin(t: TestStore) {
    let server = Server::start(t).await;
    let upload = |name: &'static str, path: &'static str| {
        let uri = format!("/api/v1/plugins?name={name}");
        let server = &server;
        async move {
            server
                .send(
                    Method::POST,
                    &uri,
                    Body::from(fixtures::bytes(path)),
                    "application/wasm",
                )
                .await
        }
    };
    let first = upload("domains", fixtures::EMAIL_DOMAINS).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:#}", first.body);
    let again = upload("domains", fixtures::EMAIL_DOMAINS).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:#}", again.body);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.body["sequence"], first.body["sequence"]);

    let other_bytes = upload("domains", fixtures::HOSTILE_TRAP).await;
    assert_eq!(
        other_bytes.status,
        StatusCode::CONFLICT,
        "{:#}",
        other_bytes.body
    );
    assert_eq!(other_bytes.body["field"], "name");
    let other_name = upload("domains-2", fixtures::EMAIL_DOMAINS).await;
    assert_eq!(
        other_name.status,
        StatusCode::CREATED,
        "{:#}",
        other_name.body
    );
    assert_ne!(other_name.body["id"], first.body["id"]);
    let listed = server
        .json(Method::GET, "/api/v1/plugins", Value::Null)
        .await;
    assert_eq!(listed.body["plugins"].as_array().map(Vec::len), Some(2));
}
