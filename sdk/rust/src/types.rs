//! The types plugins receive and return, shared by all worlds.

pub use crate::wit::validator::exports::warden::plugin::validation::ValidationInput;
pub use crate::wit::validator::warden::plugin::types::{
    Actor, AuthContext, AuthMethod, Claim, Command, CommandPayload, Event, Metadata, Org, Profile,
    User, UserState, Violation,
};

pub use crate::wit::action::exports::warden::plugin::login_hooks::{
    PostAuthDecision, PreAuthDecision, RegistrationDecision,
};

impl Violation {
    /// A violation of `field` (empty for the command as a whole) with a stable `code` and a message
    /// for the caller.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

impl Claim {
    /// A claim whose value is the JSON document `value` (e.g. `"\"acme\""` or `"[\"admin\"]"`).
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// A claim whose value is a JSON string.
    pub fn string(name: impl Into<String>, value: &str) -> Self {
        Self::new(name, json_string(value))
    }

    /// A claim whose value is a JSON array of strings.
    pub fn strings<'a>(name: impl Into<String>, values: impl IntoIterator<Item = &'a str>) -> Self {
        let items: Vec<String> = values.into_iter().map(json_string).collect();
        Self::new(name, format!("[{}]", items.join(",")))
    }
}

impl Metadata {
    /// A metadata entry `key` = `value`.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Command {
    /// The email address the command sets, if it sets one (a new user with an email, or an email change).
    pub fn email(&self) -> Option<&str> {
        match &self.payload {
            CommandPayload::AddHumanUser(profile) | CommandPayload::ChangeProfile(profile) => {
                profile.email.as_deref()
            }
            CommandPayload::ChangeEmail(email) => Some(email),
            CommandPayload::AddOrg(_) | CommandPayload::Other(_) => None,
        }
    }
}

impl Event {
    /// The day of `created_at` (UTC) as `YYYY-MM-DD`.
    pub fn day(&self) -> String {
        let days = self.created_at.div_euclid(86_400_000_000);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// Encodes `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Converts days since 1970-01-01 to a (year, month, day) date in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn json_strings() {
        assert_eq!(json_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(json_string("\u{1}"), r#""\u0001""#);
        assert_eq!(Claim::strings("roles", ["a", "b"]).value, r#"["a","b"]"#);
    }
}
