//! Hostile fixture: a projection written against the WIT alone (plain wit-bindgen, no SDK), subscribed to
//! every event type (`*`), that behaves as its binding's configuration says.
//!
//! `mode`:
//! * `copy` (default): writes each event's type and payload to table `events`, keyed by its position;
//! * `sleep`: sleeps `seconds` (default 20) with `std::thread::sleep`, then copies;
//! * `flood`: writes `rows` rows (default 64) of `kib` KiB (default 1000) to table `flood` per event.
//!
//! With `only` set to an event type, events of other types are passed over.

wit_bindgen::generate!({
    path: "../../../../wit/v0.1.0",
    world: "warden:plugin/projection@0.1.0",
});

use exports::warden::plugin::projector::Guest;
use warden::plugin::{config, types::Event, views};

struct HostileProjection;

fn number(key: &str, default: usize) -> usize {
    config::get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn copy(event: &Event) -> Result<(), String> {
    let row = format!(
        "{{\"event_type\":\"{}\",\"payload\":{}}}",
        event.event_type, event.payload
    );
    views::upsert("events", &format!("{:012}", event.position), &row).map_err(|e| format!("{e:?}"))
}

impl Guest for HostileProjection {
    fn subscriptions() -> Vec<String> {
        vec!["*".to_owned()]
    }

    fn handle(event: Event) -> Result<(), String> {
        if config::get("only").is_some_and(|only| only != event.event_type) {
            return Ok(());
        }
        match config::get("mode").as_deref() {
            Some("sleep") => {
                let seconds = number("seconds", 20) as u64;
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                copy(&event)
            }
            Some("flood") => {
                let value = format!("\"{}\"", "f".repeat(number("kib", 1000) << 10));
                for i in 0..number("rows", 64) {
                    views::upsert("flood", &format!("{}-{i:04}", event.position), &value)
                        .map_err(|e| format!("{e:?}"))?;
                }
                Ok(())
            }
            _ => copy(&event),
        }
    }
}

export!(HostileProjection);
