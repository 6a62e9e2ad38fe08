//! Warden's pure domain: event-sourced aggregates of the IAM, their commands and rules, policies, and the
//! authorization table of the management API.
//!
//! Nothing here does I/O, reads a clock or draws random numbers: time arrives in [`CommandContext`], ids,
//! hashes and keys are generated outside and passed in. Every command is a typed value ([`command`]: its
//! stable name, serde shape and permission) decided by a method on an aggregate's state that returns a
//! [`Decision`] (events plus unique-value changes) or a [`DomainError`]; see [`aggregate`] for how a
//! pipeline drives one.
//!
//! | aggregate | type | events |
//! |---|---|---|
//! | [`instance::Instance`] | `instance` | [`instance::InstanceEvent`] |
//! | [`org::Organization`] | `org` | [`org::OrgEvent`] |
//! | [`user::User`] | `user` | [`user::UserEvent`] |
//! | [`project::Project`] | `project` | [`project::ProjectEvent`] |
//! | [`application::Application`] | `application` | [`application::ApplicationEvent`] |
//! | [`user_grant::UserGrant`] | `user_grant` | [`user_grant::UserGrantEvent`] |
//! | [`plugin::Plugin`] | `plugin` | [`plugin::PluginEvent`] |
//! | [`signing_key::SigningKeys`] | `signing_key` | [`signing_key::SigningKeyEvent`] |
//! | [`session::Session`] | `session` | [`session::SessionEvent`] |
//! | [`notification::Notification`] | `notification` | [`notification::NotificationEvent`] |
//!
//! Members live in the instance, organization and project aggregates ([`member`]); [`authz`] turns
//! memberships into permissions; [`policy`] holds the policies and their resolution.

#![warn(missing_docs)]

pub mod aggregate;
pub mod application;
pub mod audit;
pub mod authz;
pub mod command;
pub mod error;
pub mod instance;
pub mod member;
pub mod notification;
pub mod org;
pub mod plugin;
pub mod policy;
pub mod project;
pub mod public_key;
pub mod session;
pub mod signing_key;
pub mod unique;
pub mod user;
pub mod user_grant;
pub mod validate;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod round_trip;

pub use aggregate::{
    Aggregate, CommandContext, Decision, DomainEvent, Lifecycle, UniqueChange, UniqueScope,
};
pub use error::{DecodeError, DomainError, ErrorKind};
