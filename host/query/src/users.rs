//! Users, human or machine: the view rows (with metadata, keys and tokens), the reads by id and login name, and
//! the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_spooler::{DbRow, params};

use crate::{
    QueryError,
    list::{Direction, Filter, Page, PageOf, order},
    projections::USERS,
    row::{State, corrupt},
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
            UserView::from_row,
        )
        .await
    }

    /// The user with a login name, compared case-insensitively (the view as it is).
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
        self.one(
            &sql,
            &params![instance_id, login_name.to_lowercase()],
            UserView::from_row,
        )
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
        let mut filter = Filter::instance(instance_id);
        filter.eq("org_id", query.org_id.as_deref());
        filter.prefix(
            "login_name_lower",
            query
                .login_name_prefix
                .as_deref()
                .map(str::to_lowercase)
                .as_deref(),
        );
        filter.eq("state", query.state.map(|s| s.as_str()));
        filter.eq("kind", query.kind.map(|k| k.as_str()));
        filter.eq("locked", query.locked);
        let column = match query.sort {
            UserSort::LoginName => "login_name_lower",
            UserSort::DisplayName => "display_name",
            UserSort::CreatedAt => "created_at_ms",
            UserSort::ChangedAt => "changed_at_ms",
        };
        let select = filter.select(
            UserView::COLUMNS,
            "users",
            &order(column, "id", query.direction),
            page,
        );
        self.page(select, page, UserView::from_row).await
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
        self.all(
            "SELECT key, value FROM user_metadata WHERE instance_id = $1 AND user_id = $2 ORDER BY key",
            &params![instance_id, user_id],
            |r| {
                Ok(MetadataEntry {
                    key: r.get("key")?,
                    value: r.get("value")?,
                })
            },
        )
        .await
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
        self.all(
            "SELECT key_id, user_id, format, public_key, expires_at_ms, created_at_ms FROM machine_keys \
             WHERE instance_id = $1 AND user_id = $2 ORDER BY created_at_ms, key_id",
            &params![instance_id, user_id],
            MachineKeyView::from_row,
        )
        .await
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
        self.all(
            "SELECT token_id, user_id, expires_at_ms, created_at_ms FROM personal_access_tokens \
             WHERE instance_id = $1 AND user_id = $2 ORDER BY created_at_ms, token_id",
            &params![instance_id, user_id],
            PersonalAccessTokenView::from_row,
        )
        .await
    }
}
