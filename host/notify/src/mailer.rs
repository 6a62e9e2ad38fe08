//! Delivery of one rendered mail: through SMTP, or to the log and a file in the mail directory.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Body, Mailbox,
        header::{ContentTransferEncoding, ContentType},
    },
    transport::smtp::authentication::Credentials,
};

use crate::{NotifyError, SmtpConfig, TlsMode, config::DEFAULT_FROM, texts::MailText};

/// How long one SMTP conversation may take before it counts as failed (and is tried again later).
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends mail one way or the other.
#[derive(Clone)]
pub enum Mailer {
    /// Through an SMTP server.
    Smtp {
        /// The transport (one connection per mail).
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// The sender.
        from: Mailbox,
        /// `host:port`, for logs.
        server: String,
    },
    /// To the log and a file per mail in a directory.
    Directory {
        /// The directory.
        dir: PathBuf,
        /// The sender.
        from: Mailbox,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp { server, from, .. } => f
                .debug_struct("Mailer::Smtp")
                .field("server", server)
                .field("from", &from.to_string())
                .finish_non_exhaustive(),
            Self::Directory { dir, .. } => f
                .debug_struct("Mailer::Directory")
                .field("dir", dir)
                .finish_non_exhaustive(),
        }
    }
}

fn mailbox(key: &str, value: &str) -> Result<Mailbox, NotifyError> {
    value.parse::<Mailbox>().map_err(|e| NotifyError::Config {
        key: key.to_owned(),
        message: format!("`{value}` is not an email address or `Name <address>`: {e}"),
    })
}

impl Mailer {
    /// A mailer through `smtp`, or into `mail_dir` without it. Checks the configuration; connects to
    /// nothing yet.
    pub fn new(smtp: Option<&SmtpConfig>, mail_dir: &Path) -> Result<Self, NotifyError> {
        let Some(smtp) = smtp else {
            return Ok(Self::Directory {
                dir: mail_dir.to_owned(),
                from: mailbox("smtp.from", DEFAULT_FROM)?,
            });
        };
        if smtp.host.trim().is_empty() {
            return Err(NotifyError::Config {
                key: "smtp.host".to_owned(),
                message: "must not be empty".to_owned(),
            });
        }
        let from = mailbox("smtp.from", &smtp.from)?;
        let host = smtp.host.trim();
        let builder = match smtp.tls {
            TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            TlsMode::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| NotifyError::Config {
                    key: "smtp.host".to_owned(),
                    message: e.to_string(),
                })?,
            TlsMode::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| {
                NotifyError::Config {
                    key: "smtp.host".to_owned(),
                    message: e.to_string(),
                }
            })?,
        };
        let mut builder = builder.port(smtp.port()).timeout(Some(SMTP_TIMEOUT));
        match (&smtp.user, &smtp.password) {
            (Some(user), password) => {
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                ));
            }
            (None, Some(_)) => {
                return Err(NotifyError::Config {
                    key: "smtp.user".to_owned(),
                    message: "a password is set but no user".to_owned(),
                });
            }
            (None, None) => {}
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            from,
            server: format!("{host}:{}", smtp.port()),
        })
    }

    /// Whether mail goes to the directory (no SMTP server configured).
    pub fn is_directory(&self) -> bool {
        matches!(self, Self::Directory { .. })
    }

    /// Sends `text` to `to`, with the message id `<id@warden>` (so a receiver can tell a repeat).
    pub async fn send(&self, id: &str, to: &str, text: &MailText) -> Result<(), NotifyError> {
        let from = match self {
            Self::Smtp { from, .. } | Self::Directory { from, .. } => from.clone(),
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| NotifyError::Message(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(from)
            .to(to.clone())
            .subject(text.subject.clone())
            .message_id(Some(format!("<{id}@warden>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body(&text.body))
            .map_err(|e| NotifyError::Message(e.to_string()))?;
        match self {
            Self::Smtp {
                transport, server, ..
            } => {
                transport
                    .send(message)
                    .await
                    .map_err(|e| NotifyError::Smtp(format!("{server}: {e}")))?;
                tracing::info!(notification_id = id, %server, "mail sent");
                Ok(())
            }
            Self::Directory { dir, .. } => {
                let path = write_to_dir(dir, id, &message.formatted()).await?;
                tracing::info!(
                    notification_id = id,
                    to = %to,
                    subject = %text.subject,
                    file = %path.display(),
                    body = %text.body,
                    "mail written to the mail directory (no SMTP server configured)"
                );
                Ok(())
            }
        }
    }
}

/// The body as `7bit` when it is ASCII with lines within RFC 5322's 998 octets, so links stay readable
/// and clickable in any mail client and in the mail directory (the default encoder quotes lines over 76
/// characters); anything else is left to the encoder (quoted-printable or base64).
fn body(text: &str) -> Body {
    let fits = text.is_ascii()
        && !text.contains('\r')
        && !text.contains('\0')
        && text.lines().all(|line| line.len() <= 998);
    if fits {
        Body::dangerous_pre_encoded(
            text.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        Body::new(text.to_owned())
    }
}

/// Writes a mail as `<dir>/<unix ms>-<id>.eml`, whole or not at all (a temporary file renamed).
async fn write_to_dir(dir: &Path, id: &str, bytes: &[u8]) -> Result<PathBuf, NotifyError> {
    let io = |e: std::io::Error| NotifyError::Io(format!("{}: {e}", dir.display()));
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let safe_id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let path = dir.join(format!("{millis}-{safe_id}.eml"));
    let partial = dir.join(format!(".{millis}-{safe_id}.eml.partial"));
    tokio::fs::write(&partial, bytes).await.map_err(io)?;
    tokio::fs::rename(&partial, &path).await.map_err(io)?;
    Ok(path)
}
