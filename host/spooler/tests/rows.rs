//! Multi-row writes ([`Rows`] with [`ViewTx::insert_rows`] and [`ViewTx::update_rows`]) on both backends:
//! typed nulls, booleans, integers, text and JSON arrive as bound; a guard limits an update; a row that does
//! not name the first row's columns fails the statement instead of writing misplaced values.

use serde_json::json;
use warden_eventstore::testing::TestStore;
use warden_spooler::{Db, Rows, SqlValue};

warden_eventstore::both_backends!(ref: rows_insert_update_and_refuse_misnamed_columns);

fn row(id: &str, n: i64, flag: Option<bool>, note: Option<&str>, doc: serde_json::Value) -> Rows {
    let mut rows = Rows::default();
    rows.push([
        ("id", SqlValue::from(id)),
        ("n", n.into()),
        ("flag", SqlValue::Bool(flag)),
        ("note", note.into()),
        ("doc", doc.into()),
    ]);
    rows
}

async fn rows_insert_update_and_refuse_misnamed_columns(t: &TestStore) {
    let db = Db::of(&t.store);
    let json_type = match db.backend() {
        warden_spooler::Backend::Postgres => "JSONB",
        warden_spooler::Backend::Sqlite => "TEXT",
    };
    db.execute(
        &format!(
            "CREATE TABLE rows_test (id TEXT PRIMARY KEY, n BIGINT NOT NULL, flag BOOLEAN, note TEXT, \
             doc {json_type})"
        ),
        &[],
    )
    .await
    .expect("create table");

    let mut rows = row(
        "a",
        1,
        Some(true),
        Some("it's \"quoted\""),
        json!({"k": [1, 2]}),
    );
    for i in 0..300 {
        rows.push([
            ("id", SqlValue::from(format!("r{i:03}"))),
            ("n", i64::from(i).into()),
            ("flag", SqlValue::Bool(None)),
            ("note", SqlValue::Text(None)),
            ("doc", json!(i).into()),
        ]);
    }
    assert_eq!(rows.len(), 301);
    let mut tx = db.begin().await.expect("begin");
    let inserted = tx
        .insert_rows("rows_test", &rows, "ON CONFLICT (id) DO NOTHING")
        .await
        .expect("insert");
    assert_eq!(inserted, 301);
    // A conflicting row is left alone.
    let again = row("a", 9, Some(false), None, json!(null));
    assert_eq!(
        tx.insert_rows("rows_test", &again, "ON CONFLICT (id) DO NOTHING")
            .await
            .expect("insert again"),
        0
    );

    // Two rows updated, one of them refused by the guard.
    let mut updates = Rows::default();
    updates.push([
        ("id", SqlValue::from("r007")),
        ("n", 70_i64.into()),
        ("flag", false.into()),
    ]);
    updates.push([
        ("id", SqlValue::from("r008")),
        ("n", 1_i64.into()),
        ("flag", true.into()),
    ]);
    let updated = tx
        .update_rows("rows_test", &["id"], &updates, "rows_test.n < v.n")
        .await
        .expect("update");
    assert_eq!(updated, 1, "r008 holds n = 8, not below 1");

    let mut misnamed = row("b", 2, None, None, json!({}));
    misnamed.push([("id", SqlValue::from("c")), ("m", 3_i64.into())]);
    let error = tx
        .insert_rows("rows_test", &misnamed, "")
        .await
        .expect_err("a row naming other columns is refused");
    assert!(error.to_string().contains("`m`"), "{error}");
    tx.commit().await.expect("commit");

    let a = db
        .fetch_optional(
            "SELECT n, flag, note, doc FROM rows_test WHERE id = $1",
            &[SqlValue::from("a")],
        )
        .await
        .expect("read")
        .expect("row a");
    assert_eq!(a.get::<i64>("n").expect("n"), 1);
    assert_eq!(a.get::<Option<bool>>("flag").expect("flag"), Some(true));
    assert_eq!(
        a.get::<Option<String>>("note").expect("note").as_deref(),
        Some("it's \"quoted\"")
    );
    assert_eq!(
        a.json::<serde_json::Value>("doc").expect("doc"),
        json!({"k": [1, 2]})
    );
    let r = db
        .fetch_all("SELECT id, n, flag, note FROM rows_test WHERE id IN ('r007', 'r008', 'r299') ORDER BY id", &[])
        .await
        .expect("read");
    let seen: Vec<(String, i64, Option<bool>, Option<String>)> = r
        .iter()
        .map(|r| {
            (
                r.get("id").expect("id"),
                r.get("n").expect("n"),
                r.get("flag").expect("flag"),
                r.get("note").expect("note"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("r007".to_owned(), 70, Some(false), None),
            ("r008".to_owned(), 8, None, None),
            ("r299".to_owned(), 299, None, None),
        ]
    );
    let count = db
        .fetch_optional("SELECT COUNT(*) AS n FROM rows_test", &[])
        .await
        .expect("count")
        .expect("row");
    assert_eq!(count.get::<i64>("n").expect("n"), 301);
}
