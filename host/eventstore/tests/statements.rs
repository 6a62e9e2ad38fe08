//! The pools for single statements: a connection goes back to the pool only in a known state.

use std::{str::FromStr, time::Duration};

use sqlx::{Postgres, Sqlite, postgres::PgConnectOptions, sqlite::SqliteConnectOptions};
use warden_eventstore::{StatementPool, Store, testing::TestStore};

warden_eventstore::both_backends!(
    ref:
    a_refused_statement_leaves_its_connection_usable,
    a_statement_dropped_half_way_closes_its_connection,
);

warden_eventstore::both_backends!(
    postgres_only ref:
    a_connection_the_server_closed_is_replaced,
);

/// A statement that takes seconds, to be dropped half-way.
const SLOW_PG: &str = "SELECT pg_sleep(5)";
const SLOW_SQLITE: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000000) \
                           SELECT count(*) FROM n";

async fn a_refused_statement_leaves_its_connection_usable(t: &TestStore) {
    match &t.store {
        Store::Postgres(store) => {
            let pool = store.statements();
            let mut conn = pool.acquire().await.expect("a connection");
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
                .expect("pid");
            let refused = sqlx::query("SELECT 1 / 0").execute(&mut *conn).await;
            assert!(
                matches!(refused, Err(sqlx::Error::Database(_))),
                "{refused:?}"
            );
            conn.release(&refused);
            assert_eq!(pool.idle_count(), 1, "the connection is back in the pool");
            let mut conn = pool.acquire().await.expect("a connection");
            let again: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
                .expect("the connection answers after the refused statement");
            assert_eq!(again, pid, "the same connection is handed out again");
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&mut *conn)
                .await
                .expect("no transaction left aborted");
            assert_eq!(n, 0);
        }
        Store::Sqlite(store) => {
            let pool = store.statements();
            let mut conn = pool.acquire().await.expect("a connection");
            let refused = sqlx::query("SELECT * FROM no_such_table")
                .execute(&mut *conn)
                .await;
            assert!(
                matches!(refused, Err(sqlx::Error::Database(_))),
                "{refused:?}"
            );
            conn.release(&refused);
            assert_eq!(pool.idle_count(), 1, "the connection is back in the pool");
            let mut conn = pool.acquire().await.expect("a connection");
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&mut *conn)
                .await
                .expect("the connection answers after the refused statement");
            assert_eq!(n, 0);
            assert_eq!(pool.idle_count(), 0, "the one idle connection was reused");
        }
    }
}

/// A caller dropped while its statement runs (a cancelled request) leaves a connection in an unknown state:
/// it is closed, never handed to the next caller, and the pool opens a new one.
async fn a_statement_dropped_half_way_closes_its_connection(t: &TestStore) {
    match &t.store {
        Store::Postgres(store) => {
            let pool = store.statements();
            let old_pid = {
                let mut conn = pool.acquire().await.expect("a connection");
                let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut *conn)
                    .await
                    .expect("pid");
                let slow = tokio::time::timeout(
                    Duration::from_millis(100),
                    sqlx::query(SLOW_PG).execute(&mut *conn),
                )
                .await;
                assert!(slow.is_err(), "the slow statement was cut off");
                pid
                // The lease is dropped here without being released.
            };
            assert_eq!(pool.idle_count(), 0, "the connection did not go back");
            let mut conn = pool.acquire().await.expect("a new connection");
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
                .expect("the new connection answers at once");
            assert_ne!(pid, old_pid, "a new connection, not the abandoned one");
        }
        Store::Sqlite(store) => {
            let pool = store.statements();
            {
                let mut conn = pool.acquire().await.expect("a connection");
                let slow = tokio::time::timeout(
                    Duration::from_millis(50),
                    sqlx::query(SLOW_SQLITE).execute(&mut *conn),
                )
                .await;
                assert!(slow.is_err(), "the slow statement was cut off");
            }
            assert_eq!(pool.idle_count(), 0, "the connection did not go back");
            let mut conn = pool.acquire().await.expect("a new connection");
            let started = std::time::Instant::now();
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&mut *conn)
                .await
                .expect("the new connection answers");
            assert_eq!(n, 0);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "the answer did not wait for the abandoned statement: {:?}",
                started.elapsed()
            );
        }
    }
}

/// A connection the server closed while it sat in the pool: with the idle test, the pool replaces it
/// before handing it out; without, the statement fails once and the connection is not reused.
async fn a_connection_the_server_closed_is_replaced(t: &TestStore) {
    let options = PgConnectOptions::from_str(&t.url).expect("URL");
    let admin = sqlx::PgPool::connect(&t.url).await.expect("admin");
    let terminate = |pid: i32| {
        let admin = admin.clone();
        async move {
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&admin)
                .await
                .expect("terminate");
            // The backend is gone once it no longer shows in pg_stat_activity.
            for _ in 0..100 {
                let alive: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
                        .bind(pid)
                        .fetch_one(&admin)
                        .await
                        .expect("activity");
                if alive == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("backend {pid} did not end");
        }
    };
    let pid = |pool: StatementPool<Postgres>| async move {
        let mut conn = pool.acquire().await.expect("a connection");
        let pid: Result<i32, sqlx::Error> = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await;
        conn.release(&pid);
        pid
    };

    // Tested when idle (here: always): the closed connection is found out and replaced.
    let checked = StatementPool::<Postgres>::new(options.clone(), 2, Some(Duration::ZERO));
    let first = pid(checked.clone()).await.expect("pid");
    terminate(first).await;
    let second = pid(checked.clone())
        .await
        .expect("a fresh connection answers");
    assert_ne!(second, first);

    // Not tested when idle: the statement on the closed connection fails (with the server's `FATAL`, a
    // database error), and the next statement gets a working connection, not that one.
    let unchecked = StatementPool::<Postgres>::new(options, 2, None);
    let first = pid(unchecked.clone()).await.expect("pid");
    terminate(first).await;
    let failed = pid(unchecked.clone()).await;
    assert!(failed.is_err(), "the closed connection cannot answer");
    let second = pid(unchecked.clone())
        .await
        .expect("a fresh connection answers");
    assert_ne!(second, first);
    assert_eq!(
        unchecked.idle_count(),
        1,
        "only the working connection is kept"
    );
    checked.close().await;
    unchecked.close().await;
    admin.close().await;
}

/// A closed pool refuses new statements and closes connections that come back.
#[tokio::test]
async fn a_closed_pool_refuses_statements() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("db.sqlite"))
        .create_if_missing(true);
    let pool = StatementPool::<Sqlite>::new(options, 2, None);
    let mut conn = pool.acquire().await.expect("a connection");
    pool.close().await;
    let done = sqlx::query("SELECT 1").execute(&mut *conn).await;
    conn.release(&done);
    assert_eq!(pool.idle_count(), 0, "closed pools keep no connection");
    assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolClosed)));
}
