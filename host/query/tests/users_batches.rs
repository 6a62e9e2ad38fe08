//! The users projection writes a batch with merged multi-row statements: the view it leaves must equal the
//! one of applying the same events one by one, on both backends, including a row a read by id already
//! brought ahead of the batch.

use warden_domain::{
    DomainEvent,
    user::{
        EmailChanged, HumanAdded, MachineAdded, MachineChanged, MetadataRemoved, MetadataSet,
        PhoneChanged, Profile, UserEvent,
    },
};
use warden_eventstore::{
    AggregateKey, Event, Eventstore, Expected, NewEvent, Push, Store, testing, testing::TestStore,
};
use warden_query::projections::UsersProjection;
use warden_spooler::{Backend, Db, Projection};

warden_eventstore::both_backends!(ref: batched_users_view_equals_event_by_event);

const INSTANCE: &str = "inst";

fn human(i: usize) -> UserEvent {
    UserEvent::HumanAdded(HumanAdded {
        org_id: "org".to_owned(),
        login_name: format!("User{i}"),
        profile: Profile {
            given_name: format!("Given{i}"),
            family_name: "Family".to_owned(),
            display_name: format!("Given{i} Family"),
            preferred_language: "en".to_owned(),
        },
        email: format!("u{i}@example.com"),
        email_verified: true,
        phone: None,
        password_hash: None,
        password_change_required: false,
    })
}

/// The events of user `i`: a creation and a mix of changes that touch the same columns and metadata keys
/// several times, with a removal for some users.
fn history(i: usize) -> Vec<UserEvent> {
    let machine = i % 5 == 4;
    let mut events = vec![if machine {
        UserEvent::MachineAdded(MachineAdded {
            org_id: "org".to_owned(),
            login_name: format!("machine{i}"),
            name: format!("Machine {i}"),
            description: "first".to_owned(),
            access_token_type: Default::default(),
        })
    } else {
        human(i)
    }];
    for round in 0..3 {
        let set = |key: &str, value: String| {
            UserEvent::MetadataSet(MetadataSet {
                key: key.to_owned(),
                value,
            })
        };
        if machine {
            events.push(UserEvent::MachineChanged(MachineChanged {
                name: format!("Machine {i}.{round}"),
                description: format!("round {round}"),
                access_token_type: Default::default(),
            }));
        } else {
            events.push(UserEvent::ProfileChanged(Profile {
                given_name: format!("G{i}.{round}"),
                family_name: "F".to_owned(),
                display_name: format!("G{i}.{round} F"),
                preferred_language: "de".to_owned(),
            }));
            events.push(UserEvent::EmailChanged(EmailChanged {
                email: format!("u{i}.{round}@example.com"),
            }));
            if round == 1 {
                events.push(UserEvent::EmailVerified);
                events.push(UserEvent::PhoneChanged(PhoneChanged {
                    phone: format!("+4179{i:07}"),
                }));
            }
        }
        events.push(set("team", format!("t{round}")));
        events.push(set(&format!("k{round}"), format!("v{i}")));
        if round == 2 {
            events.push(UserEvent::MetadataRemoved(MetadataRemoved {
                key: "k1".to_owned(),
            }));
            events.push(UserEvent::Locked);
        }
    }
    if i % 7 == 3 {
        events.push(UserEvent::Removed);
    }
    events
}

fn stored(event: &UserEvent) -> NewEvent {
    NewEvent::new(event.event_type(), event.revision(), event.to_payload())
}

/// Pushes the histories of `users` users, interleaved (one event of each user in turn), and returns the
/// stored events in stream order.
async fn push_histories(store: &Store, users: usize) -> Vec<Event> {
    let histories: Vec<Vec<UserEvent>> = (0..users).map(history).collect();
    let mut all = Vec::new();
    let longest = histories.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (i, history) in histories.iter().enumerate() {
            let Some(event) = history.get(step) else {
                continue;
            };
            let push = Push::new("test").append(
                AggregateKey::new(INSTANCE, "user", format!("u{i}")),
                Expected::Exact(step as i64),
                vec![stored(event)],
            );
            all.extend(store.push(push).await.expect("push"));
        }
    }
    all
}

async fn dump(store: &Store) -> Vec<String> {
    let db = Db::of(store);
    let mut out = Vec::new();
    for row in db
        .fetch_all(
            "SELECT id, org_id, kind, login_name, login_name_lower, state, locked, display_name, given_name, \
             family_name, preferred_language, email, email_verified, phone, password_set, \
             password_change_required, description, has_secret, created_at_ms, changed_at_ms, sequence \
             FROM users ORDER BY id",
            &[],
        )
        .await
        .expect("users")
    {
        let text = |c: &str| row.get::<Option<String>>(c).expect(c).unwrap_or_default();
        let flag = |c: &str| format!("{:?}", row.get::<Option<bool>>(c).expect(c));
        let int = |c: &str| row.get::<i64>(c).expect(c).to_string();
        out.push(
            [
                text("id"),
                text("org_id"),
                text("kind"),
                text("login_name"),
                text("login_name_lower"),
                text("state"),
                flag("locked"),
                text("display_name"),
                text("given_name"),
                text("family_name"),
                text("preferred_language"),
                text("email"),
                flag("email_verified"),
                text("phone"),
                flag("password_set"),
                flag("password_change_required"),
                text("description"),
                flag("has_secret"),
                int("created_at_ms"),
                int("changed_at_ms"),
                int("sequence"),
            ]
            .join("|"),
        );
    }
    for row in db
        .fetch_all(
            "SELECT user_id, key, value FROM user_metadata ORDER BY user_id, key",
            &[],
        )
        .await
        .expect("metadata")
    {
        let text = |c: &str| row.get::<String>(c).expect(c);
        out.push(format!(
            "meta {} {}={}",
            text("user_id"),
            text("key"),
            text("value")
        ));
    }
    out
}

async fn same_backend(t: &TestStore) -> TestStore {
    match Db::of(&t.store).backend() {
        Backend::Sqlite => testing::sqlite().await,
        Backend::Postgres => testing::postgres().await.expect("PostgreSQL"),
    }
}

async fn batched_users_view_equals_event_by_event(t: &TestStore) {
    let events = push_histories(&t.store, 12).await;
    assert!(events.len() > 100);
    let projection = UsersProjection;

    // One by one, one event per call.
    let one_by_one = same_backend(t).await;
    let db = Db::of(&one_by_one.store);
    let mut tx = db.begin().await.expect("begin");
    for event in &events {
        projection.apply(&mut tx, event).await.expect("apply");
    }
    tx.commit().await.expect("commit");
    let expected = dump(&one_by_one.store).await;
    assert!(expected.iter().any(|r| r.starts_with("meta ")));

    // The whole stream as batches of several sizes (each user changed many times within a batch).
    for size in [events.len(), 37, 5] {
        let batched = same_backend(t).await;
        let db = Db::of(&batched.store);
        for chunk in events.chunks(size) {
            let mut tx = db.begin().await.expect("begin");
            projection
                .apply_batch(&mut tx, chunk)
                .await
                .map_err(|(index, error)| format!("event {index}: {error}"))
                .expect("apply batch");
            tx.commit().await.expect("commit");
        }
        assert_eq!(dump(&batched.store).await, expected, "batches of {size}");
    }

    // Rows a read by id brought ahead: the first half of every user's events applied one by one, then the
    // whole stream as one batch, which must change nothing of what they already reflect.
    let ahead = same_backend(t).await;
    let db = Db::of(&ahead.store);
    let mut tx = db.begin().await.expect("begin");
    for event in events.iter().filter(|e| e.sequence <= 6) {
        projection.apply(&mut tx, event).await.expect("apply");
    }
    tx.commit().await.expect("commit");
    let mut tx = db.begin().await.expect("begin");
    projection
        .apply_batch(&mut tx, &events)
        .await
        .map_err(|(index, error)| format!("event {index}: {error}"))
        .expect("apply batch");
    tx.commit().await.expect("commit");
    assert_eq!(
        dump(&ahead.store).await,
        expected,
        "rows ahead of the batch"
    );
}
