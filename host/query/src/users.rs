//! Users, human or machine: the view rows (with metadata, keys and tokens), the reads by id and login name, and
//! the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_domain::application::AccessTokenType;
use warden_spooler::params;

use crate::{
    QueryError,
    list::{Bind, Direction, Field, ListSpec, Order, Page, PageOf, Paging, named, text},
    projections::USERS,
    row::{State, decode, stored_name},
    service::{Consistency, Queries},
};

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

stored_name!(UserKind, "user kind", [Human, Machine]);

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
    /// The kind of its client-credentials and JWT-bearer access tokens.
    pub access_token_type: AccessTokenType,
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
         password_change_required, description, has_secret, access_token_type, created_at_ms, changed_at_ms, sequence";

    /// Decodes a row of either backend.
    pub(crate) fn decode(row: &warden_spooler::DbRow) -> Result<Self, sqlx::Error> {
        decode::<UserRow>(row).map(Self::from)
    }
}

/// A row of `users`: the columns of humans are empty for machines and the other way round.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    instance_id: String,
    id: String,
    org_id: String,
    kind: UserKind,
    login_name: String,
    state: State,
    locked: bool,
    display_name: String,
    given_name: Option<String>,
    family_name: Option<String>,
    preferred_language: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    phone: Option<String>,
    password_set: Option<bool>,
    password_change_required: Option<bool>,
    description: Option<String>,
    has_secret: Option<bool>,
    access_token_type: Option<String>,
    created_at_ms: i64,
    changed_at_ms: i64,
    sequence: i64,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        let (human, machine) = match row.kind {
            UserKind::Human => (
                Some(HumanView {
                    given_name: row.given_name.unwrap_or_default(),
                    family_name: row.family_name.unwrap_or_default(),
                    preferred_language: row.preferred_language.unwrap_or_default(),
                    email: row.email.unwrap_or_default(),
                    email_verified: row.email_verified.unwrap_or_default(),
                    phone: row.phone,
                    password_set: row.password_set.unwrap_or_default(),
                    password_change_required: row.password_change_required.unwrap_or_default(),
                }),
                None,
            ),
            UserKind::Machine => (
                None,
                Some(MachineView {
                    description: row.description.unwrap_or_default(),
                    has_secret: row.has_secret.unwrap_or_default(),
                    access_token_type: match row.access_token_type.as_deref() {
                        Some("opaque") => AccessTokenType::Opaque,
                        _ => AccessTokenType::Jwt,
                    },
                }),
            ),
        };
        Self {
            instance_id: row.instance_id,
            id: row.id,
            org_id: row.org_id,
            kind: row.kind,
            login_name: row.login_name,
            state: row.state,
            locked: row.locked,
            display_name: row.display_name,
            human,
            machine,
            created_at_ms: row.created_at_ms,
            changed_at_ms: row.changed_at_ms,
            sequence: row.sequence,
        }
    }
}

/// A metadata entry of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct MetadataEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A machine user's key pair (its public half).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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

/// A machine user's personal access token (never the token or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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

/// How to sort users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSort {
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

impl UserSort {
    fn column(self) -> &'static str {
        match self {
            Self::LoginName => "login_name_lower",
            Self::DisplayName => "display_name",
            Self::CreatedAt => "created_at_ms",
            Self::ChangedAt => "changed_at_ms",
        }
    }
}

/// Users of an instance.
static USER_LIST: ListSpec<UserQuery, UserRow> = ListSpec::new(
    "users",
    UserView::COLUMNS,
    &[
        Field::eq("org_id", |q| text(&q.org_id)),
        Field::prefix("login_name_lower", |q| q.login_name_prefix.as_deref()),
        Field::eq("state", |q| named(q.state, State::as_str)),
        Field::eq("kind", |q| named(q.kind, UserKind::as_str)),
        Field::eq("locked", |q| q.locked.map(Bind::from)),
    ],
    Some(|q| Order::new(q.sort.column(), q.direction)),
    &["id"],
    Paging::Offset,
);

/// A user's metadata, by key.
static METADATA_LIST: ListSpec<str, MetadataEntry> = ListSpec::new(
    "user_metadata",
    "key, value",
    OF_USER,
    None,
    &["key"],
    Paging::Unpaged,
);

/// A machine user's keys, oldest first.
static MACHINE_KEY_LIST: ListSpec<str, MachineKeyView> = ListSpec::new(
    "machine_keys",
    "key_id, user_id, format, public_key, expires_at_ms, created_at_ms",
    OF_USER,
    None,
    &["created_at_ms", "key_id"],
    Paging::Unpaged,
);

/// A machine user's personal access tokens, oldest first.
static TOKEN_LIST: ListSpec<str, PersonalAccessTokenView> = ListSpec::new(
    "personal_access_tokens",
    "token_id, user_id, expires_at_ms, created_at_ms",
    OF_USER,
    None,
    &["created_at_ms", "token_id"],
    Paging::Unpaged,
);

/// The rows of one user (the query is the user id).
const OF_USER: &[Field<str>] = &[Field::eq("user_id", |user_id| Some(user_id.into()))];

/// Which users to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserQuery {
    /// Only users of this organization.
    pub org_id: Option<String>,
    /// Login names starting with this, case-insensitively.
    pub login_name_prefix: Option<String>,
    /// Only in this state.
    pub state: Option<State>,
    /// Only humans or only machines.
    pub kind: Option<UserKind>,
    /// Only locked (or only unlocked) users.
    pub locked: Option<bool>,
    /// Sort order.
    pub sort: UserSort,
    /// Sort direction.
    pub direction: Direction,
}

impl Queries {
    /// A user, human or machine.
    #[instrument(skip(self), err)]
    pub async fn user(
        &self,
        instance_id: &str,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<Option<UserView>, QueryError> {
        self.by_id(
            &self.by_id.user,
            instance_id,
            user_id,
            consistency,
            UserView::decode,
        )
        .await
    }

    /// The user with a login name, compared case-insensitively. A name not in the view is looked for again
    /// after the view has caught up with the stream, so a user created a moment before is found.
    #[instrument(skip(self), err)]
    pub async fn user_by_login_name(
        &self,
        instance_id: &str,
        login_name: &str,
    ) -> Result<Option<UserView>, QueryError> {
        let sql = format!(
            "SELECT {} FROM users WHERE instance_id = $1 AND login_name_lower = $2",
            UserView::COLUMNS
        );
        let params = params![instance_id, login_name.to_lowercase()];
        self.by_unique_key(USERS, || self.one(&sql, &params, UserView::decode))
            .await
    }

    /// Users of an instance.
    #[instrument(skip(self), err)]
    pub async fn users(
        &self,
        instance_id: &str,
        query: &UserQuery,
        page: Page,
    ) -> Result<PageOf<UserView>, QueryError> {
        self.list(&USER_LIST, instance_id, query, page).await
    }

    /// Brings the user's rows (the user, its metadata, keys and tokens) to what `consistency` asks, the way a
    /// read of the user by id does.
    async fn settle_user(
        &self,
        instance_id: &str,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<(), QueryError> {
        if consistency == Consistency::Latest {
            self.by_id(&self.by_id.user, instance_id, user_id, consistency, |_| {
                Ok(())
            })
            .await?;
            Ok(())
        } else {
            self.settle(USERS, consistency, instance_id, &[("user", user_id)])
                .await
        }
    }

    /// A user's metadata, by key.
    #[instrument(skip(self), err)]
    pub async fn user_metadata(
        &self,
        instance_id: &str,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<Vec<MetadataEntry>, QueryError> {
        self.settle_user(instance_id, user_id, consistency).await?;
        self.list_all(&METADATA_LIST, instance_id, user_id).await
    }

    /// A machine user's keys, oldest first.
    #[instrument(skip(self), err)]
    pub async fn machine_keys(
        &self,
        instance_id: &str,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<Vec<MachineKeyView>, QueryError> {
        self.settle_user(instance_id, user_id, consistency).await?;
        self.list_all(&MACHINE_KEY_LIST, instance_id, user_id).await
    }

    /// A machine user's personal access tokens, oldest first.
    #[instrument(skip(self), err)]
    pub async fn personal_access_tokens(
        &self,
        instance_id: &str,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<Vec<PersonalAccessTokenView>, QueryError> {
        self.settle_user(instance_id, user_id, consistency).await?;
        self.list_all(&TOKEN_LIST, instance_id, user_id).await
    }
}
