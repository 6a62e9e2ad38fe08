//! Hostile fixture: a validator that allocates (and touches) memory until none is left.

use warden_plugin_sdk::{Error, Validator, export_validator, types::*};

struct MemoryBomb;

impl Validator for MemoryBomb {
    fn validate(_input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xa5; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_validator!(MemoryBomb);
