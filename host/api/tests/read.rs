//! The read endpoints through the router: read-your-writes by id, lists with filters and paging,
//! authorization, bad parameters, unknown ids and the projections' status.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Api;
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;

both_backends!(
    reads_its_own_writes,
    lists_filter_sort_and_page,
    reads_are_authorized,
    refuses_bad_parameters_and_unknown_ids,
    projections_report_their_status,
);

/// The ids of a list answer's items.
fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body:#}"))
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn reads_its_own_writes(store: TestStore) {
    let api = Api::start(store).await;

    let org = api.org("Acme").await;
    let got = api
        .get(&format!("/api/v1/orgs/{org}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got.body["name"], "Acme");
    assert_eq!(got.body["state"], "active");

    let user = api.human(&org, "ada").await;
    let got = api
        .get(&format!("/api/v1/users/{user}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got.body["login_name"], "ada");
    assert_eq!(got.body["org_id"], org.as_str());
    assert_eq!(got.body["type"], "human");
    assert_eq!(got.body["human"]["email"], "ada@example.com");

    // A change is visible right after it returns.
    let changed = api
        .put(
            &format!("/api/v1/users/{user}/email"),
            json!({ "email": "countess@example.com" }),
        )
        .await
        .expect(StatusCode::OK);
    let got = api
        .get(&format!("/api/v1/users/{user}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got.body["human"]["email"], "countess@example.com");
    assert_eq!(got.body["sequence"], changed.body["sequence"]);
    api.put(
        &format!("/api/v1/users/{user}/metadata/team"),
        json!({ "value": "engines" }),
    )
    .await
    .expect(StatusCode::OK);
    let metadata = api
        .get(&format!("/api/v1/users/{user}/metadata"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        metadata.body["items"],
        json!([{ "key": "team", "value": "engines" }])
    );

    let (machine, _) = api.machine_with_token(&org, "robot").await;
    let tokens = api
        .get(&format!("/api/v1/users/{machine}/pats"))
        .await
        .expect(StatusCode::OK);
    let items = tokens.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert!(items[0].get("token").is_none(), "never the token");

    let project = api.project(&org, "Shop").await;
    api.post(
        &format!("/api/v1/projects/{project}/roles"),
        json!({ "key": "sales", "display_name": "Sales" }),
    )
    .await
    .expect(StatusCode::CREATED);
    let got = api
        .get(&format!("/api/v1/projects/{project}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got.body["name"], "Shop");
    let roles = api
        .get(&format!("/api/v1/projects/{project}/roles"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(roles.body["items"][0]["key"], "sales");

    let app = api
        .post(
            &format!("/api/v1/projects/{project}/apps/api"),
            json!({ "name": "Backend", "auth_method": "basic" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(app.body["client_secret"].is_string());
    let got = api
        .get(&format!("/api/v1/apps/{}", app.id()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got.body["name"], "Backend");
    assert_eq!(got.body["type"], "api");
    assert_eq!(got.body["has_secret"], true);
    assert!(
        !got.body
            .to_string()
            .contains(app.body["client_secret"].as_str().expect("client secret")),
        "never the secret: {:#}",
        got.body
    );

    let grant = api
        .post(
            "/api/v1/user-grants",
            json!({ "user_id": user, "project_id": project, "role_keys": ["sales"] }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let got = api
        .get(&format!("/api/v1/user-grants/{grant}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(got.body["role_keys"], json!(["sales"]));

    api.post(
        &format!("/api/v1/orgs/{org}/members"),
        json!({ "user_id": user, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let members = api
        .get(&format!("/api/v1/orgs/{org}/members"))
        .await
        .expect(StatusCode::OK);
    assert!(
        members.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["user_id"] == user.as_str() && m["roles"] == json!(["ORG_OWNER"])),
        "the new member: {:#}",
        members.body
    );
    let memberships = api
        .get(&format!("/api/v1/users/{user}/memberships"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(memberships.body["items"][0]["scope"], "org");

    let instance = api.get("/api/v1/instance").await.expect(StatusCode::OK);
    assert_eq!(instance.body["instance_id"], api.instance_id.as_str());
    let policies = api
        .get(&format!("/api/v1/orgs/{org}/policies"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(policies.body["lockout"]["inherited"], true);
}

async fn lists_filter_sort_and_page(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Listed").await;
    let mut created = Vec::new();
    for name in ["carol", "alice", "bob"] {
        created.push(api.human(&org, name).await);
    }
    let (robot, _) = api.machine_with_token(&org, "robot").await;
    api.post_empty(&format!("/api/v1/users/{}/deactivate", created[0]))
        .await
        .expect(StatusCode::OK);
    // A read by id brings the user view up to the last write; the lists then see every earlier one too.
    api.get(&format!("/api/v1/users/{}", created[0]))
        .await
        .expect(StatusCode::OK);

    let base = format!("/api/v1/users?org_id={org}");
    let first = api
        .get(&format!("{base}&limit=2"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(first.body["has_more"], true);
    assert_eq!(first.body["limit"], 2);
    let logins: Vec<&str> = first.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["login_name"].as_str())
        .collect();
    assert_eq!(logins, ["alice", "bob"]);
    let rest = api
        .get(&format!("{base}&limit=2&offset=2"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(rest.body["has_more"], false);
    assert_eq!(ids(&rest.body), [created[0].clone(), robot.clone()]);

    let descending = api
        .get(&format!("{base}&direction=desc&limit=1"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&descending.body), [robot.as_str()]);
    let machines = api
        .get(&format!("{base}&type=machine"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&machines.body), [robot]);
    let inactive = api
        .get(&format!("{base}&state=inactive"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&inactive.body), [created[0].clone()]);
    let prefixed = api
        .get(&format!("{base}&login_name_prefix=AL"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&prefixed.body), [created[1].clone()]);

    // Projects and their applications.
    let shop = api.project(&org, "Shop").await;
    let blog = api.project(&org, "Blog").await;
    let mut last_app = String::new();
    for name in ["Web", "Mobile"] {
        last_app = api
            .post(
                &format!("/api/v1/projects/{shop}/apps/api"),
                json!({ "name": name, "auth_method": "basic" }),
            )
            .await
            .expect(StatusCode::CREATED)
            .id();
    }
    api.get(&format!("/api/v1/apps/{last_app}"))
        .await
        .expect(StatusCode::OK);
    api.get(&format!("/api/v1/projects/{blog}"))
        .await
        .expect(StatusCode::OK);
    let projects = api
        .get(&format!("/api/v1/projects?org_id={org}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&projects.body), [blog, shop.clone()]);
    let apps = api
        .get(&format!("/api/v1/projects/{shop}/apps?sort=name"))
        .await
        .expect(StatusCode::OK);
    let names: Vec<&str> = apps.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["Mobile", "Web"]);

    // Organizations by name prefix; user grants by user.
    api.get(&format!("/api/v1/orgs/{org}"))
        .await
        .expect(StatusCode::OK);
    let orgs = api
        .get("/api/v1/orgs?name_prefix=list")
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&orgs.body), [org.as_str()]);
    let grant = api
        .post(
            "/api/v1/user-grants",
            json!({ "user_id": created[1], "project_id": shop }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    api.get(&format!("/api/v1/user-grants/{grant}"))
        .await
        .expect(StatusCode::OK);
    let grants = api
        .get(&format!("/api/v1/user-grants?user_id={}", created[1]))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&grants.body), [grant]);
}

async fn reads_are_authorized(store: TestStore) {
    let api = Api::start(store).await;
    let acme = api.org("Acme").await;
    let ada = api.human(&acme, "ada").await;
    let other = api.org("Other").await;
    let olivia = api.human(&other, "olivia").await;
    let (owner, owner_token) = api.machine_with_token(&other, "other-owner").await;
    api.post(
        &format!("/api/v1/orgs/{other}/members"),
        json!({ "user_id": owner, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let (creator, creator_token) = api.machine_with_token(&other, "creator").await;
    api.post(
        &format!("/api/v1/orgs/{other}/members"),
        json!({ "user_id": creator, "roles": ["ORG_PROJECT_CREATOR"] }),
    )
    .await
    .expect(StatusCode::CREATED);

    // No or a bad token.
    api.raw(Method::GET, "/api/v1/users", None, None, Vec::new(), &[])
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    api.call_as("wdn_pat_nope", Method::GET, "/api/v1/users", None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // The owner of one organization reads it; the other one is out of sight: 404, as for a missing id.
    api.call_as(
        &owner_token,
        Method::GET,
        &format!("/api/v1/users/{olivia}"),
        None,
    )
    .await
    .expect(StatusCode::OK);
    api.call_as(
        &owner_token,
        Method::GET,
        &format!("/api/v1/users/{ada}"),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "user.not_found");
    api.call_as(
        &owner_token,
        Method::GET,
        &format!("/api/v1/orgs/{acme}"),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "org.not_found");
    api.call_as(
        &owner_token,
        Method::GET,
        &format!("/api/v1/users?org_id={acme}"),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "org.not_found");
    api.call_as(&owner_token, Method::GET, "/api/v1/instance", None)
        .await
        .error(StatusCode::FORBIDDEN, "authz.permission_denied");
    api.call_as(&owner_token, Method::GET, "/api/v1/projections", None)
        .await
        .error(StatusCode::FORBIDDEN, "authz.permission_denied");

    // Without an organization filter, the lists show its own organization only.
    let users = api
        .call_as(&owner_token, Method::GET, "/api/v1/users", None)
        .await
        .expect(StatusCode::OK);
    let listed = ids(&users.body);
    assert!(listed.contains(&olivia), "{listed:?}");
    assert!(!listed.contains(&ada), "{listed:?}");
    let orgs = api
        .call_as(&owner_token, Method::GET, "/api/v1/orgs", None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&orgs.body), [other.as_str()]);
    // The instance owner sees both.
    let all = api.get("/api/v1/orgs").await.expect(StatusCode::OK);
    let all = ids(&all.body);
    assert!(all.contains(&acme) && all.contains(&other), "{all:?}");

    // A role that sees the organization but not its users: a user is out of sight (404), the list of the
    // organization it sees is refused (403).
    let hidden = api
        .call_as(
            &creator_token,
            Method::GET,
            &format!("/api/v1/users/{olivia}"),
            None,
        )
        .await;
    let missing = api
        .call_as(&creator_token, Method::GET, "/api/v1/users/nobody", None)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        hidden.body, missing.body,
        "the same answer as a missing user"
    );
    api.call_as(&creator_token, Method::GET, "/api/v1/users", None)
        .await
        .error(StatusCode::FORBIDDEN, "authz.permission_denied");
}

async fn refuses_bad_parameters_and_unknown_ids(store: TestStore) {
    let api = Api::start(store).await;
    for (query, field) in [
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("state=sleeping", "state"),
        ("type=robot", "type"),
        ("sort=age", "sort"),
        ("locked=maybe", "locked"),
    ] {
        let at_fault = api
            .get(&format!("/api/v1/users?{query}"))
            .await
            .error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(at_fault.as_deref(), Some(field), "{query}");
    }
    for path in ["/api/v1/orgs", "/api/v1/users", "/api/v1/instance/members"] {
        for query in ["limit=0", "limit=501"] {
            let field = api
                .get(&format!("{path}?{query}"))
                .await
                .error(StatusCode::BAD_REQUEST, "invalid_limit");
            assert_eq!(field.as_deref(), Some("limit"), "{path}?{query}");
        }
    }
    let field = api
        .get("/api/v1/projects?colour=red")
        .await
        .error(StatusCode::BAD_REQUEST, "unknown_field");
    assert_eq!(field.as_deref(), Some("colour"));

    let unknown = "0190e2c4-0000-7000-8000-000000000000";
    for (path, code) in [
        (format!("/api/v1/users/{unknown}"), "user.not_found"),
        (
            format!("/api/v1/users/{unknown}/metadata"),
            "user.not_found",
        ),
        (format!("/api/v1/orgs/{unknown}"), "org.not_found"),
        (format!("/api/v1/projects/{unknown}"), "project.not_found"),
        (format!("/api/v1/apps/{unknown}"), "application.not_found"),
        (
            format!("/api/v1/user-grants/{unknown}"),
            "user_grant.not_found",
        ),
    ] {
        api.get(&path).await.error(StatusCode::NOT_FOUND, code);
    }

    // Every read endpoint is documented with its response.
    let document = api.get("/openapi.json").await.expect(StatusCode::OK);
    for path in [
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/orgs",
        "/api/v1/projects/{project_id}/apps",
        "/api/v1/user-grants",
        "/api/v1/projections",
    ] {
        let get = &document.body["paths"][path]["get"];
        assert!(
            get["responses"]["200"]["content"]["application/json"]["schema"].is_object(),
            "{path}: {get:#}"
        );
    }
    assert!(
        document.body["paths"]["/api/v1/users/{user_id}"]["get"]["responses"]["503"].is_object(),
        "a by-id read documents its catch-up timeout"
    );
    let parameters = document.body["paths"]["/api/v1/users"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    for name in [
        "org_id",
        "login_name_prefix",
        "state",
        "type",
        "offset",
        "limit",
    ] {
        assert!(
            parameters.iter().any(|p| p["name"] == name),
            "{name} documented"
        );
    }
}

async fn projections_report_their_status(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Busy").await;
    let user = api.human(&org, "worker").await;
    let project = api.project(&org, "Work").await;
    api.post(
        "/api/v1/user-grants",
        json!({ "user_id": user, "project_id": project }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.get(&format!("/api/v1/users/{user}"))
        .await
        .expect(StatusCode::OK);

    let status = api.get("/api/v1/projections").await.expect(StatusCode::OK);
    let projections = status.body["projections"].as_array().expect("projections");
    let names: Vec<&str> = projections
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for projection in warden_query::projections::builtin() {
        assert!(
            names.contains(&projection.name()),
            "{} listed: {names:?}",
            projection.name()
        );
    }
    for projection in projections {
        assert_eq!(projection["failed_events"], json!([]), "{projection:#}");
        assert_eq!(projection["skipped_events"], 0, "{projection:#}");
        assert!(projection["lag_events"].as_i64().is_some());
        assert!(projection["lag_ms"].as_i64().is_some());
        assert!(projection["position"].as_i64().is_some());
    }
    assert!(
        projections
            .iter()
            .any(|p| p["position"].as_i64() > Some(0) && p["held_here"] == true),
        "a projection ran here: {:#}",
        status.body
    );

    // Retrying by rebuilding: the users view is emptied and replayed, and reads see the user again.
    let rebuilt = api
        .post_empty("/api/v1/projections/users/rebuild")
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(rebuilt.body["name"], "users");
    assert_eq!(rebuilt.body["rebuilding"], true);
    let again = api
        .get(&format!("/api/v1/users/{user}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(again.body["login_name"], "worker");
    let after = api.get("/api/v1/projections").await.expect(StatusCode::OK);
    let users = after.body["projections"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "users"))
        .cloned()
        .expect("users projection");
    assert!(users["rebuilds"].as_i64() >= Some(1), "{users:#}");
    api.post_empty("/api/v1/projections/no-such-view/rebuild")
        .await
        .error(StatusCode::NOT_FOUND, "projection.not_found");
}
