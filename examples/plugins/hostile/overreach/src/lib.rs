//! Hostile fixture: a validator that imports the `views` interface, which only projections get.
//! The server must refuse to load it.

use warden_plugin_sdk::{Error, Validator, export_validator, types::*, views};

struct Overreach;

impl Validator for Overreach {
    fn validate(input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let row = views::get("users", &input.command.aggregate_id)?;
        Ok(row
            .map(|row| vec![Violation::new("", "read-a-view", row)])
            .unwrap_or_default())
    }
}

export_validator!(Overreach);
