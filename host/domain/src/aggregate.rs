//! The shape shared by every aggregate: events, state rebuilt from events, and the [`Decision`] a command makes.
//!
//! # How a pipeline drives a command
//!
//! Every command is a method on the aggregate's state with the signature
//! `fn(&self, <inputs>, &CommandContext) -> Result<Decision<Event>, DomainError>`. A generic pipeline takes the
//! command as a closure over the state, so it can re-run it on fresh state after a concurrency conflict:
//!
//! ```
//! use warden_domain::{Aggregate, CommandContext, Decision, DomainError};
//! use warden_domain::user::User;
//!
//! fn execute<A: Aggregate>(
//!     stored: &[A::Event],
//!     ctx: &CommandContext,
//!     decide: impl Fn(&A, &CommandContext) -> Result<Decision<A::Event>, DomainError>,
//! ) -> Result<Decision<A::Event>, DomainError> {
//!     let state = A::replay(stored);
//!     decide(&state, ctx) // then: validator plugins, push events + unique changes, retry on conflict
//! }
//!
//! let ctx = CommandContext::new("instance-1", "admin", 1_700_000_000_000);
//! let refused = execute::<User>(&[], &ctx, |user, ctx| user.lock(ctx));
//! assert_eq!(refused.unwrap_err().code, "user.not_found");
//! ```
//!
//! A command that depends on another aggregate takes that aggregate's state as an argument: adding a user grant
//! takes the user and the project (`grant.add(&cmd, &user, &project, ctx)`), granting a project takes the
//! granted organization, adding a user or project takes the owning organization, adding an application takes its
//! project, adding a member takes the user. The pipeline loads those first; they are read, not locked, so such
//! checks hold as of loading.
//!
//! Aggregate states serialize (for validator plugins and debugging); hashes of secrets in them and in event
//! payloads are in members named `*_hash`, which [`audit::redact_secrets`](crate::audit::redact_secrets) hides.
//!
//! An `Ok` decision with no events means "nothing changed" (for instance a profile set to the values it already
//! has): the pipeline pushes nothing and answers with the aggregate's current details.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{DecodeError, DomainError};

/// An event-sourced aggregate: its state is the fold of its events.
pub trait Aggregate: Default + Clone + fmt::Debug + Serialize + Send + Sync + 'static {
    /// The stored aggregate type, e.g. `"user"`.
    const TYPE: &'static str;
    /// The events of this aggregate.
    type Event: DomainEvent;

    /// Applies one event to the state. Never panics, whatever the order or content of events.
    fn apply(&mut self, event: &Self::Event);

    /// Rebuilds the state from its events, oldest first.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

/// An event with a stable name and revision and a JSON payload.
pub trait DomainEvent: Sized + Clone + fmt::Debug + Send + Sync + 'static {
    /// The stable dotted name of the event, e.g. `"user.human.added"`.
    fn event_type(&self) -> &'static str;
    /// The revision of that name's payload shape that this version writes.
    fn revision(&self) -> u16;
    /// The payload to store.
    fn to_payload(&self) -> Value;
    /// Decodes a stored event; payloads of older revisions are upcast to the current shape first.
    fn from_stored(event_type: &str, revision: u16, payload: &Value) -> Result<Self, DecodeError>;
}

/// Turns a payload of an older revision into the current shape: `Ok(None)` when it has no rule for that
/// event type and revision.
pub type Upcaster =
    fn(event_type: &str, from_revision: u16, payload: &Value) -> Result<Option<Value>, DecodeError>;

/// The upcaster of aggregates whose events all are at their first revision.
pub fn no_upcast(_: &str, _: u16, _: &Value) -> Result<Option<Value>, DecodeError> {
    Ok(None)
}

/// Who runs a command, for which instance, and when. The domain has no clock: time comes from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandContext {
    /// The instance (tenant) the command runs in.
    pub instance_id: String,
    /// The id of the user (human or machine) issuing the command.
    pub actor: String,
    /// The current time, in milliseconds since the Unix epoch.
    pub now_unix_ms: i64,
}

impl CommandContext {
    /// A context for `actor` in `instance_id` at `now_unix_ms`.
    pub fn new(instance_id: impl Into<String>, actor: impl Into<String>, now_unix_ms: i64) -> Self {
        Self {
            instance_id: instance_id.into(),
            actor: actor.into(),
            now_unix_ms,
        }
    }
}

/// What a command decided: events for the aggregate, plus unique-value changes the eventstore applies in the
/// same transaction as the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<E> {
    /// The events to append, in order. Empty when the command changed nothing.
    pub events: Vec<E>,
    /// Unique values to claim or free with the push.
    pub unique: Vec<UniqueChange>,
}

impl<E> Default for Decision<E> {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            unique: Vec::new(),
        }
    }
}

impl<E> Decision<E> {
    /// A decision that changes nothing.
    pub fn unchanged() -> Self {
        Self::default()
    }

    /// A decision of a single event.
    pub fn event(event: E) -> Self {
        Self {
            events: vec![event],
            unique: Vec::new(),
        }
    }

    /// A decision of `event`, unless what it does is `done` already: then refused (409) with `refusal`'s code
    /// and message.
    pub fn unless_done(
        done: bool,
        refusal: (&'static str, &'static str),
        event: E,
    ) -> Result<Self, DomainError> {
        if done {
            return Err(DomainError::precondition(refusal.0, refusal.1));
        }
        Ok(Self::event(event))
    }

    /// A decision of several events.
    pub fn events(events: Vec<E>) -> Self {
        Self {
            events,
            unique: Vec::new(),
        }
    }

    /// Adds an event.
    #[must_use]
    pub fn and(mut self, event: E) -> Self {
        self.events.push(event);
        self
    }

    /// Adds a unique-value change.
    #[must_use]
    pub fn with_unique(mut self, change: UniqueChange) -> Self {
        self.unique.push(change);
        self
    }

    /// True when there is nothing to push.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.unique.is_empty()
    }
}

/// Where a unique value must be unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UniqueScope {
    /// Unique within one instance (the eventstore keys it by instance id, type and value).
    Instance,
    /// Unique across all instances of the installation.
    Global,
}

/// A claim or release of a unique value, applied atomically with the events of the same push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UniqueChange {
    /// Claims `value` for `unique_type`; the push fails if it is taken.
    Add {
        /// The kind of value, one of [`unique`](crate::unique)'s constants.
        unique_type: &'static str,
        /// The normalized value (e.g. lower-cased).
        value: String,
        /// The input field to name when the value is taken.
        field: &'static str,
    },
    /// Releases `value` for `unique_type`.
    Remove {
        /// The kind of value.
        unique_type: &'static str,
        /// The normalized value.
        value: String,
    },
}

impl UniqueChange {
    /// A claim of `value`, reported against `field` if taken.
    pub fn add(unique_type: &'static str, value: impl Into<String>, field: &'static str) -> Self {
        Self::Add {
            unique_type,
            value: value.into(),
            field,
        }
    }

    /// A release of `value`.
    pub fn remove(unique_type: &'static str, value: impl Into<String>) -> Self {
        Self::Remove {
            unique_type,
            value: value.into(),
        }
    }

    /// The kind of value.
    pub fn unique_type(&self) -> &'static str {
        match self {
            Self::Add { unique_type, .. } | Self::Remove { unique_type, .. } => unique_type,
        }
    }

    /// The normalized value.
    pub fn value(&self) -> &str {
        match self {
            Self::Add { value, .. } | Self::Remove { value, .. } => value,
        }
    }

    /// Where the value must be unique.
    pub fn scope(&self) -> UniqueScope {
        crate::unique::scope(self.unique_type())
    }

    /// The error to answer when the eventstore reports this claim as taken.
    pub fn conflict_error(&self) -> DomainError {
        let field = match self {
            Self::Add { field, .. } => Some(*field),
            Self::Remove { .. } => None,
        };
        crate::unique::conflict_error(self.unique_type(), field)
    }
}

/// The life cycle shared by aggregates that can be deactivated and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// No "added" event yet.
    #[default]
    Unspecified,
    /// Added and usable.
    Active,
    /// Deactivated: kept but not usable until reactivated.
    Inactive,
    /// Removed for good; commands answer "not found".
    Removed,
}

impl Lifecycle {
    /// Added and not removed.
    pub fn exists(self) -> bool {
        matches!(self, Self::Active | Self::Inactive)
    }

    /// Decides `event`, the deactivation of an existing aggregate; refused (409) with `refusal`'s code and
    /// message when it is inactive already.
    pub fn deactivate<E>(
        self,
        event: E,
        refusal: (&'static str, &'static str),
    ) -> Result<Decision<E>, DomainError> {
        Decision::unless_done(self == Self::Inactive, refusal, event)
    }

    /// Decides `event`, the reactivation of an existing aggregate; refused (409) with `refusal`'s code and
    /// message when it is active.
    pub fn reactivate<E>(
        self,
        event: E,
        refusal: (&'static str, &'static str),
    ) -> Result<Decision<E>, DomainError> {
        Decision::unless_done(self == Self::Active, refusal, event)
    }
}

/// Defines an aggregate's event enum and its [`DomainEvent`] implementation from a table of
/// `Variant(Payload) => "type.name" @ revision` rows. Unit variants have the payload `{}`.
macro_rules! domain_events {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $(($payload:ty))? => $event_type:literal @ $revision:literal
            ),+ $(,)?
        }
        upcast = $upcast:path;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant $(($payload))? ),+
        }

        impl $name {
            /// Every event type of this aggregate with the revision this version writes.
            pub const EVENT_TYPES: &'static [(&'static str, u16)] = &[$(($event_type, $revision)),+];
        }

        impl $crate::aggregate::DomainEvent for $name {
            fn event_type(&self) -> &'static str {
                match self {
                    $( Self::$variant $((domain_events!(@wild $payload)))? => $event_type ),+
                }
            }

            fn revision(&self) -> u16 {
                match self {
                    $( Self::$variant $((domain_events!(@wild $payload)))? => $revision ),+
                }
            }

            fn to_payload(&self) -> ::serde_json::Value {
                match self {
                    $( Self::$variant $((domain_events!(@bind payload $payload)))? =>
                        domain_events!(@encode $(payload $payload)?) ),+
                }
            }

            fn from_stored(
                event_type: &str,
                revision: u16,
                payload: &::serde_json::Value,
            ) -> Result<Self, $crate::error::DecodeError> {
                let current: u16 = match event_type {
                    $( $event_type => $revision, )+
                    _ => {
                        return Err($crate::error::DecodeError::UnknownEventType {
                            event_type: event_type.to_owned(),
                        })
                    }
                };
                let upcast_payload;
                let payload = if revision == current {
                    payload
                } else {
                    let handled = if revision < current {
                        $upcast(event_type, revision, payload)?
                    } else {
                        None
                    };
                    match handled {
                        Some(value) => {
                            upcast_payload = value;
                            &upcast_payload
                        }
                        None => {
                            return Err($crate::error::DecodeError::UnsupportedRevision {
                                event_type: event_type.to_owned(),
                                revision,
                                current,
                            })
                        }
                    }
                };
                match event_type {
                    $( $event_type => domain_events!(@decode Self, $variant, event_type, revision, payload $(, $payload)?), )+
                    _ => Err($crate::error::DecodeError::UnknownEventType {
                        event_type: event_type.to_owned(),
                    }),
                }
            }
        }
    };
    (@wild $payload:ty) => { _ };
    (@bind $binding:ident $payload:ty) => { $binding };
    (@encode) => { ::serde_json::Value::Object(::serde_json::Map::new()) };
    // Payloads are plain structs with string keys, which serde_json always encodes; `Null` is unreachable and
    // the round-trip tests would catch it.
    (@encode $binding:ident $payload:ty) => {
        ::serde_json::to_value($binding).unwrap_or(::serde_json::Value::Null)
    };
    (@decode $this:ident, $variant:ident, $event_type:ident, $revision:ident, $payload:ident) => {
        match $payload {
            ::serde_json::Value::Object(_) | ::serde_json::Value::Null => Ok($this::$variant),
            _ => Err($crate::error::DecodeError::invalid_payload(
                $event_type,
                $revision,
                "expected an object",
            )),
        }
    };
    (@decode $this:ident, $variant:ident, $event_type:ident, $revision:ident, $payload:ident, $ty:ty) => {
        <$ty as ::serde::Deserialize>::deserialize($payload)
            .map($this::$variant)
            .map_err(|e| $crate::error::DecodeError::invalid_payload($event_type, $revision, e))
    };
}

pub(crate) use domain_events;
