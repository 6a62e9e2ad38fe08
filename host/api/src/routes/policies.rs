//! Policy bodies, shared by the instance defaults and the organization overrides.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_domain::policy::{
    LockoutPolicy, LoginPolicy, MAX_MIN_PASSWORD_LENGTH, MAX_PASSWORD_ATTEMPTS,
    MIN_PASSWORD_LENGTH_FLOOR, PasswordComplexityPolicy, Policy,
};
use warden_query::{PoliciesView, PolicyView};

use crate::{schema, view::to_json};

/// Rules a new password must meet.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordComplexityPolicyRequest {
    /// Minimum length in characters (8 to 128).
    #[schemars(range(min = MIN_PASSWORD_LENGTH_FLOOR, max = MAX_MIN_PASSWORD_LENGTH))]
    min_length: u16,
    /// Requires an upper-case letter.
    has_uppercase: bool,
    /// Requires a lower-case letter.
    has_lowercase: bool,
    /// Requires a digit.
    has_number: bool,
    /// Requires a character that is neither a letter nor a digit.
    has_symbol: bool,
}

impl From<PasswordComplexityPolicyRequest> for Policy {
    fn from(p: PasswordComplexityPolicyRequest) -> Self {
        Policy::PasswordComplexity(PasswordComplexityPolicy {
            min_length: p.min_length,
            has_uppercase: p.has_uppercase,
            has_lowercase: p.has_lowercase,
            has_number: p.has_number,
            has_symbol: p.has_symbol,
        })
    }
}

/// When repeated failed password checks lock a user.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LockoutPolicyRequest {
    /// Failed password checks in a row that lock the user (0 never locks; at most 1000).
    #[schemars(range(max = MAX_PASSWORD_ATTEMPTS))]
    max_password_attempts: u16,
    /// Tells the user on the login page that the account is locked.
    show_lockout_failures: bool,
}

impl From<LockoutPolicyRequest> for Policy {
    fn from(p: LockoutPolicyRequest) -> Self {
        Policy::Lockout(LockoutPolicy {
            max_password_attempts: p.max_password_attempts,
            show_lockout_failures: p.show_lockout_failures,
        })
    }
}

/// How users may log in and register; at least one way to log in stays allowed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    { "properties": { "allow_username_password": { "const": true } } },
    { "properties": { "allow_external_idp": { "const": true } } },
]))]
pub(crate) struct LoginPolicyRequest {
    /// Users may log in with login name and password.
    allow_username_password: bool,
    /// Anyone may register a new user on the login page.
    allow_register: bool,
    /// Users may log in through an external identity provider.
    allow_external_idp: bool,
    /// Every user must set up and use a second factor.
    force_mfa: bool,
    /// The login page hides the "forgot password" link.
    hide_password_reset: bool,
    /// The login page does not reveal whether a login name exists.
    ignore_unknown_usernames: bool,
    /// Where to send a user who logged in without an application to return to (an https URL).
    #[serde(default)]
    #[schemars(length(max = schema::URI_LEN), regex(pattern = schema::WEB_URL))]
    default_redirect_uri: Option<String>,
}

impl From<LoginPolicyRequest> for Policy {
    fn from(p: LoginPolicyRequest) -> Self {
        Policy::Login(LoginPolicy {
            allow_username_password: p.allow_username_password,
            allow_register: p.allow_register,
            allow_external_idp: p.allow_external_idp,
            force_mfa: p.force_mfa,
            hide_password_reset: p.hide_password_reset,
            ignore_unknown_usernames: p.ignore_unknown_usernames,
            default_redirect_uri: p.default_redirect_uri,
        })
    }
}

/// A policy in force.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PolicyBody {
    /// The policy's settings (as set with the policy's `PUT` endpoint).
    pub policy: Value,
    /// True when an organization follows the instance default (always false for the defaults themselves).
    pub inherited: bool,
}

impl<T: Serialize> From<PolicyView<T>> for PolicyBody {
    fn from(v: PolicyView<T>) -> Self {
        Self {
            policy: to_json(&v.policy),
            inherited: v.inherited,
        }
    }
}

/// The policies in force: the instance defaults, or an organization's with its overrides resolved.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PoliciesBody {
    /// The organization, absent for the instance defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Password complexity.
    pub password_complexity: PolicyBody,
    /// Lockout.
    pub lockout: PolicyBody,
    /// Login.
    pub login: PolicyBody,
}

impl From<PoliciesView> for PoliciesBody {
    fn from(v: PoliciesView) -> Self {
        Self {
            org_id: v.org_id,
            password_complexity: v.password_complexity.into(),
            lockout: v.lockout.into(),
            login: v.login.into(),
        }
    }
}
