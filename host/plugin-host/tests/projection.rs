//! Projection plugins under the spoolers, on both backends: the `org-stats` example's rows from domain
//! events, a new version replaying from the start beside the old one, and a failing call recorded as a
//! failed event, retried, then skipped.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use warden_domain::{
    DomainEvent,
    user::{HumanAdded, MachineAdded, Profile, UserEvent},
};
use warden_eventstore::both_backends;
use warden_eventstore::{
    AggregateKey, Cursor, Eventstore, Expected, NewEvent, Push, Store, testing::TestStore,
};
use warden_plugin_fixtures as fixtures;
use warden_plugin_host::projection::{
    Page, PluginProjection, ViewRow, add_projection, plugin_view_row, plugin_view_rows,
    projection_name, remove_projection, served_projection,
};
use warden_spooler::{Db, SpoolerConfig, Spoolers, params};
use warden_wasm_runtime::{Binding, LoadedPlugin, PluginRuntime, RuntimeConfig};

both_backends!(
    ref:
    org_stats_view_has_the_right_rows,
    new_version_replays_from_the_start_without_duplicates,
    failing_call_is_retried_then_skipped,
    plugin_calls_run_without_the_writer,
    the_quota_check_reads_sizes_not_values,
);

const INSTANCE: &str = "inst-1";
const PLUGIN: &str = "plugin_1";

fn config() -> SpoolerConfig {
    SpoolerConfig {
        batch_size: 16,
        poll_interval: Duration::from_millis(200),
        acquire_interval: Duration::from_millis(100),
        max_attempts: 3,
        retry_backoff: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(100),
        catch_up_timeout: Duration::from_secs(10),
        ..SpoolerConfig::new("node-1")
    }
}

async fn org_stats(runtime: &PluginRuntime) -> Arc<LoadedPlugin> {
    runtime
        .load("org-stats", &fixtures::bytes(fixtures::ORG_STATS))
        .await
        .expect("load org-stats")
}

fn projection(
    runtime: &PluginRuntime,
    loaded: &Arc<LoadedPlugin>,
    digest: &str,
) -> PluginProjection {
    PluginProjection::new(
        runtime.clone(),
        INSTANCE,
        PLUGIN,
        digest,
        Arc::clone(loaded),
        Binding::default(),
    )
    .expect("a projection plugin")
}

fn stored(event: &UserEvent) -> NewEvent {
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

fn human(org: &str, login: &str) -> UserEvent {
    UserEvent::HumanAdded(HumanAdded {
        org_id: org.to_owned(),
        login_name: login.to_owned(),
        profile: Profile {
            given_name: "Given".to_owned(),
            family_name: "Family".to_owned(),
            display_name: "Given Family".to_owned(),
            preferred_language: "en".to_owned(),
        },
        email: format!("{login}@example.com"),
        email_verified: false,
        phone: None,
        password_hash: None,
        password_change_required: false,
    })
}

fn machine(org: &str, login: &str) -> UserEvent {
    UserEvent::MachineAdded(MachineAdded {
        org_id: org.to_owned(),
        login_name: login.to_owned(),
        name: login.to_owned(),
        description: String::new(),
        access_token_type: Default::default(),
    })
}

/// Appends `events` to user `id` of `instance`; returns the cursor of the last one.
async fn push(store: &Store, instance: &str, id: &str, events: Vec<NewEvent>) -> Cursor {
    store
        .push(Push::new("tester").append(
            AggregateKey::new(instance, "user", id),
            Expected::Any,
            events,
        ))
        .await
        .expect("push")
        .last()
        .expect("an event")
        .cursor()
}

/// A login event of the kind `org-stats` counts (carries no organization: the host resolves it).
fn login(succeeded: bool) -> NewEvent {
    let event_type = if succeeded {
        "user.human.password.check.succeeded"
    } else {
        "user.human.password.check.failed"
    };
    NewEvent::new(event_type, 1, json!({}))
}

/// Users u1, u2, u3 in org-a (u2 removed again), machine m1 in org-b, logins of u1 (two) and u3 (one
/// failed), and a user of another instance that must not count.
async fn push_history(store: &Store) -> Cursor {
    push(store, INSTANCE, "u1", vec![stored(&human("org-a", "u1"))]).await;
    push(store, INSTANCE, "u2", vec![stored(&human("org-a", "u2"))]).await;
    push(store, INSTANCE, "m1", vec![stored(&machine("org-b", "m1"))]).await;
    push(store, "inst-2", "x1", vec![stored(&human("org-a", "x1"))]).await;
    push(store, INSTANCE, "u1", vec![login(true), login(true)]).await;
    push(store, INSTANCE, "u3", vec![stored(&human("org-a", "u3"))]).await;
    push(store, INSTANCE, "u3", vec![login(false)]).await;
    push(store, INSTANCE, "u2", vec![stored(&UserEvent::Removed)]).await
}

async fn rows(store: &Store, table: &str) -> BTreeMap<String, Value> {
    plugin_view_rows(
        store,
        INSTANCE,
        PLUGIN,
        table,
        &Page {
            after: None,
            limit: 1000,
        },
    )
    .await
    .expect("rows")
    .into_iter()
    .map(|ViewRow { key, value, .. }| (key, value))
    .collect()
}

/// The daily counters of `org`, summed over days (the events were stored around now).
fn daily_totals(daily: &BTreeMap<String, Value>, org: &str) -> Value {
    let mut totals = BTreeMap::new();
    for (key, row) in daily {
        let (row_org, day) = key.split_once('/').expect("key org/day");
        assert_eq!(row["org_id"], json!(row_org), "row {key}");
        assert_eq!(row["day"], json!(day), "row {key}");
        if row_org != org {
            continue;
        }
        for counter in [
            "users_added",
            "users_removed",
            "logins_succeeded",
            "logins_failed",
        ] {
            *totals.entry(counter).or_insert(0) += row[counter].as_i64().expect("a counter");
        }
    }
    json!(totals)
}

async fn assert_org_stats(store: &Store) {
    let users = rows(store, "org_users").await;
    assert_eq!(
        users.get("org-a"),
        Some(&json!({"org_id": "org-a", "users": 2}))
    );
    assert_eq!(
        users.get("org-b"),
        Some(&json!({"org_id": "org-b", "users": 1}))
    );
    let daily = rows(store, "org_daily_stats").await;
    assert_eq!(
        daily_totals(&daily, "org-a"),
        json!({"users_added": 3, "users_removed": 1, "logins_succeeded": 2, "logins_failed": 1})
    );
    assert_eq!(
        daily_totals(&daily, "org-b"),
        json!({"users_added": 1, "users_removed": 0, "logins_succeeded": 0, "logins_failed": 0})
    );
}

async fn count_rows(store: &Store) -> i64 {
    Db::of(store)
        .fetch_optional("SELECT COUNT(*) AS n FROM plugin_view_rows", &[])
        .await
        .expect("count")
        .expect("a row")
        .get("n")
        .expect("n")
}

async fn org_stats_view_has_the_right_rows(t: &TestStore) {
    let store = &t.store;
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let loaded = org_stats(&runtime).await;
    // Part of the history exists before the projection, part arrives while it runs.
    push(store, INSTANCE, "u0", vec![stored(&human("org-c", "u0"))]).await;
    let spoolers = Spoolers::start(store.clone(), Vec::new(), config())
        .await
        .expect("spoolers");
    let plugin = Arc::new(projection(&runtime, &loaded, loaded.digest()));
    let name = projection_name(PLUGIN, loaded.digest());
    assert_eq!(warden_spooler::Projection::name(plugin.as_ref()), name);
    add_projection(store, &spoolers, Arc::clone(&plugin))
        .await
        .expect("add");
    assert_eq!(spoolers.projections(), vec![name.clone()]);
    let head = push_history(store).await;
    spoolers
        .ensure_caught_up(&name, head)
        .await
        .expect("caught up");

    assert_eq!(
        rows(store, "org_users").await.get("org-c"),
        Some(&json!({"org_id": "org-c", "users": 1}))
    );
    let users = rows(store, "org_users").await;
    assert_eq!(users.len(), 3, "{users:?}");
    let row = plugin_view_row(store, INSTANCE, PLUGIN, "org_users", "org-a")
        .await
        .expect("row")
        .expect("org-a has a row");
    assert_eq!(row.value, json!({"org_id": "org-a", "users": 2}));
    assert!(row.updated_at > 0);
    assert_eq!(
        plugin_view_row(store, INSTANCE, PLUGIN, "org_users", "org-z")
            .await
            .expect("row"),
        None
    );
    // Another instance's plugin of the same id sees nothing.
    assert!(
        plugin_view_rows(store, "inst-2", PLUGIN, "org_users", &Page::default())
            .await
            .expect("rows")
            .is_empty()
    );
    // Pages follow the key order.
    let first = plugin_view_rows(
        store,
        INSTANCE,
        PLUGIN,
        "org_users",
        &Page {
            after: None,
            limit: 2,
        },
    )
    .await
    .expect("page");
    let keys: Vec<&str> = first.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["org-a", "org-b"]);
    let second = plugin_view_rows(
        store,
        INSTANCE,
        PLUGIN,
        "org_users",
        &Page {
            after: Some("org-b".to_owned()),
            limit: 2,
        },
    )
    .await
    .expect("page");
    let keys: Vec<&str> = second.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["org-c"]);

    let status = spoolers.projection_status(&name).await.expect("status");
    assert_eq!(status.skipped_events + status.retrying_events, 0);
    spoolers.shutdown().await;
}

async fn new_version_replays_from_the_start_without_duplicates(t: &TestStore) {
    let store = &t.store;
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let loaded = org_stats(&runtime).await;
    let spoolers = Spoolers::start(store.clone(), Vec::new(), config())
        .await
        .expect("spoolers");
    let old_name = projection_name(PLUGIN, loaded.digest());
    add_projection(
        store,
        &spoolers,
        Arc::new(projection(&runtime, &loaded, loaded.digest())),
    )
    .await
    .expect("add");
    let head = push_history(store).await;
    spoolers
        .ensure_caught_up(&old_name, head)
        .await
        .expect("caught up");
    assert_org_stats(store).await;
    assert_eq!(rows(store, "org_users").await.len(), 2);
    let one_version = count_rows(store).await;

    // The next version: a new projection, replaying the whole stream beside the old one.
    let digest = "0123456789abcdef0123456789abcdef";
    let new_name = projection_name(PLUGIN, digest);
    assert_ne!(new_name, old_name);
    add_projection(
        store,
        &spoolers,
        Arc::new(projection(&runtime, &loaded, digest)),
    )
    .await
    .expect("add the new version");
    assert_eq!(
        served_projection(store, INSTANCE, PLUGIN)
            .await
            .expect("served"),
        Some(new_name.clone())
    );
    spoolers
        .ensure_caught_up(&new_name, head)
        .await
        .expect("new version caught up");
    let status = spoolers.projection_status(&new_name).await.expect("status");
    assert_eq!(
        status.cursor, head,
        "replayed from the start up to the head"
    );
    assert_eq!(count_rows(store).await, 2 * one_version);

    remove_projection(store, &spoolers, &old_name, true)
        .await
        .expect("remove the old version");
    assert_eq!(spoolers.projections(), vec![new_name.clone()]);
    assert_eq!(
        count_rows(store).await,
        one_version,
        "the old rows are gone"
    );
    assert_org_stats(store).await;
    let state = Db::of(store)
        .fetch_optional(
            "SELECT projection FROM projection_state WHERE projection = $1",
            &params![old_name.as_str()],
        )
        .await
        .expect("state");
    assert!(state.is_none(), "the old version's checkpoint is gone");

    // Live events still reach the new version.
    let head = push(store, INSTANCE, "u9", vec![stored(&human("org-b", "u9"))]).await;
    spoolers
        .ensure_caught_up(&new_name, head)
        .await
        .expect("caught up");
    assert_eq!(
        rows(store, "org_users").await.get("org-b"),
        Some(&json!({"org_id": "org-b", "users": 2}))
    );

    // Re-adding under an old name after a drop starts from zero again, without duplicates.
    remove_projection(store, &spoolers, &new_name, true)
        .await
        .expect("remove");
    assert_eq!(count_rows(store).await, 0);
    add_projection(
        store,
        &spoolers,
        Arc::new(projection(&runtime, &loaded, digest)),
    )
    .await
    .expect("add again");
    spoolers
        .ensure_caught_up(&new_name, head)
        .await
        .expect("caught up");
    assert_eq!(count_rows(store).await, one_version);
    spoolers.shutdown().await;
}

async fn failing_call_is_retried_then_skipped(t: &TestStore) {
    let store = &t.store;
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let loaded = org_stats(&runtime).await;
    let name = projection_name(PLUGIN, loaded.digest());
    // A row the plugin cannot work with: `org-stats` indexes it as an object and traps.
    Db::of(store)
        .execute(
            "INSERT INTO plugin_view_rows \
                 (projection, instance_id, plugin_id, table_name, row_key, value, updated_at) \
             VALUES ($1, $2, $3, 'org_users', 'org-bad', $4, 0)",
            &[
                name.as_str().into(),
                INSTANCE.into(),
                PLUGIN.into(),
                warden_spooler::SqlValue::Json(Some(json!("not an object"))),
            ],
        )
        .await
        .expect("corrupt row");
    let spoolers = Spoolers::start(store.clone(), Vec::new(), config())
        .await
        .expect("spoolers");
    add_projection(
        store,
        &spoolers,
        Arc::new(projection(&runtime, &loaded, loaded.digest())),
    )
    .await
    .expect("add");
    push(store, INSTANCE, "b1", vec![stored(&human("org-bad", "b1"))]).await;
    let head = push_history(store).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let status = spoolers.projection_status(&name).await.expect("status");
        if status.skipped_events == 1 && status.cursor >= head {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the failing event was not skipped: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let failed = &status.failed_events[0];
    assert_eq!(failed.event_type, "user.human.added");
    assert_eq!(failed.aggregate_id, "b1");
    assert_eq!(failed.attempts, 3);
    assert!(failed.skipped);
    assert!(failed.error.contains("trap"), "{}", failed.error);

    // The rest of the stream was applied; the failed call changed nothing.
    assert_org_stats(store).await;
    assert_eq!(
        rows(store, "org_users").await.get("org-bad"),
        Some(&json!("not an object"))
    );
    assert!(
        rows(store, "org_daily_stats")
            .await
            .keys()
            .all(|k| !k.starts_with("org-bad/"))
    );
    spoolers.shutdown().await;
}

/// The plugin runs in `prepare`, before the batch transaction: it completes while another transaction holds
/// the database's writer (on SQLite the only one), and `apply` then only stores what it prepared.
async fn plugin_calls_run_without_the_writer(t: &TestStore) {
    let store = &t.store;
    push_history(store).await;
    let events = store
        .read_stream(&warden_eventstore::StreamQuery::after(
            Cursor::default(),
            100,
        ))
        .await
        .expect("events");
    let runtime = PluginRuntime::new(RuntimeConfig::default()).expect("runtime");
    let loaded = org_stats(&runtime).await;
    let projection = projection(&runtime, &loaded, loaded.digest());
    let db = Db::of(store);

    let writer = db.begin().await.expect("hold the writer");
    let ready = tokio::time::timeout(
        Duration::from_secs(30),
        warden_spooler::Projection::prepare(&projection, &db, &events),
    )
    .await
    .expect("preparing does not wait for the writer");
    assert_eq!(ready, events.len());
    writer.rollback().await.expect("release the writer");
    let calls = loaded.metrics().calls;
    assert!(calls > 0, "the plugin was called while the writer was held");

    let mut tx = db.begin().await.expect("batch");
    for event in &events {
        warden_spooler::Projection::apply(&projection, &mut tx, event)
            .await
            .expect("apply");
    }
    tx.commit().await.expect("commit");
    assert_eq!(
        loaded.metrics().calls,
        calls,
        "applying stored the prepared rows without calling the plugin again"
    );
    let counted = db
        .fetch_optional(
            "SELECT COUNT(*) AS n FROM plugin_view_rows WHERE projection = $1",
            &params![warden_spooler::Projection::name(&projection)],
        )
        .await
        .expect("count")
        .expect("a row")
        .get::<i64>("n")
        .expect("n");
    assert!(counted > 0, "the prepared rows were stored");
}

/// The quota check after each writing event reads the sizes of the plugin's rows from an index, never the
/// rows themselves: on SQLite, reading `size` from the table walks every value's overflow pages, so the
/// check read the whole view (hundreds of MiB) inside the batch's write transaction.
async fn the_quota_check_reads_sizes_not_values(t: &TestStore) {
    let db = Db::of(&t.store);
    match db.backend() {
        warden_spooler::Backend::Sqlite => {
            let plan = db
                .fetch_all(
                    "EXPLAIN QUERY PLAN \
                     SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes \
                     FROM plugin_view_rows WHERE projection = $1",
                    &params!["plugin_x"],
                )
                .await
                .expect("plan");
            let details: Vec<String> = plan
                .iter()
                .map(|row| row.get::<String>("detail").expect("detail"))
                .collect();
            assert!(
                details
                    .iter()
                    .any(|d| d.contains("COVERING INDEX plugin_view_rows_sizes")),
                "{details:?}"
            );
        }
        warden_spooler::Backend::Postgres => {
            let index = db
                .fetch_all(
                    "SELECT indexdef FROM pg_indexes \
                     WHERE indexname = 'plugin_view_rows_sizes' AND schemaname = current_schema()",
                    &[],
                )
                .await
                .expect("indexes");
            let definition = index
                .first()
                .map(|row| row.get::<String>("indexdef").expect("indexdef"))
                .unwrap_or_default();
            assert!(definition.contains("(projection, size)"), "{definition:?}");
        }
    }
}
