//! Warden's process managers: reactions to events that span aggregates.
//!
//! A process manager follows the event stream like a projection, but instead of writing a view it issues
//! ordinary commands through [`warden_command::Commands`] as the system, so every follow-up change is an event
//! of its own in the audit trail, with `system` as its creator. It runs under the spooler machinery of
//! [`warden_spooler`] as a [`Projection`](warden_spooler::Projection) that
//! [`reacts`](warden_spooler::Projection::reacts): one node at a time holds its lease, its checkpoint moves
//! after each event it handled, and an event it cannot handle is recorded as failed, retried with back-off and
//! at last skipped, visible in the projection status. Its reactions are idempotent (a command whose target is
//! already gone changes nothing), because after a crash between a reaction and its checkpoint the event is
//! handled again.
//!
//! This crate sits above both the command side and the read side: it needs the spoolers' machinery, the query
//! views to find what depends on a removed resource, and the command pipeline to act; none of those crates may
//! depend on the others that way.
//!
//! [`Cascades`] removes what a removed organization, project or role leaves behind.

#![warn(missing_docs)]

mod cascades;

pub use cascades::{CASCADES, Cascades};
