//! Every text Warden mails, in one place (English; one function per message so a translation can be added
//! beside it), and the links they carry.
//!
//! | notification | link (the login pages serve it) |
//! |---|---|
//! | password reset | `<external_url>/login/reset?user=<user id>&code=<code>` |
//! | email verification | `<external_url>/login/verify-email?user=<user id>&code=<code>` |

use warden_domain::notification::NotificationKind;

/// The path of the page that sets a new password with a reset code.
pub const RESET_PATH: &str = "/login/reset";
/// The path of the page that verifies an email with a code.
pub const VERIFY_EMAIL_PATH: &str = "/login/verify-email";

/// A mail's subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailText {
    /// The subject line.
    pub subject: String,
    /// The body, plain text.
    pub body: String,
}

/// What a message is filled with.
#[derive(Debug, Clone, Copy)]
pub struct MailContext<'a> {
    /// The public base URL, no trailing slash.
    pub external_url: &'a str,
    /// The user's id.
    pub user_id: &'a str,
    /// The name to greet.
    pub display_name: &'a str,
    /// The code, as generated (`ABCD-EFGH-JKLM`).
    pub code: &'a str,
    /// How long the code is valid, in minutes.
    pub valid_minutes: i64,
}

/// The link a message of `kind` carries.
pub fn link(kind: NotificationKind, ctx: &MailContext<'_>) -> String {
    let path = match kind {
        NotificationKind::PasswordReset => RESET_PATH,
        NotificationKind::EmailVerification => VERIFY_EMAIL_PATH,
    };
    format!(
        "{}{path}?user={}&code={}",
        ctx.external_url.trim_end_matches('/'),
        query_escape(ctx.user_id),
        query_escape(ctx.code)
    )
}

/// The text of a message of `kind`.
pub fn render(kind: NotificationKind, ctx: &MailContext<'_>) -> MailText {
    let link = link(kind, ctx);
    let greeting = match ctx.display_name.trim() {
        "" => "Hello,".to_owned(),
        name => format!("Hello {name},"),
    };
    let validity = validity(ctx.valid_minutes);
    match kind {
        NotificationKind::PasswordReset => MailText {
            subject: "Reset your password".to_owned(),
            body: format!(
                "{greeting}\n\n\
                 someone asked to reset the password of your account. To choose a new password, open this link:\n\n\
                 {link}\n\n\
                 or enter this code on the password reset page: {code}\n\n\
                 The code is valid for {validity} and works once. If you did not ask for this, ignore this \
                 message: your password stays as it is.\n",
                code = ctx.code
            ),
        },
        NotificationKind::EmailVerification => MailText {
            subject: "Verify your email address".to_owned(),
            body: format!(
                "{greeting}\n\n\
                 please confirm that this is your email address by opening this link:\n\n\
                 {link}\n\n\
                 or enter this code on the verification page: {code}\n\n\
                 The code is valid for {validity}. If you did not expect this message, ignore it.\n",
                code = ctx.code
            ),
        },
    }
}

fn validity(minutes: i64) -> String {
    match minutes {
        m if m >= 120 && m % 60 == 0 => format!("{} hours", m / 60),
        60 => "1 hour".to_owned(),
        1 => "1 minute".to_owned(),
        m => format!("{} minutes", m.max(0)),
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> MailContext<'static> {
        MailContext {
            external_url: "https://id.example.com/",
            user_id: "0190-aa",
            display_name: "Alice Liddell",
            code: "ABCD-EFGH-JKLM",
            valid_minutes: 60,
        }
    }

    #[test]
    fn reset_mail_carries_the_link_and_the_code() {
        let text = render(NotificationKind::PasswordReset, &ctx());
        assert_eq!(text.subject, "Reset your password");
        assert!(
            text.body
                .contains("https://id.example.com/login/reset?user=0190-aa&code=ABCD-EFGH-JKLM"),
            "{}",
            text.body
        );
        assert!(text.body.starts_with("Hello Alice Liddell,"));
        assert!(text.body.contains("valid for 1 hour"));
    }

    #[test]
    fn verification_mail_links_to_the_verify_page_and_escapes() {
        let ctx = MailContext {
            user_id: "a b&c",
            valid_minutes: 1440,
            display_name: " ",
            ..ctx()
        };
        let text = render(NotificationKind::EmailVerification, &ctx);
        assert!(
            text.body.contains(
                "https://id.example.com/login/verify-email?user=a%20b%26c&code=ABCD-EFGH-JKLM"
            ),
            "{}",
            text.body
        );
        assert!(text.body.starts_with("Hello,"));
        assert!(text.body.contains("valid for 24 hours"));
    }
}
