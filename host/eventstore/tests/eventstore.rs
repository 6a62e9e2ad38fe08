//! The eventstore's contract, run against both backends.

#![allow(clippy::print_stderr)]

use std::{collections::HashMap, sync::Arc, time::Duration};

use serde_json::json;
use warden_eventstore::{
    AggregateKey, Cursor, Error, Event, Eventstore, Expected, NewEvent, Push, Store, StreamQuery,
    UniqueChange, UniqueValue, testing::TestStore,
};

warden_eventstore::both_backends!(
    store:
    push_and_read_back,
    stale_sequence_conflicts,
    concurrent_pushes_with_same_expectation_one_wins,
    taken_unique_value_stores_nothing,
    removing_unique_value_frees_it,
    failing_push_stores_nothing,
    stream_filters_by_types,
    concurrent_writers_reader_sees_every_event_once,
    malformed_push_is_refused,
    events_carry_their_org,
    expected_unchanged_aggregates_conflict_when_changed,
    a_change_waits_for_or_defeats_a_push_expecting_it_unchanged,
    grouped_pushes_succeed_or_fail_alone,
);

warden_eventstore::both_backends!(
    postgres_only ref:
    a_scan_reports_events_held_back_by_an_older_transaction,
);

const INSTANCE: &str = "inst-1";

fn key(id: &str) -> AggregateKey {
    AggregateKey::new(INSTANCE, "user", id)
}

fn event(event_type: &str, n: i64) -> NewEvent {
    NewEvent::new(event_type, 1, json!({ "n": n }))
}

fn one(id: &str, expected: Expected, event_type: &str, n: i64) -> Push {
    Push::new("tester").append(key(id), expected, vec![event(event_type, n)])
}

async fn all_events(store: &Store) -> Vec<Event> {
    store
        .read_stream(&StreamQuery::after(Cursor::START, 100_000))
        .await
        .expect("read stream")
}

async fn push_and_read_back(store: Store) {
    let stored = store
        .push(Push::new("alice").append(
            key("u1"),
            Expected::Exact(0),
            vec![event("user.added", 1), event("user.renamed", 2)],
        ))
        .await
        .expect("push");
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[0].sequence, stored[1].sequence), (1, 2));
    assert!(stored[0].position < stored[1].position);

    let read = store.read_aggregate(&key("u1"), 0).await.expect("read");
    assert_eq!(read, stored, "read back exactly what was stored");
    assert_eq!(read[1].payload, json!({ "n": 2 }));
    assert_eq!(read[1].creator, "alice");
    assert_eq!(read[1].revision, 1);
    assert!(
        read[0].created_at > 1_600_000_000_000_000,
        "created_at is in microseconds"
    );

    let after_first = store.read_aggregate(&key("u1"), 1).await.expect("read");
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].event_type, "user.renamed");

    let more = store
        .push(one("u1", Expected::Exact(2), "user.locked", 3))
        .await
        .expect("push at the right sequence");
    assert_eq!(more[0].sequence, 3);
    read_until(&store, 3).await;
    assert_eq!(store.head().await.expect("head"), more[0].cursor());
}

async fn stale_sequence_conflicts(store: Store) {
    store
        .push(one("u1", Expected::Exact(0), "user.added", 1))
        .await
        .expect("create");
    let err = store
        .push(one("u1", Expected::Exact(0), "user.added", 1))
        .await
        .expect_err("a second create must conflict");
    assert!(
        matches!(&err, Error::Conflict { aggregate_id, expected: Some(0), .. } if aggregate_id == "u1"),
        "{err:?}"
    );
    let err = store
        .push(one("u1", Expected::Exact(5), "user.renamed", 2))
        .await
        .expect_err("a sequence from the future conflicts too");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(
        store
            .read_aggregate(&key("u1"), 0)
            .await
            .expect("read")
            .len(),
        1
    );
}

async fn concurrent_pushes_with_same_expectation_one_wins(store: Store) {
    store
        .push(one("u1", Expected::Exact(0), "user.added", 0))
        .await
        .expect("create");
    for round in 1..=20 {
        let expected = Expected::Exact(round);
        let (a, b) = tokio::join!(
            store.push(one("u1", expected, "user.renamed", 1)),
            store.push(one("u1", expected, "user.renamed", 2)),
        );
        let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one push wins: {a:?} / {b:?}"
        );
        let loser = if a.is_err() { a } else { b };
        assert!(loser.expect_err("one fails").is_conflict());
    }
    let events = store.read_aggregate(&key("u1"), 0).await.expect("read");
    assert_eq!(events.len(), 21);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.sequence == i as i64 + 1)
    );
}

fn login_name(value: &str) -> UniqueValue {
    UniqueValue::new(INSTANCE, "login_name", value)
}

async fn taken_unique_value_stores_nothing(store: Store) {
    store
        .push(
            one("u1", Expected::Exact(0), "user.added", 1)
                .unique(UniqueChange::Add(login_name("alice"))),
        )
        .await
        .expect("claim alice");
    assert!(
        store
            .is_taken(&login_name("alice"))
            .await
            .expect("is_taken")
    );

    let err = store
        .push(
            one("u2", Expected::Exact(0), "user.added", 2)
                .unique(UniqueChange::Add(login_name("bob")))
                .unique(UniqueChange::Add(login_name("alice"))),
        )
        .await
        .expect_err("alice is taken");
    assert!(
        matches!(&err, Error::UniqueTaken { unique_type, value } if unique_type == "login_name" && value == "alice"),
        "{err:?}"
    );
    assert!(
        store
            .read_aggregate(&key("u2"), 0)
            .await
            .expect("read")
            .is_empty(),
        "no event of u2 stored"
    );
    assert!(
        !store.is_taken(&login_name("bob")).await.expect("is_taken"),
        "bob was not claimed"
    );
    assert_eq!(all_events(&store).await.len(), 1);

    // The same value in another instance is free.
    store
        .push(
            Push::new("tester")
                .append(
                    AggregateKey::new("inst-2", "user", "u1"),
                    Expected::Exact(0),
                    vec![event("user.added", 1)],
                )
                .unique(UniqueChange::Add(UniqueValue::new(
                    "inst-2",
                    "login_name",
                    "alice",
                ))),
        )
        .await
        .expect("alice in another instance");
}

async fn removing_unique_value_frees_it(store: Store) {
    store
        .push(
            one("u1", Expected::Exact(0), "user.added", 1)
                .unique(UniqueChange::Add(login_name("alice"))),
        )
        .await
        .expect("claim");
    store
        .push(
            one("u1", Expected::Exact(1), "user.removed", 2)
                .unique(UniqueChange::Remove(login_name("alice"))),
        )
        .await
        .expect("release");
    assert!(
        !store
            .is_taken(&login_name("alice"))
            .await
            .expect("is_taken")
    );
    store
        .push(
            one("u2", Expected::Exact(0), "user.added", 3)
                .unique(UniqueChange::Add(login_name("alice"))),
        )
        .await
        .expect("claim again after release");
}

async fn failing_push_stores_nothing(store: Store) {
    store
        .push(one("u2", Expected::Exact(0), "user.added", 1))
        .await
        .expect("create u2");
    let before = all_events(&store).await;

    // u1 would succeed, u2's expectation is stale: the whole push fails.
    let err = store
        .push(
            Push::new("tester")
                .append(
                    key("u1"),
                    Expected::Exact(0),
                    vec![event("user.added", 1), event("user.renamed", 2)],
                )
                .append(
                    key("u2"),
                    Expected::Exact(0),
                    vec![event("user.renamed", 3)],
                )
                .unique(UniqueChange::Add(login_name("carol"))),
        )
        .await
        .expect_err("u2 is stale");
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(
        all_events(&store).await,
        before,
        "nothing of the failed push is stored"
    );
    assert!(
        store
            .read_aggregate(&key("u1"), 0)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        !store
            .is_taken(&login_name("carol"))
            .await
            .expect("is_taken"),
        "carol was not claimed"
    );

    // The same push on fresh state succeeds, atomically for both aggregates.
    let stored = store
        .push(
            Push::new("tester")
                .append(key("u1"), Expected::Exact(0), vec![event("user.added", 1)])
                .append(
                    key("u2"),
                    Expected::Exact(1),
                    vec![event("user.renamed", 3)],
                )
                .unique(UniqueChange::Add(login_name("carol"))),
        )
        .await
        .expect("push");
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].tx_id, stored[1].tx_id,
        "one push is one commit group"
    );
}

async fn stream_filters_by_types(store: Store) {
    store
        .push(one("u1", Expected::Exact(0), "user.added", 1))
        .await
        .expect("push");
    store
        .push(Push::new("t").append(
            AggregateKey::new(INSTANCE, "org", "o1"),
            Expected::Exact(0),
            vec![event("org.added", 2)],
        ))
        .await
        .expect("push");
    store
        .push(Push::new("t").append(
            AggregateKey::new("inst-2", "org", "o1"),
            Expected::Exact(0),
            vec![event("org.added", 3)],
        ))
        .await
        .expect("push");
    store
        .push(one("u1", Expected::Exact(1), "user.locked", 4))
        .await
        .expect("push");
    read_until(&store, 4).await;

    let mut q = StreamQuery::after(Cursor::START, 100);
    q.aggregate_types = vec!["org".into()];
    let orgs = store.read_stream(&q).await.expect("read");
    assert_eq!(
        orgs.iter()
            .map(|e| e.payload["n"].as_i64())
            .collect::<Vec<_>>(),
        vec![Some(2), Some(3)]
    );

    q.instance_id = Some(INSTANCE.into());
    assert_eq!(store.read_stream(&q).await.expect("read").len(), 1);

    let mut q = StreamQuery::after(Cursor::START, 100);
    q.event_types = vec!["user.locked".into(), "user.added".into()];
    let users = store.read_stream(&q).await.expect("read");
    assert_eq!(
        users
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        vec!["user.added", "user.locked"]
    );

    let all = all_events(&store).await;
    assert_eq!(all.len(), 4);
    let page = store
        .read_stream(&StreamQuery::after(all[1].cursor(), 1))
        .await
        .expect("read");
    assert_eq!(
        page,
        vec![all[2].clone()],
        "reading after a cursor continues right behind it"
    );
}

async fn malformed_push_is_refused(store: Store) {
    let err = store.push(Push::new("t")).await.expect_err("empty push");
    assert!(matches!(err, Error::InvalidPush(_)), "{err:?}");
    let err = store
        .push(Push::new("t").append(key("u1"), Expected::Exact(0), vec![]))
        .await
        .expect_err("no events");
    assert!(matches!(err, Error::InvalidPush(_)), "{err:?}");
    let err = store
        .push(
            Push::new("t")
                .append(key("u1"), Expected::Exact(0), vec![event("a", 1)])
                .append(key("u1"), Expected::Exact(1), vec![event("b", 2)]),
        )
        .await
        .expect_err("same aggregate twice");
    assert!(matches!(err, Error::InvalidPush(_)), "{err:?}");
    assert!(all_events(&store).await.is_empty());
}

/// 8 writers push 1,000 single-event commands each to 12 shared aggregates, retrying on conflicts, while a
/// reader follows the global stream. The reader must see every committed event exactly once, and each
/// aggregate's events in sequence order.
async fn concurrent_writers_reader_sees_every_event_once(store: Store) {
    const WRITERS: usize = 8;
    const PUSHES: usize = 1_000;
    const AGGREGATES: usize = 12;
    let store = Arc::new(store);

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Event> = Vec::with_capacity(WRITERS * PUSHES);
            let mut cursor = Cursor::START;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while seen.len() < WRITERS * PUSHES {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "reader saw only {} events",
                    seen.len()
                );
                // Every other read is the scanner's, which must skip nothing either.
                let batch = if seen.len().is_multiple_of(2) {
                    store
                        .read_stream(&StreamQuery::after(cursor, 500))
                        .await
                        .expect("read stream")
                } else {
                    store
                        .scan_stream(cursor, 500)
                        .await
                        .expect("scan stream")
                        .events
                };
                match batch.last() {
                    Some(last) => cursor = last.cursor(),
                    None => tokio::time::sleep(Duration::from_millis(2)).await,
                }
                seen.extend(batch);
            }
            // Nothing more shows up behind the reader once the writers are done.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let rest = store
                .read_stream(&StreamQuery::after(cursor, 500))
                .await
                .expect("read stream");
            assert!(rest.is_empty(), "unexpected extra events: {}", rest.len());
            seen
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let mut conflicts = 0usize;
            // What this writer knows of each aggregate; it catches up by reading only newer events.
            let mut known: HashMap<String, i64> = HashMap::new();
            for i in 0..PUSHES {
                let id = format!("agg-{}", (w * 7 + i) % AGGREGATES);
                loop {
                    let known = known.entry(id.clone()).or_insert(0);
                    if let Some(last) = store
                        .read_aggregate(&key(&id), *known)
                        .await
                        .expect("read")
                        .last()
                    {
                        *known = last.sequence;
                    }
                    let latest = *known;
                    let push = Push::new(format!("writer-{w}")).append(
                        key(&id),
                        Expected::Exact(latest),
                        vec![NewEvent::new(
                            "counter.incremented",
                            1,
                            json!({ "writer": w, "i": i }),
                        )],
                    );
                    match store.push(push).await {
                        Ok(_) => break,
                        Err(e) if e.is_conflict() => conflicts += 1,
                        Err(e) => panic!("push failed: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for writer in writers {
        conflicts += writer.await.expect("writer");
    }
    let seen = reader.await.expect("reader");

    assert_eq!(seen.len(), WRITERS * PUSHES);
    let mut positions: Vec<i64> = seen.iter().map(|e| e.position).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        WRITERS * PUSHES,
        "every event seen exactly once"
    );

    let mut last_sequence: HashMap<&str, i64> = HashMap::new();
    for e in &seen {
        let last = last_sequence
            .entry(e.aggregate.aggregate_id.as_str())
            .or_insert(0);
        assert_eq!(
            e.sequence,
            *last + 1,
            "aggregate {} read in sequence order",
            e.aggregate.aggregate_id
        );
        *last = e.sequence;
    }
    let mut per_writer: HashMap<i64, usize> = HashMap::new();
    for e in &seen {
        *per_writer
            .entry(e.payload["writer"].as_i64().expect("writer"))
            .or_default() += 1;
    }
    assert!(per_writer.values().all(|n| *n == PUSHES), "{per_writer:?}");
    eprintln!("{} backend: {conflicts} conflicts retried", store.backend());
}

mod blobs {
    async fn blobs_round_trip(store: warden_eventstore::Store) {
        let digest = "ab".repeat(32);
        assert_eq!(store.get_blob("i1", &digest).await.expect("get"), None);
        store
            .put_blob("i1", &digest, b"\0asm component")
            .await
            .expect("put");
        store
            .put_blob("i1", &digest, b"\0asm component")
            .await
            .expect("put again is a no-op");
        assert_eq!(
            store.get_blob("i1", &digest).await.expect("get").as_deref(),
            Some(&b"\0asm component"[..])
        );
        assert_eq!(
            store.get_blob("i2", &digest).await.expect("get"),
            None,
            "blobs are per instance"
        );
    }

    #[tokio::test]
    async fn sqlite() {
        let t = warden_eventstore::testing::sqlite().await;
        blobs_round_trip(t.store.clone()).await;
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(t) = warden_eventstore::testing::postgres().await {
            blobs_round_trip(t.store.clone()).await;
        }
    }
}

async fn events_carry_their_org(store: Store) {
    // One event alone (the single-statement path), several events, and a push with a unique value.
    let single = store
        .push(one("o1", Expected::Exact(0), "user.added", 1).in_org(Some("org-a")))
        .await
        .expect("push");
    assert_eq!(single[0].org_id.as_deref(), Some("org-a"));
    let several = store
        .push(
            Push::new("tester")
                .in_org(Some("org-b"))
                .append(
                    key("o2"),
                    Expected::Exact(0),
                    vec![event("user.added", 1), event("user.renamed", 2)],
                )
                .unique(UniqueChange::Add(UniqueValue::new(INSTANCE, "login", "o2"))),
        )
        .await
        .expect("push");
    assert!(several.iter().all(|e| e.org_id.as_deref() == Some("org-b")));
    store
        .push(one("o3", Expected::Exact(0), "user.added", 1))
        .await
        .expect("push without an org");
    let stored = read_until(&store, 4).await;
    let orgs: Vec<Option<&str>> = stored.iter().map(|e| e.org_id.as_deref()).collect();
    assert_eq!(orgs, [Some("org-a"), Some("org-b"), Some("org-b"), None]);
    let of_b = store
        .read_stream(&StreamQuery {
            org_id: Some("org-b".to_owned()),
            ..StreamQuery::after(Cursor::START, 100)
        })
        .await
        .expect("read one org");
    assert_eq!(of_b, stored[1..3].to_vec());
    let read_back = store.read_aggregate(&key("o1"), 0).await.expect("read");
    assert_eq!(read_back[0].org_id.as_deref(), Some("org-a"));
    let empty = store
        .push(one("o4", Expected::Exact(0), "user.added", 1).in_org(Some("")))
        .await;
    assert!(matches!(empty, Err(Error::InvalidPush(_))), "{empty:?}");
}

/// Every event of the stream, once at least `count` are visible (PostgreSQL shows an event once no older
/// transaction still runs).
/// The whole stream once it holds `count` events. On PostgreSQL the stream shows an event only once every
/// older transaction of the server has ended, and tests of other processes share the server: waited for, with
/// a generous bound (it is not a measurement).
async fn read_until(store: &Store, count: usize) -> Vec<Event> {
    for _ in 0..1500 {
        let events = all_events(store).await;
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    all_events(store).await
}

async fn expected_unchanged_aggregates_conflict_when_changed(store: Store) {
    store
        .push(one("org", Expected::Exact(0), "org.added", 1))
        .await
        .expect("the aggregate read");
    let decided = |n| {
        Push::new("tester")
            .append(
                key(&format!("u{n}")),
                Expected::Exact(0),
                vec![event("user.added", n)],
            )
            .expect_unchanged(key("org"), 1)
    };
    store
        .push(decided(1))
        .await
        .expect("the read aggregate is unchanged");
    store
        .push(one("org", Expected::Exact(1), "org.member.removed", 2))
        .await
        .expect("a change of the read aggregate");
    let err = store
        .push(decided(2))
        .await
        .expect_err("decided on a state that changed meanwhile");
    assert!(
        matches!(&err, Error::Conflict { aggregate_id, expected: Some(1), .. } if aggregate_id == "org"),
        "{err:?}"
    );
    assert!(
        store
            .read_aggregate(&key("u2"), 0)
            .await
            .expect("read")
            .is_empty(),
        "nothing of the conflicting push is stored"
    );
    let err = store
        .push(one("org", Expected::Exact(2), "org.renamed", 3).expect_unchanged(key("org"), 2))
        .await
        .expect_err("appended and expected unchanged at once");
    assert!(matches!(err, Error::InvalidPush(_)), "{err:?}");
}

/// Pushes that expect an aggregate unchanged race changes of it: in stream order, every push that
/// committed comes before the change that would have defeated it.
async fn a_change_waits_for_or_defeats_a_push_expecting_it_unchanged(store: Store) {
    store
        .push(one("org", Expected::Exact(0), "org.added", 0))
        .await
        .expect("the aggregate read");
    let readers = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut committed = 0;
            for n in 0..50 {
                let push = Push::new("reader")
                    .append(
                        key(&format!("w{w}-{n}")),
                        Expected::Exact(0),
                        vec![event("user.added", n)],
                    )
                    .expect_unchanged(key("org"), 1);
                match store.push(push).await {
                    Ok(_) => committed += 1,
                    Err(e) if e.is_conflict() => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            committed
        })
    });
    let readers: Vec<_> = readers.collect();
    tokio::task::yield_now().await;
    store
        .push(one("org", Expected::Exact(1), "org.member.removed", 1))
        .await
        .expect("the change");
    for reader in readers {
        reader.await.expect("reader");
    }
    let sql = "SELECT event_type, creator FROM events ORDER BY tx_id, position";
    let rows: Vec<(String, String)> = match &store {
        Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.reader()).await,
        Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
    }
    .expect("events");
    let change = rows
        .iter()
        .position(|(t, _)| t == "org.member.removed")
        .expect("the change is stored");
    assert!(
        rows[change + 1..]
            .iter()
            .all(|(_, creator)| creator != "reader"),
        "a push expecting the old state committed after the change"
    );
}

/// Submits `pushes` in order and returns their outcomes. On SQLite the writer connection is held until every
/// push is queued, so the committer writes them as one group: in one transaction, in submission order.
/// PostgreSQL writes each push on its own; the outcomes must be the same.
async fn push_as_one_group(store: &Store, pushes: Vec<Push>) -> Vec<Result<Vec<Event>, Error>> {
    let Store::Sqlite(sqlite) = store else {
        let mut results = Vec::new();
        for push in pushes {
            results.push(store.push(push).await);
        }
        return results;
    };
    let held = sqlite.writer().acquire().await.expect("hold the writer");
    let mut tasks = Vec::new();
    for (index, push) in pushes.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.push(push).await }));
        // The next push is submitted only once this one is queued, so the queue holds them in order.
        while sqlite.pushes_waiting() <= index {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    drop(held);
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("push task"));
    }
    results
}

/// In one group, a push whose expected sequence is stale or whose unique value is taken (before the group,
/// or by an earlier push of the same group) fails alone with its own error and stores nothing; the other
/// pushes commit, each seeing the pushes before it, and the stream holds them in submission order.
async fn grouped_pushes_succeed_or_fail_alone(store: Store) {
    store
        .push(
            one("owner", Expected::Exact(0), "user.added", 0)
                .unique(UniqueChange::Add(login_name("taken"))),
        )
        .await
        .expect("claim taken");
    store
        .push(one("c", Expected::Exact(0), "counter.added", 0))
        .await
        .expect("c at 1");
    let before = read_until(&store, 2).await;

    let results = push_as_one_group(
        &store,
        vec![
            // 0: commits.
            one("g1", Expected::Exact(0), "a", 1),
            // 1: stale expectation (c is at 1).
            one("c", Expected::Exact(0), "a", 2),
            // 2: claims a free value: commits.
            one("g2", Expected::Exact(0), "user.added", 3)
                .unique(UniqueChange::Add(login_name("fresh"))),
            // 3: a value taken before the group; two events, neither may be stored.
            Push::new("tester")
                .append(
                    key("g3"),
                    Expected::Exact(0),
                    vec![event("user.added", 4), event("user.changed", 4)],
                )
                .unique(UniqueChange::Add(login_name("other")))
                .unique(UniqueChange::Add(login_name("taken"))),
            // 4: the value push 2 claimed in this group.
            one("g4", Expected::Exact(0), "user.added", 5)
                .unique(UniqueChange::Add(login_name("fresh"))),
            // 5: expects push 0's event: commits.
            one("g1", Expected::Exact(1), "b", 6),
            // 6: two aggregates, the second stale: nothing stored, its unique value stays free.
            Push::new("tester")
                .append(key("g5"), Expected::Exact(0), vec![event("a", 7)])
                .append(key("c"), Expected::Exact(0), vec![event("a", 7)])
                .unique(UniqueChange::Add(login_name("third"))),
            // 7: commits.
            one("c", Expected::Exact(1), "b", 8),
            // 8: releases a value taken before the group: commits.
            one("owner", Expected::Exact(1), "user.removed", 9)
                .unique(UniqueChange::Remove(login_name("taken"))),
            // 9: claims the value push 8 released: commits.
            one("g6", Expected::Exact(0), "user.added", 10)
                .unique(UniqueChange::Add(login_name("taken"))),
            // 10: releases the value push 2 claimed: commits, the value ends free.
            one("g2", Expected::Exact(1), "user.removed", 11)
                .unique(UniqueChange::Remove(login_name("fresh"))),
        ],
    )
    .await;

    let outcome: Vec<&str> = results
        .iter()
        .map(|r| match r {
            Ok(_) => "ok",
            Err(Error::Conflict { .. }) => "conflict",
            Err(Error::UniqueTaken { .. }) => "taken",
            Err(_) => "other",
        })
        .collect();
    assert_eq!(
        outcome,
        [
            "ok", "conflict", "ok", "taken", "taken", "ok", "conflict", "ok", "ok", "ok", "ok"
        ],
        "{results:?}"
    );
    assert!(
        matches!(&results[3], Err(Error::UniqueTaken { value, .. }) if value == "taken"),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(&results[4], Err(Error::UniqueTaken { value, .. }) if value == "fresh"),
        "{:?}",
        results[4]
    );
    for id in ["g3", "g4", "g5"] {
        assert!(
            store
                .read_aggregate(&key(id), 0)
                .await
                .expect("read")
                .is_empty(),
            "nothing of {id} stored"
        );
    }
    for (value, taken) in [
        ("fresh", false),
        ("other", false),
        ("third", false),
        ("taken", true),
    ] {
        assert_eq!(
            store.is_taken(&login_name(value)).await.expect("is_taken"),
            taken,
            "{value}"
        );
    }
    let g1: Vec<i64> = store
        .read_aggregate(&key("g1"), 0)
        .await
        .expect("read g1")
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(g1, [1, 2]);

    // The stream holds the committed pushes in submission order, each push in a commit group of its own.
    let events = read_until(&store, before.len() + 7).await;
    let grouped = &events[before.len()..];
    let order: Vec<i64> = grouped
        .iter()
        .map(|e| e.payload["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(order, [1, 3, 6, 8, 9, 10, 11]);
    assert!(
        grouped.windows(2).all(|w| w[0].tx_id < w[1].tx_id),
        "{grouped:?}"
    );
    let returned: Vec<Event> = results
        .into_iter()
        .filter_map(Result::ok)
        .flatten()
        .collect();
    assert_eq!(returned, grouped, "each caller got the events as stored");
}

/// On SQLite, a group whose transaction fails half-way (here a trigger refuses one push's event at the events
/// insert, after the group's state read and unique-value claims) is rolled back whole and every push is written
/// again alone: the other pushes commit once each, the refused one stores nothing and frees its unique value,
/// and the writer is left outside any transaction (the next push commits).
#[tokio::test]
async fn sqlite_group_that_fails_half_way_is_rolled_back_and_written_alone() {
    let t = warden_eventstore::testing::sqlite().await;
    let store = &t.store;
    let Store::Sqlite(sqlite) = store else {
        unreachable!("a SQLite test store")
    };
    sqlx::query(
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON events WHEN NEW.event_type = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'boom refused'); END",
    )
    .execute(sqlite.writer())
    .await
    .expect("create trigger");

    let results = push_as_one_group(
        store,
        vec![
            one("ok1", Expected::Exact(0), "user.added", 1)
                .unique(UniqueChange::Add(login_name("ok1"))),
            one("bad", Expected::Exact(0), "boom", 2).unique(UniqueChange::Add(login_name("bad"))),
            one("ok2", Expected::Exact(0), "user.added", 3),
        ],
    )
    .await;
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(&results[1], Err(Error::Database(_))),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);

    for (id, count) in [("ok1", 1), ("bad", 0), ("ok2", 1)] {
        let events = store.read_aggregate(&key(id), 0).await.expect("read");
        assert_eq!(events.len(), count, "{id}: {events:?}");
    }
    assert!(store.is_taken(&login_name("ok1")).await.expect("is_taken"));
    assert!(!store.is_taken(&login_name("bad")).await.expect("is_taken"));

    // The writer is usable: a push after the failed group commits, in a group of its own.
    store
        .push(
            one("after", Expected::Exact(0), "user.added", 4)
                .unique(UniqueChange::Add(login_name("after"))),
        )
        .await
        .expect("push after the failed group");
    let stream = all_events(store).await;
    let order: Vec<i64> = stream
        .iter()
        .map(|e| e.payload["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(order, [1, 3, 4], "{stream:?}");
}

/// An event committed after an older transaction began is not readable until that transaction ends (the
/// horizon), and a scan says that such an event waits, so that its reader looks again.
async fn a_scan_reports_events_held_back_by_an_older_transaction(t: &TestStore) {
    let store = &t.store;
    let Store::Postgres(pg) = store else {
        unreachable!("PostgreSQL only");
    };
    let first = store
        .push(one("u1", Expected::Exact(0), "user.added", 1))
        .await
        .expect("push");
    // Other tests' transactions on the same server may hold the horizon back a moment; once readable, an
    // event stays readable.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store
        .scan_stream(Cursor::START, 100)
        .await
        .expect("scan")
        .events
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first event never became readable"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut older = pg.pool().begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *older)
        .await
        .expect("take a transaction id");
    let held = store
        .push(one("u2", Expected::Exact(0), "user.added", 2))
        .await
        .expect("push");
    let scan = store.scan_stream(Cursor::START, 100).await.expect("scan");
    let positions: Vec<i64> = scan.events.iter().map(|e| e.position).collect();
    assert_eq!(
        positions,
        [first[0].position],
        "only the event below the horizon"
    );
    assert!(scan.pending, "the held event is reported as waiting");
    older.commit().await.expect("commit");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let scan = store
            .scan_stream(first[0].cursor(), 100)
            .await
            .expect("scan");
        if let Some(event) = scan.events.first() {
            assert_eq!(event.position, held[0].position);
            break;
        }
        assert!(
            scan.pending,
            "nothing readable, and nothing reported waiting"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the held event never became readable"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
