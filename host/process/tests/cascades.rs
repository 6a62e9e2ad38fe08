//! The cascades process manager end to end, on both eventstore backends: removing an organization removes
//! everything it held, each step an event by the system; a crash in the middle resumes on another node without
//! repeating a step; removing a role takes it out of user grants.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use warden_command::{
    CommandValidator, Commands, CommandsConfig, FirstInstance, ValidationRequest, bootstrap,
    validator::ValidationFuture,
};
use warden_eventstore::both_backends;
use warden_eventstore::{Cursor, Event, Eventstore, Store, StreamQuery, testing::TestStore};
use warden_process::{CASCADES, Cascades};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;

both_backends!(
    removing_an_org_removes_what_it_held_and_resumes_after_a_crash,
    removing_a_role_takes_it_out_of_user_grants,
    removing_a_user_removes_its_grants_everywhere
);

/// Lets the system remove `allowed` users, then holds every further user removal forever: a process manager
/// stopped in the middle of a cascade.
#[derive(Debug, Default)]
struct HoldUserRemovals {
    armed: std::sync::atomic::AtomicBool,
    allowed: AtomicUsize,
}

impl CommandValidator for HoldUserRemovals {
    fn validate<'a>(&'a self, request: &'a ValidationRequest) -> ValidationFuture<'a> {
        Box::pin(async move {
            if self.armed.load(Ordering::SeqCst)
                && request.command_type == "user.remove"
                && request.actor.user_id == "system"
                && self
                    .allowed
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_err()
            {
                std::future::pending::<()>().await;
            }
            Ok(Vec::new())
        })
    }
}

/// One Warden node: its command pipeline, spoolers with the cascades, and the API.
struct Node {
    app: Router,
    read_side: ReadSide,
}

impl Node {
    async fn start(store: &Store, name: &str, commands: Commands, instance_id: &str) -> Self {
        let mut config = SpoolerConfig::new(name);
        // A node that dies holds its leases this long; keep the takeover quick.
        config.lease_ttl = Duration::from_millis(600);
        config.acquire_interval = Duration::from_millis(100);
        config.poll_interval = Duration::from_millis(200);
        config.retry_backoff = Duration::from_millis(50);
        let read_side = ReadSide::start(store.clone(), config)
            .await
            .expect("read side");
        Cascades::start(commands.clone(), &read_side)
            .await
            .expect("cascades");
        let app = warden_api::router(warden_api::ApiState::new(
            commands,
            instance_id.to_owned(),
            &read_side,
        ));
        Self { app, read_side }
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&body).unwrap())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }
}

/// The administrator's view of a bootstrapped instance.
struct Setup {
    instance_id: String,
    token: String,
    admin_id: String,
    _dir: tempfile::TempDir,
}

async fn set_up(commands: &Commands) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let report = bootstrap(commands, dir.path(), &FirstInstance::default())
        .await
        .expect("bootstrap");
    let token = std::fs::read_to_string(report.admin_token_path.unwrap())
        .unwrap()
        .trim()
        .to_owned();
    Setup {
        instance_id: report.instance_id,
        token,
        admin_id: report.admin_user_id,
        _dir: dir,
    }
}

/// Calls as the administrator and expects `status`; returns the body.
async fn admin(
    node: &Node,
    setup: &Setup,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: StatusCode,
) -> Value {
    let (got, body) = node.call(&setup.token, method, path, body).await;
    assert_eq!(got, status, "{path}: {body:#}");
    body
}

async fn create(node: &Node, setup: &Setup, path: &str, body: Value) -> String {
    let body = admin(
        node,
        setup,
        Method::POST,
        path,
        Some(body),
        StatusCode::CREATED,
    )
    .await;
    body["grant_id"]
        .as_str()
        .or_else(|| body["id"].as_str())
        .unwrap_or_else(|| panic!("no id in {body:#}"))
        .to_owned()
}

async fn human(node: &Node, setup: &Setup, org: &str, login: &str) -> String {
    create(
        node,
        setup,
        "/api/v1/users/human",
        json!({
            "org_id": org, "login_name": login, "given_name": "A", "family_name": "B",
            "email": format!("{login}@example.com"),
        }),
    )
    .await
}

/// Every event of the store, once nothing older is still being written.
async fn all_events(store: &Store) -> Vec<Event> {
    store
        .read_stream(&StreamQuery::after(Cursor::START, 1_000_000))
        .await
        .unwrap()
}

const REMOVALS: [&str; 5] = [
    "user.removed",
    "project.removed",
    "application.removed",
    "user_grant.removed",
    "project.grant.removed",
];

fn system_removals(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.creator == "system" && REMOVALS.contains(&e.event_type.as_str()))
        .collect()
}

/// Waits (bounded) until `done` holds for the store's events.
async fn wait_for(store: &Store, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    for _ in 0..300 {
        let events = all_events(store).await;
        if done(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen in time");
}

async fn removing_an_org_removes_what_it_held_and_resumes_after_a_crash(test_store: TestStore) {
    let store = test_store.store.clone();
    let gate = Arc::new(HoldUserRemovals::default());
    let commands_1 = Commands::new(
        store.clone(),
        CommandsConfig {
            validators: vec![gate.clone()],
            ..CommandsConfig::default()
        },
    );
    let setup = set_up(&commands_1).await;
    let node_1 = Node::start(&store, "node-1", commands_1, &setup.instance_id).await;

    let doomed = create(&node_1, &setup, "/api/v1/orgs", json!({ "name": "Doomed" })).await;
    let partner = create(
        &node_1,
        &setup,
        "/api/v1/orgs",
        json!({ "name": "Partner" }),
    )
    .await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(human(&node_1, &setup, &doomed, &format!("doomed-{i}")).await);
    }
    let robot = create(
        &node_1,
        &setup,
        "/api/v1/users/machine",
        json!({ "org_id": doomed, "login_name": "doomed-robot", "name": "Robot" }),
    )
    .await;
    let pat = admin(
        &node_1,
        &setup,
        Method::POST,
        &format!("/api/v1/users/{robot}/pats"),
        None,
        StatusCode::CREATED,
    )
    .await;
    let robot_token = pat["token"].as_str().unwrap().to_owned();
    users.push(robot.clone());

    let project = create(
        &node_1,
        &setup,
        "/api/v1/projects",
        json!({ "org_id": doomed, "name": "Shop" }),
    )
    .await;
    create(
        &node_1,
        &setup,
        &format!("/api/v1/projects/{project}/roles"),
        json!({ "key": "buyer", "display_name": "Buyer" }),
    )
    .await;
    let app = create(
        &node_1,
        &setup,
        &format!("/api/v1/projects/{project}/apps/api"),
        json!({ "name": "Backend", "auth_method": "private_key_jwt" }),
    )
    .await;
    let grant_out = create(
        &node_1,
        &setup,
        &format!("/api/v1/projects/{project}/grants"),
        json!({ "granted_org_id": partner, "role_keys": ["buyer"] }),
    )
    .await;
    let own_grant = create(
        &node_1,
        &setup,
        "/api/v1/user-grants",
        json!({ "user_id": users[0], "project_id": project, "role_keys": ["buyer"] }),
    )
    .await;
    let partner_user = human(&node_1, &setup, &partner, "partner-0").await;
    let partner_grant = create(&node_1, &setup, "/api/v1/user-grants", json!({ "user_id": partner_user, "project_id": project, "project_grant_id": grant_out, "role_keys": ["buyer"] })).await;
    // A project of the partner granted to the doomed organization, and a grant given through it.
    let partner_project = create(
        &node_1,
        &setup,
        "/api/v1/projects",
        json!({ "org_id": partner, "name": "Market" }),
    )
    .await;
    create(
        &node_1,
        &setup,
        &format!("/api/v1/projects/{partner_project}/roles"),
        json!({ "key": "seller", "display_name": "Seller" }),
    )
    .await;
    let grant_in = create(
        &node_1,
        &setup,
        &format!("/api/v1/projects/{partner_project}/grants"),
        json!({ "granted_org_id": doomed, "role_keys": ["seller"] }),
    )
    .await;
    let incoming_grant = create(&node_1, &setup, "/api/v1/user-grants", json!({ "user_id": users[1], "project_id": partner_project, "project_grant_id": grant_in, "role_keys": ["seller"] })).await;

    // Node 1 removes two users of the organization, then stops in the middle of the cascade.
    gate.allowed.store(2, Ordering::SeqCst);
    gate.armed.store(true, Ordering::SeqCst);
    admin(
        &node_1,
        &setup,
        Method::DELETE,
        &format!("/api/v1/orgs/{doomed}"),
        None,
        StatusCode::OK,
    )
    .await;
    let (status, _) = node_1
        .call(
            &robot_token,
            Method::GET,
            &format!("/api/v1/orgs/{doomed}"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a removed organization's token is refused at once"
    );
    let partial = wait_for(&store, "the first user removals", |events| {
        events
            .iter()
            .filter(|e| e.creator == "system" && e.event_type == "user.removed")
            .count()
            == 2
    })
    .await;
    node_1.read_side.spoolers().abort();
    let handled_before = system_removals(&partial).len();

    // Node 2 takes the lease over once it lapses and finishes the cascade.
    let commands_2 = Commands::new(store.clone(), CommandsConfig::default());
    let node_2 = Node::start(&store, "node-2", commands_2, &setup.instance_id).await;
    let expected = users.len() + 1 /* project */ + 1 /* app */ + 3 /* user grants */ + 2 /* project grants */;
    let events = wait_for(&store, "the whole cascade", |events| {
        system_removals(events).len() >= expected
    })
    .await;
    assert!(handled_before < expected, "the crash came in the middle");

    // Every dependent is gone, as the API reads it.
    let mut gone = vec![
        format!("/api/v1/projects/{project}"),
        format!("/api/v1/apps/{app}"),
        format!("/api/v1/user-grants/{own_grant}"),
        format!("/api/v1/user-grants/{partner_grant}"),
        format!("/api/v1/user-grants/{incoming_grant}"),
        format!("/api/v1/projects/{partner_project}/grants/{grant_in}"),
    ];
    gone.extend(users.iter().map(|u| format!("/api/v1/users/{u}")));
    for path in &gone {
        admin(
            &node_2,
            &setup,
            Method::GET,
            path,
            None,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    admin(
        &node_2,
        &setup,
        Method::GET,
        &format!("/api/v1/users/{partner_user}"),
        None,
        StatusCode::OK,
    )
    .await;
    admin(
        &node_2,
        &setup,
        Method::GET,
        &format!("/api/v1/projects/{partner_project}"),
        None,
        StatusCode::OK,
    )
    .await;

    // Each step is one event by the system, none repeated after the crash.
    let removals = system_removals(&events);
    assert_eq!(removals.len(), expected, "{removals:#?}");
    let mut steps: Vec<(String, String, String)> = removals
        .iter()
        .map(|e| {
            let grant = e.payload["grant_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (
                e.event_type.clone(),
                e.aggregate.aggregate_id.clone(),
                grant,
            )
        })
        .collect();
    steps.sort();
    steps.dedup();
    assert_eq!(steps.len(), expected, "no step twice");
    let org_removed = events
        .iter()
        .find(|e| e.event_type == "org.removed")
        .expect("the org removal");
    assert_eq!(org_removed.creator, setup.admin_id);

    // The audit trail shows the steps, with the system as creator and the organization they belong to.
    let types = REMOVALS.join(",");
    let trail = admin(
        &node_2,
        &setup,
        Method::GET,
        &format!("/api/v1/events?event_type={types}&limit=1000"),
        None,
        StatusCode::OK,
    )
    .await;
    let trail = trail["events"].as_array().unwrap();
    assert_eq!(trail.len(), expected);
    assert!(trail.iter().all(|e| e["creator"] == "system"), "{trail:#?}");
    for user in &users {
        let step = trail
            .iter()
            .find(|e| e["aggregate_id"] == user.as_str())
            .expect("the user's removal");
        assert_eq!(step["org_id"], doomed.as_str());
    }
    let status = node_2
        .read_side
        .spoolers()
        .projection_status(CASCADES)
        .await
        .unwrap();
    assert_eq!(status.failed_events.len(), 0, "{status:#?}");
    node_2.read_side.shutdown().await;
}

async fn removing_a_role_takes_it_out_of_user_grants(test_store: TestStore) {
    let store = test_store.store.clone();
    let commands = Commands::new(store.clone(), CommandsConfig::default());
    let setup = set_up(&commands).await;
    let node = Node::start(&store, "node-1", commands, &setup.instance_id).await;
    let org = create(&node, &setup, "/api/v1/orgs", json!({ "name": "Roles" })).await;
    let project = create(
        &node,
        &setup,
        "/api/v1/projects",
        json!({ "org_id": org, "name": "Shop" }),
    )
    .await;
    for key in ["buyer", "seller"] {
        create(
            &node,
            &setup,
            &format!("/api/v1/projects/{project}/roles"),
            json!({ "key": key, "display_name": key }),
        )
        .await;
    }
    let alice = human(&node, &setup, &org, "alice").await;
    let bob = human(&node, &setup, &org, "bob").await;
    let both = create(
        &node,
        &setup,
        "/api/v1/user-grants",
        json!({ "user_id": alice, "project_id": project, "role_keys": ["buyer", "seller"] }),
    )
    .await;
    let only = create(
        &node,
        &setup,
        "/api/v1/user-grants",
        json!({ "user_id": bob, "project_id": project, "role_keys": ["buyer"] }),
    )
    .await;

    admin(
        &node,
        &setup,
        Method::DELETE,
        &format!("/api/v1/projects/{project}/roles/buyer"),
        None,
        StatusCode::OK,
    )
    .await;
    wait_for(&store, "the role's removal from the grants", |events| {
        events
            .iter()
            .filter(|e| e.creator == "system" && e.event_type == "user_grant.changed")
            .count()
            == 2
    })
    .await;
    let grant = admin(
        &node,
        &setup,
        Method::GET,
        &format!("/api/v1/user-grants/{both}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(grant["role_keys"], json!(["seller"]));
    let grant = admin(
        &node,
        &setup,
        Method::GET,
        &format!("/api/v1/user-grants/{only}"),
        None,
        StatusCode::OK,
    )
    .await;
    assert_eq!(grant["role_keys"], json!([]), "a grant without roles stays");
    node.read_side.shutdown().await;
}

async fn removing_a_user_removes_its_grants_everywhere(test_store: TestStore) {
    let store = test_store.store.clone();
    let commands = Commands::new(store.clone(), CommandsConfig::default());
    let setup = set_up(&commands).await;
    let node = Node::start(&store, "node-1", commands, &setup.instance_id).await;
    let home = create(&node, &setup, "/api/v1/orgs", json!({ "name": "Home" })).await;
    let other = create(&node, &setup, "/api/v1/orgs", json!({ "name": "Other" })).await;
    let project = create(
        &node,
        &setup,
        "/api/v1/projects",
        json!({ "org_id": other, "name": "Elsewhere" }),
    )
    .await;
    let leaving = human(&node, &setup, &home, "leaving").await;
    let staying = human(&node, &setup, &home, "staying").await;
    let grant = create(
        &node,
        &setup,
        "/api/v1/user-grants",
        json!({ "user_id": leaving, "project_id": project }),
    )
    .await;
    let kept = create(
        &node,
        &setup,
        "/api/v1/user-grants",
        json!({ "user_id": staying, "project_id": project }),
    )
    .await;

    admin(
        &node,
        &setup,
        Method::DELETE,
        &format!("/api/v1/users/{leaving}"),
        None,
        StatusCode::OK,
    )
    .await;
    let events = wait_for(&store, "the user's grant removed", |events| {
        events
            .iter()
            .any(|e| e.event_type == "user_grant.removed" && e.aggregate.aggregate_id == grant)
    })
    .await;
    let removal = events
        .iter()
        .find(|e| e.event_type == "user_grant.removed")
        .expect("removal");
    assert_eq!(removal.creator, "system");
    assert_eq!(removal.org_id.as_deref(), Some(other.as_str()));
    admin(
        &node,
        &setup,
        Method::GET,
        &format!("/api/v1/user-grants/{grant}"),
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
    admin(
        &node,
        &setup,
        Method::GET,
        &format!("/api/v1/user-grants/{kept}"),
        None,
        StatusCode::OK,
    )
    .await;
    node.read_side.shutdown().await;
}
