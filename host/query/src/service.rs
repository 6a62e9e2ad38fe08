//! [`Queries`]: reads of the views. Reads by id are read-your-writes; lists read the views as they are.

use std::{sync::Arc, time::Duration};

use tracing::{debug, instrument};
use warden_domain::authz::{Membership, Scope};
use warden_eventstore::{AggregateKey, Cursor, Eventstore, Store};
use warden_spooler::{Backend, Db, DbRow, Projection, ProjectionError, Spoolers, SqlValue, params};

use crate::{
    QueryError,
    filters::{
        ApplicationQuery, MembershipQuery, NameSort, OrgQuery, OrgSort, ProjectGrantQuery,
        ProjectQuery, UserGrantQuery, UserQuery, UserSort,
    },
    projections::{
        APPLICATIONS, ApplicationsProjection, INSTANCES, InstancesProjection, MEMBERSHIPS, ORGS,
        OrgsProjection, POLICIES, PROJECTS, ProjectsProjection, USER_GRANTS, USERS,
        UserGrantsProjection, UsersProjection,
    },
    views::{
        ApplicationView, Direction, InstanceView, MachineKeyView, MembershipView, MetadataEntry,
        OrgDomainView, OrgView, Page, PageOf, PersonalAccessTokenView, PoliciesView, PolicyView,
        ProjectGrantView, ProjectRoleView, ProjectView, UserGrantView, UserView,
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

/// A `WHERE` clause under construction, numbering its placeholders.
struct Filter {
    clauses: Vec<String>,
    params: Vec<SqlValue>,
}

impl Filter {
    /// Starts with `instance_id = $1`.
    fn instance(instance_id: &str) -> Self {
        Self {
            clauses: vec!["instance_id = $1".to_owned()],
            params: Vec::from(params![instance_id]),
        }
    }

    fn next(&self) -> usize {
        self.params.len() + 1
    }

    /// Adds `column = value` when `value` is set.
    fn eq(&mut self, column: &str, value: Option<impl Into<SqlValue>>) {
        if let Some(value) = value {
            self.clauses.push(format!("{column} = ${}", self.next()));
            self.params.push(value.into());
        }
    }

    /// Adds "`column` starts with `prefix`" (as an index range) when `prefix` is set and not empty.
    fn prefix(&mut self, column: &str, prefix: Option<&str>) {
        let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
            return;
        };
        let n = self.next();
        self.clauses
            .push(format!("{column} >= ${n} AND {column} < ${}", n + 1));
        self.params.push(SqlValue::from(prefix));
        self.params
            .push(SqlValue::from(format!("{prefix}\u{10FFFF}")));
    }

    /// Adds a raw condition with one placeholder written as `{}`.
    fn raw(&mut self, condition: &str, value: SqlValue) {
        self.clauses
            .push(condition.replace("{}", &format!("${}", self.next())));
        self.params.push(value);
    }

    /// `SELECT columns FROM table WHERE … ORDER BY … LIMIT … OFFSET …`, fetching one extra row to know whether
    /// more follow.
    fn select(
        mut self,
        columns: &str,
        table: &str,
        order: &str,
        page: Page,
    ) -> (String, Vec<SqlValue>) {
        let n = self.next();
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE {} ORDER BY {order} LIMIT ${n} OFFSET ${}",
            self.clauses.join(" AND "),
            n + 1
        );
        self.params
            .push(SqlValue::from(i64::from(page.effective_limit()) + 1));
        self.params.push(SqlValue::Int(Some(
            i64::try_from(page.offset).unwrap_or(i64::MAX),
        )));
        (sql, self.params)
    }
}

fn order(column: &str, tie: &str, direction: Direction) -> String {
    let dir = direction.sql();
    format!("{column} {dir}, {tie} {dir}")
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

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
    db: Db,
    store: Store,
    spoolers: Spoolers,
    by_id: Arc<ByIdStatements>,
}

/// How to read one resource by id, and to tell from its row alone whether the view is current for it.
#[derive(Debug)]
struct ById {
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
struct ByIdStatements {
    instance: ById,
    org: ById,
    user: ById,
    project: ById,
    application: ById,
    user_grant: ById,
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
    async fn settle(
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

    /// Reads one resource kept in one row, as fresh as `consistency` asks. With [`Consistency::Latest`] a row
    /// that already reflects its aggregate's latest event is returned after one round trip; otherwise the
    /// projection is brought up to the aggregate's latest position and the row read again.
    async fn by_id<T>(
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

    async fn one<T>(
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

    async fn all<T>(
        &self,
        sql: &str,
        params: &[SqlValue],
        map: impl Fn(&DbRow) -> Result<T, sqlx::Error>,
    ) -> Result<Vec<T>, QueryError> {
        Ok(self
            .db
            .fetch_all(sql, params)
            .await?
            .iter()
            .map(map)
            .collect::<Result<_, _>>()?)
    }

    async fn page<T>(
        &self,
        (sql, params): (String, Vec<SqlValue>),
        page: Page,
        map: impl Fn(&DbRow) -> Result<T, sqlx::Error>,
    ) -> Result<PageOf<T>, QueryError> {
        let mut items = self.all(&sql, &params, map).await?;
        let limit = page.effective_limit();
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok(PageOf {
            items,
            offset: page.offset,
            limit,
            has_more,
        })
    }

    // --- instances ---

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
                |row| InstanceView::from_row(row, Vec::new()),
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
        instance.domains = self
            .all(
                "SELECT domain FROM instance_domains WHERE instance_id = $1 ORDER BY created_at_ms, domain",
                &params![instance.instance_id.as_str()],
                |r| r.get("domain"),
            )
            .await?;
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
                |row| InstanceView::from_row(row, Vec::new()),
            )
            .await?;
        self.with_domains(instance).await
    }

    // --- organizations ---

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

    // --- users ---

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

    // --- projects ---

    /// A project.
    #[instrument(skip(self), err)]
    pub async fn project(
        &self,
        instance_id: &str,
        project_id: &str,
        consistency: Consistency,
    ) -> Result<Option<ProjectView>, QueryError> {
        self.by_id(
            &self.by_id.project,
            instance_id,
            project_id,
            consistency,
            ProjectView::from_row,
        )
        .await
    }

    /// Projects of an instance.
    #[instrument(skip(self), err)]
    pub async fn projects(
        &self,
        instance_id: &str,
        query: &ProjectQuery,
        page: Page,
    ) -> Result<PageOf<ProjectView>, QueryError> {
        let mut filter = Filter::instance(instance_id);
        filter.eq("org_id", query.org_id.as_deref());
        filter.prefix(
            "name_lower",
            query
                .name_prefix
                .as_deref()
                .map(str::to_lowercase)
                .as_deref(),
        );
        filter.eq("state", query.state.map(|s| s.as_str()));
        let column = match query.sort {
            NameSort::Name => "name_lower",
            NameSort::CreatedAt => "created_at_ms",
        };
        let select = filter.select(
            ProjectView::COLUMNS,
            "projects",
            &order(column, "id", query.direction),
            page,
        );
        self.page(select, page, ProjectView::from_row).await
    }

    /// The roles of a project, by key.
    #[instrument(skip(self), err)]
    pub async fn project_roles(
        &self,
        instance_id: &str,
        project_id: &str,
        consistency: Consistency,
        page: Page,
    ) -> Result<PageOf<ProjectRoleView>, QueryError> {
        self.settle(
            PROJECTS,
            consistency,
            instance_id,
            &[("project", project_id)],
        )
        .await?;
        let mut filter = Filter::instance(instance_id);
        filter.eq("project_id", Some(project_id));
        let select = filter.select(
            "project_id, role_key, display_name, role_group, created_at_ms, changed_at_ms",
            "project_roles",
            "role_key ASC",
            page,
        );
        self.page(select, page, ProjectRoleView::from_row).await
    }

    /// One grant of a project.
    #[instrument(skip(self), err)]
    pub async fn project_grant(
        &self,
        instance_id: &str,
        project_id: &str,
        grant_id: &str,
        consistency: Consistency,
    ) -> Result<Option<ProjectGrantView>, QueryError> {
        self.settle(
            PROJECTS,
            consistency,
            instance_id,
            &[("project", project_id)],
        )
        .await?;
        let sql = format!(
            "SELECT {} FROM project_grants WHERE instance_id = $1 AND project_id = $2 AND grant_id = $3",
            ProjectGrantView::COLUMNS
        );
        self.one(
            &sql,
            &params![instance_id, project_id, grant_id],
            ProjectGrantView::from_row,
        )
        .await
    }

    /// Project grants of an instance, oldest first.
    #[instrument(skip(self), err)]
    pub async fn project_grants(
        &self,
        instance_id: &str,
        query: &ProjectGrantQuery,
        page: Page,
    ) -> Result<PageOf<ProjectGrantView>, QueryError> {
        let mut filter = Filter::instance(instance_id);
        filter.eq("project_id", query.project_id.as_deref());
        filter.eq("granted_org_id", query.granted_org_id.as_deref());
        filter.eq("org_id", query.org_id.as_deref());
        let select = filter.select(
            ProjectGrantView::COLUMNS,
            "project_grants",
            "created_at_ms ASC, project_id ASC, grant_id ASC",
            page,
        );
        self.page(select, page, ProjectGrantView::from_row).await
    }

    // --- applications ---

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

    // --- user grants ---

    /// A user grant.
    #[instrument(skip(self), err)]
    pub async fn user_grant(
        &self,
        instance_id: &str,
        grant_id: &str,
        consistency: Consistency,
    ) -> Result<Option<UserGrantView>, QueryError> {
        self.by_id(
            &self.by_id.user_grant,
            instance_id,
            grant_id,
            consistency,
            UserGrantView::from_row,
        )
        .await
    }

    /// User grants of an instance, by creation time.
    #[instrument(skip(self), err)]
    pub async fn user_grants(
        &self,
        instance_id: &str,
        query: &UserGrantQuery,
        page: Page,
    ) -> Result<PageOf<UserGrantView>, QueryError> {
        let mut filter = Filter::instance(instance_id);
        filter.eq("user_id", query.user_id.as_deref());
        filter.eq("project_id", query.project_id.as_deref());
        filter.eq("org_id", query.org_id.as_deref());
        filter.eq("project_grant_id", query.project_grant_id.as_deref());
        filter.eq("state", query.state.map(|s| s.as_str()));
        let select = filter.select(
            UserGrantView::COLUMNS,
            "user_grants",
            &order("created_at_ms", "id", query.direction),
            page,
        );
        self.page(select, page, UserGrantView::from_row).await
    }

    // --- memberships ---

    /// A user's membership on a scope. Read-your-writes follows the scope's aggregate (the instance,
    /// organization or project holding the members).
    #[instrument(skip(self), err)]
    pub async fn membership(
        &self,
        instance_id: &str,
        scope: &Scope,
        user_id: &str,
        consistency: Consistency,
    ) -> Result<Option<MembershipView>, QueryError> {
        let (kind, scope_id) = match scope {
            Scope::Instance => ("instance", instance_id),
            Scope::Org(id) => ("org", id.as_str()),
            Scope::Project(id) => ("project", id.as_str()),
        };
        self.settle(MEMBERSHIPS, consistency, instance_id, &[(kind, scope_id)])
            .await?;
        let sql = format!(
            "SELECT {} FROM memberships WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 AND user_id = $4",
            MembershipView::COLUMNS
        );
        self.one(
            &sql,
            &params![instance_id, kind, scope_id, user_id],
            MembershipView::from_row,
        )
        .await
    }

    /// Memberships of an instance.
    #[instrument(skip(self), err)]
    pub async fn memberships(
        &self,
        instance_id: &str,
        query: &MembershipQuery,
        page: Page,
    ) -> Result<PageOf<MembershipView>, QueryError> {
        let mut filter = Filter::instance(instance_id);
        filter.eq("user_id", query.user_id.as_deref());
        filter.eq("scope", query.scope.map(|s| s.as_str()));
        filter.eq("scope_id", query.scope_id.as_deref());
        if let Some(role) = query.role {
            let pattern = format!("%\"{}\"%", like_escape(role.as_str()));
            filter.raw(
                "CAST(roles AS TEXT) LIKE {} ESCAPE '\\'",
                SqlValue::from(pattern),
            );
        }
        let select = filter.select(
            MembershipView::COLUMNS,
            "memberships",
            "scope ASC, scope_id ASC, user_id ASC",
            page,
        );
        self.page(select, page, MembershipView::from_row).await
    }

    /// Every membership of a user, as the authorization check takes them (the view as it is).
    #[instrument(skip(self), err)]
    pub async fn memberships_of_user(
        &self,
        instance_id: &str,
        user_id: &str,
    ) -> Result<Vec<Membership>, QueryError> {
        let sql = format!(
            "SELECT {} FROM memberships WHERE instance_id = $1 AND user_id = $2 ORDER BY scope, scope_id",
            MembershipView::COLUMNS
        );
        let views = self
            .all(
                &sql,
                &params![instance_id, user_id],
                MembershipView::from_row,
            )
            .await?;
        Ok(views.iter().map(MembershipView::to_membership).collect())
    }

    // --- policies ---

    /// The policies in force: the instance defaults (`org_id` `None`) or an organization's, with its overrides
    /// resolved. `None` when the instance or organization has none.
    #[instrument(skip(self), err)]
    pub async fn policies(
        &self,
        instance_id: &str,
        org_id: Option<&str>,
        consistency: Consistency,
    ) -> Result<Option<PoliciesView>, QueryError> {
        let mut aggregates = vec![("instance", instance_id)];
        if let Some(org_id) = org_id {
            aggregates.push(("org", org_id));
        }
        self.settle(POLICIES, consistency, instance_id, &aggregates)
            .await?;
        let rows = self
            .db
            .fetch_all(
                "SELECT kind, policy, inherited FROM policies WHERE instance_id = $1 AND org_id = $2",
                &params![instance_id, org_id.unwrap_or("")],
            )
            .await?;
        let mut password_complexity = None;
        let mut lockout = None;
        let mut login = None;
        for row in &rows {
            let inherited: bool = row.get("inherited")?;
            match row.get::<String>("kind")?.as_str() {
                "password_complexity" => {
                    password_complexity = Some(PolicyView {
                        policy: row.json("policy")?,
                        inherited,
                    })
                }
                "lockout" => {
                    lockout = Some(PolicyView {
                        policy: row.json("policy")?,
                        inherited,
                    })
                }
                "login" => {
                    login = Some(PolicyView {
                        policy: row.json("policy")?,
                        inherited,
                    })
                }
                _ => {}
            }
        }
        Ok(match (password_complexity, lockout, login) {
            (Some(password_complexity), Some(lockout), Some(login)) => Some(PoliciesView {
                instance_id: instance_id.to_owned(),
                org_id: org_id.map(str::to_owned),
                password_complexity,
                lockout,
                login,
            }),
            _ => None,
        })
    }
}
