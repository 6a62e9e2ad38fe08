//! Hostile fixture: a validator that floods stdout, stderr and the log, then lets the command through.
//!
//! Configuration: `megabytes` (default 64) to write to each of stdout and stderr, `records` (default
//! 100000) log records of 1 KiB.

use std::io::Write;

use warden_plugin_sdk::{Error, Validator, config, export_validator, log, types::*};

struct Noisy;

impl Validator for Noisy {
    fn validate(_input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let megabytes: usize = config::get("megabytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(64);
        let records: usize = config::get("records")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        let chunk = vec![b'x'; 64 << 10];
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        for _ in 0..megabytes * 16 {
            // A host that drops output past its bound may also refuse it; keep flooding regardless.
            let _ = out.write_all(&chunk);
            let _ = err.write_all(&chunk);
        }
        let line = "y".repeat(1024);
        for i in 0..records {
            log::info(&line, &[("record", &i.to_string())]);
        }
        Ok(Vec::new())
    }
}

export_validator!(Noisy);
