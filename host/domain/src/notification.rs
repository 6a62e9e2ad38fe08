//! Notifications: the outbox of messages (emails) Warden sends, as events of the aggregate `"notification"`.
//!
//! A command that must tell a user something (a password reset code, an email verification code) records
//! `notification.requested` in the same push as its own events, so the message is requested exactly when the
//! change is stored. A spooler (crate `warden-notify`) delivers it and records `notification.sent`, or
//! `notification.failed` for an attempt that did not get through (it is tried again). A notification that
//! is sent is never sent again: that state is what makes delivery once per notification across restarts
//! and nodes.
//!
//! The code a message carries is *sealed* (encrypted with the instance's master key) in the request; the
//! user aggregate holds only its hash.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, CommandContext, Decision, domain_events, no_upcast};
use crate::error::DomainError;
use crate::validate;

/// `notification.mark_sent`: records that a notification was delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MarkNotificationSent {}

crate::command::command!(MarkNotificationSent: Notification, "notification.mark_sent", InstanceWrite, |self, notification, ctx| {
    notification.mark_sent(ctx)
});

/// `notification.mark_failed`: records that delivering a notification failed for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MarkNotificationFailed {
    /// Why, for the operators.
    pub error: String,
}

crate::command::command!(MarkNotificationFailed: Notification, "notification.mark_failed", InstanceWrite, |self, notification, ctx| {
    notification.mark_failed(&self.error, ctx)
});

/// The longest error text kept for a failed attempt.
pub const MAX_FAILURE_LEN: usize = 1000;

/// What a notification is about; decides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A link and code to set a new password.
    PasswordReset,
    /// A link and code to verify the email address.
    EmailVerification,
}

impl NotificationKind {
    /// The stable name, e.g. `password_reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

/// Payload of `notification.requested`, and input of [`Notification::request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRequested {
    /// What the message is about.
    pub kind: NotificationKind,
    /// The user it is for.
    pub user_id: String,
    /// The user's organization.
    pub org_id: String,
    /// The email address it goes to.
    pub recipient: String,
    /// The name to greet the user with.
    pub display_name: String,
    /// The user's preferred language (BCP 47), `und` when unknown.
    pub language: String,
    /// The code the message carries, sealed with the instance's master key.
    pub code_sealed: String,
    /// When the code expires, ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// Payload of `notification.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFailed {
    /// Why the attempt failed (as the transport said; no secrets).
    pub error: String,
}

domain_events! {
    /// Events of the notification aggregate.
    pub enum NotificationEvent {
        /// A message was requested.
        Requested(NotificationRequested) => "notification.requested" @ 1,
        /// The message was handed to the mail server (or written to the mail directory).
        Sent => "notification.sent" @ 1,
        /// An attempt to send the message failed; it is tried again.
        Failed(NotificationFailed) => "notification.failed" @ 1,
    }
    upcast = no_upcast;
}

/// State of a notification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The request; `None` before it was made.
    pub request: Option<NotificationRequested>,
    /// True once sent.
    pub sent: bool,
    /// Failed attempts so far.
    pub failed_attempts: u32,
    /// The latest failure.
    pub last_error: Option<String>,
}

impl Aggregate for Notification {
    const TYPE: &'static str = "notification";
    type Event = NotificationEvent;

    fn apply(&mut self, event: &NotificationEvent) {
        match event {
            NotificationEvent::Requested(e) => self.request = Some(e.clone()),
            NotificationEvent::Sent => self.sent = true,
            NotificationEvent::Failed(e) => {
                self.failed_attempts = self.failed_attempts.saturating_add(1);
                self.last_error = Some(e.error.clone());
            }
        }
    }
}

impl Notification {
    /// Requests a new message.
    pub fn request(
        &self,
        request: &NotificationRequested,
        _ctx: &CommandContext,
    ) -> Result<Decision<NotificationEvent>, DomainError> {
        if self.request.is_some() {
            return Err(DomainError::already_exists(
                "notification.already_exists",
                "a notification with this id already exists",
            ));
        }
        let recipient = validate::email("notification.recipient", "recipient", &request.recipient)?;
        if request.code_sealed.trim().is_empty() {
            return Err(DomainError::invalid(
                "code_sealed",
                "notification.code.required",
                "the sealed code is required",
            ));
        }
        Ok(Decision::event(NotificationEvent::Requested(
            NotificationRequested {
                recipient,
                ..request.clone()
            },
        )))
    }

    /// Records that the message went out; nothing when already recorded.
    pub fn mark_sent(
        &self,
        _ctx: &CommandContext,
    ) -> Result<Decision<NotificationEvent>, DomainError> {
        self.ensure_requested()?;
        if self.sent {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(NotificationEvent::Sent))
    }

    /// Records a failed attempt; refused once the message was sent.
    pub fn mark_failed(
        &self,
        error: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<NotificationEvent>, DomainError> {
        self.ensure_requested()?;
        if self.sent {
            return Err(DomainError::precondition(
                "notification.already_sent",
                "the notification was already sent",
            ));
        }
        let error: String = error.chars().take(MAX_FAILURE_LEN).collect();
        Ok(Decision::event(NotificationEvent::Failed(
            NotificationFailed { error },
        )))
    }

    fn ensure_requested(&self) -> Result<(), DomainError> {
        if self.request.is_none() {
            return Err(DomainError::not_found(
                "notification.not_found",
                "the notification does not exist",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::testing::given;

    fn ctx() -> CommandContext {
        CommandContext::new("instance-1", "system", 1_700_000_000_000)
    }

    fn requested() -> NotificationRequested {
        NotificationRequested {
            kind: NotificationKind::PasswordReset,
            user_id: "user-1".to_owned(),
            org_id: "org-1".to_owned(),
            recipient: "alice@EXAMPLE.com".to_owned(),
            display_name: "Alice".to_owned(),
            language: "en".to_owned(),
            code_sealed: "v1.abc".to_owned(),
            expires_at_unix_ms: 1_700_000_600_000,
        }
    }

    #[test]
    fn request_normalizes_the_recipient_and_is_made_once() {
        let stored = NotificationRequested {
            recipient: "alice@example.com".to_owned(),
            ..requested()
        };
        given::<Notification>(&[])
            .when(|n| n.request(&requested(), &ctx()))
            .then_events([NotificationEvent::Requested(stored.clone())]);
        given::<Notification>(&[NotificationEvent::Requested(stored)])
            .when(|n| n.request(&requested(), &ctx()))
            .then_error(ErrorKind::AlreadyExists, "notification.already_exists");
    }

    #[test]
    fn request_refuses_a_bad_recipient_by_name() {
        let bad = NotificationRequested {
            recipient: "nobody".to_owned(),
            ..requested()
        };
        given::<Notification>(&[])
            .when(|n| n.request(&bad, &ctx()))
            .then_error(ErrorKind::InvalidArgument, "notification.recipient.invalid")
            .then_field("recipient");
    }

    #[test]
    fn sent_is_recorded_once_and_ends_failures() {
        let history = [
            NotificationEvent::Requested(requested()),
            NotificationEvent::Failed(NotificationFailed {
                error: "connection refused".to_owned(),
            }),
        ];
        given::<Notification>(&history)
            .when(|n| n.mark_sent(&ctx()))
            .then_events([NotificationEvent::Sent])
            .then_state(|n| {
                assert!(n.sent);
                assert_eq!(n.failed_attempts, 1);
            });
        let sent = [
            NotificationEvent::Requested(requested()),
            NotificationEvent::Sent,
        ];
        given::<Notification>(&sent)
            .when(|n| n.mark_sent(&ctx()))
            .then_unchanged();
        given::<Notification>(&sent)
            .when(|n| n.mark_failed("late", &ctx()))
            .then_error(ErrorKind::PreconditionFailed, "notification.already_sent");
    }

    #[test]
    fn nothing_is_recorded_for_an_unknown_notification() {
        given::<Notification>(&[])
            .when(|n| n.mark_sent(&ctx()))
            .then_error(ErrorKind::NotFound, "notification.not_found");
    }
}
