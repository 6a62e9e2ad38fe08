//! Applications of projects: the view row, the reads by id and client id, and the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_domain::application::{ApiConfig, OidcConfig};
use warden_spooler::{DbRow, params};

use crate::{
    QueryError,
    list::{Direction, Field, ListSpec, NameSort, Order, Page, PageOf, Paging, named, text},
    projections::APPLICATIONS,
    row::{State, corrupt, decode, stored_name},
    service::{Consistency, Queries},
};

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

stored_name!(AppKind, "application kind", [Oidc, Api]);

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

    /// Decodes a row of either backend.
    pub(crate) fn decode(row: &DbRow) -> Result<Self, sqlx::Error> {
        decode::<ApplicationRow>(row)?.try_into()
    }
}

/// A row of `applications`: `config` holds the OIDC or the API configuration, as `kind` says.
#[derive(sqlx::FromRow)]
pub(crate) struct ApplicationRow {
    instance_id: String,
    id: String,
    project_id: String,
    org_id: String,
    name: String,
    kind: AppKind,
    state: State,
    client_id: String,
    has_secret: bool,
    #[sqlx(json)]
    config: serde_json::Value,
    created_at_ms: i64,
    changed_at_ms: i64,
    sequence: i64,
}

impl TryFrom<ApplicationRow> for ApplicationView {
    type Error = sqlx::Error;

    fn try_from(row: ApplicationRow) -> Result<Self, Self::Error> {
        let config = |e| corrupt("config", e);
        let (oidc, api) = match row.kind {
            AppKind::Oidc => (
                Some(serde_json::from_value(row.config).map_err(config)?),
                None,
            ),
            AppKind::Api => (
                None,
                Some(serde_json::from_value(row.config).map_err(config)?),
            ),
        };
        Ok(Self {
            instance_id: row.instance_id,
            id: row.id,
            project_id: row.project_id,
            org_id: row.org_id,
            name: row.name,
            kind: row.kind,
            state: row.state,
            client_id: row.client_id,
            has_secret: row.has_secret,
            oidc,
            api,
            created_at_ms: row.created_at_ms,
            changed_at_ms: row.changed_at_ms,
            sequence: row.sequence,
        })
    }
}

/// Applications of an instance.
static APPLICATION_LIST: ListSpec<ApplicationQuery, ApplicationRow> = ListSpec::new(
    "applications",
    ApplicationView::COLUMNS,
    &[
        Field::eq("project_id", |q| text(&q.project_id)),
        Field::eq("org_id", |q| text(&q.org_id)),
        Field::prefix("name_lower", |q| q.name_prefix.as_deref()),
        Field::eq("kind", |q| named(q.kind, AppKind::as_str)),
        Field::eq("state", |q| named(q.state, State::as_str)),
    ],
    Some(|q| Order::new(q.sort.column(), q.direction)),
    &["id"],
    Paging::Offset,
);

/// Which applications to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApplicationQuery {
    /// Only applications of this project.
    pub project_id: Option<String>,
    /// Only applications of projects of this organization.
    pub org_id: Option<String>,
    /// Names starting with this, case-insensitively.
    pub name_prefix: Option<String>,
    /// Only OIDC or only API applications.
    pub kind: Option<AppKind>,
    /// Only in this state.
    pub state: Option<State>,
    /// Sort order.
    pub sort: NameSort,
    /// Sort direction.
    pub direction: Direction,
}

impl Queries {
    /// An application.
    #[instrument(skip(self), err)]
    pub async fn application(
        &self,
        instance_id: &str,
        app_id: &str,
        consistency: Consistency,
    ) -> Result<Option<ApplicationView>, QueryError> {
        self.by_id(
            &self.by_id.application,
            instance_id,
            app_id,
            consistency,
            ApplicationView::decode,
        )
        .await
    }

    /// The application with a client id. A client id not in the view is looked for again after the view has
    /// caught up with the stream, so an application added a moment before can authenticate at once.
    #[instrument(skip(self), err)]
    pub async fn application_by_client_id(
        &self,
        instance_id: &str,
        client_id: &str,
    ) -> Result<Option<ApplicationView>, QueryError> {
        let sql = format!(
            "SELECT {} FROM applications WHERE instance_id = $1 AND client_id = $2",
            ApplicationView::COLUMNS
        );
        let params = params![instance_id, client_id];
        self.by_unique_key(APPLICATIONS, || {
            self.one(&sql, &params, ApplicationView::decode)
        })
        .await
    }

    /// Applications of an instance.
    #[instrument(skip(self), err)]
    pub async fn applications(
        &self,
        instance_id: &str,
        query: &ApplicationQuery,
        page: Page,
    ) -> Result<PageOf<ApplicationView>, QueryError> {
        self.list(&APPLICATION_LIST, instance_id, query, page).await
    }
}
