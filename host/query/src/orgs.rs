//! Organizations: the view rows, the read by id, the domains and the list.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_spooler::{DbRow, SqlValue, params};

use crate::{
    QueryError,
    list::{Direction, Filter, Page, PageOf, order},
    projections::ORGS,
    row::State,
    service::{Consistency, Queries},
};

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
            OrgView::from_row,
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
        self.all(
            "SELECT domain, verified, is_primary, created_at_ms FROM org_domains \
             WHERE instance_id = $1 AND org_id = $2 ORDER BY created_at_ms, domain",
            &params![instance_id, org_id],
            OrgDomainView::from_row,
        )
        .await
    }

    /// Organizations of an instance.
    #[instrument(skip(self), err)]
    pub async fn orgs(
        &self,
        instance_id: &str,
        query: &OrgQuery,
        page: Page,
    ) -> Result<PageOf<OrgView>, QueryError> {
        let mut filter = Filter::instance(instance_id);
        filter.prefix(
            "name_lower",
            query
                .name_prefix
                .as_deref()
                .map(str::to_lowercase)
                .as_deref(),
        );
        filter.eq("state", query.state.map(|s| s.as_str()));
        if let Some(domain) = &query.domain {
            filter.raw(
                "id IN (SELECT org_id FROM org_domains d WHERE d.instance_id = $1 AND d.domain = {})",
                SqlValue::from(domain.to_lowercase()),
            );
        }
        let column = match query.sort {
            OrgSort::Name => "name_lower",
            OrgSort::CreatedAt => "created_at_ms",
        };
        let select = filter.select(
            OrgView::COLUMNS,
            "orgs",
            &order(column, "id", query.direction),
            page,
        );
        self.page(select, page, OrgView::from_row).await
    }
}
