//! Token acceptance on another node follows revocations through the event stream (PostgreSQL `NOTIFY` between
//! nodes), not through the expiry of cached state: node B caches write models for an hour here, yet refuses a
//! revoked token, a removed user's token and a deactivated organization's token soon after node A stored the
//! change. The delays are printed (not asserted).

#![allow(clippy::print_stderr)]

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use serde_json::json;
use support::Api;
use warden_command::{CommandError, Commands, CommandsConfig};
use warden_eventstore::both_backends;
use warden_eventstore::{ConnectOptions, Store, testing::TestStore};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;

both_backends!(another_node_refuses_revoked_tokens_without_waiting_for_its_cache);

/// Node B: its own store connection (on PostgreSQL, its own pool, so it hears of node A's pushes only through
/// `NOTIFY`), a command pipeline whose cache would trust state for an hour, and spoolers feeding it events.
struct NodeB {
    commands: Commands,
    read_side: ReadSide,
}

async fn node_b(test_store: &TestStore) -> NodeB {
    let store = match &test_store.store {
        Store::Postgres(_) => Store::connect(&test_store.url, &ConnectOptions::default())
            .await
            .expect("second connection"),
        // One SQLite database is one process: the second node shares the store.
        Store::Sqlite(_) => test_store.store.clone(),
    };
    let commands = Commands::new(
        store.clone(),
        CommandsConfig {
            dependency_max_age: Duration::from_secs(3600),
            ..CommandsConfig::default()
        },
    );
    let read_side = ReadSide::start(store, SpoolerConfig::new("node-b"))
        .await
        .expect("node B's spoolers");
    let observer = commands.clone();
    read_side
        .spoolers()
        .observe(Arc::new(move |events| observer.observe(events)));
    NodeB {
        commands,
        read_side,
    }
}

/// How long node B keeps accepting `token` after the change that revokes it was stored (bounded: fails if B
/// still accepts it after 10 s, which only cache expiry, an hour away, would end).
async fn refused_after(b: &NodeB, instance_id: &str, token: &str, stored_at: Instant) -> Duration {
    loop {
        match b.commands.authenticate(instance_id, token).await {
            Err(CommandError::Unauthenticated) => return stored_at.elapsed(),
            Err(other) => panic!("unexpected failure: {other}"),
            Ok(_) => {}
        }
        assert!(
            stored_at.elapsed() < Duration::from_secs(10),
            "node B still accepts a revoked token"
        );
        // A request every millisecond, leaving the CPU to the node's own tasks.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn summary(delays: &mut [Duration]) -> String {
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "n={} median={:.1} ms p90={:.1} ms max={:.1} ms",
        delays.len(),
        ms(delays[delays.len() / 2]),
        ms(delays[delays.len() * 9 / 10]),
        ms(delays[delays.len() - 1])
    )
}

async fn another_node_refuses_revoked_tokens_without_waiting_for_its_cache(test_store: TestStore) {
    let b = node_b(&test_store).await;
    let backend = test_store.store.backend();
    let api = Api::start(test_store).await;
    let org = api.org("Revoked").await;
    let (robot, _) = api.machine_with_token(&org, "robot").await;
    api.post(
        &format!("/api/v1/orgs/{org}/members"),
        json!({ "user_id": robot, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);

    // Revoking a token on node A.
    let mut delays = Vec::new();
    for _ in 0..20 {
        let issued = api
            .post_empty(&format!("/api/v1/users/{robot}/pats"))
            .await
            .expect(StatusCode::CREATED);
        let token = issued.body["token"].as_str().expect("token").to_owned();
        let token_id = issued.body["token_id"].as_str().expect("token id");
        b.commands
            .authenticate(&api.instance_id, &token)
            .await
            .expect("node B accepts the new token");
        api.delete(&format!("/api/v1/users/{robot}/pats/{token_id}"))
            .await
            .expect(StatusCode::OK);
        delays.push(refused_after(&b, &api.instance_id, &token, Instant::now()).await);
    }
    eprintln!(
        "{backend}: revoked token refused on the other node after {}",
        summary(&mut delays)
    );

    // Deactivating the organization, then removing the user, on node A.
    let token = api
        .post_empty(&format!("/api/v1/users/{robot}/pats"))
        .await
        .expect(StatusCode::CREATED)
        .body["token"]
        .as_str()
        .expect("token")
        .to_owned();
    b.commands
        .authenticate(&api.instance_id, &token)
        .await
        .expect("accepted");
    api.post_empty(&format!("/api/v1/orgs/{org}/deactivate"))
        .await
        .expect(StatusCode::OK);
    let org_delay = refused_after(&b, &api.instance_id, &token, Instant::now()).await;
    api.post_empty(&format!("/api/v1/orgs/{org}/reactivate"))
        .await
        .expect(StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b
        .commands
        .authenticate(&api.instance_id, &token)
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "reactivation never seen");
        tokio::task::yield_now().await;
    }
    api.delete(&format!("/api/v1/users/{robot}"))
        .await
        .expect(StatusCode::OK);
    let user_delay = refused_after(&b, &api.instance_id, &token, Instant::now()).await;
    eprintln!(
        "{backend}: deactivated org's token refused after {:.1} ms, removed user's after {:.1} ms",
        org_delay.as_secs_f64() * 1000.0,
        user_delay.as_secs_f64() * 1000.0
    );
    b.read_side.shutdown().await;
}
