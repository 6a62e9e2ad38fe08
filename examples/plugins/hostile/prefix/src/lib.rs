//! Test fixture: a projection written against the WIT alone (plain wit-bindgen, no SDK) subscribing to
//! `user.*`; it records each event it gets in table `events` (key: position, value: the event type), so a
//! test sees which event types reached it.

wit_bindgen::generate!({
    path: "../../../../wit/v0.1.0",
    world: "warden:plugin/projection@0.1.0",
});

use exports::warden::plugin::projector::Guest;
use warden::plugin::{types::Event, views};

struct Prefix;

impl Guest for Prefix {
    fn subscriptions() -> Vec<String> {
        vec!["user.*".to_owned()]
    }

    fn handle(event: Event) -> Result<(), String> {
        views::upsert(
            "events",
            &format!("{:012}", event.position),
            &format!("\"{}\"", event.event_type),
        )
        .map_err(|e| format!("{e:?}"))
    }
}

export!(Prefix);
