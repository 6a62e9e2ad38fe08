//! Hostile fixture: a validator written against the WIT alone (plain wit-bindgen, no SDK) that misbehaves
//! as its binding's configuration says, then lets the command through.
//!
//! `mode`:
//! * `sleep`: sleeps `seconds` (default 20) with `std::thread::sleep`, a WASI clock poll, not Wasm code;
//! * `violations`: returns `count` (default 40) violations with messages of `kib` KiB (default 1024);
//! * `log`: writes `count` (default 100) log records of `kib` KiB (default 1024) each;
//! * anything else: lets the command through.

wit_bindgen::generate!({
    path: "../../../../wit/v0.1.0",
    world: "warden:plugin/validator@0.1.0",
});

use exports::warden::plugin::validation::{Guest, ValidationInput};
use warden::plugin::{config, log, types::Violation};

struct HostileValidator;

fn number(key: &str, default: usize) -> usize {
    config::get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Guest for HostileValidator {
    fn validate(_input: ValidationInput) -> Result<Vec<Violation>, String> {
        match config::get("mode").as_deref() {
            Some("sleep") => {
                let seconds = number("seconds", 20) as u64;
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                Ok(Vec::new())
            }
            Some("violations") => {
                let message = "v".repeat(number("kib", 1024) << 10);
                Ok((0..number("count", 40))
                    .map(|i| Violation {
                        field: format!("field_{i}"),
                        code: "hostile.huge".to_owned(),
                        message: message.clone(),
                    })
                    .collect())
            }
            Some("log") => {
                let message = "l".repeat(number("kib", 1024) << 10);
                for i in 0..number("count", 100) {
                    log::log(
                        log::Level::Info,
                        &message,
                        &[("record".to_owned(), i.to_string())],
                    );
                }
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }
}

export!(HostileValidator);
