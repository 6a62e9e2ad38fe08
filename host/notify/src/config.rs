//! How the notifier delivers mail: through an SMTP server, or (without one) to the log and a directory.

use std::{fmt, path::PathBuf, str::FromStr};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a relay on the same host or network only).
    None,
    /// Plain connection upgraded with `STARTTLS`, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

impl TlsMode {
    /// The usual port of the mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::Starttls => 587,
            Self::Tls => 465,
        }
    }
}

impl FromStr for TlsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            other => Err(format!(
                "must be one of none, starttls, tls (got `{other}`)"
            )),
        }
    }
}

/// The SMTP password; its `Debug` form hides it, and nothing prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    /// Wraps the password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpPassword(…)")
    }
}

/// An SMTP server to send mail through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name or IP address.
    pub host: String,
    /// Port; `None` takes the usual port of the TLS mode.
    pub port: Option<u16>,
    /// User name for `AUTH` (none: no authentication).
    pub user: Option<String>,
    /// Password for `AUTH`.
    pub password: Option<SmtpPassword>,
    /// The sender, `address` or `Name <address>`.
    pub from: String,
    /// How the connection is secured.
    pub tls: TlsMode,
}

impl SmtpConfig {
    /// The port in effect.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }
}

/// The sender used when mail goes to the mail directory and none is configured.
pub const DEFAULT_FROM: &str = "Warden <noreply@localhost>";

/// Everything the notifier needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// The SMTP server; `None` writes each mail to the log and to [`mail_dir`](Self::mail_dir).
    pub smtp: Option<SmtpConfig>,
    /// Where mail goes without SMTP: `<mail_dir>/<unix ms>-<notification id>.eml` (usually `<data dir>/mail`).
    pub mail_dir: PathBuf,
    /// The public base URL of Warden (the issuer, no trailing slash); links in mails start with it.
    pub external_url: String,
}
