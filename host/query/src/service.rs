//! [`Queries`]: reads of the views. Reads by id are read-your-writes; lists read the views as they are.
//!
//! This module holds what every resource shares: the consistency of a read by id, how a row is brought up to
//! date, and the helpers reading one row, all rows or a page. The resources' own reads live beside their view
//! rows (`users`, `orgs`, `projects`, …).

use std::{sync::Arc, time::Duration};

use tracing::{debug, instrument};
use warden_eventstore::{AggregateKey, Cursor, Eventstore, Store};
use warden_spooler::{Backend, Db, DbRow, Projection, ProjectionError, Spoolers, SqlValue, params};

use crate::{
    ApplicationView, InstanceView, OrgView, ProjectView, QueryError, UserGrantView, UserView,
    projections::{
        APPLICATIONS, ApplicationsProjection, INSTANCES, InstancesProjection, MEMBERSHIPS, ORGS,
        OrgsProjection, POLICIES, PROJECTS, ProjectsProjection, USER_GRANTS, USERS,
        UserGrantsProjection, UsersProjection,
    },
};

/// How fresh a read by id must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Reflect every event of the resource's aggregate stored before the read. The row is read together with
    /// the aggregate's latest sequence (one round trip); only when the row lags is the projection brought up to
    /// the aggregate's latest position and the row read again. The default.
    #[default]
    Latest,
    /// Reflect the stream up to this cursor, e.g. the cursor of the caller's own push.
    AtLeast(Cursor),
    /// Read the view as it is.
    Eventual,
}

/// How long a read by id waits for another node's spooler to bring a lagging row up to date before it
/// brings the row up to date itself (see [`Queries`]).
const HOLDER_PATIENCE: Duration = Duration::from_millis(100);

/// The most recent event of an aggregate.
const LATEST_POSITION: &str = "SELECT tx_id, position FROM events \
     WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3 ORDER BY sequence DESC LIMIT 1";

/// The read side's query services.
///
/// Reads by id take a [`Consistency`]: with [`Consistency::Latest`] (the default) a client reads its own writes,
/// also through another node. When the view is current this costs one round trip (the row with its aggregate's
/// latest sequence); when it lags, the projection is woken and awaited with a bound
/// ([`Spoolers::ensure_caught_up`]), which fails with a catch-up timeout rather than answer stale data.
///
/// A read by id never depends on another node being alive: when this node does not hold the projection's
/// lease and the holder does not bring a lagging user row up to date within a moment, the read brings that
/// one row up to date itself. It reads the aggregate's events after the row's own sequence and applies them
/// through the projection in a transaction that locks the row; every statement of the projection checks the
/// row's sequence, so the row never goes backwards and the spooler, applying the same events later, changes
/// nothing. A removed user is answered as absent without touching the view. A catch-up timeout (503) then
/// remains only for a database that fails.
///
/// Lists read the views as they are (eventually consistent), with filters, a sort order and offset paging.
#[derive(Debug, Clone)]
pub struct Queries {
    pub(crate) db: Db,
    store: Store,
    spoolers: Spoolers,
    pub(crate) by_id: Arc<ByIdStatements>,
}

/// How to read one resource by id, and to tell from its row alone whether the view is current for it.
#[derive(Debug)]
pub(crate) struct ById {
    /// The projection keeping the view.
    projection: &'static str,
    /// The resource's aggregate type.
    aggregate_type: &'static str,
    /// The row (`$1` instance, `$2` id).
    plain: String,
    /// The row and the latest sequence among its aggregate's events that the projection reads: when the row's
    /// `sequence` is at least that, the row reflects every event stored before the read, in one round trip.
    current: String,
    /// How a reader brings the row up to date itself, for views whose projection checks the row's sequence in
    /// every statement.
    refresh: Option<RowRefresh>,
}

/// How to bring one row up to date from its aggregate's events, outside the spooler.
struct RowRefresh {
    /// The projection, whose statements check the row's sequence (never going backwards).
    projection: Arc<dyn Projection>,
    /// The event types the projection reads (empty: all).
    event_types: Vec<String>,
    /// Events after which the row no longer exists: the read answers "absent" without writing.
    gone: &'static [&'static str],
    /// The row's sequence, locking the row on PostgreSQL (`$1` instance, `$2` id).
    lock_sqlite: String,
    lock_postgres: String,
}

impl std::fmt::Debug for RowRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowRefresh")
            .field("projection", &self.projection.name())
            .field("gone", &self.gone)
            .finish_non_exhaustive()
    }
}

/// The outcome of bringing a row up to date.
enum Refreshed {
    /// The row reflects every event of its aggregate read.
    Current,
    /// The aggregate's events end the row (e.g. the user was removed).
    Gone,
    /// An event cannot be applied here; the spooler decides what becomes of it.
    NotApplicable,
}

impl ById {
    fn new(
        projection: &dyn Projection,
        aggregate_type: &'static str,
        columns: &str,
        table: &str,
        id_column: &str,
    ) -> Self {
        let types = projection.event_types();
        let filter = if types.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = types
                .iter()
                .map(|t| format!("'{}'", t.replace('\'', "''")))
                .collect();
            format!(" AND e.event_type IN ({})", quoted.join(", "))
        };
        Self {
            projection: static_name(projection.name()),
            aggregate_type,
            plain: format!(
                "SELECT {columns} FROM {table} WHERE instance_id = $1 AND {id_column} = $2"
            ),
            current: format!(
                "SELECT {columns}, (SELECT MAX(e.sequence) FROM events e WHERE e.instance_id = $1 \
                 AND e.aggregate_type = '{aggregate_type}' AND e.aggregate_id = $2{filter}) AS latest_sequence \
                 FROM {table} WHERE instance_id = $1 AND {id_column} = $2"
            ),
            refresh: None,
        }
    }

    /// Lets a reader bring the row up to date itself (see [`Queries`]): `projection` must check the row's
    /// `sequence` column in every statement; `gone` are the event types after which the row is removed.
    fn refreshable(
        mut self,
        projection: Arc<dyn Projection>,
        table: &str,
        id_column: &str,
        gone: &'static [&'static str],
    ) -> Self {
        let lock =
            format!("SELECT sequence FROM {table} WHERE instance_id = $1 AND {id_column} = $2");
        self.refresh = Some(RowRefresh {
            event_types: projection.event_types(),
            projection,
            gone,
            lock_postgres: format!("{lock} FOR UPDATE"),
            lock_sqlite: lock,
        });
        self
    }
}

/// The name of a built-in projection as a `'static` string.
fn static_name(name: &str) -> &'static str {
    [
        INSTANCES,
        ORGS,
        USERS,
        PROJECTS,
        APPLICATIONS,
        USER_GRANTS,
        MEMBERSHIPS,
        POLICIES,
    ]
    .into_iter()
    .find(|n| *n == name)
    .unwrap_or("")
}

/// The by-id statements of the resources kept in one row each.
#[derive(Debug)]
pub(crate) struct ByIdStatements {
    pub(crate) instance: ById,
    pub(crate) org: ById,
    pub(crate) user: ById,
    pub(crate) project: ById,
    pub(crate) application: ById,
    pub(crate) user_grant: ById,
}

impl ByIdStatements {
    fn new() -> Self {
        Self {
            instance: ById::new(
                &InstancesProjection,
                "instance",
                InstanceView::COLUMNS,
                "instances",
                "instance_id",
            ),
            org: ById::new(&OrgsProjection, "org", OrgView::COLUMNS, "orgs", "id"),
            user: ById::new(&UsersProjection, "user", UserView::COLUMNS, "users", "id")
                .refreshable(Arc::new(UsersProjection), "users", "id", &["user.removed"]),
            project: ById::new(
                &ProjectsProjection,
                "project",
                ProjectView::COLUMNS,
                "projects",
                "id",
            ),
            application: ById::new(
                &ApplicationsProjection,
                "application",
                ApplicationView::COLUMNS,
                "applications",
                "id",
            ),
            user_grant: ById::new(
                &UserGrantsProjection,
                "user_grant",
                UserGrantView::COLUMNS,
                "user_grants",
                "id",
            ),
        }
    }
}

impl Queries {
    /// Query services over the views of `store`, kept up to date by `spoolers`.
    pub fn new(store: &Store, spoolers: Spoolers) -> Self {
        Self {
            db: Db::of(store),
            store: store.clone(),
            spoolers,
            by_id: Arc::new(ByIdStatements::new()),
        }
    }

    /// The spoolers behind the views.
    pub fn spoolers(&self) -> &Spoolers {
        &self.spoolers
    }

    /// The cursor of the latest event of an aggregate, if it has any.
    pub async fn latest_position(
        &self,
        instance_id: &str,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Option<Cursor>, QueryError> {
        let row = self
            .db
            .fetch_optional(
                LATEST_POSITION,
                &params![instance_id, aggregate_type, aggregate_id],
            )
            .await?;
        Ok(match row {
            Some(row) => Some(Cursor {
                tx_id: row.get("tx_id")?,
                position: row.get("position")?,
            }),
            None => None,
        })
    }

    /// Brings `projection` up to what `consistency` asks for the given aggregates (of `instance_id`).
    pub(crate) async fn settle(
        &self,
        projection: &str,
        consistency: Consistency,
        instance_id: &str,
        aggregates: &[(&str, &str)],
    ) -> Result<(), QueryError> {
        let target = match consistency {
            Consistency::Eventual => return Ok(()),
            Consistency::AtLeast(cursor) => cursor,
            Consistency::Latest => {
                let mut target = None;
                for (aggregate_type, aggregate_id) in aggregates {
                    let latest = self
                        .latest_position(instance_id, aggregate_type, aggregate_id)
                        .await?;
                    target = target.max(latest);
                }
                match target {
                    Some(target) => target,
                    // Nothing was ever written: there is nothing to wait for.
                    None => return Ok(()),
                }
            }
        };
        self.spoolers.ensure_caught_up(projection, target).await?;
        Ok(())
    }

    /// Looks a resource up by a unique key its view holds (a login name, a client id), with `read`. A key
    /// just claimed may not be in the view yet: on a miss the projection is brought up to the stream's head
    /// (as far as this node has seen it, at the latest one scan ago) and the view read once more, so a user or
    /// application created a moment before can sign in at once. A hit costs one read; a key that names nothing
    /// costs a head read and a second read of the view.
    pub(crate) async fn by_unique_key<T, F>(
        &self,
        projection: &str,
        read: impl Fn() -> F,
    ) -> Result<Option<T>, QueryError>
    where
        F: std::future::Future<Output = Result<Option<T>, QueryError>>,
    {
        if let Some(found) = read().await? {
            return Ok(Some(found));
        }
        let head = self
            .store
            .head()
            .await
            .map_err(warden_spooler::Error::from)?;
        self.spoolers.ensure_caught_up(projection, head).await?;
        read().await
    }

    /// Reads one resource kept in one row, as fresh as `consistency` asks. With [`Consistency::Latest`] a row
    /// that already reflects its aggregate's latest event is returned after one round trip; otherwise the
    /// projection is brought up to the aggregate's latest position and the row read again.
    pub(crate) async fn by_id<T>(
        &self,
        statements: &ById,
        instance_id: &str,
        id: &str,
        consistency: Consistency,
        map: impl Fn(&DbRow) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, QueryError> {
        let params = params![instance_id, id];
        if consistency == Consistency::Latest
            && let Some(row) = self.db.fetch_optional(&statements.current, &params).await?
        {
            let latest: Option<i64> = row.get("latest_sequence")?;
            let sequence: i64 = row.get("sequence")?;
            if latest.is_none_or(|latest| sequence >= latest) {
                return Ok(Some(map(&row)?));
            }
        }
        if consistency == Consistency::Latest
            && let Some(refresh) = &statements.refresh
            && !self
                .spoolers
                .is_holder(statements.projection)
                .unwrap_or(false)
        {
            // Another node runs the projection (or nobody does): give it a moment, then do it here.
            let waited = tokio::time::timeout(
                HOLDER_PATIENCE,
                self.settle(
                    statements.projection,
                    consistency,
                    instance_id,
                    &[(statements.aggregate_type, id)],
                ),
            )
            .await;
            match waited {
                Ok(Ok(())) => return self.one(&statements.plain, &params, map).await,
                Ok(Err(error)) if !error.is_catch_up_timeout() => return Err(error),
                Ok(Err(_)) | Err(_) => {}
            }
            match self
                .refresh_row(statements, refresh, instance_id, id)
                .await?
            {
                Refreshed::Current => return self.one(&statements.plain, &params, map).await,
                Refreshed::Gone => return Ok(None),
                Refreshed::NotApplicable => {}
            }
        }
        self.settle(
            statements.projection,
            consistency,
            instance_id,
            &[(statements.aggregate_type, id)],
        )
        .await?;
        self.one(&statements.plain, &params, map).await
    }

    /// Brings one row up to date from its aggregate's events, in a transaction of its own that locks the row
    /// (PostgreSQL; SQLite has one writer): the events after the row's sequence are applied through the
    /// projection, whose statements check the row's sequence, so neither this nor the spooler applying the
    /// same events later moves the row backwards. The checkpoint is the spooler's and is not touched.
    #[instrument(skip(self, statements, refresh), fields(projection = statements.projection))]
    async fn refresh_row(
        &self,
        statements: &ById,
        refresh: &RowRefresh,
        instance_id: &str,
        id: &str,
    ) -> Result<Refreshed, QueryError> {
        let key = AggregateKey::new(instance_id, statements.aggregate_type, id);
        let mut tx = self.db.begin().await?;
        let lock = match tx.backend() {
            Backend::Sqlite => &refresh.lock_sqlite,
            Backend::Postgres => &refresh.lock_postgres,
        };
        let from: i64 = match tx.fetch_optional(lock, &params![instance_id, id]).await? {
            Some(row) => row.get("sequence")?,
            None => 0,
        };
        let events: Vec<_> = self
            .store
            .read_aggregate(&key, from)
            .await
            .map_err(warden_spooler::Error::from)?
            .into_iter()
            .filter(|e| {
                refresh.event_types.is_empty() || refresh.event_types.contains(&e.event_type)
            })
            .collect();
        if events
            .iter()
            .any(|e| refresh.gone.contains(&e.event_type.as_str()))
        {
            tx.rollback().await?;
            return Ok(Refreshed::Gone);
        }
        if events.is_empty() {
            tx.rollback().await?;
            return Ok(Refreshed::Current);
        }
        for event in &events {
            match refresh.projection.apply(&mut tx, event).await {
                Ok(()) => {}
                Err(ProjectionError::Database(error)) => return Err(error.into()),
                Err(error) => {
                    debug!(%error, position = event.position, "row not brought up to date here");
                    tx.rollback().await?;
                    return Ok(Refreshed::NotApplicable);
                }
            }
        }
        tx.commit().await?;
        debug!(
            from,
            to = events.last().map_or(from, |e| e.sequence),
            "row brought up to date"
        );
        Ok(Refreshed::Current)
    }

    pub(crate) async fn one<T>(
        &self,
        sql: &str,
        params: &[SqlValue],
        map: impl Fn(&DbRow) -> Result<T, sqlx::Error>,
    ) -> Result<Option<T>, QueryError> {
        Ok(self
            .db
            .fetch_optional(sql, params)
            .await?
            .as_ref()
            .map(map)
            .transpose()?)
    }
}
