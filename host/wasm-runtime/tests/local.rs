//! `run_local_test`, the engine of `warden plugin test`, with the documented input formats.

use serde_json::json;
use warden_plugin_fixtures as fixtures;
use warden_wasm_runtime::{LocalTestError, PluginError, World, run_local_test};

fn path(p: &str) -> &std::path::Path {
    std::path::Path::new(p)
}

#[tokio::test]
async fn a_validator_test_reports_violations_and_timings() {
    let input = json!({
        "config": { "allowed_domains": "example.com" },
        "input": {
            "command": {
                "command_type": "user.human.add",
                "instance_id": "inst-1",
                "org_id": "org-1",
                "aggregate_type": "user",
                "aggregate_id": "user-1",
                "actor": { "user_id": "admin-1" },
                "payload": { "add_human_user": { "username": "ada", "email": "ada@evil.test" } }
            }
        }
    });
    let report = run_local_test(
        path(fixtures::EMAIL_DOMAINS),
        World::Validator,
        &input.to_string(),
        20,
    )
    .await
    .expect("report");
    assert_eq!(report.world, World::Validator);
    assert_eq!(report.runs, 20);
    assert_eq!(report.result["outcome"], "violations");
    assert_eq!(
        report.result["violations"][0]["code"],
        "email.domain-not-allowed"
    );
    assert!(report.call_p50 > std::time::Duration::ZERO && report.call_p50 <= report.call_p99);
    let printed = serde_json::to_value(&report).expect("serializable");
    assert!(
        printed["call_p50"].as_f64().is_some_and(|us| us > 0.0),
        "{printed}"
    );
}

#[tokio::test]
async fn a_projection_test_reports_the_rows() {
    let input = json!({
        "views": { "org_users": { "org-a": { "org_id": "org-a", "users": 5 } } },
        "events": [
            { "instance_id": "i", "org_id": "org-a", "aggregate_type": "user", "aggregate_id": "u9",
              "event_type": "user.human.added", "created_at": 1_717_243_200_000_000_i64 },
            { "instance_id": "i", "org_id": "org-a", "aggregate_type": "org", "aggregate_id": "org-a",
              "event_type": "org.renamed" }
        ]
    });
    let report = run_local_test(
        path(fixtures::ORG_STATS),
        World::Projection,
        &input.to_string(),
        1,
    )
    .await
    .expect("report");
    assert_eq!(report.result["rows"]["org_users"]["org-a"]["users"], 6);
    assert_eq!(
        report.result["rows"]["org_daily_stats"]["org-a/2024-06-01"]["users_added"],
        1
    );
    assert_eq!(report.result["events"][0]["ok"], true);
    assert_eq!(report.result["events"][1]["skipped"], "not subscribed");
}

#[tokio::test]
async fn an_action_test_names_the_hook_next_to_the_context() {
    let input = json!({
        "config": { "allowed_networks": "10.0.0.0/8" },
        "hook": "post_authentication",
        "context": { "instance_id": "i", "ip": "192.0.2.1" }
    });
    let report = run_local_test(
        path(fixtures::ORG_CLAIMS),
        World::Action,
        &input.to_string(),
        1,
    )
    .await
    .expect("report");
    assert_eq!(report.result["outcome"], "deny");

    let input = json!({ "hook": "pre_token", "config": { "roles_claim": "sub" }, "context": {} });
    let report = run_local_test(
        path(fixtures::ORG_CLAIMS),
        World::Action,
        &input.to_string(),
        1,
    )
    .await
    .expect("report");
    assert_eq!(report.result["error"], "reserved_claim");
}

#[tokio::test]
async fn wrong_world_and_bad_input_are_clear_errors() {
    let err = run_local_test(path(fixtures::EMAIL_DOMAINS), World::Action, "{}", 1)
        .await
        .expect_err("wrong world");
    assert!(matches!(
        err,
        LocalTestError::Plugin(PluginError::WrongWorld {
            expected: World::Action,
            actual: World::Validator
        })
    ));
    let err = run_local_test(
        path(fixtures::EMAIL_DOMAINS),
        World::Validator,
        r#"{"inptu": {}}"#,
        1,
    )
    .await
    .expect_err("bad input");
    assert!(matches!(&err, LocalTestError::Input { .. }), "{err}");
    assert!(err.to_string().contains("inptu"), "{err}");
}
