//! What the query services return: one serde-serializable struct per resource, read from its view.
//!
//! Times are ms since the Unix epoch (when the event was stored); `sequence` is the sequence of the last event of
//! the resource's aggregate applied to the row (usable as an entity tag). Secrets never appear: only whether a
//! password, client secret or token is set.

use serde::{Deserialize, Serialize};
use warden_domain::{
    application::{ApiConfig, OidcConfig},
    authz::{Membership, Role, Scope, ScopeKind},
    policy::{LockoutPolicy, LoginPolicy, PasswordComplexityPolicy, PolicySet},
};
use warden_spooler::DbRow;

/// Whether a resource is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Usable.
    Active,
    /// Deactivated: kept but not usable until reactivated.
    Inactive,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }

    fn parse(value: &str) -> Result<Self, sqlx::Error> {
        match value {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            other => Err(corrupt("state", format!("unknown state `{other}`"))),
        }
    }
}

/// A column holding a value the view never writes.
fn corrupt(column: &str, message: String) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: message.into(),
    }
}

/// An instance (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    /// The instance id.
    pub instance_id: String,
    /// The display name.
    pub name: String,
    /// The language used where a user has none.
    pub default_language: String,
    /// The domain used in generated URLs.
    pub primary_domain: Option<String>,
    /// Every domain routing to the instance.
    pub domains: Vec<String>,
    /// Life cycle.
    pub state: State,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the instance.
    pub sequence: i64,
}

impl InstanceView {
    pub(crate) const COLUMNS: &'static str = "instance_id, name, default_language, primary_domain, state, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow, domains: Vec<String>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            name: row.get("name")?,
            default_language: row.get("default_language")?,
            primary_domain: row.get("primary_domain")?,
            domains,
            state: State::parse(&row.get::<String>("state")?)?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgView {
    /// The instance.
    pub instance_id: String,
    /// The organization id.
    pub id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: State,
    /// The primary (verified) domain.
    pub primary_domain: Option<String>,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the organization.
    pub sequence: i64,
}

impl OrgView {
    pub(crate) const COLUMNS: &'static str =
        "instance_id, id, name, state, primary_domain, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            name: row.get("name")?,
            state: State::parse(&row.get::<String>("state")?)?,
            primary_domain: row.get("primary_domain")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// A domain of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgDomainView {
    /// The domain, lower-cased.
    pub domain: String,
    /// True once ownership was proven.
    pub verified: bool,
    /// True for the primary domain.
    pub is_primary: bool,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
}

impl OrgDomainView {
    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            domain: row.get("domain")?,
            verified: row.get("verified")?,
            is_primary: row.get("is_primary")?,
            created_at_ms: row.get("created_at_ms")?,
        })
    }
}

/// Human or machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// A person who logs in interactively.
    Human,
    /// A service account.
    Machine,
}

impl UserKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Human => "human",
            Self::Machine => "machine",
        }
    }
}

/// The data of a human user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanView {
    /// Given (first) name.
    pub given_name: String,
    /// Family (last) name.
    pub family_name: String,
    /// Preferred language (BCP 47 tag), `und` when unknown.
    pub preferred_language: String,
    /// The email address.
    pub email: String,
    /// True once the email was verified.
    pub email_verified: bool,
    /// The phone number in E.164 form.
    pub phone: Option<String>,
    /// Whether a password is set.
    pub password_set: bool,
    /// The password must be changed at the next login.
    pub password_change_required: bool,
}

/// The data of a machine user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineView {
    /// What the service account is for.
    pub description: String,
    /// Whether a client secret is set.
    pub has_secret: bool,
}

/// A user, human or machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// The instance.
    pub instance_id: String,
    /// The user id.
    pub id: String,
    /// The organization the user belongs to.
    pub org_id: String,
    /// Human or machine.
    pub kind: UserKind,
    /// The login name, as entered.
    pub login_name: String,
    /// Life cycle.
    pub state: State,
    /// True while locked (independent of the life cycle).
    pub locked: bool,
    /// The name shown in the UI (a machine's name).
    pub display_name: String,
    /// Human data, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human: Option<HumanView>,
    /// Machine data, for machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineView>,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the user.
    pub sequence: i64,
}

impl UserView {
    pub(crate) const COLUMNS: &'static str = "instance_id, id, org_id, kind, login_name, state, locked, display_name, \
         given_name, family_name, preferred_language, email, email_verified, phone, password_set, \
         password_change_required, description, has_secret, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        let kind = match row.get::<String>("kind")?.as_str() {
            "human" => UserKind::Human,
            "machine" => UserKind::Machine,
            other => return Err(corrupt("kind", format!("unknown user kind `{other}`"))),
        };
        let (human, machine) = match kind {
            UserKind::Human => (
                Some(HumanView {
                    given_name: row.get::<Option<String>>("given_name")?.unwrap_or_default(),
                    family_name: row
                        .get::<Option<String>>("family_name")?
                        .unwrap_or_default(),
                    preferred_language: row
                        .get::<Option<String>>("preferred_language")?
                        .unwrap_or_default(),
                    email: row.get::<Option<String>>("email")?.unwrap_or_default(),
                    email_verified: row
                        .get::<Option<bool>>("email_verified")?
                        .unwrap_or_default(),
                    phone: row.get("phone")?,
                    password_set: row.get::<Option<bool>>("password_set")?.unwrap_or_default(),
                    password_change_required: row
                        .get::<Option<bool>>("password_change_required")?
                        .unwrap_or_default(),
                }),
                None,
            ),
            UserKind::Machine => (
                None,
                Some(MachineView {
                    description: row
                        .get::<Option<String>>("description")?
                        .unwrap_or_default(),
                    has_secret: row.get::<Option<bool>>("has_secret")?.unwrap_or_default(),
                }),
            ),
        };
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            org_id: row.get("org_id")?,
            kind,
            login_name: row.get("login_name")?,
            state: State::parse(&row.get::<String>("state")?)?,
            locked: row.get("locked")?,
            display_name: row.get("display_name")?,
            human,
            machine,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// A metadata entry of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A machine user's key pair (its public half).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineKeyView {
    /// The key id (the JWT `kid`).
    pub key_id: String,
    /// The machine user.
    pub user_id: String,
    /// `pem` or `jwk`.
    pub format: String,
    /// The public key.
    pub public_key: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
}

impl MachineKeyView {
    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key_id: row.get("key_id")?,
            user_id: row.get("user_id")?,
            format: row.get("format")?,
            public_key: row.get("public_key")?,
            expires_at_ms: row.get("expires_at_ms")?,
            created_at_ms: row.get("created_at_ms")?,
        })
    }
}

/// A machine user's personal access token (never the token or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalAccessTokenView {
    /// The token id.
    pub token_id: String,
    /// The machine user.
    pub user_id: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
}

impl PersonalAccessTokenView {
    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            token_id: row.get("token_id")?,
            user_id: row.get("user_id")?,
            expires_at_ms: row.get("expires_at_ms")?,
            created_at_ms: row.get("created_at_ms")?,
        })
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    /// The instance.
    pub instance_id: String,
    /// The project id.
    pub id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: State,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the project.
    pub sequence: i64,
}

impl ProjectView {
    pub(crate) const COLUMNS: &'static str =
        "instance_id, id, org_id, name, state, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            org_id: row.get("org_id")?,
            name: row.get("name")?,
            state: State::parse(&row.get::<String>("state")?)?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// A role of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRoleView {
    /// The project.
    pub project_id: String,
    /// The key, as used in tokens and grants.
    pub key: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// The group to arrange roles in the UI.
    pub group: String,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl ProjectRoleView {
    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            project_id: row.get("project_id")?,
            key: row.get("role_key")?,
            display_name: row.get("display_name")?,
            group: row.get("role_group")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
        })
    }
}

/// A grant of a project to another organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectGrantView {
    /// The instance.
    pub instance_id: String,
    /// The project.
    pub project_id: String,
    /// The grant id.
    pub grant_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The organization the project is granted to.
    pub granted_org_id: String,
    /// The role keys the granted organization may hand out.
    pub role_keys: Vec<String>,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl ProjectGrantView {
    pub(crate) const COLUMNS: &'static str = "instance_id, project_id, grant_id, org_id, granted_org_id, role_keys, created_at_ms, changed_at_ms";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            project_id: row.get("project_id")?,
            grant_id: row.get("grant_id")?,
            org_id: row.get("org_id")?,
            granted_org_id: row.get("granted_org_id")?,
            role_keys: row.json("role_keys")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
        })
    }
}

/// OIDC or API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// An OIDC client.
    Oidc,
    /// An API (resource server) client.
    Api,
}

impl AppKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Api => "api",
        }
    }
}

/// An application of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationView {
    /// The instance.
    pub instance_id: String,
    /// The application id.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The display name.
    pub name: String,
    /// OIDC or API.
    pub kind: AppKind,
    /// Life cycle.
    pub state: State,
    /// The client id.
    pub client_id: String,
    /// Whether a client secret is set.
    pub has_secret: bool,
    /// The OIDC configuration, for OIDC applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
    /// The API configuration, for API applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiConfig>,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the application.
    pub sequence: i64,
}

impl ApplicationView {
    pub(crate) const COLUMNS: &'static str = "instance_id, id, project_id, org_id, name, kind, state, client_id, \
         has_secret, config, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        let kind = match row.get::<String>("kind")?.as_str() {
            "oidc" => AppKind::Oidc,
            "api" => AppKind::Api,
            other => {
                return Err(corrupt(
                    "kind",
                    format!("unknown application kind `{other}`"),
                ));
            }
        };
        let (oidc, api) = match kind {
            AppKind::Oidc => (Some(row.json("config")?), None),
            AppKind::Api => (None, Some(row.json("config")?)),
        };
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            project_id: row.get("project_id")?,
            org_id: row.get("org_id")?,
            name: row.get("name")?,
            kind,
            state: State::parse(&row.get::<String>("state")?)?,
            client_id: row.get("client_id")?,
            has_secret: row.get("has_secret")?,
            oidc,
            api,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// A user's roles in a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGrantView {
    /// The instance.
    pub instance_id: String,
    /// The grant id.
    pub id: String,
    /// The user granted.
    pub user_id: String,
    /// The project.
    pub project_id: String,
    /// The project grant through which the roles are given, if any.
    pub project_grant_id: Option<String>,
    /// The organization owning the grant.
    pub org_id: String,
    /// The role keys.
    pub role_keys: Vec<String>,
    /// Life cycle.
    pub state: State,
    /// Created, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
    /// Sequence of the last applied event of the grant.
    pub sequence: i64,
}

impl UserGrantView {
    pub(crate) const COLUMNS: &'static str = "instance_id, id, user_id, project_id, project_grant_id, org_id, \
         role_keys, state, created_at_ms, changed_at_ms, sequence";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            instance_id: row.get("instance_id")?,
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            project_id: row.get("project_id")?,
            project_grant_id: row.get("project_grant_id")?,
            org_id: row.get("org_id")?,
            role_keys: row.json("role_keys")?,
            state: State::parse(&row.get::<String>("state")?)?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
            sequence: row.get("sequence")?,
        })
    }
}

/// A user's membership of the instance, an organization or a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipView {
    /// The instance.
    pub instance_id: String,
    /// Instance, organization or project.
    pub scope: ScopeKind,
    /// The instance, organization or project id.
    pub scope_id: String,
    /// The member.
    pub user_id: String,
    /// The roles held there.
    pub roles: Vec<Role>,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
    /// Last changed, ms since the Unix epoch.
    pub changed_at_ms: i64,
}

impl MembershipView {
    pub(crate) const COLUMNS: &'static str =
        "instance_id, scope, scope_id, user_id, roles, created_at_ms, changed_at_ms";

    pub(crate) fn from_row(row: &DbRow) -> Result<Self, sqlx::Error> {
        let scope = match row.get::<String>("scope")?.as_str() {
            "instance" => ScopeKind::Instance,
            "org" => ScopeKind::Org,
            "project" => ScopeKind::Project,
            other => return Err(corrupt("scope", format!("unknown scope `{other}`"))),
        };
        Ok(Self {
            instance_id: row.get("instance_id")?,
            scope,
            scope_id: row.get("scope_id")?,
            user_id: row.get("user_id")?,
            roles: row.json("roles")?,
            created_at_ms: row.get("created_at_ms")?,
            changed_at_ms: row.get("changed_at_ms")?,
        })
    }

    /// The membership as the authorization check takes it.
    pub fn to_membership(&self) -> Membership {
        let scope = match self.scope {
            ScopeKind::Instance => Scope::Instance,
            ScopeKind::Org => Scope::Org(self.scope_id.clone()),
            ScopeKind::Project => Scope::Project(self.scope_id.clone()),
        };
        Membership {
            scope,
            roles: self.roles.clone(),
        }
    }
}

/// A policy in force, and whether it follows the instance default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView<T> {
    /// The policy.
    pub policy: T,
    /// True when an organization follows the instance default (always false for the defaults themselves).
    pub inherited: bool,
}

/// The policies in force for the instance (its defaults) or for an organization (overrides resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoliciesView {
    /// The instance.
    pub instance_id: String,
    /// The organization, or `None` for the instance defaults.
    pub org_id: Option<String>,
    /// Password complexity.
    pub password_complexity: PolicyView<PasswordComplexityPolicy>,
    /// Lockout.
    pub lockout: PolicyView<LockoutPolicy>,
    /// Login.
    pub login: PolicyView<LoginPolicy>,
}

impl PoliciesView {
    /// The policies as one set.
    pub fn to_policy_set(&self) -> PolicySet {
        PolicySet {
            password_complexity: self.password_complexity.policy.clone(),
            lockout: self.lockout.policy.clone(),
            login: self.login.policy.clone(),
        }
    }
}

/// Which way to sort.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl Direction {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::Asc => "ASC",
            Self::Desc => "DESC",
        }
    }
}

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page a list query returns.
pub const MAX_PAGE_SIZE: u32 = 500;

fn default_limit() -> u32 {
    DEFAULT_PAGE_SIZE
}

/// Which part of a list to return. The limit is clamped to 1..=[`MAX_PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Page {
    /// Items to skip.
    #[serde(default)]
    pub offset: u64,
    /// Most items to return.
    #[serde(default = "default_limit")]
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: DEFAULT_PAGE_SIZE,
        }
    }
}

impl Page {
    /// The first `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { offset: 0, limit }
    }

    /// The limit actually used.
    pub fn effective_limit(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE_SIZE)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageOf<T> {
    /// The items.
    pub items: Vec<T>,
    /// Items skipped before these.
    pub offset: u64,
    /// The limit used.
    pub limit: u32,
    /// Whether more items follow.
    pub has_more: bool,
}
