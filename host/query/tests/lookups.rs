//! Lookups by a unique key the views hold (a login name, a client id) find what was created a moment before,
//! even when no spooler has applied it yet: the login page and the token endpoint must not refuse a user or an
//! application the API has just answered for.

mod support;

use std::time::Duration;

use warden_eventstore::{ConnectOptions, Store, testing::TestStore};
use warden_query::ReadSide;
use warden_spooler::SpoolerConfig;

use support::{INSTANCE, Writer, populate};

warden_eventstore::both_backends!(ref: a_key_claimed_a_moment_ago_is_found_before_any_spooler_ran);

/// A node whose spoolers do nothing on their own for the length of the test: no polling, no wake-ups from
/// other nodes. Only a read can make them catch up.
fn idle_config() -> SpoolerConfig {
    SpoolerConfig {
        lease_ttl: Duration::from_secs(3600),
        acquire_interval: Duration::from_secs(3600),
        poll_interval: Duration::from_secs(3600),
        catch_up_timeout: Duration::from_secs(30),
        listen_notify: false,
        ..SpoolerConfig::new("reader")
    }
}

async fn a_key_claimed_a_moment_ago_is_found_before_any_spooler_ran(t: &TestStore) {
    let read_side = ReadSide::start(t.store.clone(), idle_config())
        .await
        .expect("start read side");
    // Another node writes: this node hears of nothing.
    let writer_store = Store::connect(
        &t.url,
        &ConnectOptions {
            max_connections: 4,
            ..Default::default()
        },
    )
    .await
    .expect("second connection");
    populate(&Writer::new(&writer_store)).await;

    let queries = read_side.queries();
    let user = queries
        .user_by_login_name(INSTANCE, "user03")
        .await
        .expect("lookup")
        .expect("a user created a moment ago is found by its login name");
    assert_eq!(user.id, "u3");
    let machine = queries
        .user_by_login_name(INSTANCE, "CI-Bot")
        .await
        .expect("lookup")
        .expect("a machine user is found by its login name, case-insensitively");
    assert_eq!(machine.id, "m1");
    let app = queries
        .application_by_client_id(INSTANCE, "shop-web")
        .await
        .expect("lookup")
        .expect("an application added a moment ago is found by its client id");
    assert_eq!(app.id, "a1");

    assert!(
        queries
            .user_by_login_name(INSTANCE, "nobody")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        queries
            .application_by_client_id(INSTANCE, "no-such-client")
            .await
            .expect("lookup")
            .is_none()
    );
}
