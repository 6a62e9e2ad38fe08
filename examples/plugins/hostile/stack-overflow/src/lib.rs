//! Hostile fixture: a validator that recurses without bound.

use warden_plugin_sdk::{Error, Validator, export_validator, types::*};

struct StackOverflow;

impl Validator for StackOverflow {
    fn validate(_input: ValidationInput) -> Result<Vec<Violation>, Error> {
        let depth = descend(std::hint::black_box(u64::MAX));
        Ok(vec![Violation::new("", "unreachable", depth.to_string())])
    }
}

/// Recursion the optimizer cannot turn into a loop; its frames live on the wasm stack.
#[inline(never)]
fn descend(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let below = descend(std::hint::black_box(n - 1));
    std::hint::black_box(below.wrapping_add(n))
}

export_validator!(StackOverflow);
