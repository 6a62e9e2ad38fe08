//! Warden's query side: the built-in [`projections`] that keep the views up to date, and the [`Queries`]
//! services that read them.
//!
//! # Starting it
//! A server starts the read side once per process, after migrating the store:
//!
//! ```no_run
//! # async fn run(store: warden_eventstore::Store) -> Result<(), warden_query::QueryError> {
//! use warden_query::{Consistency, Page, ReadSide, UserQuery};
//! use warden_spooler::SpoolerConfig;
//!
//! let read_side = ReadSide::start(store, SpoolerConfig::new("node-1")).await?;
//! let queries = read_side.queries();
//! // By id, read-your-writes: sees every event of the user stored before the call.
//! let user = queries.user("instance-1", "user-1", Consistency::Latest).await?;
//! // Lists read the views as they are.
//! let page = queries.users("instance-1", &UserQuery::default(), Page::default()).await?;
//! // Status and metrics of the projections.
//! let status = read_side.spoolers().status().await?;
//! let metrics = read_side.spoolers().metrics().await?;
//! read_side.shutdown().await;
//! # Ok(()) }
//! ```

mod application_keys;
mod applications;
mod error;
mod instances;
mod list;
mod memberships;
mod orgs;
mod policies;
pub mod projections;
mod projects;
mod row;
mod service;
mod user_grants;
mod users;

use warden_eventstore::Store;
use warden_spooler::{SpoolerConfig, Spoolers};

pub use application_keys::AppKeyView;
pub use applications::{AppKind, ApplicationQuery, ApplicationView};
pub use error::QueryError;
pub use instances::InstanceView;
pub use list::{DEFAULT_PAGE_SIZE, Direction, MAX_PAGE_SIZE, NameSort, Page, PageOf};
pub use memberships::{MembershipQuery, MembershipView};
pub use orgs::{OrgDomainView, OrgQuery, OrgSort, OrgView};
pub use policies::{PoliciesView, PolicyView};
pub use projects::{
    ProjectGrantQuery, ProjectGrantView, ProjectQuery, ProjectRoleView, ProjectView,
};
pub use row::{State, UnknownName};
pub use service::{Consistency, Queries};
pub use user_grants::{UserGrantQuery, UserGrantView};
pub use users::{
    HumanView, MachineKeyView, MachineView, MetadataEntry, PersonalAccessTokenView, UserKind,
    UserQuery, UserSort, UserView,
};

/// The read side of one node: the spoolers of the built-in projections and the query services over their views.
#[derive(Debug, Clone)]
pub struct ReadSide {
    spoolers: Spoolers,
    queries: Queries,
}

impl ReadSide {
    /// Starts the spoolers of every built-in projection on this node. The store must be migrated.
    pub async fn start(store: Store, config: SpoolerConfig) -> Result<Self, QueryError> {
        let spoolers = Spoolers::start(store.clone(), projections::builtin(), config).await?;
        let queries = Queries::new(&store, spoolers.clone());
        Ok(Self { spoolers, queries })
    }

    /// The spoolers: status, metrics, rebuilds, [`Spoolers::ensure_caught_up`].
    pub fn spoolers(&self) -> &Spoolers {
        &self.spoolers
    }

    /// The query services.
    pub fn queries(&self) -> &Queries {
        &self.queries
    }

    /// Stops the spoolers and gives their leases to the other nodes.
    pub async fn shutdown(&self) {
        self.spoolers.shutdown().await;
    }
}
