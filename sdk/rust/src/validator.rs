use std::marker::PhantomData;

use crate::types::{ValidationInput, Violation};
use crate::wit::validator::exports::warden::plugin::validation::Guest;

/// A validator: business rules checked in the command pipeline before a command's events are stored.
///
/// Return an empty list to let the command through, or the rules it breaks to refuse it; Warden turns
/// violations into a 4xx error for the caller with your messages. Export the type with
/// [`export_validator!`](crate::export_validator).
///
/// ```no_run
/// use warden_plugin_sdk::{export_validator, types::*, Error, Validator};
///
/// struct NoAdminUsername;
///
/// impl Validator for NoAdminUsername {
///     fn validate(input: ValidationInput) -> Result<Vec<Violation>, Error> {
///         match &input.command.payload {
///             CommandPayload::AddHumanUser(profile) if profile.username == "admin" => Ok(vec![
///                 Violation::new("username", "username.reserved", "this username is reserved"),
///             ]),
///             _ => Ok(Vec::new()),
///         }
///     }
/// }
///
/// export_validator!(NoAdminUsername);
/// ```
pub trait Validator {
    /// Check one command: its payload, the aggregate's current state and the events it would store.
    fn validate(input: ValidationInput) -> Result<Vec<Violation>, crate::Error>;
}

#[doc(hidden)]
#[derive(Debug)]
pub struct ValidatorAdapter<T>(PhantomData<T>);

impl<T: Validator> Guest for ValidatorAdapter<T> {
    fn validate(input: ValidationInput) -> Result<Vec<Violation>, String> {
        T::validate(input)
    }
}

/// Exports a type that implements [`Validator`] as the plugin's validator.
#[macro_export]
macro_rules! export_validator {
    ($plugin:ty) => {
        const _: () = {
            type WardenValidator = $crate::__private::ValidatorAdapter<$plugin>;
    $crate::__export_validator_impl!(WardenValidator with_types_in $crate::wit::validator);
        };
    };
}
