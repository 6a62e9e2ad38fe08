//! `GET /api/v1/events` through the router, on both eventstore backends: filters, paging, redaction and
//! permission.

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Api;
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;

both_backends!(
    audit_trail_filters_and_pages,
    audit_trail_refuses_bad_parameters,
    org_owners_read_exactly_their_org_trail
);

/// The events of a query, waiting until at least `expected` are visible: stream readers see an event once no
/// older transaction of the database is still running.
async fn events(api: &Api, query: &str, expected: usize) -> Vec<Value> {
    events_as(api, &api.token, query, expected).await
}

/// Like [`events`], as the holder of `token`.
async fn events_as(api: &Api, token: &str, query: &str, expected: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..50 {
        let page = api
            .call_as(token, Method::GET, &format!("/api/v1/events?{query}"), None)
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

    let by_admin = events(
        &api,
        &format!("aggregate_id={user}&creator={}", api.admin_id),
        3,
    )
    .await;
    assert_eq!(by_admin.len(), 3, "the actor made every change of the user");
    assert!(
        events(
            &api,
            &format!("aggregate_id={user}&creator=someone-else"),
            0
        )
        .await
        .is_empty(),
        "another actor made none"
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

/// A machine user of `org` with `role` there, and its token.
async fn member(api: &Api, org: &str, login: &str, role: &str) -> (String, String) {
    let (id, token) = api.machine_with_token(org, login).await;
    api.post(
        &format!("/api/v1/orgs/{org}/members"),
        json!({ "user_id": id, "roles": [role] }),
    )
    .await
    .expect(StatusCode::CREATED);
    (id, token)
}

async fn org_owners_read_exactly_their_org_trail(store: TestStore) {
    let api = Api::start(store).await;
    let a = api.org("Audit A").await;
    let b = api.org("Audit B").await;
    let (owner_a, token_a) = member(&api, &a, "owner-a", "ORG_OWNER").await;
    let (_, viewer_a) = member(&api, &a, "viewer-a", "ORG_OWNER_VIEWER").await;
    let (_, manager_a) = member(&api, &a, "manager-a", "ORG_USER_MANAGER").await;
    let (_, token_b) = member(&api, &b, "owner-b", "ORG_OWNER").await;
    let human_a = api
        .post(
            "/api/v1/users/human",
            json!({
                "org_id": a, "login_name": "human-a", "given_name": "A", "family_name": "A",
                "email": "human-a@example.com", "password": "Secret-Passw0rd!",
            }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let human_b = api.human(&b, "human-b").await;
    let project_b = api.project(&b, "Project B").await;

    // The administrator reads everything, and one organization when asked.
    let all = events(&api, "limit=1000", 20).await;
    assert!(
        all.iter().any(|e| e["org_id"].is_null()),
        "instance events have no organization"
    );
    let only_b = events(&api, &format!("org_id={b}&limit=1000"), 6).await;
    assert!(!only_b.is_empty());
    assert!(
        only_b.iter().all(|e| e["org_id"] == b.as_str()),
        "{only_b:#?}"
    );
    assert!(
        only_b
            .iter()
            .any(|e| e["aggregate_id"] == project_b.as_str())
    );
    assert!(only_b.iter().any(|e| e["aggregate_id"] == human_b.as_str()));

    // An owner of A reads A's trail, by default and when naming A, and nothing of B or of the instance.
    let a_trail = events(&api, &format!("org_id={a}&limit=1000"), 11).await;
    for token in [&token_a, &viewer_a] {
        let seen = events_as(&api, token, "limit=1000", a_trail.len()).await;
        assert_eq!(seen, a_trail, "the default is the caller's organization");
        let named = events_as(&api, token, &format!("org_id={a}&limit=1000"), seen.len()).await;
        assert_eq!(named, seen);
    }
    assert!(a_trail.iter().all(|e| e["org_id"] == a.as_str()));
    let ids: Vec<&str> = a_trail
        .iter()
        .filter_map(|e| e["aggregate_id"].as_str())
        .collect();
    for expected in [a.as_str(), owner_a.as_str(), human_a.as_str()] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
    }
    for foreign in [b.as_str(), human_b.as_str(), project_b.as_str()] {
        assert!(!ids.contains(&foreign), "{foreign} leaked into A's trail");
    }
    let added = a_trail
        .iter()
        .find(|e| e["aggregate_id"] == human_a.as_str())
        .expect("the human's event");
    assert_eq!(added["payload"]["password_hash"], "[redacted]");
    assert_eq!(added["creator"], api.admin_id.as_str());
    let orgs = events_as(&api, &token_a, "aggregate_type=org&limit=1000", 1).await;
    assert!(orgs.iter().all(|e| e["aggregate_id"] == a.as_str()));

    // Another organization's trail, or the instance's, is not theirs to read.
    for query in [
        format!("org_id={b}"),
        format!("org_id={b}&aggregate_id={human_b}"),
    ] {
        let reply = api
            .call_as(
                &token_a,
                Method::GET,
                &format!("/api/v1/events?{query}"),
                None,
            )
            .await;
        assert!(
            matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{query}: {reply:?}"
        );
        assert!(reply.body.get("events").is_none());
    }
    let b_seen = events_as(&api, &token_b, "limit=1000", 1).await;
    assert!(b_seen.iter().all(|e| e["org_id"] == b.as_str()));
    // Managing users does not include reading the trail.
    api.call_as(&manager_a, Method::GET, "/api/v1/events", None)
        .await
        .error(StatusCode::FORBIDDEN, "authz.permission_denied");
    api.call_as(&token_a, Method::GET, "/api/v1/events?org_id=", None)
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_org_id");

    // The OpenAPI document describes the filter and the field.
    let document = api.get("/openapi.json").await.expect(StatusCode::OK).body;
    let parameters = document["paths"]["/api/v1/events"]["get"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        parameters.iter().any(|p| p["name"] == "org_id"),
        "{parameters:#?}"
    );
    assert!(
        document["components"]["schemas"]["AuditEvent"]["properties"]
            .get("org_id")
            .is_some()
    );
}
