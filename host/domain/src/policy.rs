//! Policies: password complexity, lockout and login. The instance holds the defaults, an organization may
//! override each of them, and [`resolve`] gives the policies in force for an organization.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::validate;

/// The lowest minimum password length a policy may set (OWASP's minimum with MFA off).
pub const MIN_PASSWORD_LENGTH_FLOOR: u16 = 8;
/// The highest minimum password length a policy may set.
pub const MAX_MIN_PASSWORD_LENGTH: u16 = 128;
/// The longest password accepted, in characters: bounds the cost of hashing.
pub const MAX_PASSWORD_LENGTH: usize = 1024;
/// The highest number of failed password attempts a lockout policy may allow.
pub const MAX_PASSWORD_ATTEMPTS: u16 = 1000;

/// Rules a new password must meet. Checked on the plaintext, before hashing, by the caller of the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PasswordComplexityPolicy {
    /// Minimum length in characters.
    pub min_length: u16,
    /// Requires an upper-case letter.
    pub has_uppercase: bool,
    /// Requires a lower-case letter.
    pub has_lowercase: bool,
    /// Requires a digit.
    pub has_number: bool,
    /// Requires a character that is neither a letter nor a digit.
    pub has_symbol: bool,
}

impl Default for PasswordComplexityPolicy {
    fn default() -> Self {
        Self {
            min_length: MIN_PASSWORD_LENGTH_FLOOR,
            has_uppercase: true,
            has_lowercase: true,
            has_number: true,
            has_symbol: true,
        }
    }
}

impl PasswordComplexityPolicy {
    /// Checks the policy itself: `min_length` between 8 and 128.
    pub fn validate(&self) -> Result<(), DomainError> {
        if !(MIN_PASSWORD_LENGTH_FLOOR..=MAX_MIN_PASSWORD_LENGTH).contains(&self.min_length) {
            return Err(DomainError::invalid(
                "min_length",
                "policy.password_complexity.min_length.out_of_range",
                format!(
                    "min_length must be between {MIN_PASSWORD_LENGTH_FLOOR} and {MAX_MIN_PASSWORD_LENGTH}, got {}",
                    self.min_length
                ),
            ));
        }
        Ok(())
    }

    /// Checks a plaintext password against the policy; the error names the field `password` and lists every
    /// unmet rule, with the code of the first one.
    pub fn check(&self, plaintext: &str) -> Result<(), DomainError> {
        let len = plaintext.chars().count();
        if len > MAX_PASSWORD_LENGTH {
            return Err(DomainError::invalid(
                "password",
                "password.too_long",
                format!("password must be at most {MAX_PASSWORD_LENGTH} characters"),
            ));
        }
        let mut unmet: Vec<(&'static str, String)> = Vec::new();
        if len < usize::from(self.min_length) {
            unmet.push((
                "password.too_short",
                format!("be at least {} characters long", self.min_length),
            ));
        }
        let rules = [
            (
                self.has_uppercase,
                "password.missing_uppercase",
                "contain an upper-case letter",
                char::is_uppercase as fn(char) -> bool,
            ),
            (
                self.has_lowercase,
                "password.missing_lowercase",
                "contain a lower-case letter",
                char::is_lowercase,
            ),
            (
                self.has_number,
                "password.missing_number",
                "contain a digit",
                char::is_numeric,
            ),
            (
                self.has_symbol,
                "password.missing_symbol",
                "contain a symbol (a character that is neither a letter nor a digit)",
                |c: char| !c.is_alphanumeric(),
            ),
        ];
        for (required, code, rule, test) in rules {
            if required && !plaintext.chars().any(test) {
                unmet.push((code, rule.to_owned()));
            }
        }
        match unmet.first() {
            None => Ok(()),
            Some((code, _)) => {
                let rules: Vec<&str> = unmet.iter().map(|(_, rule)| rule.as_str()).collect();
                Err(DomainError::invalid(
                    "password",
                    *code,
                    format!("password must {}", rules.join(", ")),
                ))
            }
        }
    }
}

/// When repeated failed password checks lock a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LockoutPolicy {
    /// Failed password checks in a row that lock the user; 0 never locks.
    pub max_password_attempts: u16,
    /// Tells the user on the login page that the account is locked.
    pub show_lockout_failures: bool,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_password_attempts: 10,
            show_lockout_failures: true,
        }
    }
}

impl LockoutPolicy {
    /// Checks the policy itself: at most 1000 attempts.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.max_password_attempts > MAX_PASSWORD_ATTEMPTS {
            return Err(DomainError::invalid(
                "max_password_attempts",
                "policy.lockout.max_password_attempts.out_of_range",
                format!(
                    "max_password_attempts must be at most {MAX_PASSWORD_ATTEMPTS} (0 disables lockout), got {}",
                    self.max_password_attempts
                ),
            ));
        }
        Ok(())
    }
}

/// How users may log in and register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LoginPolicy {
    /// Users may log in with login name and password.
    pub allow_username_password: bool,
    /// Anyone may register a new user on the login page.
    pub allow_register: bool,
    /// Users may log in through an external identity provider.
    pub allow_external_idp: bool,
    /// Every user must set up and use a second factor.
    pub force_mfa: bool,
    /// The login page hides the "forgot password" link.
    pub hide_password_reset: bool,
    /// The login page does not reveal whether a login name exists.
    pub ignore_unknown_usernames: bool,
    /// Where to send a user who logged in without an application to return to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_redirect_uri: Option<String>,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            allow_username_password: true,
            allow_register: false,
            allow_external_idp: true,
            force_mfa: false,
            hide_password_reset: false,
            ignore_unknown_usernames: false,
            default_redirect_uri: None,
        }
    }
}

impl LoginPolicy {
    /// Checks the policy itself: some way to log in remains, and the default redirect is an https URL.
    pub fn validate(&self) -> Result<(), DomainError> {
        if !self.allow_username_password && !self.allow_external_idp {
            return Err(DomainError::invalid(
                "allow_username_password",
                "policy.login.no_login_method",
                "allow_username_password and allow_external_idp cannot both be false: nobody could log in",
            ));
        }
        if let Some(uri) = &self.default_redirect_uri {
            validate::web_url(
                "policy.login.default_redirect_uri",
                "default_redirect_uri",
                uri,
            )?;
        }
        Ok(())
    }
}

/// Which policy a command or override is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// [`PasswordComplexityPolicy`].
    PasswordComplexity,
    /// [`LockoutPolicy`].
    Lockout,
    /// [`LoginPolicy`].
    Login,
}

impl PolicyKind {
    /// The stable snake-case name, e.g. `"password_complexity"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordComplexity => "password_complexity",
            Self::Lockout => "lockout",
            Self::Login => "login",
        }
    }
}

/// One policy of any kind, as a command sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Policy {
    /// A password complexity policy.
    PasswordComplexity(PasswordComplexityPolicy),
    /// A lockout policy.
    Lockout(LockoutPolicy),
    /// A login policy.
    Login(LoginPolicy),
}

impl Policy {
    /// The kind of this policy.
    pub fn kind(&self) -> PolicyKind {
        match self {
            Self::PasswordComplexity(_) => PolicyKind::PasswordComplexity,
            Self::Lockout(_) => PolicyKind::Lockout,
            Self::Login(_) => PolicyKind::Login,
        }
    }

    /// Checks the policy's own values.
    pub fn validate(&self) -> Result<(), DomainError> {
        match self {
            Self::PasswordComplexity(p) => p.validate(),
            Self::Lockout(p) => p.validate(),
            Self::Login(p) => p.validate(),
        }
    }
}

/// One policy of each kind: the instance defaults, or the policies in force for an organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PolicySet {
    /// Password complexity.
    pub password_complexity: PasswordComplexityPolicy,
    /// Lockout.
    pub lockout: LockoutPolicy,
    /// Login.
    pub login: LoginPolicy,
}

impl PolicySet {
    /// The policy of `kind`.
    pub fn get(&self, kind: PolicyKind) -> Policy {
        match kind {
            PolicyKind::PasswordComplexity => {
                Policy::PasswordComplexity(self.password_complexity.clone())
            }
            PolicyKind::Lockout => Policy::Lockout(self.lockout.clone()),
            PolicyKind::Login => Policy::Login(self.login.clone()),
        }
    }

    /// Replaces the policy of the same kind.
    pub fn set(&mut self, policy: Policy) {
        match policy {
            Policy::PasswordComplexity(p) => self.password_complexity = p,
            Policy::Lockout(p) => self.lockout = p,
            Policy::Login(p) => self.login = p,
        }
    }

    /// Checks every policy's own values.
    pub fn validate(&self) -> Result<(), DomainError> {
        self.password_complexity.validate()?;
        self.lockout.validate()?;
        self.login.validate()
    }
}

/// An organization's overrides of the instance defaults; `None` follows the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyOverrides {
    /// Overrides the password complexity policy.
    pub password_complexity: Option<PasswordComplexityPolicy>,
    /// Overrides the lockout policy.
    pub lockout: Option<LockoutPolicy>,
    /// Overrides the login policy.
    pub login: Option<LoginPolicy>,
}

impl PolicyOverrides {
    /// The override of `kind`, if any.
    pub fn get(&self, kind: PolicyKind) -> Option<Policy> {
        match kind {
            PolicyKind::PasswordComplexity => self
                .password_complexity
                .clone()
                .map(Policy::PasswordComplexity),
            PolicyKind::Lockout => self.lockout.clone().map(Policy::Lockout),
            PolicyKind::Login => self.login.clone().map(Policy::Login),
        }
    }

    /// True when the organization overrides `kind`.
    pub fn is_overridden(&self, kind: PolicyKind) -> bool {
        match kind {
            PolicyKind::PasswordComplexity => self.password_complexity.is_some(),
            PolicyKind::Lockout => self.lockout.is_some(),
            PolicyKind::Login => self.login.is_some(),
        }
    }

    /// Overrides the policy of the same kind.
    pub fn set(&mut self, policy: Policy) {
        match policy {
            Policy::PasswordComplexity(p) => self.password_complexity = Some(p),
            Policy::Lockout(p) => self.lockout = Some(p),
            Policy::Login(p) => self.login = Some(p),
        }
    }

    /// Goes back to the default for `kind`.
    pub fn reset(&mut self, kind: PolicyKind) {
        match kind {
            PolicyKind::PasswordComplexity => self.password_complexity = None,
            PolicyKind::Lockout => self.lockout = None,
            PolicyKind::Login => self.login = None,
        }
    }
}

/// The policies in force for an organization: each override where there is one, else the instance default.
pub fn resolve(defaults: &PolicySet, overrides: &PolicyOverrides) -> PolicySet {
    PolicySet {
        password_complexity: overrides
            .password_complexity
            .clone()
            .unwrap_or_else(|| defaults.password_complexity.clone()),
        lockout: overrides
            .lockout
            .clone()
            .unwrap_or_else(|| defaults.lockout.clone()),
        login: overrides
            .login
            .clone()
            .unwrap_or_else(|| defaults.login.clone()),
    }
}

#[cfg(test)]
mod tests;
