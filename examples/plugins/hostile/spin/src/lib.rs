//! Hostile fixture: a validator that never returns.

use warden_plugin_sdk::{Error, Validator, export_validator, types::*};

struct Spin;

impl Validator for Spin {
    fn validate(_input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export_validator!(Spin);
