//! `GET /api/v1/events` through the router, on both eventstore backends: filters, paging, redaction and
//! permission.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Api;
use warden_eventstore::testing::TestStore;

both_backends!(
    audit_trail_filters_and_pages,
    audit_trail_refuses_bad_parameters
);

/// The events of a query, waiting until at least `expected` are visible: stream readers see an event once no
/// older transaction of the database is still running.
async fn events(api: &Api, query: &str, expected: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..50 {
        let page = api
            .get(&format!("/api/v1/events?{query}"))
            .await
            .expect(StatusCode::OK);
        last = page.body["events"].as_array().cloned().unwrap_or_default();
        if last.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect()
}

async fn audit_trail_filters_and_pages(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Audited").await;
    let user = api
        .post(
            "/api/v1/users/human",
            json!({
                "org_id": org, "login_name": "audited", "given_name": "A", "family_name": "B",
                "email": "a@example.com", "password": "Secret-Passw0rd!",
            }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    api.post_empty(&format!("/api/v1/users/{user}/lock"))
        .await
        .expect(StatusCode::OK);
    api.put(
        &format!("/api/v1/users/{user}/password"),
        json!({ "password": "Other-Passw0rd!" }),
    )
    .await
    .expect(StatusCode::OK);

    let of_user = events(&api, &format!("aggregate_type=user&aggregate_id={user}"), 3).await;
    assert_eq!(
        types(&of_user),
        vec![
            "user.human.added",
            "user.locked",
            "user.human.password.changed"
        ]
    );
    let added = &of_user[0];
    assert_eq!(added["aggregate_id"], user.as_str());
    assert_eq!(added["sequence"], 1);
    assert_eq!(
        added["creator"],
        api.admin_id.as_str(),
        "who made the change"
    );
    assert!(
        added["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "when"
    );
    assert_eq!(added["payload"]["login_name"], "audited");
    assert_eq!(added["payload"]["password_hash"], "[redacted]");
    assert_eq!(of_user[2]["payload"]["password_hash"], "[redacted]");
    assert!(
        !serde_json::to_string(&of_user)
            .expect("json")
            .contains("argon2")
    );

    let orgs = events(&api, "event_type=org.added", 2).await;
    assert_eq!(orgs.len(), 2, "the first organization and Audited");
    assert!(orgs.iter().any(|e| e["aggregate_id"] == org.as_str()));
    let mixed = events(
        &api,
        "aggregate_type=user,org&event_type=org.added,user.locked",
        3,
    )
    .await;
    assert_eq!(
        types(&mixed)
            .iter()
            .filter(|t| **t == "user.locked")
            .count(),
        1
    );
    assert_eq!(mixed.len(), 3);

    let position = added["position"].as_i64().expect("position");
    let at = events(
        &api,
        &format!("from_position={position}&to_position={position}"),
        1,
    )
    .await;
    assert_eq!(types(&at), vec!["user.human.added"]);
    let after = events(
        &api,
        &format!("aggregate_id={user}&from_position={}", position + 1),
        2,
    )
    .await;
    assert_eq!(after.len(), 2);

    assert!(
        events(&api, "from=2999-01-01T00:00:00Z", 0)
            .await
            .is_empty()
    );
    assert!(events(&api, "to=1999-01-01T00:00:00Z", 0).await.is_empty());
    let created_at = added["created_at"].as_str().expect("time");
    let since = events(&api, &format!("aggregate_id={user}&from={created_at}"), 3).await;
    assert_eq!(since.len(), 3);
    let before = events(&api, &format!("aggregate_id={user}&to={created_at}"), 0).await;
    assert!(before.is_empty(), "to is exclusive");

    let everything = events(&api, "limit=1000", 12).await;
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("/api/v1/events?limit=2&cursor={cursor}"),
            None => "/api/v1/events?limit=2".to_owned(),
        };
        let page = api.get(&query).await.expect(StatusCode::OK);
        let batch = page.body["events"].as_array().cloned().unwrap_or_default();
        assert!(batch.len() <= 2);
        paged.extend(batch);
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let positions = |events: &[Value]| {
        events
            .iter()
            .map(|e| e["position"].as_i64())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        positions(&paged)[..everything.len()],
        positions(&everything)[..],
        "pages cover the trail"
    );

    let (viewer, token) = api.machine_with_token(&api.org_id, "auditor").await;
    api.post(
        "/api/v1/instance/members",
        json!({ "user_id": viewer, "roles": ["IAM_OWNER_VIEWER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.call_as(&token, Method::GET, "/api/v1/events?limit=1", None)
        .await
        .expect(StatusCode::OK);
    let (_, nobody) = api.machine_with_token(&api.org_id, "nobody").await;
    api.call_as(&nobody, Method::GET, "/api/v1/events", None)
        .await
        .error(StatusCode::FORBIDDEN, "authz.permission_denied");
}

async fn audit_trail_refuses_bad_parameters(store: TestStore) {
    let api = Api::start(store).await;
    for (query, code, field) in [
        ("limit=0", "invalid_limit", "limit"),
        ("limit=5000", "invalid_limit", "limit"),
        ("limit=many", "invalid_field", "limit"),
        ("from_position=x", "invalid_field", "from_position"),
        ("sort=desc", "unknown_field", "sort"),
        ("cursor=nonsense", "invalid_cursor", "cursor"),
        ("from=yesterday", "invalid_timestamp", "from"),
        ("to=2020-13-45T00:00:00Z", "invalid_timestamp", "to"),
    ] {
        let reply = api.get(&format!("/api/v1/events?{query}")).await;
        assert_eq!(
            reply.error(StatusCode::BAD_REQUEST, code).as_deref(),
            Some(field),
            "{query}"
        );
    }
}
