//! Hostile fixture: a projection written against the WIT alone (plain wit-bindgen, no SDK) whose
//! `subscriptions` sleeps 20 s (a WASI clock poll) before answering `user.*`.

wit_bindgen::generate!({
    path: "../../../../wit/v0.1.0",
    world: "warden:plugin/projection@0.1.0",
});

use exports::warden::plugin::projector::Guest;
use warden::plugin::types::Event;

struct SlowSubscriptions;

impl Guest for SlowSubscriptions {
    fn subscriptions() -> Vec<String> {
        std::thread::sleep(std::time::Duration::from_secs(20));
        vec!["user.*".to_owned()]
    }

    fn handle(_event: Event) -> Result<(), String> {
        Ok(())
    }
}

export!(SlowSubscriptions);
