//! A given/when/then harness for domain tests (enabled in this crate's tests and by the `testing` feature).
//!
//! ```
//! use warden_domain::testing::given;
//! use warden_domain::user::{User, UserEvent};
//! use warden_domain::{CommandContext, ErrorKind};
//!
//! let ctx = CommandContext::new("instance-1", "admin", 0);
//! given::<User>(&[])
//!     .when(|user| user.lock(&ctx))
//!     .then_error(ErrorKind::NotFound, "user.not_found");
//! ```
//!
//! The assertions panic with a message on mismatch, as test assertions do.

use crate::aggregate::{Aggregate, Decision, DomainEvent, UniqueChange};
use crate::error::{DomainError, ErrorKind};

/// Starts a test from the state that `events` build.
pub fn given<A: Aggregate>(events: &[A::Event]) -> Given<A> {
    Given {
        state: A::replay(events),
    }
}

/// The state a command runs on.
#[derive(Debug)]
pub struct Given<A> {
    state: A,
}

impl<A: Aggregate> Given<A> {
    /// The state built from the given events.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Runs a command on the state.
    pub fn when(
        self,
        command: impl FnOnce(&A) -> Result<Decision<A::Event>, DomainError>,
    ) -> Then<A> {
        let result = command(&self.state);
        Then {
            state: self.state,
            result,
        }
    }
}

/// The outcome of a command, to assert on.
#[derive(Debug)]
pub struct Then<A: Aggregate> {
    state: A,
    result: Result<Decision<A::Event>, DomainError>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq,
{
    #[track_caller]
    fn decision(&self) -> &Decision<A::Event> {
        match &self.result {
            Ok(decision) => decision,
            Err(error) => panic!("expected the command to succeed, it was refused: {error:?}"),
        }
    }

    /// Asserts the command decided exactly these events, and that each survives a round trip through its
    /// stored form.
    #[track_caller]
    pub fn then_events(self, expected: impl IntoIterator<Item = A::Event>) -> Self {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        let decision = self.decision();
        assert_eq!(decision.events, expected, "decided events");
        for event in &decision.events {
            let decoded =
                A::Event::from_stored(event.event_type(), event.revision(), &event.to_payload());
            assert_eq!(
                decoded.as_ref(),
                Ok(event),
                "round trip of {}",
                event.event_type()
            );
        }
        self
    }

    /// Asserts the command succeeded and changed nothing.
    #[track_caller]
    pub fn then_unchanged(self) -> Self {
        let decision = self.decision();
        assert!(decision.is_empty(), "expected no change, got {decision:?}");
        self
    }

    /// Asserts the unique-value changes of the decision.
    #[track_caller]
    pub fn then_unique(self, expected: impl IntoIterator<Item = UniqueChange>) -> Self {
        let expected: Vec<UniqueChange> = expected.into_iter().collect();
        assert_eq!(self.decision().unique, expected, "unique changes");
        self
    }

    /// Asserts the command was refused with this kind and code.
    #[track_caller]
    pub fn then_error(self, kind: ErrorKind, code: &str) -> Self {
        let error = self.error();
        assert_eq!(
            (error.kind, error.code.as_ref()),
            (kind, code),
            "refusal: {error:?}"
        );
        assert!(
            !error.message.is_empty(),
            "refusal without a message: {error:?}"
        );
        self
    }

    /// Asserts the refusal names this field.
    #[track_caller]
    pub fn then_field(self, field: &str) -> Self {
        let error = self.error();
        assert_eq!(
            error.field.as_deref(),
            Some(field),
            "field of refusal: {error:?}"
        );
        self
    }

    /// Checks the state after applying the decided events.
    #[track_caller]
    pub fn then_state(self, check: impl FnOnce(&A)) -> Self {
        let mut state = self.state.clone();
        for event in &self.decision().events {
            state.apply(event);
        }
        check(&state);
        self
    }

    /// The refusal.
    #[track_caller]
    pub fn error(&self) -> &DomainError {
        match &self.result {
            Err(error) => error,
            Ok(decision) => panic!("expected the command to be refused, it decided {decision:?}"),
        }
    }

    /// The decision.
    #[track_caller]
    pub fn decided(&self) -> &Decision<A::Event> {
        self.decision()
    }
}
