//! The built-in projections and the query services, against both backends: views equal a replay through the
//! domain, survive crashes and rebuilds, are read-your-writes across nodes, and list with filters and paging.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use warden_domain::{
    authz::{Role, Scope, ScopeKind},
    instance::Instance,
    org::Organization,
    policy::{PasswordComplexityPolicy, Policy, PolicyKind},
    user::User,
};
use warden_eventstore::{
    AggregateKey, Eventstore, Expected, NewEvent, Push, Store, testing::TestStore,
};
use warden_query::{
    ApplicationQuery, Consistency, Direction, MembershipQuery, OrgQuery, Page, ProjectGrantQuery,
    ProjectQuery, QueryError, ReadSide, State, UserGrantQuery, UserKind, UserQuery, UserSort,
    projections,
};
use warden_spooler::SpoolerConfig;

use support::{INSTANCE, Writer, dump_views, eventually, expected_and_actual, populate};

warden_eventstore::both_backends!(
    ref:
    views_equal_replay_after_concurrent_writes,
    rebuild_gives_the_same_views,
    crashed_spoolers_restart_and_views_equal_replay,
    read_your_writes_through_a_second_store,
    poison_event_skipped_and_visible,
    list_queries_filter_sort_and_page,
    filter_values_are_data_never_sql,
    a_stored_name_the_views_never_write_fails_the_read_naming_its_column,
    policies_resolve_org_overrides,
    by_id_reads_do_not_wait_for_a_dead_lease_holder,
);

warden_eventstore::both_backends!(postgres_only ref: two_nodes_share_projections_take_over_and_converge);

fn config(node: &str) -> SpoolerConfig {
    SpoolerConfig {
        batch_size: 32,
        lease_ttl: Duration::from_millis(1500),
        acquire_interval: Duration::from_millis(200),
        poll_interval: Duration::from_millis(500),
        max_attempts: 3,
        retry_backoff: Duration::from_millis(20),
        retry_backoff_max: Duration::from_millis(200),
        catch_up_timeout: Duration::from_secs(30),
        ..SpoolerConfig::new(node)
    }
}

async fn start(store: &Store, node: &str) -> ReadSide {
    ReadSide::start(store.clone(), config(node))
        .await
        .expect("start read side")
}

/// A read side over the populated instance, caught up with it.
async fn populated(t: &TestStore) -> (Writer, ReadSide) {
    let w = Writer::new(&t.store);
    populate(&w).await;
    let read_side = start(&t.store, "node-a").await;
    settle_all(&read_side, &w).await;
    (w, read_side)
}

/// Brings every projection up to the current head of the stream and past every event `w` stored.
async fn settle_all(read_side: &ReadSide, w: &Writer) {
    let head = w.store.head().await.expect("head").max(w.last_cursor());
    for name in read_side.spoolers().projections() {
        read_side
            .spoolers()
            .ensure_caught_up(&name, head)
            .await
            .expect("projection catches up");
    }
}

/// Waits until the views equal the domain's replay of the events.
async fn assert_views_equal_replay(w: &Writer, read_side: &ReadSide) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        settle_all(read_side, w).await;
        let (expected, actual) = expected_and_actual(w, read_side.queries()).await;
        if expected == actual {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(
                actual, expected,
                "the views differ from a replay of the events"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Toggles, renames and tags the users `u{k}`, `u{k+4}`, `u{k+8}` a few times.
async fn churn(w: Writer, k: usize, rounds: usize) {
    for round in 0..rounds {
        for i in (k..12).step_by(4) {
            let id = format!("u{i}");
            let user: User = w.state(&id).await;
            if !user.exists() {
                continue;
            }
            w.change_given_name(&id, &format!("Churn{k}x{round}")).await;
            w.exec::<User, _>(
                &id,
                |u, ctx| if u.locked { u.unlock(ctx) } else { u.lock(ctx) },
            )
            .await;
            w.exec::<User, _>(&id, |u, ctx| {
                u.set_metadata("round", &round.to_string(), ctx)
            })
            .await;
        }
    }
}

async fn views_equal_replay_after_concurrent_writes(t: &TestStore) {
    let read_side = start(&t.store, "node-a").await;
    let w = Writer::new(&t.store);
    populate(&w).await;
    let writers: Vec<_> = (0..4)
        .map(|k| tokio::spawn(churn(w.clone(), k, 4)))
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_views_equal_replay(&w, &read_side).await;
    for status in read_side.spoolers().status().await.expect("status") {
        assert!(
            status.failed_events.is_empty(),
            "{}: {:?}",
            status.name,
            status.failed_events
        );
        assert_eq!(status.holder.as_deref(), Some("node-a"));
    }
    read_side.shutdown().await;
}

async fn rebuild_gives_the_same_views(t: &TestStore) {
    let w = Writer::new(&t.store);
    populate(&w).await;
    let read_side = start(&t.store, "node-a").await;
    assert_views_equal_replay(&w, &read_side).await;
    let before = dump_views(&t.store).await;
    for name in read_side.spoolers().projections() {
        read_side.spoolers().rebuild(&name).await.expect("rebuild");
    }
    assert_views_equal_replay(&w, &read_side).await;
    assert_eq!(
        dump_views(&t.store).await,
        before,
        "a rebuild gave different rows"
    );
    let status = read_side
        .spoolers()
        .projection_status(projections::USERS)
        .await
        .expect("status");
    assert_eq!(status.rebuilds, 1);
    read_side.shutdown().await;
}

async fn crashed_spoolers_restart_and_views_equal_replay(t: &TestStore) {
    let w = Writer::new(&t.store);
    populate(&w).await;
    for k in 0..4 {
        churn(w.clone(), k, 2).await;
    }
    let crashing = ReadSide::start(
        t.store.clone(),
        SpoolerConfig {
            batch_size: 4,
            ..config("node-a")
        },
    )
    .await
    .expect("start");
    let mut applied = crashing
        .spoolers()
        .applied(projections::USERS)
        .expect("users");
    applied.changed().await.expect("progress");
    crashing.spoolers().abort();
    let status = crashing
        .spoolers()
        .projection_status(projections::USERS)
        .await
        .expect("status");
    assert!(
        status.lag_events > 0,
        "the crash came too late to interrupt the catch-up"
    );

    let read_side = start(&t.store, "node-b").await;
    eventually(Duration::from_secs(5), "node-b to take over", || async {
        read_side
            .spoolers()
            .is_holder(projections::USERS)
            .unwrap_or(false)
    })
    .await;
    assert_views_equal_replay(&w, &read_side).await;
    read_side.shutdown().await;
}

async fn read_your_writes_through_a_second_store(t: &TestStore) {
    let store_b = t.connect_again().await;
    let node_a = start(&t.store, "node-a").await;
    eventually(
        Duration::from_secs(5),
        "node-a to hold the users projection",
        || async {
            node_a
                .spoolers()
                .is_holder(projections::USERS)
                .unwrap_or(false)
        },
    )
    .await;
    let node_b = start(&store_b, "node-b").await;
    let writer_a = Writer::new(&t.store);
    let writer_b = Writer::new(&store_b);
    populate(&writer_a).await;
    for i in 0..20 {
        // Write through one node, read by id through the other at once.
        let (writer, reader) = if i % 2 == 0 {
            (&writer_a, &node_b)
        } else {
            (&writer_b, &node_a)
        };
        let name = format!("Round{i}");
        let stored = writer.change_given_name("u1", &name).await;
        let consistency = if i % 4 < 2 {
            Consistency::Latest
        } else {
            Consistency::AtLeast(stored.last().expect("event").cursor())
        };
        let user = reader
            .queries()
            .user(INSTANCE, "u1", consistency)
            .await
            .expect("read")
            .expect("user exists");
        assert_eq!(
            user.human.expect("human").given_name,
            name,
            "write {i} not readable at once"
        );
        assert_eq!(user.sequence, stored.last().expect("event").sequence);
    }
    // A new resource is found by id right after it was created.
    writer_b.add_human("fresh", "org-2", "Fresh", "Fresh").await;
    let fresh = node_a
        .queries()
        .user(INSTANCE, "fresh", Consistency::Latest)
        .await
        .expect("read");
    assert_eq!(fresh.map(|u| u.login_name).as_deref(), Some("Fresh"));
    assert!(
        !node_b
            .spoolers()
            .is_holder(projections::USERS)
            .expect("users")
    );
    node_b.shutdown().await;
    node_a.shutdown().await;
    store_b.close().await;
}

async fn poison_event_skipped_and_visible(t: &TestStore) {
    let w = Writer::new(&t.store);
    populate(&w).await;
    let poison = t
        .store
        .push(Push::new("admin").append(
            AggregateKey::new(INSTANCE, "user", "bad"),
            Expected::Exact(0),
            vec![NewEvent::new(
                "user.human.added",
                2,
                json!({ "bogus": true }),
            )],
        ))
        .await
        .expect("push a malformed event");
    w.add_human("after", "org-1", "After", "After").await;
    let read_side = start(&t.store, "node-a").await;

    // Reading the poisoned user by id neither hangs nor fails: once the event is skipped, it is absent.
    let bad = read_side
        .queries()
        .user(INSTANCE, "bad", Consistency::Latest)
        .await
        .expect("read");
    assert!(bad.is_none());
    let after = read_side
        .queries()
        .user(INSTANCE, "after", Consistency::Latest)
        .await
        .expect("read");
    assert!(after.is_some(), "events after the poison are applied");

    let status = read_side
        .spoolers()
        .projection_status(projections::USERS)
        .await
        .expect("status");
    assert_eq!(status.skipped_events, 1);
    let failed = &status.failed_events[0];
    assert_eq!(failed.position, poison[0].position);
    assert_eq!(failed.attempts, 3);
    assert!(failed.skipped);
    assert_eq!(failed.aggregate_id, "bad");
    assert!(
        failed.error.contains("user.human.added"),
        "{}",
        failed.error
    );
    let metrics = read_side.spoolers().metrics().await.expect("metrics");
    assert!(
        metrics
            .contains("warden_projection_failed_events{projection=\"users\",state=\"skipped\"} 1"),
        "{metrics}"
    );
    // Only the users projection reads user.human.added payloads.
    for status in read_side.spoolers().status().await.expect("status") {
        if status.name != projections::USERS {
            assert!(status.failed_events.is_empty(), "{}", status.name);
        }
    }
    read_side.shutdown().await;
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_owned()).collect()
}

async fn list_queries_filter_sort_and_page(t: &TestStore) {
    let (_, read_side) = populated(t).await;
    let q = read_side.queries();
    let all = Page::first(100);

    let users = |query: UserQuery, page: Page| async move {
        q.users(INSTANCE, &query, page).await.expect("users")
    };
    let by_org = users(
        UserQuery {
            org_id: Some("org-2".into()),
            ..Default::default()
        },
        all,
    )
    .await;
    assert_eq!(
        ids(&by_org.items, |u| &u.id),
        ["u0", "u3", "u6"],
        "u9 was removed"
    );
    let prefix = users(
        UserQuery {
            login_name_prefix: Some("USER0".into()),
            ..Default::default()
        },
        all,
    )
    .await;
    assert_eq!(prefix.items.len(), 9, "User00..User08, case-insensitively");
    let inactive = users(
        UserQuery {
            state: Some(State::Inactive),
            ..Default::default()
        },
        all,
    )
    .await;
    assert_eq!(ids(&inactive.items, |u| &u.id), ["u5"]);
    let locked = users(
        UserQuery {
            locked: Some(true),
            ..Default::default()
        },
        all,
    )
    .await;
    assert_eq!(ids(&locked.items, |u| &u.id), ["u4"]);
    let machines = users(
        UserQuery {
            kind: Some(UserKind::Machine),
            ..Default::default()
        },
        all,
    )
    .await;
    assert_eq!(ids(&machines.items, |u| &u.id), ["m1"]);
    assert!(
        machines.items[0]
            .machine
            .as_ref()
            .is_some_and(|m| m.has_secret)
    );

    // Paging through users by login name, both directions.
    let first = users(
        UserQuery::default(),
        Page {
            offset: 0,
            limit: 5,
        },
    )
    .await;
    assert!(first.has_more);
    assert_eq!(
        ids(&first.items, |u| &u.login_name),
        ["ci-bot", "User00", "User01", "User02", "User03"]
    );
    let last = users(
        UserQuery::default(),
        Page {
            offset: 10,
            limit: 5,
        },
    )
    .await;
    assert!(!last.has_more);
    assert_eq!(ids(&last.items, |u| &u.login_name), ["User10", "User11"]);
    let desc = users(
        UserQuery {
            sort: UserSort::LoginName,
            direction: Direction::Desc,
            ..Default::default()
        },
        Page::first(2),
    )
    .await;
    assert_eq!(ids(&desc.items, |u| &u.login_name), ["User11", "User10"]);
    let capped = users(
        UserQuery::default(),
        Page {
            offset: 0,
            limit: 100_000,
        },
    )
    .await;
    assert_eq!(capped.limit, warden_query::MAX_PAGE_SIZE);
    let by_login = q
        .user_by_login_name(INSTANCE, "user03")
        .await
        .expect("by login name");
    assert_eq!(by_login.map(|u| u.id).as_deref(), Some("u3"));

    let orgs = q
        .orgs(
            INSTANCE,
            &OrgQuery {
                name_prefix: Some("g".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .expect("orgs");
    assert_eq!(ids(&orgs.items, |o| &o.id), ["org-2"]);
    assert_eq!(
        orgs.items[0].primary_domain.as_deref(),
        Some("globex.example")
    );
    let by_domain = q
        .orgs(
            INSTANCE,
            &OrgQuery {
                domain: Some("GLOBEX.test".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .expect("orgs");
    assert_eq!(ids(&by_domain.items, |o| &o.id), ["org-2"]);
    let inactive = q
        .orgs(
            INSTANCE,
            &OrgQuery {
                state: Some(State::Inactive),
                ..Default::default()
            },
            all,
        )
        .await
        .expect("orgs");
    assert_eq!(ids(&inactive.items, |o| &o.id), ["org-3"]);
    let instance = q
        .instance_by_domain("LOGIN.example.com")
        .await
        .expect("instance");
    assert_eq!(instance.map(|i| i.instance_id).as_deref(), Some(INSTANCE));

    let projects = q
        .projects(
            INSTANCE,
            &ProjectQuery {
                org_id: Some("org-1".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .expect("projects");
    assert_eq!(ids(&projects.items, |p| &p.id), ["p1"]);
    let grants = q
        .project_grants(
            INSTANCE,
            &ProjectGrantQuery {
                granted_org_id: Some("org-2".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .expect("project grants");
    assert_eq!(ids(&grants.items, |g| &g.grant_id), ["g1"]);
    assert_eq!(grants.items[0].org_id, "org-1");

    let apps = q
        .applications(
            INSTANCE,
            &ApplicationQuery {
                project_id: Some("p1".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .expect("applications");
    assert_eq!(ids(&apps.items, |a| &a.name), ["Shop backend", "Shop web"]);
    let web = q
        .application_by_client_id(INSTANCE, "shop-web")
        .await
        .expect("app")
        .expect("exists");
    assert_eq!(web.id, "a1");
    assert_eq!(
        web.oidc.map(|c| c.redirect_uris),
        Some(vec!["https://shop.example.com/callback".to_owned()])
    );

    let grants = |query: UserGrantQuery| async move {
        q.user_grants(INSTANCE, &query, all).await.expect("grants")
    };
    let of_user = grants(UserGrantQuery {
        user_id: Some("u1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&of_user.items, |g| &g.id), ["ug1"]);
    let mut of_project = ids(
        &grants(UserGrantQuery {
            project_id: Some("p1".into()),
            ..Default::default()
        })
        .await
        .items,
        |g| &g.id,
    );
    of_project.sort();
    assert_eq!(of_project, ["ug1", "ug2", "ug3"]);
    let inactive = grants(UserGrantQuery {
        state: Some(State::Inactive),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&inactive.items, |g| &g.id), ["ug3"]);

    let memberships = |query: MembershipQuery| async move {
        q.memberships(INSTANCE, &query, all)
            .await
            .expect("memberships")
            .items
    };
    let of_u3 = memberships(MembershipQuery {
        user_id: Some("u3".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        of_u3
            .iter()
            .map(|m| (m.scope, m.scope_id.as_str()))
            .collect::<Vec<_>>(),
        [(ScopeKind::Org, "org-2"), (ScopeKind::Project, "p1")]
    );
    let owners = memberships(MembershipQuery {
        role: Some(Role::OrgOwner),
        ..Default::default()
    })
    .await;
    assert_eq!(
        ids(&owners, |m| &m.user_id),
        ["u2"],
        "u9's membership ended with the user"
    );
    let membership = q
        .membership(INSTANCE, &Scope::Instance, "u1", Consistency::Latest)
        .await
        .expect("membership")
        .expect("exists");
    assert_eq!(membership.roles, [Role::IamOwner]);
    let for_authz = q
        .memberships_of_user(INSTANCE, "u3")
        .await
        .expect("memberships");
    assert_eq!(for_authz.len(), 2);
    read_side.shutdown().await;
}

async fn policies_resolve_org_overrides(t: &TestStore) {
    let w = Writer::new(&t.store);
    populate(&w).await;
    let read_side = start(&t.store, "node-a").await;
    let q = read_side.queries();
    let org1 = q
        .policies(INSTANCE, Some("org-1"), Consistency::Latest)
        .await
        .expect("policies")
        .expect("set");
    assert!(!org1.lockout.inherited);
    assert_eq!(org1.lockout.policy.max_password_attempts, 3);
    assert!(org1.password_complexity.inherited);

    // A new instance default reaches organizations that follow it, not those that override it.
    let strict = PasswordComplexityPolicy {
        min_length: 12,
        ..PasswordComplexityPolicy::default()
    };
    w.exec::<Instance, _>(INSTANCE, |i, ctx| {
        i.set_default_policy(&Policy::PasswordComplexity(strict.clone()), ctx)
    })
    .await;
    let lenient = PasswordComplexityPolicy {
        min_length: 8,
        has_symbol: false,
        ..PasswordComplexityPolicy::default()
    };
    w.exec::<Organization, _>("org-2", |o, ctx| {
        o.set_policy(&Policy::PasswordComplexity(lenient.clone()), ctx)
    })
    .await;
    w.exec::<Organization, _>("org-1", |o, ctx| o.reset_policy(PolicyKind::Lockout, ctx))
        .await;
    let org1 = q
        .policies(INSTANCE, Some("org-1"), Consistency::Latest)
        .await
        .expect("policies")
        .expect("set");
    assert_eq!(org1.password_complexity.policy, strict);
    assert!(org1.password_complexity.inherited);
    assert!(org1.lockout.inherited);
    assert_eq!(org1.lockout.policy, Default::default());
    let org2 = q
        .policies(INSTANCE, Some("org-2"), Consistency::Latest)
        .await
        .expect("policies")
        .expect("set");
    assert_eq!(org2.password_complexity.policy, lenient);
    assert!(!org2.password_complexity.inherited);
    assert_views_equal_replay(&w, &read_side).await;

    // A removed organization has no policies any more.
    w.exec::<Organization, _>("org-3", |o, ctx| o.remove(ctx))
        .await;
    assert!(
        q.policies(INSTANCE, Some("org-3"), Consistency::Latest)
            .await
            .expect("policies")
            .is_none()
    );
    assert!(
        q.org(INSTANCE, "org-3", Consistency::Latest)
            .await
            .expect("org")
            .is_none()
    );
    read_side.shutdown().await;
}

async fn two_nodes_share_projections_take_over_and_converge(t: &TestStore) {
    let store_b = t.connect_again().await;
    let a = start(&t.store, "node-a").await;
    let b = start(&store_b, "node-b").await;
    let w = Writer::new(&t.store);
    populate(&w).await;
    let names = a.spoolers().projections();
    eventually(
        Duration::from_secs(5),
        "every projection to have exactly one holder",
        || async {
            names.iter().all(|p| {
                u8::from(a.spoolers().is_holder(p).unwrap_or(false))
                    + u8::from(b.spoolers().is_holder(p).unwrap_or(false))
                    == 1
            })
        },
    )
    .await;
    assert_views_equal_replay(&w, &b).await;

    // node-a crashes: node-b takes every projection over once the leases lapse.
    a.spoolers().abort();
    eventually(
        Duration::from_secs(30),
        "node-b to hold every projection",
        || async {
            names
                .iter()
                .all(|p| b.spoolers().is_holder(p).unwrap_or(false))
        },
    )
    .await;
    let wb = Writer::new(&store_b);
    for k in 0..4 {
        churn(wb.clone(), k, 1).await;
    }
    assert_views_equal_replay(&wb, &b).await;
    for status in b.spoolers().status().await.expect("status") {
        assert_eq!(status.holder.as_deref(), Some("node-b"), "{}", status.name);
    }
    b.shutdown().await;
    store_b.close().await;
}

/// The users projection's lease is held by a node that is not running: its lease row names a dead holder and
/// lapses only in the far future, so no spooler applies user events. Reads by id of fresh writes are still
/// answered at once (not after the catch-up bound): the reading node brings each user's rows up to date
/// itself. When a spooler takes the lease afterwards and applies the same events, the views stay equal to a
/// replay and no event fails.
async fn by_id_reads_do_not_wait_for_a_dead_lease_holder(t: &TestStore) {
    let db = warden_spooler::Db::of(&t.store);
    db.execute(
        "INSERT INTO projection_state (projection, holder, lease_token, lease_until) \
         VALUES ('users', 'dead-node', 1, 9000000000000000)",
        &[],
    )
    .await
    .expect("a lease held by a dead node");
    let node = ReadSide::start(
        t.store.clone(),
        SpoolerConfig {
            // Far beyond any test's patience: a read that waited for the holder would not return.
            catch_up_timeout: Duration::from_secs(3600),
            ..config("node-a")
        },
    )
    .await
    .expect("start read side");
    let w = Writer::new(&t.store);
    populate(&w).await;
    assert!(
        !node
            .spoolers()
            .is_holder(projections::USERS)
            .expect("users")
    );

    let (expected, actual) = expected_and_actual(&w, node.queries()).await;
    assert_eq!(actual, expected, "reads by id answer the latest state");

    // Changes after a row was brought up to date, and a user created and read at once.
    for round in 0..3 {
        let name = format!("Again{round}");
        let stored = w.change_given_name("u1", &name).await;
        let user = node
            .queries()
            .user(INSTANCE, "u1", Consistency::Latest)
            .await
            .expect("read")
            .expect("user exists");
        assert_eq!(user.human.expect("human").given_name, name);
        assert_eq!(user.sequence, stored.last().expect("event").sequence);
    }
    w.add_human("late", "org-2", "Late", "Late").await;
    let late = node
        .queries()
        .user(INSTANCE, "late", Consistency::Latest)
        .await
        .expect("read");
    assert_eq!(late.map(|u| u.login_name).as_deref(), Some("Late"));
    w.exec::<User, _>("late", |u, ctx| u.remove(ctx)).await;
    assert!(
        node.queries()
            .user(INSTANCE, "late", Consistency::Latest)
            .await
            .expect("read")
            .is_none(),
        "a removed user reads as absent"
    );

    // The dead node's lease is given up: this node's spooler applies every user event again on top of the
    // rows brought up to date by the reads, which changes nothing and fails nowhere.
    db.execute(
        "UPDATE projection_state SET holder = NULL, lease_until = 0 WHERE projection = 'users'",
        &[],
    )
    .await
    .expect("free the lease");
    eventually(
        Duration::from_secs(10),
        "node-a to take the users lease",
        || async {
            node.spoolers()
                .is_holder(projections::USERS)
                .unwrap_or(false)
        },
    )
    .await;
    assert_views_equal_replay(&w, &node).await;
    let status = node
        .spoolers()
        .projection_status(projections::USERS)
        .await
        .expect("status");
    assert!(status.failed_events.is_empty(), "{status:?}");
    assert_eq!(status.skipped_events, 0, "{status:?}");
    node.shutdown().await;
}

/// Quotes, wildcards and comment markers in filters are compared as text: they match nothing here and change
/// nothing.
async fn filter_values_are_data_never_sql(t: &TestStore) {
    let (_, read_side) = populated(t).await;
    let q = read_side.queries();
    let all = Page::first(100);
    let everyone = q
        .users(INSTANCE, &UserQuery::default(), all)
        .await
        .expect("users");
    assert!(!everyone.items.is_empty());
    for hostile in ["' OR '1'='1", "%", "_", "\\", "x'); DROP TABLE users; --"] {
        let h = || Some(hostile.to_owned());
        let users = UserQuery {
            org_id: h(),
            login_name_prefix: h(),
            ..Default::default()
        };
        let orgs = OrgQuery {
            domain: h(),
            ..Default::default()
        };
        let grants = ProjectGrantQuery {
            granted_org_id: h(),
            ..Default::default()
        };
        let found = (
            q.users(INSTANCE, &users, all).await.expect("users").items,
            q.orgs(INSTANCE, &orgs, all).await.expect("orgs").items,
            q.project_grants(INSTANCE, &grants, all)
                .await
                .expect("project grants")
                .items,
        );
        assert!(
            found.0.is_empty() && found.1.is_empty() && found.2.is_empty(),
            "{hostile}: {found:?}"
        );
    }
    let again = q
        .users(INSTANCE, &UserQuery::default(), all)
        .await
        .expect("users");
    assert_eq!(again, everyone);
    read_side.shutdown().await;
}

/// A row holding a state the projections never write is reported as a decode error of that column, by the
/// read by id and by the list alike, not answered with a guess.
async fn a_stored_name_the_views_never_write_fails_the_read_naming_its_column(t: &TestStore) {
    let (_, read_side) = populated(t).await;
    let q = read_side.queries();
    let user = q
        .users(INSTANCE, &UserQuery::default(), Page::first(1))
        .await
        .expect("users")
        .items
        .remove(0);
    warden_spooler::Db::of(&t.store)
        .execute(
            "UPDATE users SET state = 'bogus' WHERE instance_id = $1 AND id = $2",
            &warden_spooler::params![INSTANCE, user.id.as_str()],
        )
        .await
        .expect("corrupt the row");
    let names_state = |error: QueryError| match error {
        QueryError::Database(sqlx::Error::ColumnDecode { index, source }) => {
            assert!(index.contains("state"), "{index}");
            assert!(source.to_string().contains("bogus"), "{source}");
        }
        other => panic!("expected a decode error of `state`, got {other:?}"),
    };
    names_state(
        q.user(INSTANCE, &user.id, Consistency::Eventual)
            .await
            .expect_err("an unknown state"),
    );
    names_state(
        q.users(INSTANCE, &UserQuery::default(), Page::first(100))
            .await
            .expect_err("an unknown state"),
    );
    read_side.shutdown().await;
}
