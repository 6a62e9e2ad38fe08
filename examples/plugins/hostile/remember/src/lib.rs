//! Hostile fixture: a validator that tries to carry data from one call (one user, one tenant) to the
//! next. It reports what it remembers as a violation with the code `remembered`.

use std::sync::Mutex;

use warden_plugin_sdk::{Error, Validator, export_validator, types::*};

static PREVIOUS: Mutex<Option<String>> = Mutex::new(None);

struct Remember;

impl Validator for Remember {
    fn validate(input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let mut previous = PREVIOUS.lock().map_err(|_| "poisoned")?;
        let seen = previous.replace(format!(
            "{}/{}",
            input.command.instance_id, input.command.aggregate_id
        ));
        Ok(seen
            .map(|seen| vec![Violation::new("", "remembered", seen)])
            .unwrap_or_default())
    }
}

export_validator!(Remember);
