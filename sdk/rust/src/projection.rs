use std::marker::PhantomData;

use crate::types::Event;
use crate::wit::projection::exports::warden::plugin::projector::Guest;

/// A projection: turns events into rows of the plugin's own views.
///
/// Warden runs it under its own spooler, like a built-in projection: events arrive once each, in order,
/// and a handler that fails is retried. Write rows with [`views`](crate::views). Export the type with
/// [`export_projection!`](crate::export_projection).
///
/// ```no_run
/// use warden_plugin_sdk::{export_projection, types::*, views, Error, Projection};
///
/// struct UserEmails;
///
/// impl Projection for UserEmails {
///     const SUBSCRIPTIONS: &'static [&'static str] = &["user.human.added", "user.removed"];
///
///     fn handle(event: Event) -> Result<(), Error> {
///         match event.event_type.as_str() {
///             "user.removed" => views::delete("users", &event.aggregate_id)?,
///             _ => views::upsert("users", &event.aggregate_id, &event.payload)?,
///         }
///         Ok(())
///     }
/// }
///
/// export_projection!(UserEmails);
/// ```
pub trait Projection {
    /// The event types the projection wants; a trailing `*` matches a prefix (`"user.*"`).
    const SUBSCRIPTIONS: &'static [&'static str];

    /// Apply one event to the views.
    fn handle(event: Event) -> Result<(), crate::Error>;
}

#[doc(hidden)]
#[derive(Debug)]
pub struct ProjectionAdapter<T>(PhantomData<T>);

impl<T: Projection> Guest for ProjectionAdapter<T> {
    fn subscriptions() -> Vec<String> {
        T::SUBSCRIPTIONS.iter().map(|s| (*s).to_owned()).collect()
    }

    fn handle(event: Event) -> Result<(), String> {
        T::handle(event)
    }
}

/// Exports a type that implements [`Projection`] as the plugin's projection.
#[macro_export]
macro_rules! export_projection {
    ($plugin:ty) => {
        const _: () = {
            type WardenProjection = $crate::__private::ProjectionAdapter<$plugin>;
            $crate::__export_projection_impl!(WardenProjection with_types_in $crate::wit::projection);
        };
    };
}
