//! `GET /api/v1/users…`: users, their metadata, keys, tokens and memberships.

use axum::{Json, extract::State};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::Caller;
use warden_domain::application::AccessTokenType;
use warden_domain::authz::{Permission, Target};
use warden_query::{
    Consistency, MembershipQuery, MetadataEntry, PersonalAccessTokenView, UserQuery, UserSort,
    UserView,
};

use crate::{
    ApiState,
    authz::{org_scope, readable},
    error::ApiError,
    extract::{Authenticated, Path, Query},
    openapi::Endpoint,
    routes::members::MembershipBody,
    time,
    view::{
        Items, ListPage, PageQuery, ReadReply, ResourceState, list_query, part_lists, sort_param,
    },
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get(
            "/api/v1/users",
            "listUsers",
            "List users, filtered, sorted and paged; without `org_id`, a caller without instance-wide access \
             sees its own organization's users",
            list,
        )
        .lists::<UsersQuery, UserBody>(Permission::UserRead),
        Endpoint::get("/api/v1/users/{user_id}", "getUser", "Read a user", get)
            .reads::<UserBody>(Permission::UserRead),
        Endpoint::get(
            "/api/v1/users/{user_id}/metadata",
            "listUserMetadata",
            "A user's metadata, by key",
            metadata,
        )
        .reads::<Items<MetadataBody>>(Permission::UserRead),
        Endpoint::get(
            "/api/v1/users/{user_id}/keys",
            "listMachineKeys",
            "A machine user's public keys, oldest first",
            keys,
        )
        .reads::<Items<MachineKeyBody>>(Permission::UserRead),
        Endpoint::get(
            "/api/v1/users/{user_id}/pats",
            "listPersonalAccessTokens",
            "A machine user's personal access tokens (never the tokens themselves), oldest first",
            tokens,
        )
        .reads::<Items<PersonalAccessTokenBody>>(Permission::UserRead),
        Endpoint::get(
            "/api/v1/users/{user_id}/memberships",
            "listUserMemberships",
            "A user's memberships of the instance, organizations and projects (the view as it is)",
            memberships,
        )
        .lists::<PageQuery, MembershipBody>(Permission::UserRead),
    ]
}

sort_param! {
    /// How to sort users.
    enum UserSortParam => UserSort {
        /// By login name, case-insensitively.
        #[default]
        LoginName,
        /// By display name.
        DisplayName,
        /// By creation time.
        CreatedAt,
        /// By time of the last change.
        ChangedAt,
    }
}

list_query! {
    /// Filters, sort order and paging of the user list.
    pub(crate) struct UsersQuery {
        /// Only users of this organization.
        org_id: Option<String>,
        /// Only login names starting with this, case-insensitively.
        login_name_prefix: Option<String>,
        /// Only users in this state.
        state: Option<ResourceState>,
        /// Only humans or only machines.
        #[serde(rename = "type")]
        user_type: Option<UserType>,
        /// Only locked (`true`) or only unlocked (`false`) users.
        locked: Option<bool>,
    }
    sorted by UserSortParam, default "login_name"
}

async fn list(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Query(query): Query<UsersQuery>,
) -> ReadReply<ListPage<UserBody>> {
    let page = query.page()?;
    let org_id = org_scope(&api, &caller, Permission::UserRead, query.org_id).await?;
    let filter = UserQuery {
        org_id,
        login_name_prefix: query.login_name_prefix,
        state: query.state.map(Into::into),
        kind: query.user_type.map(Into::into),
        locked: query.locked,
        sort: query.sort.unwrap_or_default().into(),
        direction: query.direction.unwrap_or_default().into(),
    };
    let users = api.queries.users(&api.instance_id, &filter, page).await?;
    Ok(Json(ListPage::of(users)))
}

/// The user (read-your-writes), if the caller may read it: 404 when there is none, 403 when it belongs to an
/// organization the caller may not read.
async fn readable_user(
    api: &ApiState,
    caller: &Caller,
    user_id: &str,
) -> Result<UserView, ApiError> {
    let user = api
        .queries
        .user(&api.instance_id, user_id, Consistency::Latest)
        .await?;
    readable(api, caller, Permission::UserRead, "user", user, |user| {
        Target::Org {
            org_id: user.org_id.clone(),
        }
    })
    .await
}

async fn get(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
) -> ReadReply<UserBody> {
    Ok(Json(readable_user(&api, &caller, &user_id).await?.into()))
}

part_lists! {
    readable_user() {
        metadata: MetadataBody = user_metadata,
        keys: MachineKeyBody = machine_keys,
        tokens: PersonalAccessTokenBody = personal_access_tokens,
    }
}

async fn memberships(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Path(user_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> ReadReply<ListPage<MembershipBody>> {
    let page = query.page()?;
    readable_user(&api, &caller, &user_id).await?;
    let filter = MembershipQuery {
        user_id: Some(user_id),
        ..MembershipQuery::default()
    };
    let memberships = api
        .queries
        .memberships(&api.instance_id, &filter, page)
        .await?;
    Ok(Json(ListPage::of(memberships)))
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
    /// The kind of its client-credentials and JWT-bearer access tokens: `jwt` or `opaque`.
    pub access_token_type: AccessTokenType,
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
                access_token_type: m.access_token_type,
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
pub use crate::routes::public_keys::PublicKeyBody as MachineKeyBody;

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
