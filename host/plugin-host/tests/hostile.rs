//! Hostile plugins, written against the WIT alone with plain wit-bindgen, uploaded and bound through the API
//! on a running server: each fails cleanly within its deadline, bounded in what it can make the server hold
//! or answer, and the next normal call succeeds.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;
use warden_plugin_fixtures as fixtures;

#[macro_use]
mod common;

use common::{Reply, Server};

both_backends!(
    a_sleeping_validator_fails_the_command_at_its_deadline,
    huge_violations_give_the_caller_a_small_answer,
    a_result_past_the_transfer_limit_refuses_the_command_briefly,
    a_trapping_validator_bound_to_everything_can_be_unbound,
    wildcard_subscriptions_work_and_payloads_are_redacted,
    a_sleeping_projection_holds_neither_the_database_nor_commands,
    a_projection_write_flood_fails_its_events_with_the_quota,
    view_pages_are_bounded_by_bytes,
    unsupported_binding_settings_are_refused,
    bindings_are_known_before_plugins_are_compiled,
    uploads_check_the_permission_before_the_body,
    a_validator_flooding_the_log_is_bounded,
    a_changed_projection_binding_takes_effect_while_it_runs,
    limits_left_out_take_their_documented_defaults,
    a_binding_to_an_unknown_organization_is_refused,
    binding_errors_name_the_member_at_fault,
);

/// Binds a plugin; returns the binding's id.
async fn bind(server: &Server, id: &str, settings: Value) -> String {
    let bound = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            settings,
        )
        .await;
    assert_eq!(bound.status, StatusCode::CREATED, "{:#}", bound.body);
    bound.body["binding_id"]
        .as_str()
        .expect("binding id")
        .to_owned()
}

/// Polls `read` until `done` holds, for at most 30 s.
async fn eventually<F, Fut>(what: &str, mut read: F, done: impl Fn(&Reply) -> bool) -> Reply
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Reply>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = read().await;
        if done(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} {:#}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The failed events of the plugin projections running on the server, as `(event type, error)`.
async fn plugin_failures(server: &Server) -> Vec<(String, String)> {
    server
        .read_side
        .spoolers()
        .status()
        .await
        .expect("status")
        .into_iter()
        .filter(|s| s.name.starts_with("plugin_"))
        .flat_map(|s| s.failed_events)
        .map(|f| (f.event_type, f.error))
        .collect()
}

async fn view(server: &Server, id: &str, table: &str, query: &str) -> Reply {
    server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{id}/views/{table}{query}"),
            Value::Null,
        )
        .await
}

async fn a_sleeping_validator_fails_the_command_at_its_deadline(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("sleeper", fixtures::HOSTILE_VALIDATOR).await;
    let settings = |mode: &str| {
        json!({
            "target": { "kind": "validator", "command_types": ["user.human.add"] },
            "config": { "mode": mode, "seconds": "20" },
            "limits": { "deadline_ms": 50, "memory_mib": 64 },
        })
    };
    let binding_id = bind(&server, &id, settings("sleep")).await;

    // The validator sleeps 20 s in a WASI clock poll; the command is refused once its deadline has passed.
    let refused = server.add_user("ada", "ada@example.com").await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    assert_eq!(
        refused.body["violations"][0]["code"],
        warden_plugin_host::PLUGIN_FAILED
    );
    assert!(
        refused.body["violations"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("timeout")),
        "{:#}",
        refused.body
    );

    let changed = server
        .json(
            Method::PUT,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            settings("none"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
}

async fn huge_violations_give_the_caller_a_small_answer(t: TestStore) {
    let server = Server::start(t).await;
    let id = server
        .upload("violations", fixtures::HOSTILE_VALIDATOR)
        .await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "validator", "command_types": ["user.human.add"] },
            "config": { "mode": "violations", "count": "40", "kib": "64" },
            "limits": { "deadline_ms": 1000, "memory_mib": 128 },
        }),
    )
    .await;
    let refused = server.add_user("ada", "ada@example.com").await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    let size = refused.body.to_string().len();
    let violations = refused.body["violations"].as_array().expect("violations");
    assert_eq!(violations.len(), warden_wasm_runtime::MAX_VIOLATIONS + 1);
    assert_eq!(
        violations[warden_wasm_runtime::MAX_VIOLATIONS]["code"],
        warden_wasm_runtime::VIOLATIONS_TRUNCATED
    );
    // 40 violations of 64 KiB each became at most 33 of 1 KiB: well under 64 KiB in all.
    assert!(size < 64 << 10, "the answer is {size} bytes");
}

/// 40 violations of 1 MiB are more than the host copies out of a guest at once: the call fails before the
/// host holds them, and the fail-closed binding refuses the command with a short answer naming the plugin.
async fn a_result_past_the_transfer_limit_refuses_the_command_briefly(t: TestStore) {
    let server = Server::start(t).await;
    let id = server
        .upload("violations", fixtures::HOSTILE_VALIDATOR)
        .await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "validator", "command_types": ["user.human.add"] },
            "config": { "mode": "violations", "count": "40", "kib": "1024" },
            "limits": { "deadline_ms": 1000, "memory_mib": 128 },
        }),
    )
    .await;
    let refused = server.add_user("ada", "ada@example.com").await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    let text = refused.body.to_string();
    assert!(text.contains("violations"), "names the plugin: {text}");
    assert!(text.len() < 4 << 10, "the answer is {} bytes", text.len());
}

async fn a_trapping_validator_bound_to_everything_can_be_unbound(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("trap", fixtures::HOSTILE_TRAP).await;
    let binding_id = bind(
        &server,
        &id,
        json!({
            "target": { "kind": "validator", "command_types": ["*"] },
            "failure_policy": "fail_closed",
        }),
    )
    .await;
    let refused = server.add_user("ada", "ada@example.com").await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );

    // Commands that manage plugins never run validators: the broken one can be unbound.
    let removed = server
        .json(
            Method::DELETE,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{:#}", removed.body);
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
}

/// A machine user with a client secret and a personal access token: events whose payloads hold hashes.
async fn add_machine_with_secrets(server: &Server) -> String {
    let machine = server
        .json(
            Method::POST,
            "/api/v1/users/machine",
            json!({ "org_id": server.org_id, "login_name": "robot", "name": "Robot" }),
        )
        .await;
    assert_eq!(machine.status, StatusCode::CREATED, "{:#}", machine.body);
    let user_id = machine.body["id"].as_str().expect("id").to_owned();
    let token = server
        .json(
            Method::POST,
            &format!("/api/v1/users/{user_id}/pats"),
            json!({}),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{:#}", token.body);
    let secret = server
        .json(
            Method::PUT,
            &format!("/api/v1/users/{user_id}/secret"),
            Value::Null,
        )
        .await;
    assert!(secret.status.is_success(), "{:#}", secret.body);
    user_id
}

/// Every member named `*_hash`, at any depth, with its value.
fn hashes(value: &Value, found: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                if key.ends_with("_hash") {
                    found.push((key.clone(), member.clone()));
                }
                hashes(member, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| hashes(item, found)),
        _ => {}
    }
}

async fn wildcard_subscriptions_work_and_payloads_are_redacted(t: TestStore) {
    let server = Server::start(t).await;
    let everything = server
        .upload("everything", fixtures::HOSTILE_PROJECTION)
        .await;
    let users = server.upload("user-events", fixtures::HOSTILE_PREFIX).await;
    bind(
        &server,
        &everything,
        json!({ "target": { "kind": "projection" } }),
    )
    .await;
    bind(
        &server,
        &users,
        json!({ "target": { "kind": "projection" } }),
    )
    .await;
    add_machine_with_secrets(&server).await;
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);

    // `*`: every event of the instance, of every aggregate type, with secrets redacted.
    let copied = eventually(
        "the `*` projection did not see the token",
        || view(&server, &everything, "events", "?limit=1000"),
        |r| {
            r.body["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i["value"]["event_type"] == "user.machine.pat.added")
                    && items
                        .iter()
                        .any(|i| i["value"]["event_type"] == "user.human.added")
            })
        },
    )
    .await;
    let items = copied.body["items"].as_array().expect("items");
    let types: std::collections::BTreeSet<&str> = items
        .iter()
        .filter_map(|i| i["value"]["event_type"].as_str())
        .collect();
    assert!(types.contains("org.added"), "{types:?}");
    assert!(types.contains("plugin.added"), "{types:?}");
    let mut found = Vec::new();
    for item in items {
        hashes(&item["value"]["payload"], &mut found);
    }
    assert!(
        found.iter().any(|(key, _)| key == "token_hash"),
        "{found:?}"
    );
    for (key, value) in &found {
        assert_eq!(value, "[redacted]", "{key} reached the plugin unredacted");
    }

    // `user.*`: events of users only (not of user grants, whose type starts with `user_`).
    let seen = eventually(
        "the `user.*` projection did not see the new user",
        || view(&server, &users, "events", "?limit=1000"),
        |r| {
            r.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["value"] == "user.human.added"))
        },
    )
    .await;
    for item in seen.body["items"].as_array().expect("items") {
        let event_type = item["value"].as_str().expect("event type");
        assert!(event_type.starts_with("user."), "{event_type}");
    }
    assert!(plugin_failures(&server).await.is_empty());
}

async fn a_sleeping_projection_holds_neither_the_database_nor_commands(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("sleeper", fixtures::HOSTILE_PROJECTION).await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "projection" },
            "config": { "mode": "sleep", "seconds": "20", "only": "user.human.added" },
            "limits": { "deadline_ms": 50, "memory_mib": 64 },
        }),
    )
    .await;
    // While the projection's calls time out, commands and reads of other views go on.
    for login in ["ada", "bob", "eve"] {
        let created = server
            .add_user(login, &format!("{login}@example.com"))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
        let user_id = created.body["id"].as_str().expect("id");
        let read = server
            .json(
                Method::GET,
                &format!("/api/v1/users/{user_id}"),
                Value::Null,
            )
            .await;
        assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    }
    // The projection's failure is visible: a failed event with the reason.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failures = plugin_failures(&server).await;
        if failures.iter().any(|(event_type, error)| {
            event_type == "user.human.added" && error.contains("timeout")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no failed event: {failures:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_projection_write_flood_fails_its_events_with_the_quota(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("flood", fixtures::HOSTILE_PROJECTION).await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "projection" },
            "config": { "mode": "flood", "rows": "64", "kib": "1000", "only": "user.human.added" },
            "limits": { "deadline_ms": 1000, "memory_mib": 128 },
        }),
    )
    .await;
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let failures = plugin_failures(&server).await;
        if failures.iter().any(|(_, error)| error.contains("quota")) {
            break;
        }
        assert!(Instant::now() < deadline, "no failed event: {failures:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = view(&server, &id, "flood", "").await;
    assert_eq!(rows.status, StatusCode::OK, "{:#}", rows.body);
    assert_eq!(
        rows.body["items"],
        json!([]),
        "a failed event writes nothing"
    );
}

async fn view_pages_are_bounded_by_bytes(t: TestStore) {
    let server = Server::start(t).await;
    let id = server
        .upload("big-rows", fixtures::HOSTILE_PROJECTION)
        .await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "projection" },
            "config": { "mode": "flood", "rows": "8", "kib": "600", "only": "user.human.added" },
            "limits": { "deadline_ms": 1000, "memory_mib": 128, "kib_per_event": 8192 },
        }),
    )
    .await;
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    // Each event writes its 8 rows of 600 KiB at once: 4.8 MB, more than a page holds.
    let first = eventually(
        "the rows were not written",
        || view(&server, &id, "flood", "?limit=1000"),
        |r| {
            r.body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        },
    )
    .await;
    let items = first.body["items"].as_array().expect("items");
    let bytes: usize = items.iter().map(|i| i["value"].to_string().len()).sum();
    assert!(
        bytes <= warden_plugin_host::projection::MAX_PAGE_BYTES as usize,
        "{bytes}"
    );
    assert!(items.len() < 1000);
    let next = first.body["next_after"].as_str().expect("next_after");
    let second = view(&server, &id, "flood", &format!("?limit=1000&after={next}")).await;
    assert_eq!(second.status, StatusCode::OK, "{:#}", second.body);
    assert!(!second.body["items"].as_array().expect("items").is_empty());

    // A name no plugin can give a table is a mistake of the caller, not an empty view.
    for bad in ["Flood", "1flood", "flood-rows"] {
        let refused = view(&server, &id, bad, "").await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:#}",
            refused.body
        );
        assert_eq!(refused.body["field"], "table", "{bad}");
    }
    let empty = view(&server, &id, "never_written", "").await;
    assert_eq!(empty.status, StatusCode::OK, "{:#}", empty.body);
    assert_eq!(empty.body["items"], json!([]));
}

async fn unsupported_binding_settings_are_refused(t: TestStore) {
    let server = Server::start(t).await;
    let validator = server.upload("domains", fixtures::EMAIL_DOMAINS).await;
    let projection = server
        .upload("everything", fixtures::HOSTILE_PROJECTION)
        .await;
    let refused = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{validator}/bindings"),
            json!({
                "target": { "kind": "validator", "command_types": ["user.human.add"] },
                "grants": { "env": { "KEY": "value" } },
            }),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    assert_eq!(refused.body["code"], "binding.grants_unsupported");
    assert_eq!(refused.body["field"], "grants");

    let refused = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{projection}/bindings"),
            json!({ "target": { "kind": "projection" }, "org_id": server.org_id }),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    assert_eq!(refused.body["code"], "binding.org_id_unsupported");
    assert_eq!(refused.body["field"], "org_id");

    // A projection whose subscriptions never answer is refused at upload, without waiting for it.
    let slow = server
        .send(
            Method::POST,
            "/api/v1/plugins?name=slow",
            axum::body::Body::from(fixtures::bytes(fixtures::HOSTILE_SLOW_SUBSCRIPTIONS)),
            "application/wasm",
        )
        .await;
    assert_eq!(slow.status, StatusCode::BAD_REQUEST, "{:#}", slow.body);
    assert!(
        slow.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("subscriptions")),
        "{:#}",
        slow.body
    );

    let plugin = server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{projection}"),
            Value::Null,
        )
        .await;
    assert_eq!(plugin.body["bindings"], json!([]), "nothing was stored");
}

/// A node that starts knows every binding before it compiles anything: its plugin list says `loading`,
/// a validator bound failing closed refuses its commands meanwhile (never skipped), and a later sync loads.
async fn bindings_are_known_before_plugins_are_compiled(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("domains", fixtures::EMAIL_DOMAINS).await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "validator", "command_types": ["user.human.add"] },
            "config": { "allowed_domains": "example.com" },
        }),
    )
    .await;
    let starting = warden_plugin_host::PluginRegistry::new(server.store.clone(), common::runtime());
    starting.sync_bindings().await.expect("bindings");
    let service =
        warden_plugin_host::PluginService::new(server.service.commands().clone(), starting.clone());
    let caller = warden_command::Caller {
        instance_id: server.instance_id.clone(),
        identity: server
            .service
            .commands()
            .authenticate(&server.instance_id, &server.token)
            .await
            .expect("admin")
            .identity,
    };
    let listed = service.list(&caller).await.expect("list");
    assert_eq!(listed[0].load_state, warden_plugin_host::LoadState::Loading);
    assert!(!listed[0].loaded);
    let bound =
        starting.validators_for(&server.instance_id, Some(&server.org_id), "user.human.add");
    assert_eq!(bound.len(), 1, "the binding is known");
    assert!(bound[0].plugin.is_none(), "and its plugin not loaded yet");

    starting.sync().await.expect("sync");
    let listed = service.list(&caller).await.expect("list");
    assert_eq!(listed[0].load_state, warden_plugin_host::LoadState::Loaded);
}

/// Upload checks `plugin.write` before reading the body: a caller without it gets 403 for a body larger than
/// the upload limit, which would otherwise be answered 413. JSON bodies of the plugin routes stop at 1 MiB.
async fn uploads_check_the_permission_before_the_body(t: TestStore) {
    let server = Server::start(t).await;
    let machine = server
        .json(
            Method::POST,
            "/api/v1/users/machine",
            json!({ "org_id": server.org_id, "login_name": "stranger", "name": "Stranger" }),
        )
        .await;
    assert_eq!(machine.status, StatusCode::CREATED, "{:#}", machine.body);
    let user_id = machine.body["id"].as_str().expect("id");
    let token = server
        .json(
            Method::POST,
            &format!("/api/v1/users/{user_id}/pats"),
            json!({}),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{:#}", token.body);
    let stranger = token.body["token"].as_str().expect("token");

    let too_large = vec![0_u8; warden_plugin_host::MAX_COMPONENT_BYTES + 1];
    let denied = common::send(
        &server.app,
        stranger,
        Method::POST,
        "/api/v1/plugins?name=big",
        axum::body::Body::from(too_large.clone()),
        "application/wasm",
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{:#}", denied.body);
    let refused = server
        .send(
            Method::POST,
            "/api/v1/plugins?name=big",
            axum::body::Body::from(too_large),
            "application/wasm",
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:#}",
        refused.body
    );

    let id = server.upload("domains", fixtures::EMAIL_DOMAINS).await;
    let huge = json!({
        "target": { "kind": "validator", "command_types": ["user.human.add"] },
        "config": { "padding": "x".repeat(warden_plugin_host::MAX_JSON_BODY) },
    });
    let refused = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            huge,
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:#}",
        refused.body
    );
}

/// A validator flooding the log with 64 records of 1 MiB: the command goes through, the records are cut
/// and dropped past their bounds, and the next command is served as usual.
async fn a_validator_flooding_the_log_is_bounded(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("noisy", fixtures::HOSTILE_VALIDATOR).await;
    bind(
        &server,
        &id,
        json!({
            "target": { "kind": "validator", "command_types": ["user.human.add"] },
            "config": { "mode": "log", "count": "64", "kib": "1024" },
            "limits": { "deadline_ms": 1000, "memory_mib": 128 },
        }),
    )
    .await;
    for login in ["ada", "bob"] {
        let created = server
            .add_user(login, &format!("{login}@example.com"))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    }
}

/// Changing a projection's binding reaches the running projection: its next calls get the new configuration.
async fn a_changed_projection_binding_takes_effect_while_it_runs(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("copy", fixtures::HOSTILE_PROJECTION).await;
    let settings = |only: &str| json!({ "target": { "kind": "projection" }, "config": { "mode": "copy", "only": only } });
    let binding_id = bind(&server, &id, settings("org.added")).await;
    let created = server.add_user("ada", "ada@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    // The projection has passed over the user (it copies only `org.added`) once it is caught up.
    eventually(
        "the projection did not copy the instance's organization",
        || view(&server, &id, "events", "?limit=1000"),
        |r| {
            r.body["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i["value"]["event_type"] == "org.added")
            })
        },
    )
    .await;

    let changed = server
        .json(
            Method::PUT,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            settings("user.human.added"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    let created = server.add_user("bob", "bob@example.com").await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    eventually(
        "the changed configuration did not reach the running projection",
        || view(&server, &id, "events", "?limit=1000"),
        |r| {
            r.body["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i["value"]["payload"]["login_name"] == "bob")
            })
        },
    )
    .await;
    assert!(plugin_failures(&server).await.is_empty());
}

/// `limits` may name only some of its values: the others take the documented defaults (50 ms, 64 MiB).
async fn limits_left_out_take_their_documented_defaults(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("domains", fixtures::EMAIL_DOMAINS).await;
    let target = json!({ "kind": "validator", "command_types": ["user.human.add"] });
    bind(
        &server,
        &id,
        json!({ "target": target, "limits": { "deadline_ms": 200 } }),
    )
    .await;
    bind(
        &server,
        &id,
        json!({ "target": target, "limits": { "memory_mib": 128 } }),
    )
    .await;
    let read = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    let mut limits: Vec<Value> = read.body["bindings"]
        .as_array()
        .expect("bindings")
        .iter()
        .map(|b| b["limits"].clone())
        .collect();
    limits.sort_by_key(|l| l["deadline_ms"].as_u64());
    assert_eq!(
        limits,
        vec![
            json!({ "deadline_ms": 50, "memory_mib": 128 }),
            json!({ "deadline_ms": 200, "memory_mib": 64 }),
        ]
    );
}

/// A binding scoped to an organization the instance does not have could never run: it is refused with 404
/// (as every body naming an unknown resource), naming `org_id`, when added and when changed.
async fn a_binding_to_an_unknown_organization_is_refused(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("domains", fixtures::EMAIL_DOMAINS).await;
    let settings = |org_id: &str| {
        json!({
            "target": { "kind": "validator", "command_types": ["user.human.add"] },
            "org_id": org_id,
            "config": { "allowed_domains": "example.com" },
        })
    };
    let refused = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/bindings"),
            settings("org-1"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{:#}", refused.body);
    assert_eq!(refused.body["code"], "binding.org_id.unknown");
    assert_eq!(refused.body["field"], "org_id");

    let binding_id = bind(&server, &id, settings(&server.org_id)).await;
    let changed = server
        .json(
            Method::PUT,
            &format!("/api/v1/plugins/{id}/bindings/{binding_id}"),
            settings("org-1"),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NOT_FOUND, "{:#}", changed.body);
    assert_eq!(changed.body["code"], "binding.org_id.unknown");
    assert_eq!(changed.body["field"], "org_id");
    let read = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    let bindings = read.body["bindings"].as_array().expect("bindings");
    assert_eq!(bindings.len(), 1, "nothing stored for the refused binding");
    assert_eq!(bindings[0]["org_id"], server.org_id.as_str());
}

/// A bad binding body is a 400 naming the member at fault, and an unknown member (a misspelt limit, say) is
/// refused rather than ignored; nothing is stored.
async fn binding_errors_name_the_member_at_fault(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("domains", fixtures::EMAIL_DOMAINS).await;
    let validator = json!({ "kind": "validator", "command_types": ["user.human.add"] });
    let cases = [
        (
            json!({ "target": validator, "config": { "a": 1 } }),
            "invalid_field",
            "config.a",
        ),
        (
            json!({ "target": { "kind": "nope" } }),
            "invalid_field",
            "target.kind",
        ),
        (
            json!({ "target": validator, "failure_policy": "maybe" }),
            "invalid_field",
            "failure_policy",
        ),
        (
            json!({ "target": validator, "bogus": 1 }),
            "unknown_field",
            "bogus",
        ),
        (
            json!({ "target": validator, "limits": { "deadline": 500 } }),
            "unknown_field",
            "limits.deadline",
        ),
        (json!({ "config": {} }), "missing_field", "target"),
    ];
    for (body, code, field) in cases {
        for (method, path) in [
            (Method::POST, format!("/api/v1/plugins/{id}/bindings")),
            (
                Method::PUT,
                format!("/api/v1/plugins/{id}/bindings/some-binding"),
            ),
        ] {
            let refused = server.json(method.clone(), &path, body.clone()).await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{method} {body}: {:#}",
                refused.body
            );
            assert_eq!(
                refused.body["code"], code,
                "{method} {body}: {:#}",
                refused.body
            );
            assert_eq!(
                refused.body["field"], field,
                "{method} {body}: {:#}",
                refused.body
            );
        }
    }
    let read = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(read.body["bindings"], json!([]));
}
