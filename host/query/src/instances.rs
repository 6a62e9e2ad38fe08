//! Instances (tenants): the view row, the read by id and the read by domain.

use serde::{Deserialize, Serialize};
use tracing::instrument;
use warden_spooler::params;

use crate::{
    QueryError,
    list::{ListSpec, Paging},
    row::{State, decode},
    service::{Consistency, Queries},
};

/// An instance (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct InstanceView {
    /// The instance id.
    pub instance_id: String,
    /// The display name.
    pub name: String,
    /// The language used where a user has none.
    pub default_language: String,
    /// The domain used in generated URLs.
    pub primary_domain: Option<String>,
    /// Every domain routing to the instance (read from `instance_domains`).
    #[sqlx(skip)]
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
}

/// The domains of the caller's instance, in the order they were added.
static DOMAIN_LIST: ListSpec<(), (String,)> = ListSpec::new(
    "instance_domains",
    "domain",
    &[],
    None,
    &["created_at_ms", "domain"],
    Paging::Unpaged,
);

impl Queries {
    /// An instance with its domains. The instance aggregate's id is the instance id.
    #[instrument(skip(self), err)]
    pub async fn instance(
        &self,
        instance_id: &str,
        consistency: Consistency,
    ) -> Result<Option<InstanceView>, QueryError> {
        let row = self
            .by_id(
                &self.by_id.instance,
                instance_id,
                instance_id,
                consistency,
                decode::<InstanceView>,
            )
            .await?;
        self.with_domains(row).await
    }

    /// Fills in the domains of an instance read without them.
    async fn with_domains(
        &self,
        instance: Option<InstanceView>,
    ) -> Result<Option<InstanceView>, QueryError> {
        let Some(mut instance) = instance else {
            return Ok(None);
        };
        let domains: Vec<(String,)> = self
            .list_all(&DOMAIN_LIST, &instance.instance_id, &())
            .await?;
        instance.domains = domains.into_iter().map(|(domain,)| domain).collect();
        Ok(Some(instance))
    }

    /// The instance a domain routes to (the view as it is).
    #[instrument(skip(self), err)]
    pub async fn instance_by_domain(
        &self,
        domain: &str,
    ) -> Result<Option<InstanceView>, QueryError> {
        let instance_id: Option<String> = self
            .one(
                "SELECT instance_id FROM instance_domains WHERE domain = $1",
                &params![domain.to_lowercase()],
                |r| r.get("instance_id"),
            )
            .await?;
        let Some(id) = instance_id else {
            return Ok(None);
        };
        let instance = self
            .by_id(
                &self.by_id.instance,
                &id,
                &id,
                Consistency::Eventual,
                decode::<InstanceView>,
            )
            .await?;
        self.with_domains(instance).await
    }
}
