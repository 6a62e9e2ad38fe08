//! Organizations: the view rows, the read by id, the domains and the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::{
    QueryError,
    list::{Direction, Field, ListSpec, Order, Page, PageOf, Paging, named},
    projections::ORGS,
    row::{State, decode},
    service::{Consistency, Queries},
};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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
}

/// A domain of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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

/// How to sort organizations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgSort {
    /// By name, case-insensitively.
    #[default]
    Name,
    /// By creation time.
    CreatedAt,
}

impl OrgSort {
    fn column(self) -> &'static str {
        match self {
            Self::Name => "name_lower",
            Self::CreatedAt => "created_at_ms",
        }
    }
}

/// Organizations of an instance.
static ORG_LIST: ListSpec<OrgQuery, OrgView> = ListSpec::new(
    "orgs",
    OrgView::COLUMNS,
    &[
        Field::prefix("name_lower", |q| q.name_prefix.as_deref()),
        Field::eq("state", |q| named(q.state, State::as_str)),
        Field::CaselessIn {
            column: "id",
            table: "org_domains",
            select: "org_id",
            matched: "domain",
            value: |q| q.domain.as_deref(),
        },
    ],
    Some(|q| Order::new(q.sort.column(), q.direction)),
    &["id"],
    Paging::Offset,
);

/// The domains of an organization, in the order they were added.
static ORG_DOMAIN_LIST: ListSpec<str, OrgDomainView> = ListSpec::new(
    "org_domains",
    "domain, verified, is_primary, created_at_ms",
    &[Field::eq("org_id", |org_id| Some(org_id.into()))],
    None,
    &["created_at_ms", "domain"],
    Paging::Unpaged,
);

/// Which organizations to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgQuery {
    /// Names starting with this, case-insensitively.
    pub name_prefix: Option<String>,
    /// Only in this state.
    pub state: Option<State>,
    /// Only the organization with this domain (verified or not).
    pub domain: Option<String>,
    /// Sort order.
    pub sort: OrgSort,
    /// Sort direction.
    pub direction: Direction,
}

impl Queries {
    /// An organization.
    #[instrument(skip(self), err)]
    pub async fn org(
        &self,
        instance_id: &str,
        org_id: &str,
        consistency: Consistency,
    ) -> Result<Option<OrgView>, QueryError> {
        self.by_id(
            &self.by_id.org,
            instance_id,
            org_id,
            consistency,
            decode::<OrgView>,
        )
        .await
    }

    /// The domains of an organization, in the order they were added.
    #[instrument(skip(self), err)]
    pub async fn org_domains(
        &self,
        instance_id: &str,
        org_id: &str,
        consistency: Consistency,
    ) -> Result<Vec<OrgDomainView>, QueryError> {
        self.settle(ORGS, consistency, instance_id, &[("org", org_id)])
            .await?;
        self.list_all(&ORG_DOMAIN_LIST, instance_id, org_id).await
    }

    /// Organizations of an instance.
    #[instrument(skip(self), err)]
    pub async fn orgs(
        &self,
        instance_id: &str,
        query: &OrgQuery,
        page: Page,
    ) -> Result<PageOf<OrgView>, QueryError> {
        self.list(&ORG_LIST, instance_id, query, page).await
    }
}
