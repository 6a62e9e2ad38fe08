//! Hostile fixture: a validator that panics at once.

use warden_plugin_sdk::{Error, Validator, export_validator, types::*};

struct Trap;

impl Validator for Trap {
    fn validate(input: ValidationInput) -> Result<Vec<Violation>, Error> {
        panic!(
            "hostile fixture refuses command {}",
            input.command.command_type
        );
    }
}

export_validator!(Trap);
