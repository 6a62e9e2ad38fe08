//! Write Warden plugins in Rust.
//!
//! A Warden plugin is a WebAssembly component built for `wasm32-wasip2` that targets one of three
//! worlds of the WIT package `warden:plugin@0.1.0`:
//!
//! * a **validator** ([`Validator`], [`export_validator!`]) checks a command before its events are
//!   stored and returns violations that refuse it;
//! * a **projection** ([`Projection`], [`export_projection!`]) turns events into rows of its own views
//!   through [`views`];
//! * an **action** ([`Action`], [`export_action!`]) runs in the login flow: it can deny a login, ask for a
//!   second factor, adjust a registration, add claims to tokens and set metadata on new users.
//!
//! Every plugin can write to the server's log ([`log`]) and read the configuration values of the
//! binding it runs under ([`config`]). It has no file system, network or environment, and each call
//! runs in a fresh instance: keep no state between calls.
//!
//! A whole validator plugin (`Cargo.toml` with `crate-type = ["cdylib"]`, built with
//! `cargo build --release --target wasm32-wasip2`):
//!
//! ```no_run
//! use warden_plugin_sdk::{config, export_validator, types::*, Error, Validator};
//!
//! struct UsernameLength;
//!
//! impl Validator for UsernameLength {
//!     fn validate(input: ValidationInput) -> Result<Vec<Violation>, Error> {
//!         let CommandPayload::AddHumanUser(profile) = &input.command.payload else {
//!             return Ok(Vec::new());
//!         };
//!         let min: usize = config::get("min_length")
//!             .unwrap_or_else(|| "3".into())
//!             .parse()
//!             .map_err(|_| "min_length must be a number")?;
//!         if profile.username.chars().count() < min {
//!             return Ok(vec![Violation::new(
//!                 "username",
//!                 "username.too-short",
//!                 format!("a username needs at least {min} characters"),
//!             )]);
//!         }
//!         Ok(Vec::new())
//!     }
//! }
//!
//! export_validator!(UsernameLength);
//! ```
#![warn(missing_docs)]

// The export macros name this crate by its absolute path, which must resolve inside it too.
extern crate self as warden_plugin_sdk;

/// Bindings generated from the WIT package; use the modules and traits of this crate instead.
#[doc(hidden)]
pub mod wit {
    /// The `validator` world.
    pub mod validator {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "warden:plugin/validator@0.1.0",
            pub_export_macro: true,
            runtime_path: "::warden_plugin_sdk::wit::rt",
        });
    }

    /// The `projection` world; shares the types of the `validator` bindings.
    pub mod projection {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "warden:plugin/projection@0.1.0",
            pub_export_macro: true,
            runtime_path: "::warden_plugin_sdk::wit::rt",
            with: {
                "warden:plugin/types@0.1.0": crate::wit::validator::warden::plugin::types,
                "warden:plugin/log@0.1.0": crate::wit::validator::warden::plugin::log,
                "warden:plugin/config@0.1.0": crate::wit::validator::warden::plugin::config,
            },
        });
    }

    /// The `action` world; shares the types of the `validator` bindings.
    pub mod action {
        wit_bindgen::generate!({
            path: "../../wit/v0.1.0",
            world: "warden:plugin/action@0.1.0",
            pub_export_macro: true,
            runtime_path: "::warden_plugin_sdk::wit::rt",
            with: {
                "warden:plugin/types@0.1.0": crate::wit::validator::warden::plugin::types,
                "warden:plugin/log@0.1.0": crate::wit::validator::warden::plugin::log,
                "warden:plugin/config@0.1.0": crate::wit::validator::warden::plugin::config,
            },
        });
    }

    pub use wit_bindgen::rt;
}

pub mod types;

pub mod config;
pub mod log;
pub mod views;

mod action;
mod projection;
mod validator;

pub use action::Action;
pub use projection::Projection;
pub use validator::Validator;

/// A plugin's own failure, as a message for the operator (e.g. "min_length must be a number").
///
/// Returning an error fails the call; the binding's failure policy decides whether the command or
/// login is refused or goes on. It is not the way to refuse a command: return violations or a deny
/// decision for that.
pub type Error = String;

/// Glue between the generated bindings and this crate's traits; used by the export macros.
#[doc(hidden)]
pub mod __private {
    pub use crate::action::ActionAdapter;
    pub use crate::projection::ProjectionAdapter;
    pub use crate::validator::ValidatorAdapter;
}
