//! Projection: users and logins per organization per day.
//!
//! Views:
//! * `org_daily_stats`, key `{org_id}/{YYYY-MM-DD}` (UTC day of the event):
//!   `{"org_id", "day", "users_added", "users_removed", "logins_succeeded", "logins_failed"}`;
//! * `org_users`, key `{org_id}`: `{"org_id", "users"}`, the number of users the organization has.
//!
//! Events without an organization (instance-level events) are ignored.

use serde_json::{Value, json};
use warden_plugin_sdk::{Error, Projection, export_projection, types::Event, views};

const DAILY: &str = "org_daily_stats";
const USERS: &str = "org_users";

struct OrgStats;

impl Projection for OrgStats {
    const SUBSCRIPTIONS: &'static [&'static str] = &[
        "user.human.added",
        "user.machine.added",
        "user.removed",
        "user.human.password.check.succeeded",
        "user.human.password.check.failed",
    ];

    fn handle(event: Event) -> Result<(), Error> {
        let Some(org_id) = event.org_id.as_deref() else {
            return Ok(());
        };
        let (counter, users_delta) = match event.event_type.as_str() {
            "user.human.added" | "user.machine.added" => ("users_added", 1),
            "user.removed" => ("users_removed", -1),
            "user.human.password.check.succeeded" => ("logins_succeeded", 0),
            "user.human.password.check.failed" => ("logins_failed", 0),
            _ => return Ok(()),
        };

        let day = event.day();
        let key = format!("{org_id}/{day}");
        let mut daily = read(DAILY, &key)?.unwrap_or_else(|| {
            json!({
                "org_id": org_id,
                "day": day,
                "users_added": 0,
                "users_removed": 0,
                "logins_succeeded": 0,
                "logins_failed": 0,
            })
        });
        daily[counter] = json!(daily[counter].as_i64().unwrap_or(0) + 1);
        views::upsert(DAILY, &key, &daily.to_string())?;

        if users_delta != 0 {
            let mut totals =
                read(USERS, org_id)?.unwrap_or_else(|| json!({ "org_id": org_id, "users": 0 }));
            totals["users"] = json!(totals["users"].as_i64().unwrap_or(0) + users_delta);
            views::upsert(USERS, org_id, &totals.to_string())?;
        }
        Ok(())
    }
}

fn read(table: &str, key: &str) -> Result<Option<Value>, Error> {
    views::get(table, key)?
        .map(|row| serde_json::from_str(&row).map_err(|e| format!("row {table}/{key}: {e}")))
        .transpose()
}

export_projection!(OrgStats);
