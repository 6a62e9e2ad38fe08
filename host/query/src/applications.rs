//! Applications of projects: the view row, the reads by id and client id, and the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_domain::application::{ApiConfig, OidcConfig};
use warden_spooler::{DbRow, params};

use crate::{
    QueryError,
    list::{Direction, Filter, NameSort, Page, PageOf, order},
    row::{State, corrupt},
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
            ApplicationView::from_row,
        )
        .await
    }

    /// The application with a client id (the view as it is).
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
        self.one(
            &sql,
            &params![instance_id, client_id],
            ApplicationView::from_row,
        )
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
        let mut filter = Filter::instance(instance_id);
        filter.eq("project_id", query.project_id.as_deref());
        filter.eq("org_id", query.org_id.as_deref());
        filter.prefix(
            "name_lower",
            query
                .name_prefix
                .as_deref()
                .map(str::to_lowercase)
                .as_deref(),
        );
        filter.eq("kind", query.kind.map(|k| k.as_str()));
        filter.eq("state", query.state.map(|s| s.as_str()));
        let column = match query.sort {
            NameSort::Name => "name_lower",
            NameSort::CreatedAt => "created_at_ms",
        };
        let select = filter.select(
            ApplicationView::COLUMNS,
            "applications",
            &order(column, "id", query.direction),
            page,
        );
        self.page(select, page, ApplicationView::from_row).await
    }
}
