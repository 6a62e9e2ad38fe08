//! Warden's notifications: the mail outbox and its delivery.
//!
//! # Outbox as events
//!
//! A command that must mail a user (a password reset code, an email verification code; see
//! `warden_command::user_auth`) stores `notification.requested` on a new `notification` aggregate **in the
//! same push** as its own events, so a mail is requested exactly when the change it announces is stored.
//! The request holds the recipient, the greeting, the kind of message, and the code it carries, *sealed*
//! with the master key (the user aggregate keeps only the code's hash). The [`Notifier`] delivers each
//! request and records `notification.sent`, or `notification.failed` for an attempt that did not get
//! through.
//!
//! Why a notification aggregate rather than a spooler reading the user events directly: the outbox is one
//! stream for every kind of mail, delivery is recorded next to the request (who was mailed what, when, and
//! which attempts failed, all in the audit trail), the sent state is what makes a mail go out once, and the
//! user aggregate stays free of delivery state and of the plaintext code in any form.
//!
//! # Delivery: once per notification
//!
//! The [`Notifier`] is a process manager under the spooler machinery ([`warden_spooler`]): one node at a time
//! holds its lease, it reads `notification.requested` after its checkpoint, and its checkpoint moves after
//! each event. Before sending it reads the notification and skips it when `notification.sent` is already
//! stored, so a restart, a crash after the mail was recorded, or a lease taken over by another node does not
//! send a mail again. The one window left is a crash between the SMTP server accepting the mail and
//! `notification.sent` being stored: that mail is sent again, with the same `Message-ID`
//! (`<notification id@warden>`), so receivers can tell. A failed attempt is recorded
//! (`notification.failed`) and the event is retried with back-off by the spooler, then skipped after its
//! bound and listed among the projection's failed events. A request whose code expired before it could be
//! sent is recorded as failed and not retried.
//!
//! # Transports
//!
//! With an SMTP server configured ([`SmtpConfig`]: host, port, user, password, sender, TLS mode none /
//! starttls / tls) mail goes through it with `lettre`. Without one, each mail is written to the log and to
//! `<mail dir>/<unix ms>-<notification id>.eml` (an RFC 5322 message), so the embedded default works and a
//! developer can open the reset link. Texts live in [`texts`].

#![warn(missing_docs)]

mod config;
mod mailer;
pub mod texts;

use std::sync::Arc;

use warden_command::{
    Caller, CommandError, Commands,
    user_auth::{EMAIL_CODE_LIFETIME_MS, PASSWORD_CODE_LIFETIME_MS, notification_owner},
};
use warden_domain::notification::{Notification, NotificationKind};
use warden_eventstore::Event;
use warden_spooler::{BoxFuture, Projection, ProjectionError, Spoolers, ViewTx};

pub use config::{DEFAULT_FROM, NotifyConfig, SmtpConfig, SmtpPassword, TlsMode};
pub use mailer::{Mailer, SMTP_TIMEOUT};

/// The name of the notifier (its checkpoint, lease and failed events).
pub const NOTIFICATIONS: &str = "notifications";

const REQUESTED: &str = "notification.requested";

/// Why a notification could not be delivered, or the notifier not set up.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A configuration value is invalid.
    #[error("`{key}`: {message}")]
    Config {
        /// The configuration key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The message could not be built (a bad address).
    #[error("message: {0}")]
    Message(String),
    /// The SMTP server refused the mail or could not be reached.
    #[error("smtp: {0}")]
    Smtp(String),
    /// The mail directory could not be written.
    #[error("mail directory: {0}")]
    Io(String),
    /// The sealed code does not open (no master key, or another one).
    #[error("sealed code: {0}")]
    Sealed(String),
    /// Recording the outcome failed.
    #[error(transparent)]
    Command(#[from] CommandError),
}

/// The process manager that mails requested notifications.
#[derive(Debug, Clone)]
pub struct Notifier {
    commands: Commands,
    mailer: Mailer,
    external_url: String,
}

impl Notifier {
    /// A notifier over `commands` (which read and record notifications; its secret box opens the codes).
    pub fn new(commands: Commands, config: &NotifyConfig) -> Result<Self, NotifyError> {
        Ok(Self {
            commands,
            mailer: Mailer::new(config.smtp.as_ref(), &config.mail_dir)?,
            external_url: config.external_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The mailer in use.
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Runs the notifier under `spoolers` (every node does; the lease makes one act).
    pub async fn start(
        commands: Commands,
        spoolers: &Spoolers,
        config: &NotifyConfig,
    ) -> Result<(), NotifyError> {
        let notifier = Self::new(commands, config)?;
        match &notifier.mailer {
            Mailer::Smtp { server, .. } => {
                tracing::info!(%server, "notifications are mailed through SMTP");
            }
            Mailer::Directory { dir, .. } => tracing::info!(
                dir = %dir.display(),
                "no SMTP server configured: notifications go to the log and the mail directory"
            ),
        }
        spoolers
            .add(Arc::new(notifier))
            .await
            .map_err(|e| NotifyError::Config {
                key: NOTIFICATIONS.to_owned(),
                message: e.to_string(),
            })
    }

    /// Delivers the notification `id` of `instance_id` unless it was sent already.
    pub async fn deliver(&self, instance_id: &str, id: &str) -> Result<(), NotifyError> {
        let model = self.commands.load::<Notification>(instance_id, id).await?;
        let state = &model.state;
        let Some(request) = &state.request else {
            return Ok(());
        };
        if state.sent {
            tracing::debug!(notification_id = id, "already sent");
            return Ok(());
        }
        let caller = Caller::system(instance_id);
        let system = self.commands.for_caller(&caller);
        let now_ms = now_unix_ms();
        if now_ms >= request.expires_at_unix_ms {
            system
                .mark_notification_failed(id, "the code expired before the mail could be sent")
                .await?;
            tracing::warn!(
                notification_id = id,
                "code expired before sending; not sent"
            );
            return Ok(());
        }
        let code = self
            .commands
            .secret_box()
            .ok_or_else(|| NotifyError::Sealed("no master key is configured".to_owned()))?
            .open(&request.code_sealed, &notification_owner(instance_id, id))
            .map_err(|e| NotifyError::Sealed(e.to_string()))?;
        let code = String::from_utf8(code)
            .map_err(|_| NotifyError::Sealed("the code is not text".to_owned()))?;
        let lifetime_ms = match request.kind {
            NotificationKind::PasswordReset => PASSWORD_CODE_LIFETIME_MS,
            NotificationKind::EmailVerification => EMAIL_CODE_LIFETIME_MS,
        };
        let valid_minutes = lifetime_ms / 60_000;
        let text = texts::render(
            request.kind,
            &texts::MailContext {
                external_url: &self.external_url,
                user_id: &request.user_id,
                display_name: &request.display_name,
                code: &code,
                valid_minutes,
            },
        );
        match self.mailer.send(id, &request.recipient, &text).await {
            Ok(()) => {
                system.mark_notification_sent(id).await?;
                Ok(())
            }
            Err(error) => {
                if let Err(record) = system
                    .mark_notification_failed(id, &error.to_string())
                    .await
                {
                    tracing::warn!(notification_id = id, %record, "recording a failed attempt failed");
                }
                Err(error)
            }
        }
    }
}

fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

impl Projection for Notifier {
    fn name(&self) -> &str {
        NOTIFICATIONS
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["notification".to_owned()]
    }

    fn event_types(&self) -> Vec<String> {
        vec![REQUESTED.to_owned()]
    }

    fn tables(&self) -> Vec<String> {
        Vec::new()
    }

    fn apply<'a>(
        &'a self,
        _tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            Err(ProjectionError::event(format!(
                "{NOTIFICATIONS} reacts to {} outside a view transaction",
                event.event_type
            )))
        })
    }

    fn reacts(&self) -> bool {
        true
    }

    fn react<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            let result = self
                .deliver(&event.aggregate.instance_id, &event.aggregate.aggregate_id)
                .await;
            result.map_err(|error| match error {
                NotifyError::Command(CommandError::Store(warden_eventstore::Error::Database(
                    e,
                ))) => ProjectionError::Database(e),
                other => ProjectionError::event(other.to_string()),
            })
        })
    }
}
