//! What the host passes to plugins and gets back, independent of the WIT version a plugin targets.
//!
//! All types are `serde`-serializable; their JSON form is the input format of
//! [`run_local_test`](crate::run_local_test) (see the crate documentation).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A stored (or proposed) event, as plugins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The instance (tenant).
    pub instance_id: String,
    /// The organization that owns the aggregate.
    #[serde(default)]
    pub org_id: Option<String>,
    /// Type of the aggregate, e.g. `user`.
    pub aggregate_type: String,
    /// Id of the aggregate.
    pub aggregate_id: String,
    /// Sequence within the aggregate.
    #[serde(default)]
    pub sequence: i64,
    /// Position in the global stream; zero for a proposed event.
    #[serde(default)]
    pub position: i64,
    /// Stable name of the event type, e.g. `user.human.added`.
    pub event_type: String,
    /// Revision of the payload's shape.
    #[serde(default = "one")]
    pub revision: u16,
    /// Who caused the event.
    #[serde(default)]
    pub creator: String,
    /// When it was stored, in microseconds since the Unix epoch.
    #[serde(default)]
    pub created_at: i64,
    /// The payload.
    #[serde(default)]
    pub payload: Value,
}

fn one() -> u16 {
    1
}

/// Who issues a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User id of the caller, or `system`.
    pub user_id: String,
    /// Organization of the caller.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// A user's profile as given at creation or registration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// The username.
    pub username: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Preferred language (BCP 47 tag).
    pub preferred_language: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
}

/// A command's payload: typed where Warden knows the shape, JSON otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandPayload {
    /// `user.human.add`.
    AddHumanUser(Profile),
    /// `user.email.change`.
    ChangeEmail(String),
    /// `user.profile.change`.
    ChangeProfile(Profile),
    /// `org.add`, by name.
    AddOrg(String),
    /// Any other command.
    Other(Value),
}

/// A command on its way through the command pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Stable name of the command type, e.g. `user.human.add`.
    pub command_type: String,
    /// The instance (tenant).
    pub instance_id: String,
    /// The organization the command runs in.
    #[serde(default)]
    pub org_id: Option<String>,
    /// Type of the target aggregate.
    pub aggregate_type: String,
    /// Id of the target aggregate.
    pub aggregate_id: String,
    /// Who issues the command.
    pub actor: Actor,
    /// What the command says.
    pub payload: CommandPayload,
}

/// What a validator sees of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidatorInput {
    /// The command.
    pub command: Command,
    /// The aggregate's current state; `None` when the command creates it.
    #[serde(default)]
    pub state: Option<Value>,
    /// The events the command would store.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One rule a command breaks, as reported by a validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The input field at fault, or empty for the command as a whole.
    pub field: String,
    /// A stable, machine-readable code.
    pub code: String,
    /// A message for the caller.
    pub message: String,
}

/// A validator's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "violations")]
pub enum ValidatorOutcome {
    /// The command may go on.
    Ok,
    /// The command breaks these rules (never empty).
    Violations(Vec<Violation>),
}

/// The state a user is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    /// Can sign in.
    #[default]
    Active,
    /// Deactivated by an administrator.
    Inactive,
    /// Locked after too many failed attempts.
    Locked,
    /// Created but not yet set up.
    Initial,
}

/// A name/value pair attached to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A user as the login flow sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    /// User id.
    pub id: String,
    /// The organization the user belongs to.
    pub org_id: String,
    /// The username.
    pub username: String,
    /// The login names the user can sign in with.
    pub login_names: Vec<String>,
    /// The user's state.
    pub state: UserState,
    /// Email address.
    pub email: Option<String>,
    /// Whether the email address is verified.
    pub email_verified: bool,
    /// Phone number.
    pub phone: Option<String>,
    /// Whether the phone number is verified.
    pub phone_verified: bool,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Preferred language.
    pub preferred_language: Option<String>,
    /// Metadata set on the user.
    pub metadata: Vec<Metadata>,
}

/// An organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    /// Organization id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its primary domain.
    #[serde(default)]
    pub primary_domain: Option<String>,
}

/// How a user proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Password.
    Password,
    /// Time-based one-time password.
    Totp,
    /// Security key as a second factor.
    U2f,
    /// Passkey.
    Passkey,
    /// One-time code by email.
    EmailOtp,
    /// One-time code by SMS.
    SmsOtp,
    /// An external identity provider.
    Idp,
}

/// Everything a login-flow hook knows about the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionContext {
    /// The instance (tenant).
    pub instance_id: String,
    /// The organization the login runs in, when known.
    pub org: Option<Org>,
    /// The user, once identified.
    pub user: Option<User>,
    /// The login name as typed.
    pub login_name: Option<String>,
    /// The OAuth client that started the flow.
    pub client_id: Option<String>,
    /// The scopes the client asked for.
    pub requested_scopes: Vec<String>,
    /// The roles the user holds on the client's project.
    pub roles: Vec<String>,
    /// The methods the user authenticated with so far.
    pub auth_methods: Vec<AuthMethod>,
    /// The client's IP address.
    pub ip: Option<IpAddr>,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

/// A claim of a token or of the userinfo response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// The claim's name.
    pub name: String,
    /// The claim's value.
    pub value: Value,
}

/// Claims that only the server sets; an action that returns one of them fails.
pub const RESERVED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "auth_time",
    "acr",
    "amr",
    "jti",
    "at_hash",
    "c_hash",
    "sid",
];

/// The login-flow hook an action is called for, with the hook's own input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "hook", rename_all = "snake_case")]
pub enum Hook {
    /// Before the user's credentials are checked.
    PreAuthentication,
    /// After the user's credentials were checked.
    PostAuthentication,
    /// Before a self-registered user is created, with the profile as entered.
    PreRegistration {
        /// The profile as entered.
        profile: Profile,
    },
    /// Before a token is issued, with the claims the server put in so far.
    PreToken {
        /// The token's claims so far.
        #[serde(default)]
        claims: Vec<Claim>,
    },
    /// Before the userinfo response is sent, with its claims so far.
    PreUserinfo {
        /// The response's claims so far.
        #[serde(default)]
        claims: Vec<Claim>,
    },
    /// After a user was created.
    PostCreation {
        /// The new user.
        user: User,
    },
}

impl Hook {
    /// The hook's name as in the WIT package, e.g. `pre-token` (in JSON it is `pre_token`).
    pub fn name(&self) -> &'static str {
        match self {
            Hook::PreAuthentication => "pre-authentication",
            Hook::PostAuthentication => "post-authentication",
            Hook::PreRegistration { .. } => "pre-registration",
            Hook::PreToken { .. } => "pre-token",
            Hook::PreUserinfo { .. } => "pre-userinfo",
            Hook::PostCreation { .. } => "post-creation",
        }
    }
}

/// An action's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// Go on (authentication and registration hooks).
    Allow,
    /// Refuse the login or registration with this message for the user.
    Deny {
        /// Message for the user.
        reason: String,
    },
    /// Ask for a second factor before going on (post-authentication).
    RequireSecondFactor,
    /// Register this profile instead of the one entered (pre-registration).
    AdjustProfile {
        /// The profile to register.
        profile: Profile,
    },
    /// Add or change these claims (pre-token, pre-userinfo); none of them is reserved.
    Claims {
        /// The claims to set.
        claims: Vec<Claim>,
    },
    /// Set this metadata on the new user (post-creation).
    Metadata {
        /// The entries to set.
        metadata: Vec<Metadata>,
    },
}
