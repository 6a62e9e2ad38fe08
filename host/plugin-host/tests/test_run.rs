//! `POST /api/v1/plugins/{id}/test`: a plugin run once against a sample through the API, with its answer,
//! time and log lines, storing nothing and leaving the plugin's own counters alone.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use warden_api::ApiError;
use warden_command::{Caller, Identity};
use warden_eventstore::{Eventstore, both_backends, testing::TestStore};
use warden_plugin_fixtures as fixtures;

#[macro_use]
mod common;

use common::Server;

both_backends!(
    a_validator_test_run_answers_with_violations_time_and_logs,
    a_projection_test_run_writes_to_memory_only,
    an_action_test_run_answers_for_its_hook,
    test_runs_refuse_bad_samples_and_need_the_permission,
);

/// The sample of `examples/plugins/email-domains/sample-input.json`, without its configuration.
fn validator_sample(email: &str) -> Value {
    json!({
        "input": {
            "command": {
                "command_type": "user.human.add",
                "instance_id": "inst-1",
                "org_id": "org-1",
                "aggregate_type": "user",
                "aggregate_id": "user-1",
                "actor": { "user_id": "admin-1" },
                "payload": { "add_human_user": { "username": "ada", "email": email } }
            },
            "state": null,
            "events": []
        }
    })
}

async fn bound_email_domains(server: &Server) -> (String, String) {
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
    let binding_id = bound.body["binding_id"]
        .as_str()
        .expect("binding")
        .to_owned();
    (id, binding_id)
}

async fn a_validator_test_run_answers_with_violations_time_and_logs(t: TestStore) {
    let server = Server::start(t).await;
    let (id, binding_id) = bound_email_domains(&server).await;
    let head = server.store.head().await.expect("head");

    let run = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/test"),
            json!({ "binding_id": binding_id, "sample": validator_sample("ada@evil.test") }),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{:#}", run.body);
    assert_eq!(run.body["world"], "validator");
    assert_eq!(run.body["ok"], true, "the call itself succeeded");
    let result = run.body["result"].to_string();
    assert!(
        result.contains("email.domain-not-allowed") && result.contains("evil.test"),
        "the plugin's violation, with the binding's configuration: {result}"
    );
    assert!(
        run.body["duration"].as_f64().is_some_and(|d| d > 0.0),
        "{:#}",
        run.body
    );
    let logs = run.body["logs"].as_array().expect("logs");
    assert!(
        logs.iter()
            .any(|l| l["message"] == "email domain refused" && l["level"] == "info"),
        "the plugin's log line: {logs:?}"
    );

    // An allowed address passes; a sample's own configuration wins over the binding's.
    let allowed = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/test"),
            json!({ "binding_id": binding_id, "sample": validator_sample("ada@example.com") }),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{:#}", allowed.body);
    assert!(
        !allowed.body["result"].to_string().contains("violation"),
        "{:#}",
        allowed.body
    );
    let mut own = validator_sample("ada@example.com");
    own["config"] = json!({ "allowed_domains": "acme.org" });
    let refused = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/test"),
            json!({ "binding_id": binding_id, "sample": own }),
        )
        .await;
    assert!(
        refused.body["result"]
            .to_string()
            .contains("email.domain-not-allowed"),
        "{:#}",
        refused.body
    );

    assert_eq!(
        server.store.head().await.expect("head"),
        head,
        "a test run stores nothing"
    );
    let plugin = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(
        plugin.body["metrics"]["calls"], 0,
        "test runs are not the plugin's calls: {:#}",
        plugin.body
    );

    // A real refusal counts and leaves its log line with the plugin.
    let user = server.add_user("eve", "eve@evil.test").await;
    assert_eq!(user.status, StatusCode::BAD_REQUEST, "{:#}", user.body);
    let plugin = server
        .json(Method::GET, &format!("/api/v1/plugins/{id}"), Value::Null)
        .await;
    assert_eq!(plugin.body["metrics"]["calls"], 1, "{:#}", plugin.body);
    assert!(
        plugin.body["recent_logs"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["message"] == "email domain refused")),
        "{:#}",
        plugin.body
    );
}

async fn a_projection_test_run_writes_to_memory_only(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("org-stats", fixtures::ORG_STATS).await;
    let event = |event_type: &str, user: &str| {
        json!({
            "instance_id": server.instance_id, "org_id": "org-1", "aggregate_type": "user",
            "aggregate_id": user, "event_type": event_type, "created_at": 1_700_000_000_000_000_i64,
        })
    };
    let run = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/test"),
            json!({ "sample": { "events": [
                event("user.human.added", "u1"),
                event("user.machine.added", "u2"),
                event("org.added", "o1"),
            ] } }),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{:#}", run.body);
    assert_eq!(run.body["world"], "projection");
    assert_eq!(run.body["ok"], true, "{:#}", run.body);
    assert_eq!(
        run.body["result"]["rows"]["org_users"]["org-1"]["users"], 2,
        "{:#}",
        run.body
    );
    assert_eq!(run.body["result"]["events"][2]["skipped"], "not subscribed");

    let rows = server
        .json(
            Method::GET,
            &format!("/api/v1/plugins/{id}/views/org_users"),
            Value::Null,
        )
        .await;
    assert_eq!(rows.status, StatusCode::OK, "{:#}", rows.body);
    assert!(
        rows.body["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|r| r["key"] != "org-1")),
        "the sample's writes never reach the plugin's views: {:#}",
        rows.body
    );

    let too_many: Vec<Value> = (0..=warden_wasm_runtime::MAX_SAMPLE_EVENTS)
        .map(|i| event("user.human.added", &format!("u{i}")))
        .collect();
    let refused = server
        .json(
            Method::POST,
            &format!("/api/v1/plugins/{id}/test"),
            json!({ "sample": { "events": too_many } }),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.body
    );
    assert_eq!(refused.body["field"], "sample");
}

async fn an_action_test_run_answers_for_its_hook(t: TestStore) {
    let server = Server::start(t).await;
    let id = server.upload("org-claims", fixtures::ORG_CLAIMS).await;
    let path = format!("/api/v1/plugins/{id}/test");
    let run = |sample: Value| server.json(Method::POST, &path, json!({ "sample": sample }));
    let allowed = run(json!({ "hook": "pre_authentication" })).await;
    assert_eq!(allowed.status, StatusCode::OK, "{:#}", allowed.body);
    assert_eq!(allowed.body["world"], "action");
    assert_eq!(allowed.body["ok"], true, "{:#}", allowed.body);
    // A network rule from the sample's configuration: a login without a known address is denied.
    let denied = run(json!({
        "hook": "pre_authentication",
        "config": { "allowed_networks": "10.0.0.0/8" },
    }))
    .await;
    assert_eq!(denied.status, StatusCode::OK, "{:#}", denied.body);
    assert_ne!(
        denied.body["result"], allowed.body["result"],
        "{:#}",
        denied.body
    );
    assert!(
        denied.body["result"]
            .to_string()
            .to_lowercase()
            .contains("den"),
        "{:#}",
        denied.body
    );
    let unknown = run(json!({ "hook": "pre-token" })).await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        unknown.body
    );
    assert_eq!(unknown.body["field"], "sample");
}

async fn test_runs_refuse_bad_samples_and_need_the_permission(t: TestStore) {
    let server = Server::start(t).await;
    let (id, _) = bound_email_domains(&server).await;
    let path = format!("/api/v1/plugins/{id}/test");

    let shapeless = server
        .json(
            Method::POST,
            &path,
            json!({ "sample": { "input": { "command": 1 } } }),
        )
        .await;
    assert_eq!(
        shapeless.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        shapeless.body
    );
    assert_eq!(shapeless.body["code"], "plugin.test.invalid_sample");
    assert_eq!(shapeless.body["field"], "sample");

    let not_object = server
        .json(Method::POST, &path, json!({ "sample": [1, 2] }))
        .await;
    assert_eq!(
        not_object.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        not_object.body
    );
    assert_eq!(not_object.body["field"], "sample");

    let unknown_binding = server
        .json(
            Method::POST,
            &path,
            json!({ "binding_id": "nope", "sample": validator_sample("a@b.example") }),
        )
        .await;
    assert_eq!(
        unknown_binding.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        unknown_binding.body
    );
    assert_eq!(unknown_binding.body["field"], "binding_id");

    let unknown_member = server
        .json(Method::POST, &path, json!({ "sample": {}, "extra": true }))
        .await;
    assert_eq!(
        unknown_member.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        unknown_member.body
    );

    let no_plugin = server
        .json(
            Method::POST,
            "/api/v1/plugins/no-such-plugin/test",
            json!({ "sample": validator_sample("a@b.example") }),
        )
        .await;
    assert_eq!(
        no_plugin.status,
        StatusCode::NOT_FOUND,
        "{:#}",
        no_plugin.body
    );

    let anonymous = common::send(
        &server.app,
        "",
        Method::POST,
        &path,
        axum::body::Body::from(json!({ "sample": validator_sample("a@b.example") }).to_string()),
        "application/json",
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let stranger = Caller {
        instance_id: server.instance_id.clone(),
        identity: Identity::User {
            user_id: "stranger".into(),
            org_id: server.org_id.clone(),
        },
    };
    let denied = server
        .service
        .test_run(&stranger, &id, None, validator_sample("a@b.example"))
        .await
        .expect_err("not permitted");
    assert_eq!(ApiError::from(denied).status(), StatusCode::FORBIDDEN);
}
