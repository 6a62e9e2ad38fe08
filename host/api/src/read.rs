//! What the read endpoints share: paging, the read-side response bodies, and the authorization of reads.
//!
//! Response bodies mirror the query side's views ([`warden_query`]) with RFC 3339 times and JSON Schemas for
//! the OpenAPI document. They never hold secrets: only whether a password, client secret or token is set.

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_command::{Caller, CommandError, Identity};
use warden_domain::{
    ErrorKind,
    authz::{Permission, ScopeKind, Target},
};
use warden_query::{
    ApplicationView, Direction, InstanceView, MAX_PAGE_SIZE, MachineKeyView, MembershipView,
    MetadataEntry, OrgDomainView, OrgView, Page, PageOf, PersonalAccessTokenView, PoliciesView,
    PolicyView, ProjectGrantView, ProjectRoleView, ProjectView, UserGrantView, UserView,
};

use crate::{ApiState, error::ApiError, time};

/// The answer of a read endpoint.
pub(crate) type ReadReply<T> = Result<Json<T>, ApiError>;

/// The page a list query asks for: `offset` (default 0) and `limit` (1 to [`MAX_PAGE_SIZE`], default 50).
pub(crate) fn page(offset: Option<u64>, limit: Option<u32>) -> Result<Page, ApiError> {
    let mut page = Page::default();
    if let Some(limit) = limit {
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                "invalid_limit",
                format!("limit must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        page.limit = limit;
    }
    page.offset = offset.unwrap_or_default();
    Ok(page)
}

/// Brings `projection` up to the latest event of one aggregate, so that a list of that aggregate's parts
/// (members, grants of a project) reflects every change of it stored before the request.
pub(crate) async fn settle(
    api: &ApiState,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<(), ApiError> {
    let latest = api
        .queries
        .latest_position(&api.instance_id, aggregate_type, aggregate_id)
        .await?;
    if let Some(cursor) = latest {
        api.spoolers
            .ensure_caught_up(projection, cursor)
            .await
            .map_err(warden_query::QueryError::from)?;
    }
    Ok(())
}

/// The resource, or 404 `<resource>.not_found`.
pub(crate) fn found<T>(value: Option<T>, resource: &'static str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("{resource}.not_found"),
            format!("no {resource} has this id"),
        )
    })
}

/// Checks that the caller holds `permission` on `target` (403 otherwise).
pub(crate) async fn authorize(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    target: &Target,
) -> Result<(), ApiError> {
    api.commands
        .for_caller(caller)
        .authorize(permission, target)
        .await
        .map_err(ApiError::from)
}

/// Checks that the caller holds `permission` on `target`: 403 when the caller may see the resource but not
/// do this, else the same 404 as for a `resource` that does not exist, so ids of other tenants cannot be
/// probed.
pub(crate) async fn authorize_visible(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    target: &Target,
    resource: &'static str,
) -> Result<(), ApiError> {
    let commands = api.commands.for_caller(caller);
    match commands.authorize(permission, target).await {
        Ok(()) => Ok(()),
        Err(CommandError::Refused(e)) if e.kind == ErrorKind::PermissionDenied => {
            if commands.may_see(permission, target).await? {
                Err(CommandError::Refused(e).into())
            } else {
                found(None::<()>, resource)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether the caller holds `permission` on `target`.
async fn holds(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    target: &Target,
) -> Result<bool, ApiError> {
    match api
        .commands
        .for_caller(caller)
        .authorize(permission, target)
        .await
    {
        Ok(()) => Ok(true),
        Err(CommandError::Refused(e)) if e.kind == ErrorKind::PermissionDenied => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The organization a list of org-owned resources is restricted to: the one asked for (the caller needs
/// `permission` on it); without one, every organization for a caller holding `permission` instance-wide
/// (`None`), else the caller's own organization (which it then needs `permission` on).
pub(crate) async fn org_scope(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    requested: Option<String>,
) -> Result<Option<String>, ApiError> {
    if let Some(org_id) = requested {
        authorize_visible(
            api,
            caller,
            permission,
            &Target::Org {
                org_id: org_id.clone(),
            },
            "org",
        )
        .await?;
        return Ok(Some(org_id));
    }
    if holds(api, caller, permission, &Target::Instance).await? {
        return Ok(None);
    }
    match &caller.identity {
        Identity::System => Ok(None),
        Identity::User { org_id, .. } => {
            authorize(
                api,
                caller,
                permission,
                &Target::Org {
                    org_id: org_id.clone(),
                },
            )
            .await?;
            Ok(Some(org_id.clone()))
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListPage<T> {
    /// The items.
    pub items: Vec<T>,
    /// Items skipped before these.
    pub offset: u64,
    /// The page size used.
    pub limit: u32,
    /// Whether more items follow (ask again with `offset` + `limit`).
    pub has_more: bool,
}

impl<T> ListPage<T> {
    /// A page of the query side, its items converted.
    pub(crate) fn of<V>(page: PageOf<V>) -> Self
    where
        T: From<V>,
    {
        Self {
            items: page.items.into_iter().map(T::from).collect(),
            offset: page.offset,
            limit: page.limit,
            has_more: page.has_more,
        }
    }
}

/// Whether a resource is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    /// Usable.
    Active,
    /// Deactivated: kept but not usable until reactivated.
    Inactive,
}

impl From<warden_query::State> for ResourceState {
    fn from(state: warden_query::State) -> Self {
        match state {
            warden_query::State::Active => Self::Active,
            warden_query::State::Inactive => Self::Inactive,
        }
    }
}

impl From<ResourceState> for warden_query::State {
    fn from(state: ResourceState) -> Self {
        match state {
            ResourceState::Active => Self::Active,
            ResourceState::Inactive => Self::Inactive,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortDirection {
    /// Ascending.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl From<SortDirection> for Direction {
    fn from(direction: SortDirection) -> Self {
        match direction {
            SortDirection::Asc => Self::Asc,
            SortDirection::Desc => Self::Desc,
        }
    }
}

/// The instance.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct InstanceBody {
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
    pub state: ResourceState,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<InstanceView> for InstanceBody {
    fn from(v: InstanceView) -> Self {
        Self {
            instance_id: v.instance_id,
            name: v.name,
            default_language: v.default_language,
            primary_domain: v.primary_domain,
            domains: v.domains,
            state: v.state.into(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OrgBody {
    /// The organization id.
    pub id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: ResourceState,
    /// The primary (verified) domain.
    pub primary_domain: Option<String>,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<OrgView> for OrgBody {
    fn from(v: OrgView) -> Self {
        Self {
            id: v.id,
            name: v.name,
            state: v.state.into(),
            primary_domain: v.primary_domain,
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// A domain of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OrgDomainBody {
    /// The domain, lower-cased.
    pub domain: String,
    /// True once ownership was proven.
    pub verified: bool,
    /// True for the primary domain.
    pub is_primary: bool,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
}

impl From<OrgDomainView> for OrgDomainBody {
    fn from(v: OrgDomainView) -> Self {
        Self {
            domain: v.domain,
            verified: v.verified,
            is_primary: v.is_primary,
            created_at: time::format_millis(v.created_at_ms),
        }
    }
}

/// Human or machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    /// A person who logs in interactively.
    Human,
    /// A service account.
    Machine,
}

impl From<warden_query::UserKind> for UserType {
    fn from(kind: warden_query::UserKind) -> Self {
        match kind {
            warden_query::UserKind::Human => Self::Human,
            warden_query::UserKind::Machine => Self::Machine,
        }
    }
}

impl From<UserType> for warden_query::UserKind {
    fn from(kind: UserType) -> Self {
        match kind {
            UserType::Human => Self::Human,
            UserType::Machine => Self::Machine,
        }
    }
}

/// The data of a human user.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HumanBody {
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
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MachineBody {
    /// What the service account is for.
    pub description: String,
    /// Whether a client secret is set.
    pub has_secret: bool,
}

/// A user, human or machine.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserBody {
    /// The user id.
    pub id: String,
    /// The organization the user belongs to.
    pub org_id: String,
    /// Human or machine.
    #[serde(rename = "type")]
    pub user_type: UserType,
    /// The login name, as entered.
    pub login_name: String,
    /// Life cycle.
    pub state: ResourceState,
    /// True while locked (independent of the life cycle).
    pub locked: bool,
    /// The name shown in the UI.
    pub display_name: String,
    /// Human data, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human: Option<HumanBody>,
    /// Machine data, for machines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineBody>,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<UserView> for UserBody {
    fn from(v: UserView) -> Self {
        Self {
            id: v.id,
            org_id: v.org_id,
            user_type: v.kind.into(),
            login_name: v.login_name,
            state: v.state.into(),
            locked: v.locked,
            display_name: v.display_name,
            human: v.human.map(|h| HumanBody {
                given_name: h.given_name,
                family_name: h.family_name,
                preferred_language: h.preferred_language,
                email: h.email,
                email_verified: h.email_verified,
                phone: h.phone,
                password_set: h.password_set,
                password_change_required: h.password_change_required,
            }),
            machine: v.machine.map(|m| MachineBody {
                description: m.description,
                has_secret: m.has_secret,
            }),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// A metadata entry of a user.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MetadataBody {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

impl From<MetadataEntry> for MetadataBody {
    fn from(v: MetadataEntry) -> Self {
        Self {
            key: v.key,
            value: v.value,
        }
    }
}

/// The public half of a machine user's key pair.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MachineKeyBody {
    /// The key id (the JWT `kid`).
    pub key_id: String,
    /// `pem` or `jwk`.
    pub format: String,
    /// The public key.
    pub public_key: String,
    /// Expiry (RFC 3339, UTC).
    pub expires_at: String,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
}

impl From<MachineKeyView> for MachineKeyBody {
    fn from(v: MachineKeyView) -> Self {
        Self {
            key_id: v.key_id,
            format: v.format,
            public_key: v.public_key,
            expires_at: time::format_millis(v.expires_at_ms),
            created_at: time::format_millis(v.created_at_ms),
        }
    }
}

/// A personal access token of a machine user (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PersonalAccessTokenBody {
    /// The token id.
    pub token_id: String,
    /// Expiry (RFC 3339, UTC).
    pub expires_at: String,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
}

impl From<PersonalAccessTokenView> for PersonalAccessTokenBody {
    fn from(v: PersonalAccessTokenView) -> Self {
        Self {
            token_id: v.token_id,
            expires_at: time::format_millis(v.expires_at_ms),
            created_at: time::format_millis(v.created_at_ms),
        }
    }
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectBody {
    /// The project id.
    pub id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The name.
    pub name: String,
    /// Life cycle.
    pub state: ResourceState,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<ProjectView> for ProjectBody {
    fn from(v: ProjectView) -> Self {
        Self {
            id: v.id,
            org_id: v.org_id,
            name: v.name,
            state: v.state.into(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// A role of a project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectRoleBody {
    /// The key, as used in tokens and grants.
    pub key: String,
    /// The name shown in the UI.
    pub display_name: String,
    /// The group to arrange roles in the UI.
    pub group: String,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
}

impl From<ProjectRoleView> for ProjectRoleBody {
    fn from(v: ProjectRoleView) -> Self {
        Self {
            key: v.key,
            display_name: v.display_name,
            group: v.group,
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
        }
    }
}

/// A grant of a project to another organization.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectGrantBody {
    /// The grant id.
    pub grant_id: String,
    /// The project.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The organization the project is granted to.
    pub granted_org_id: String,
    /// The role keys the granted organization may hand out.
    pub role_keys: Vec<String>,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
}

impl From<ProjectGrantView> for ProjectGrantBody {
    fn from(v: ProjectGrantView) -> Self {
        Self {
            grant_id: v.grant_id,
            project_id: v.project_id,
            org_id: v.org_id,
            granted_org_id: v.granted_org_id,
            role_keys: v.role_keys,
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
        }
    }
}

/// OIDC or API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    /// An OIDC client.
    Oidc,
    /// An API (resource server) client.
    Api,
}

impl From<warden_query::AppKind> for AppType {
    fn from(kind: warden_query::AppKind) -> Self {
        match kind {
            warden_query::AppKind::Oidc => Self::Oidc,
            warden_query::AppKind::Api => Self::Api,
        }
    }
}

impl From<AppType> for warden_query::AppKind {
    fn from(kind: AppType) -> Self {
        match kind {
            AppType::Oidc => Self::Oidc,
            AppType::Api => Self::Api,
        }
    }
}

/// An application of a project (never its client secret: only whether one is set).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationBody {
    /// The application id.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The organization owning the project.
    pub org_id: String,
    /// The display name.
    pub name: String,
    /// OIDC or API.
    #[serde(rename = "type")]
    pub app_type: AppType,
    /// Life cycle.
    pub state: ResourceState,
    /// The client id.
    pub client_id: String,
    /// Whether a client secret is set.
    pub has_secret: bool,
    /// The OIDC configuration, for OIDC applications (as set with `PUT /api/v1/apps/{app_id}/oidc-config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Value>,
    /// The API configuration, for API applications (as set with `PUT /api/v1/apps/{app_id}/api-config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Value>,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl From<ApplicationView> for ApplicationBody {
    fn from(v: ApplicationView) -> Self {
        Self {
            id: v.id,
            project_id: v.project_id,
            org_id: v.org_id,
            name: v.name,
            app_type: v.kind.into(),
            state: v.state.into(),
            client_id: v.client_id,
            has_secret: v.has_secret,
            oidc: v.oidc.as_ref().map(to_json),
            api: v.api.as_ref().map(to_json),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// A user's roles in a project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserGrantBody {
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
    pub state: ResourceState,
    /// Created (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
    /// Sequence of the last change: the ETag for `If-Match`.
    pub sequence: i64,
}

impl From<UserGrantView> for UserGrantBody {
    fn from(v: UserGrantView) -> Self {
        Self {
            id: v.id,
            user_id: v.user_id,
            project_id: v.project_id,
            project_grant_id: v.project_grant_id,
            org_id: v.org_id,
            role_keys: v.role_keys,
            state: v.state.into(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
            sequence: v.sequence,
        }
    }
}

/// What a membership is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MembershipScope {
    /// The whole instance.
    Instance,
    /// One organization.
    Org,
    /// One project.
    Project,
}

impl From<ScopeKind> for MembershipScope {
    fn from(kind: ScopeKind) -> Self {
        match kind {
            ScopeKind::Instance => Self::Instance,
            ScopeKind::Org => Self::Org,
            ScopeKind::Project => Self::Project,
        }
    }
}

impl From<MembershipScope> for ScopeKind {
    fn from(scope: MembershipScope) -> Self {
        match scope {
            MembershipScope::Instance => Self::Instance,
            MembershipScope::Org => Self::Org,
            MembershipScope::Project => Self::Project,
        }
    }
}

/// A user's membership of the instance, an organization or a project.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MembershipBody {
    /// Instance, organization or project.
    pub scope: MembershipScope,
    /// The instance, organization or project id.
    pub scope_id: String,
    /// The member.
    pub user_id: String,
    /// The roles held there, e.g. `ORG_OWNER`.
    pub roles: Vec<String>,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
    /// Last changed (RFC 3339, UTC).
    pub changed_at: String,
}

impl From<MembershipView> for MembershipBody {
    fn from(v: MembershipView) -> Self {
        Self {
            scope: v.scope.into(),
            scope_id: v.scope_id,
            user_id: v.user_id,
            roles: v.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: time::format_millis(v.created_at_ms),
            changed_at: time::format_millis(v.changed_at_ms),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(None, None).map(|p| p.limit), Ok(50));
        assert_eq!(
            page(Some(7), Some(500)).map(|p| (p.offset, p.limit)),
            Ok((7, 500))
        );
        for limit in [0, 501] {
            let error = page(None, Some(limit)).expect_err("out of range");
            assert_eq!(error.body().field.as_deref(), Some("limit"));
        }
    }

    #[test]
    fn a_lagging_view_is_a_retryable_503() {
        use axum::{http::StatusCode, response::IntoResponse};

        let timeout = warden_query::QueryError::from(warden_spooler::Error::CatchUpTimeout {
            projection: "users".into(),
            target: warden_eventstore::Cursor::START,
            waited_ms: 2000,
        });
        let response = ApiError::from(timeout).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(axum::http::header::RETRY_AFTER),
            Some(&axum::http::HeaderValue::from(1u32))
        );
    }
}
