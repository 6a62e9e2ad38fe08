//! Projection plugins: a plugin run by its own spooler, writing rows to plugin-owned views.
//!
//! # Design
//! Each **version** of a projection plugin is its own [`Projection`] ([`PluginProjection`]), named
//! `plugin_<plugin id>_<first 12 hex digits of the digest>` ([`projection_name`]). It therefore has its own
//! checkpoint, lease and failed events in the spooler machinery, and a new version starts from the start of
//! the stream: it rebuilds its views by replay, beside the old version, which keeps running until it is
//! removed.
//!
//! Rows live in one table, `plugin_view_rows`, keyed by (projection, table, key): the rows of two versions
//! never mix, even while nodes run different versions during a roll-out. Which version's rows the API serves
//! is recorded per plugin in `plugin_view_versions`; [`add_projection`] makes the added version the served
//! one, and [`remove_projection`] deletes a removed version's rows with its spooler state.
//!
//! A plugin belongs to one instance: its projection reads the events of every instance (the spoolers read
//! the global stream) of the known event types its subscriptions match ([`crate::subscriptions`]), and hands
//! only those of its own instance to the plugin, with secret hashes redacted as in the audit trail. The
//! plugin sees the organization that owns the event's aggregate: the aggregate itself for an `org`,
//! otherwise the `org_id` of the event's payload or, failing that, of the aggregate's first event.
//!
//! Each event is one call of the plugin, made in [`Projection::prepare`] before the batch transaction opens:
//! its reads see the committed rows and the writes of the batch's earlier events, its writes are buffered.
//! [`Projection::apply`] then stores the buffered rows in the batch transaction, so the rows and the
//! checkpoint commit together, and no plugin call runs while the transaction (on SQLite the single writer)
//! is held. A batch stops preparing after [`BATCH_TIME`] or [`BATCH_BYTES`]; the rest waits for the next.
//! A call that fails (trap, timeout, memory, a quota, an error of the plugin) is a failed event of the
//! projection: retried with back-off, then skipped and listed in the projection's status — never a crash.
//! A call writes at most its binding's rows and bytes per event, and the views hold at most its totals
//! ([`ViewQuota`]); pages read through the API are bounded by rows and by [`MAX_PAGE_BYTES`].
//!
//! # Usage
//! ```no_run
//! # async fn example(
//! #     store: warden_eventstore::Store,
//! #     spoolers: warden_spooler::Spoolers,
//! #     registry: warden_plugin_host::PluginRegistry,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use warden_plugin_host::projection::{ProjectionPlugins, Page, plugin_view_rows};
//!
//! // Keeps the spoolers running exactly the projection plugins the registry reports, on every node.
//! let plugins = ProjectionPlugins::new(store.clone(), spoolers.clone(), registry.runtime().clone());
//! let _task = plugins.spawn(registry.projections());
//! // GET /api/v1/plugins/{id}/views/{table}
//! let rows = plugin_view_rows(&store, "instance-1", "plugin-1", "org_users", &Page::default()).await?;
//! # let _ = rows; Ok(()) }
//! ```

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};
use warden_eventstore::{Cursor, Event, Store};
use warden_spooler::{
    BoxFuture, Db, Projection, ProjectionError, Rows, Spoolers, SqlValue, ViewTx, params,
};
use warden_wasm_runtime::{
    Binding, CallError, LoadedPlugin, PluginRuntime, ViewFuture, ViewStore, ViewStoreError, World,
};

use crate::registry::ProjectionPluginSpec;
use crate::subscriptions::selected_event_types;

/// How many hex digits of the digest name a version's projection.
const DIGEST_PREFIX: usize = 12;
/// The longest plugin id used as is in a projection name; longer (or unusual) ids are hashed.
const MAX_ID_IN_NAME: usize = 40;
/// Organizations of aggregates remembered per projection before the memory is cleared.
const ORG_CACHE: usize = 10_000;
/// The most rows one page returns.
pub const MAX_PAGE: u32 = 1000;

/// Why a projection plugin cannot run or its views cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionPluginError {
    /// The plugin does not target the projection world.
    #[error("plugin `{plugin_id}` targets the {world} world, not projection")]
    WrongWorld {
        /// The plugin.
        plugin_id: String,
        /// The world it targets.
        world: World,
    },
    /// The plugin's subscriptions match no event type Warden stores.
    #[error("projection plugin `{0}` subscribes to no event type Warden stores")]
    NoSubscriptions(String),
    /// The spoolers refused the projection.
    #[error("spooler: {0}")]
    Spooler(#[from] warden_spooler::Error),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The projection name of a version of a projection plugin: `plugin_<id>_<digest prefix>`.
///
/// The id is used as is when it is made of `a-z`, `0-9` and `_` and at most 40 characters long, otherwise
/// (hyphens, capitals, length) the first 16 hex digits of its SHA-256 stand in for it.
pub fn projection_name(plugin_id: &str, digest: &str) -> String {
    let usable = !plugin_id.is_empty()
        && plugin_id.len() <= MAX_ID_IN_NAME
        && plugin_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let id = if usable {
        plugin_id.to_owned()
    } else {
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(plugin_id.as_bytes()));
        format!("h{}", &hash[..16])
    };
    let digest: String = digest
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(DIGEST_PREFIX)
        .collect();
    format!("plugin_{id}_{digest}")
}

/// One version of a projection plugin, run as a [`Projection`] by the spoolers.
pub struct PluginProjection {
    name: String,
    instance_id: String,
    plugin_id: String,
    digest: String,
    runtime: PluginRuntime,
    loaded: Arc<LoadedPlugin>,
    /// The binding's limits, configuration and quota; a changed binding replaces them while the projection
    /// runs, so the next call follows the change without a replay.
    settings: RwLock<Arc<Settings>>,
    aggregate_types: Vec<String>,
    event_types: Vec<String>,
    /// The organization of each aggregate looked up so far (the first event of an aggregate never changes).
    orgs: Mutex<HashMap<(String, String, String), Option<String>>>,
    /// The outcome of each call of the batch being applied, made before its transaction opened.
    prepared: Mutex<HashMap<EventKey, Result<Vec<Write>, ProjectionError>>>,
}

/// How a projection plugin is called: its binding, and how much its views may hold in all.
#[derive(Debug)]
struct Settings {
    binding: Binding,
    quota: ViewQuota,
}

/// How much a projection plugin's views may hold in all; an event that would exceed it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewQuota {
    /// Rows in all tables.
    pub total_rows: u64,
    /// Bytes of values in all tables.
    pub total_bytes: u64,
}

impl ViewQuota {
    /// The default quota: 100 000 rows, 256 MiB.
    pub const DEFAULT: ViewQuota = ViewQuota {
        total_rows: 100_000,
        total_bytes: 256 << 20,
    };
}

impl Default for ViewQuota {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Debug for PluginProjection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginProjection")
            .field("name", &self.name)
            .field("instance_id", &self.instance_id)
            .field("plugin_id", &self.plugin_id)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl PluginProjection {
    /// The projection of the version `digest` of plugin `plugin_id` of `instance_id`, called through
    /// `runtime` with `binding`'s limits and configuration.
    pub fn new(
        runtime: PluginRuntime,
        instance_id: impl Into<String>,
        plugin_id: impl Into<String>,
        digest: impl Into<String>,
        loaded: Arc<LoadedPlugin>,
        binding: Binding,
    ) -> Result<Self, ProjectionPluginError> {
        let plugin_id = plugin_id.into();
        let digest = digest.into();
        if loaded.world() != World::Projection {
            return Err(ProjectionPluginError::WrongWorld {
                plugin_id,
                world: loaded.world(),
            });
        }
        // The spooler filters on exact event types: the patterns are expanded to the known event types
        // they match, by the same rule the runtime applies to each event.
        let selected = selected_event_types(loaded.subscriptions());
        if selected.is_empty() {
            return Err(ProjectionPluginError::NoSubscriptions(plugin_id));
        }
        let event_types: Vec<String> = selected.iter().map(|k| k.event_type.to_owned()).collect();
        let mut aggregate_types: Vec<String> = selected
            .iter()
            .map(|k| k.aggregate_type.to_owned())
            .collect();
        aggregate_types.sort();
        aggregate_types.dedup();
        Ok(Self {
            name: projection_name(&plugin_id, &digest),
            instance_id: instance_id.into(),
            plugin_id,
            digest,
            runtime,
            loaded,
            settings: RwLock::new(Arc::new(Settings {
                binding,
                quota: ViewQuota::DEFAULT,
            })),
            aggregate_types,
            event_types,
            orgs: Mutex::new(HashMap::new()),
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// The same projection with another quota for its views.
    #[must_use]
    pub fn with_quota(self, quota: ViewQuota) -> Self {
        let binding = self.settings().binding.clone();
        self.set_settings(binding, quota);
        self
    }

    /// Calls from now on run with `binding`'s limits and configuration and with `quota`: a binding changed
    /// while the projection runs takes effect without a replay.
    pub fn set_settings(&self, binding: Binding, quota: ViewQuota) {
        let settings = Arc::new(Settings { binding, quota });
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = settings;
    }

    fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The projection of the plugin version a registry reports.
    pub fn from_spec(
        runtime: PluginRuntime,
        spec: &ProjectionPluginSpec,
    ) -> Result<Self, ProjectionPluginError> {
        Self::new(
            runtime,
            spec.instance_id.clone(),
            spec.plugin_id.clone(),
            spec.digest.clone(),
            Arc::clone(&spec.loaded),
            spec.binding.clone(),
        )
        .map(|projection| projection.with_quota(spec.quota))
    }

    /// The instance the plugin belongs to.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The plugin's id.
    pub fn plugin_id(&self) -> &str {
        &self.plugin_id
    }

    /// The digest of the version.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The organization owning `event`'s aggregate, as the plugin sees it.
    async fn org_of(
        &self,
        reader: &mut Reader<'_>,
        event: &Event,
    ) -> Result<Option<String>, sqlx::Error> {
        let aggregate = &event.aggregate;
        if aggregate.aggregate_type == "org" {
            return Ok(Some(aggregate.aggregate_id.clone()));
        }
        if let Some(org) = payload_org(&event.payload) {
            return Ok(Some(org));
        }
        if aggregate.aggregate_type == "instance" {
            return Ok(None);
        }
        let key = (
            aggregate.instance_id.clone(),
            aggregate.aggregate_type.clone(),
            aggregate.aggregate_id.clone(),
        );
        if let Some(org) = self.orgs_lock().get(&key) {
            return Ok(org.clone());
        }
        let first = reader
            .fetch_optional(
                "SELECT payload FROM events \
                 WHERE instance_id = $1 AND aggregate_type = $2 AND aggregate_id = $3 \
                 ORDER BY sequence LIMIT 1",
                &params![
                    aggregate.instance_id.as_str(),
                    aggregate.aggregate_type.as_str(),
                    aggregate.aggregate_id.as_str()
                ],
            )
            .await?;
        let org = match first {
            Some(row) => payload_org(&row.json::<Value>("payload")?),
            None => None,
        };
        let mut orgs = self.orgs_lock();
        if orgs.len() >= ORG_CACHE {
            orgs.clear();
        }
        orgs.insert(key, org.clone());
        Ok(org)
    }

    fn orgs_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), Option<String>>> {
        // A cache: whatever a panicking holder left is still a valid cache.
        self.orgs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies the writes of a successful call in the batch transaction.
    async fn write_rows(
        &self,
        tx: &mut ViewTx,
        event: &Event,
        writes: Vec<Write>,
    ) -> Result<(), ProjectionError> {
        for write in writes {
            match write {
                Write::Upsert { table, key, value } => {
                    let size = i64::try_from(value.len()).unwrap_or(i64::MAX);
                    let value: Value = serde_json::from_str(&value).map_err(|e| {
                        ProjectionError::event(format!(
                            "projection plugin `{}` wrote a row {table}/{key} that is not JSON: {e}",
                            self.plugin_id
                        ))
                    })?;
                    tx.execute(
                        "INSERT INTO plugin_view_rows \
                             (projection, instance_id, plugin_id, table_name, row_key, value, updated_at, size) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (projection, table_name, row_key) DO UPDATE SET \
                             value = excluded.value, updated_at = excluded.updated_at, size = excluded.size",
                        &[
                            SqlValue::from(self.name.as_str()),
                            SqlValue::from(self.instance_id.as_str()),
                            SqlValue::from(self.plugin_id.as_str()),
                            SqlValue::from(table),
                            SqlValue::from(key),
                            SqlValue::Json(Some(value)),
                            SqlValue::from(event.created_at),
                            SqlValue::from(size),
                        ],
                    )
                    .await?;
                }
                Write::Delete { table, key } => {
                    tx.execute(
                        "DELETE FROM plugin_view_rows \
                         WHERE projection = $1 AND table_name = $2 AND row_key = $3",
                        &params![self.name.as_str(), table, key],
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}

/// The writes of consecutive events of a batch, merged per row: the last write of a row wins.
#[derive(Debug, Default)]
struct MergedWrites {
    /// The first event merged.
    start: usize,
    /// Per row (table, key): the value written (`None`: deleted) and when its event was stored.
    rows: HashMap<(String, String), (Option<String>, i64)>,
    /// The rows in the order they were first written.
    order: Vec<(String, String)>,
    /// Upserts merged, and the bytes they wrote: at no point within the batch can the views hold more than
    /// this beyond what they held before it.
    upserts: u64,
    upserted_bytes: u64,
}

impl MergedWrites {
    fn add(&mut self, index: usize, at: i64, writes: Vec<Write>) {
        if self.order.is_empty() {
            self.start = index;
        }
        for write in writes {
            let (row, value) = match write {
                Write::Upsert { table, key, value } => {
                    self.upserts += 1;
                    self.upserted_bytes += u64::try_from(value.len()).unwrap_or(u64::MAX);
                    ((table, key), Some(value))
                }
                Write::Delete { table, key } => ((table, key), None),
            };
            if !self.rows.contains_key(&row) {
                self.order.push(row.clone());
            }
            self.rows.insert(row, (value, at));
        }
    }
}

impl PluginProjection {
    /// Writes what `merged` holds (and empties it): one statement for the upserted rows, one for the deleted
    /// ones.
    ///
    /// The quota holds after every event: the totals before the writes plus every upsert merged (as if each
    /// added a row) must stay within it, so that no event in between could have exceeded it. Otherwise the
    /// merged events fail together, and the spooler applies them one by one, checking after each.
    async fn write_merged(
        &self,
        tx: &mut ViewTx,
        merged: &mut MergedWrites,
    ) -> Result<(), (usize, ProjectionError)> {
        let MergedWrites {
            start,
            mut rows,
            order,
            upserts: upserted,
            upserted_bytes,
        } = std::mem::take(merged);
        if upserted > 0 {
            let (total_rows, total_bytes) =
                self.totals(tx).await.map_err(|error| (start, error))?;
            let quota = self.settings().quota;
            if total_rows.saturating_add(upserted) > quota.total_rows
                || total_bytes.saturating_add(upserted_bytes) > quota.total_bytes
            {
                return Err((
                    start,
                    ProjectionError::event(format!(
                        "projection plugin `{}` may exceed its quota within the batch; applied event by event",
                        self.plugin_id
                    )),
                ));
            }
        }
        let mut upserts = Rows::default();
        let mut deletes = Rows::default();
        for row in order {
            let Some((value, at)) = rows.remove(&row) else {
                continue;
            };
            let (table, key) = row;
            match value {
                Some(value) => {
                    let size = i64::try_from(value.len()).unwrap_or(i64::MAX);
                    let value: Value = serde_json::from_str(&value).map_err(|e| {
                        (
                            start,
                            ProjectionError::event(format!(
                                "projection plugin `{}` wrote a row {table}/{key} that is not JSON: {e}",
                                self.plugin_id
                            )),
                        )
                    })?;
                    upserts.push([
                        ("projection", SqlValue::from(self.name.as_str())),
                        ("instance_id", self.instance_id.as_str().into()),
                        ("plugin_id", self.plugin_id.as_str().into()),
                        ("table_name", table.into()),
                        ("row_key", key.into()),
                        ("value", SqlValue::Json(Some(value))),
                        ("updated_at", at.into()),
                        ("size", size.into()),
                    ]);
                }
                None => deletes.push([
                    ("projection", SqlValue::from(self.name.as_str())),
                    ("table_name", table.into()),
                    ("row_key", key.into()),
                ]),
            }
        }
        let failed = |error: sqlx::Error| (start, ProjectionError::Database(error));
        if !deletes.is_empty() {
            let (source, params) = deletes.table(tx.backend()).map_err(failed)?;
            tx.execute(
                &format!(
                    "DELETE FROM plugin_view_rows WHERE (projection, table_name, row_key) IN \
                     (SELECT v.projection, v.table_name, v.row_key FROM {source})"
                ),
                &params,
            )
            .await
            .map_err(failed)?;
        }
        if !upserts.is_empty() {
            tx.insert_rows(
                "plugin_view_rows",
                &upserts,
                "ON CONFLICT (projection, table_name, row_key) DO UPDATE SET \
                 value = excluded.value, updated_at = excluded.updated_at, size = excluded.size",
            )
            .await
            .map_err(failed)?;
        }
        Ok(())
    }
}

/// The `org_id` member of a payload, when it is a non-empty string.
fn payload_org(payload: &Value) -> Option<String> {
    payload
        .get("org_id")
        .and_then(Value::as_str)
        .filter(|org| !org.is_empty())
        .map(str::to_owned)
}

/// The event as a plugin sees it: hashes of secrets redacted as in the audit trail
/// ([`warden_domain::audit::redact_secrets`]), so a plugin never gets a password, token or client secret
/// hash to copy into a view.
fn plugin_event(event: &Event, org_id: Option<String>) -> warden_wasm_runtime::Event {
    warden_wasm_runtime::Event {
        instance_id: event.aggregate.instance_id.clone(),
        org_id,
        aggregate_type: event.aggregate.aggregate_type.clone(),
        aggregate_id: event.aggregate.aggregate_id.clone(),
        sequence: event.sequence,
        position: event.position,
        event_type: event.event_type.clone(),
        revision: event.revision,
        creator: event.creator.clone(),
        created_at: event.created_at,
        payload: warden_domain::audit::redact_secrets(&event.payload),
    }
}

impl Projection for PluginProjection {
    fn name(&self) -> &str {
        &self.name
    }

    fn aggregate_types(&self) -> Vec<String> {
        self.aggregate_types.clone()
    }

    fn event_types(&self) -> Vec<String> {
        self.event_types.clone()
    }

    /// None of its own: the rows live in the shared `plugin_view_rows`, emptied by [`Projection::reset`].
    fn tables(&self) -> Vec<String> {
        Vec::new()
    }

    fn reset<'a>(&'a self, tx: &'a mut ViewTx) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            tx.execute(
                "DELETE FROM plugin_view_rows WHERE projection = $1",
                &params![self.name.as_str()],
            )
            .await?;
            Ok(())
        })
    }

    /// Calls the plugin for the batch's events before the batch transaction opens; reads see committed rows
    /// and the writes of the batch's earlier events. Stops at the first failing event, and once the batch
    /// has taken [`BATCH_TIME`] or written [`BATCH_BYTES`]: the rest waits for the next batch.
    fn prepare<'a>(&'a self, db: &'a Db, events: &'a [Event]) -> BoxFuture<'a, usize> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let overlay = Arc::new(Mutex::new(Overlay::default()));
            let mut prepared = HashMap::new();
            let mut ready = events.len();
            for (index, event) in events.iter().enumerate() {
                if !self.reads(event) {
                    continue;
                }
                if index > 0
                    && (started.elapsed() >= BATCH_TIME || lock(&overlay).bytes >= BATCH_BYTES)
                {
                    ready = index;
                    break;
                }
                let outcome = self.call_prepared(db, &overlay, event).await;
                let failed = outcome.is_err();
                if let Ok(writes) = &outcome {
                    let mut overlay = lock(&overlay);
                    for write in writes {
                        overlay.record(write);
                    }
                }
                prepared.insert(event_key(event), outcome);
                if failed {
                    ready = index + 1;
                    break;
                }
            }
            *lock(&self.prepared) = prepared;
            ready
        })
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async move {
            if !self.reads(event) {
                return Ok(());
            }
            let prepared = {
                let mut prepared = lock(&self.prepared);
                match prepared.get(&event_key(event)) {
                    Some(Ok(writes)) => Some(Ok(writes.clone())),
                    Some(Err(_)) => prepared.remove(&event_key(event)),
                    None => None,
                }
            };
            let writes = match prepared {
                Some(outcome) => outcome?,
                // Not prepared (a batch the spooler did not prepare): called here, reading through `tx`.
                None => self.call_in_batch(tx, event).await?,
            };
            // Only upserts can grow the views: the totals are counted after those alone.
            let grows = writes.iter().any(|w| matches!(w, Write::Upsert { .. }));
            self.write_rows(tx, event, writes).await?;
            if grows {
                self.check_totals(tx).await?;
            }
            Ok(())
        })
    }

    /// The prepared writes of the batch's events merged per row (the last write of a row wins) and written
    /// with one `INSERT` of the upserted rows and one `DELETE` of the deleted ones, the totals checked once.
    /// An event that was not prepared, or whose call failed, is applied on its own after what was merged
    /// before it. A failed write is reported at the first event merged (the spooler then applies the batch
    /// event by event, which finds the event that causes it).
    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), (usize, ProjectionError)>> {
        Box::pin(async move {
            let mut merged = MergedWrites::default();
            for (index, event) in events.iter().enumerate() {
                if !self.reads(event) {
                    continue;
                }
                let prepared = match lock(&self.prepared).get(&event_key(event)) {
                    Some(Ok(writes)) => Some(writes.clone()),
                    _ => None,
                };
                match prepared {
                    Some(writes) => merged.add(index, event.created_at, writes),
                    None => {
                        self.write_merged(tx, &mut merged).await?;
                        self.apply(tx, event)
                            .await
                            .map_err(|error| (index, error))?;
                    }
                }
            }
            self.write_merged(tx, &mut merged).await
        })
    }

    fn merges_events(&self) -> bool {
        true
    }
}

/// Longest time the calls of one batch may take before the rest of the batch waits for the next one. With
/// the longest call (1 s plus the grace) a batch prepares in well under the spoolers' lease of 4 s, so a
/// holder never loses its lease to a slow plugin.
pub const BATCH_TIME: std::time::Duration = std::time::Duration::from_secs(1);
/// Most bytes the calls of one batch may write before the rest of the batch waits for the next one.
pub const BATCH_BYTES: usize = 16 << 20;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every holder leaves the value whole (one insert or replace at a time).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What identifies an event within a batch.
type EventKey = (String, String, i64);

fn event_key(event: &Event) -> EventKey {
    (
        event.aggregate.aggregate_type.clone(),
        event.aggregate.aggregate_id.clone(),
        event.sequence,
    )
}

/// The rows written by the earlier events of a batch being prepared: `None` for a deleted row.
#[derive(Debug, Default)]
struct Overlay {
    rows: HashMap<(String, String), Option<String>>,
    bytes: usize,
}

impl Overlay {
    fn record(&mut self, write: &Write) {
        match write {
            Write::Upsert { table, key, value } => {
                self.bytes += value.len();
                self.rows
                    .insert((table.clone(), key.clone()), Some(value.clone()));
            }
            Write::Delete { table, key } => {
                self.rows.insert((table.clone(), key.clone()), None);
            }
        }
    }
}

impl PluginProjection {
    /// Whether the plugin is called for `event`: its instance, and an event type its subscriptions match.
    fn reads(&self, event: &Event) -> bool {
        event.aggregate.instance_id == self.instance_id && self.loaded.wants(&event.event_type)
    }

    /// Calls the plugin for one event outside any transaction: reads go to `overlay`, then to the committed
    /// rows through `db`.
    async fn call_prepared(
        &self,
        db: &Db,
        overlay: &Arc<Mutex<Overlay>>,
        event: &Event,
    ) -> Result<Vec<Write>, ProjectionError> {
        let org_id = self.org_of(&mut Reader::Db(db), event).await?;
        let input = plugin_event(event, org_id);
        let views = Arc::new(PreparedViews {
            db: db.clone(),
            projection: self.name.clone(),
            overlay: Arc::clone(overlay),
            failure: Mutex::new(None),
            writes: Mutex::new(Vec::new()),
        });
        let store: Arc<dyn ViewStore> = views.clone();
        let settings = self.settings();
        let result = self
            .runtime
            .project(&self.loaded, &settings.binding, &input, store)
            .await;
        match result {
            Ok(()) => Ok(std::mem::take(&mut *lock(&views.writes))),
            Err(CallError::ViewStore(_)) if lock(&views.failure).is_some() => {
                Err(lock(&views.failure).take().map_or_else(
                    || ProjectionError::event("the view store failed"),
                    ProjectionError::Database,
                ))
            }
            Err(err) => Err(self.failure(&err)),
        }
    }

    /// Calls the plugin for one event inside the batch transaction, its reads served through `tx`.
    async fn call_in_batch(
        &self,
        tx: &mut ViewTx,
        event: &Event,
    ) -> Result<Vec<Write>, ProjectionError> {
        let org_id = self.org_of(&mut Reader::Tx(tx), event).await?;
        let input = plugin_event(event, org_id);
        let (requests, mut pending) = mpsc::unbounded_channel();
        let views = Arc::new(BatchViews {
            requests,
            writes: Mutex::new(Vec::new()),
        });
        let store: Arc<dyn ViewStore> = views.clone();
        let settings = self.settings();
        let call = self
            .runtime
            .project(&self.loaded, &settings.binding, &input, store);
        tokio::pin!(call);
        // The plugin's reads are served here, through the batch transaction, while its call runs.
        let mut read_failure = None;
        let result = loop {
            tokio::select! {
                result = &mut call => break result,
                Some(read) = pending.recv() => {
                    let answer = match read_row(&mut Reader::Tx(tx), &self.name, &read.table, &read.key).await {
                        Ok(row) => Ok(row),
                        Err(err) => {
                            let message = err.to_string();
                            read_failure = Some(err);
                            Err(message)
                        }
                    };
                    // The call may have given up on the answer; nothing to do then.
                    let _ = read.reply.send(answer);
                }
            }
        };
        match result {
            Ok(()) => Ok(std::mem::take(&mut *lock(&views.writes))),
            Err(CallError::ViewStore(_)) if read_failure.is_some() => Err(read_failure
                .map_or_else(
                    || ProjectionError::event("the view store failed"),
                    ProjectionError::Database,
                )),
            Err(err) => Err(self.failure(&err)),
        }
    }

    /// A failed call as the failed event the spooler records.
    fn failure(&self, err: &CallError) -> ProjectionError {
        if matches!(err, CallError::Busy) {
            return ProjectionError::Unavailable(format!(
                "projection plugin `{}`: {err}",
                self.plugin_id
            ));
        }
        ProjectionError::event(format!(
            "projection plugin `{}` failed ({}): {err}",
            self.plugin_id,
            err.kind()
        ))
    }

    /// The rows and bytes the views hold, as `tx` sees them.
    async fn totals(&self, tx: &mut ViewTx) -> Result<(u64, u64), ProjectionError> {
        let Some(row) = tx
            .fetch_optional(
                // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back to read it as an integer.
                "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes \
                 FROM plugin_view_rows WHERE projection = $1",
                &params![self.name.as_str()],
            )
            .await?
        else {
            return Ok((0, 0));
        };
        let rows = u64::try_from(row.get::<i64>("n")?).unwrap_or(0);
        let bytes = u64::try_from(row.get::<i64>("bytes")?).unwrap_or(0);
        Ok((rows, bytes))
    }

    /// Fails the event when the views now hold more rows or bytes than the binding's quota.
    async fn check_totals(&self, tx: &mut ViewTx) -> Result<(), ProjectionError> {
        let (rows, bytes) = self.totals(tx).await?;
        let quota = self.settings().quota;
        if rows > quota.total_rows || bytes > quota.total_bytes {
            return Err(ProjectionError::event(format!(
                "projection plugin `{}` exceeded its quota (quota): its views would hold {rows} rows and \
                 {bytes} bytes, at most {} rows and {} bytes are allowed",
                self.plugin_id, quota.total_rows, quota.total_bytes
            )));
        }
        Ok(())
    }
}

/// Where a projection reads: the batch transaction, or committed rows outside of it.
enum Reader<'a> {
    Tx(&'a mut ViewTx),
    Db(&'a Db),
}

impl Reader<'_> {
    async fn fetch_optional(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Option<warden_spooler::DbRow>, sqlx::Error> {
        match self {
            Reader::Tx(tx) => tx.fetch_optional(sql, params).await,
            Reader::Db(db) => db.fetch_optional(sql, params).await,
        }
    }
}

/// Reads one row of projection `projection`.
async fn read_row(
    reader: &mut Reader<'_>,
    projection: &str,
    table: &str,
    key: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = reader
        .fetch_optional(
            "SELECT value FROM plugin_view_rows \
             WHERE projection = $1 AND table_name = $2 AND row_key = $3",
            &params![projection, table, key],
        )
        .await?;
    row.map(|row| row.json::<Value>("value").map(|v| v.to_string()))
        .transpose()
}

/// A read the plugin asked for, served by the batch.
struct Read {
    table: String,
    key: String,
    reply: oneshot::Sender<Result<Option<String>, String>>,
}

/// A write of a successful call, applied by the batch.
#[derive(Debug, Clone)]
enum Write {
    Upsert {
        table: String,
        key: String,
        value: String,
    },
    Delete {
        table: String,
        key: String,
    },
}

impl Write {
    fn upsert(table: &str, key: &str, value: &str) -> Self {
        Write::Upsert {
            table: table.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }

    fn delete(table: &str, key: &str) -> Self {
        Write::Delete {
            table: table.to_owned(),
            key: key.to_owned(),
        }
    }
}

/// Buffers a call's write, as both view stores of a call do: the batch applies the writes of a call that
/// succeeded.
fn buffer(writes: &Mutex<Vec<Write>>, write: Write) -> ViewFuture<'_, ()> {
    Box::pin(async move {
        lock(writes).push(write);
        Ok(())
    })
}

/// The [`ViewStore`] of a call inside the batch: reads are forwarded to the batch transaction, writes are
/// buffered.
struct BatchViews {
    requests: mpsc::UnboundedSender<Read>,
    writes: Mutex<Vec<Write>>,
}

impl ViewStore for BatchViews {
    fn get<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, Option<String>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Read {
                    table: table.to_owned(),
                    key: key.to_owned(),
                    reply,
                })
                .map_err(|_| ViewStoreError("the batch is over".to_owned()))?;
            answer
                .await
                .map_err(|_| ViewStoreError("the batch is over".to_owned()))?
                .map_err(ViewStoreError)
        })
    }

    fn upsert<'a>(&'a self, table: &'a str, key: &'a str, value: &'a str) -> ViewFuture<'a, ()> {
        buffer(&self.writes, Write::upsert(table, key, value))
    }

    fn delete<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, ()> {
        buffer(&self.writes, Write::delete(table, key))
    }
}

/// The [`ViewStore`] of a call prepared before the batch: reads see the batch's earlier writes, then the
/// committed rows; writes are buffered.
struct PreparedViews {
    db: Db,
    projection: String,
    overlay: Arc<Mutex<Overlay>>,
    failure: Mutex<Option<sqlx::Error>>,
    writes: Mutex<Vec<Write>>,
}

impl ViewStore for PreparedViews {
    fn get<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, Option<String>> {
        Box::pin(async move {
            let earlier = lock(&self.overlay)
                .rows
                .get(&(table.to_owned(), key.to_owned()))
                .cloned();
            if let Some(row) = earlier {
                return Ok(row);
            }
            match read_row(&mut Reader::Db(&self.db), &self.projection, table, key).await {
                Ok(row) => Ok(row),
                Err(err) => {
                    let message = err.to_string();
                    lock(&self.failure).get_or_insert(err);
                    Err(ViewStoreError(message))
                }
            }
        })
    }

    fn upsert<'a>(&'a self, table: &'a str, key: &'a str, value: &'a str) -> ViewFuture<'a, ()> {
        buffer(&self.writes, Write::upsert(table, key, value))
    }

    fn delete<'a>(&'a self, table: &'a str, key: &'a str) -> ViewFuture<'a, ()> {
        buffer(&self.writes, Write::delete(table, key))
    }
}

/// Starts `projection` on this node's spoolers and makes its rows the ones served for its plugin.
///
/// Call it on every node that should run the projection; the lease picks the one that applies events.
pub async fn add_projection(
    store: &Store,
    spoolers: &Spoolers,
    projection: Arc<PluginProjection>,
) -> Result<(), ProjectionPluginError> {
    let name = projection.name.clone();
    let (instance_id, plugin_id) = (projection.instance_id.clone(), projection.plugin_id.clone());
    spoolers.add(projection).await?;
    Db::of(store)
        .execute(
            "INSERT INTO plugin_view_versions (instance_id, plugin_id, projection) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id, plugin_id) DO UPDATE SET projection = excluded.projection",
            &params![instance_id.as_str(), plugin_id.as_str(), name.as_str()],
        )
        .await?;
    info!(projection = %name, plugin_id, "projection plugin added");
    Ok(())
}

/// Stops a projection plugin's version on this node. With `drop_rows`, also deletes its rows, checkpoint
/// and failed events (once no node runs it any more: a later version replaced it, or the plugin is gone),
/// and stops serving them if they were served.
pub async fn remove_projection(
    store: &Store,
    spoolers: &Spoolers,
    name: &str,
    drop_rows: bool,
) -> Result<(), ProjectionPluginError> {
    spoolers.remove(name, drop_rows).await?;
    if drop_rows {
        Db::of(store)
            .execute(
                "DELETE FROM plugin_view_versions WHERE projection = $1",
                &params![name],
            )
            .await?;
    }
    Ok(())
}

/// Keeps a node's spoolers running exactly the projection plugins a registry reports: adds new versions,
/// removes (and drops the rows of) versions no longer reported. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProjectionPlugins {
    inner: Arc<PluginsInner>,
}

#[derive(Debug)]
struct PluginsInner {
    store: Store,
    spoolers: Spoolers,
    runtime: PluginRuntime,
    /// The projections started here, by name.
    running: tokio::sync::Mutex<BTreeMap<String, Arc<PluginProjection>>>,
}

impl ProjectionPlugins {
    /// Runs projection plugins on `spoolers`, calling them through `runtime`.
    pub fn new(store: Store, spoolers: Spoolers, runtime: PluginRuntime) -> Self {
        Self {
            inner: Arc::new(PluginsInner {
                store,
                spoolers,
                runtime,
                running: tokio::sync::Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The names of the projections running here.
    pub async fn running(&self) -> Vec<String> {
        self.inner.running.lock().await.keys().cloned().collect()
    }

    /// The projection running here for the served version of a plugin, if any.
    pub async fn projection_of(&self, instance_id: &str, plugin_id: &str) -> Option<String> {
        self.inner
            .running
            .lock()
            .await
            .values()
            .filter(|p| p.instance_id == instance_id && p.plugin_id == plugin_id)
            .map(|p| p.name.clone())
            .next_back()
    }

    /// Brings the running projections in line with `specs`. A plugin with several projection bindings runs
    /// once (with the first binding's limits and configuration). A spec that cannot run is logged and left
    /// out; the rest still apply.
    pub async fn sync(&self, specs: &[ProjectionPluginSpec]) {
        let inner = &self.inner;
        let mut running = inner.running.lock().await;
        let mut wanted = BTreeMap::new();
        for spec in specs {
            let name = projection_name(&spec.plugin_id, &spec.digest);
            wanted.entry(name).or_insert(spec);
        }
        let gone: Vec<String> = running
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            running.remove(&name);
            match remove_projection(&inner.store, &inner.spoolers, &name, true).await {
                Ok(()) => info!(projection = %name, "projection plugin removed"),
                Err(err) => {
                    warn!(projection = %name, error = %err, "could not remove a projection plugin")
                }
            }
        }
        for (name, spec) in wanted {
            if let Some(projection) = running.get(&name) {
                projection.set_settings(spec.binding.clone(), spec.quota);
                continue;
            }
            let projection = match PluginProjection::from_spec(inner.runtime.clone(), spec) {
                Ok(projection) => Arc::new(projection),
                Err(err) => {
                    warn!(plugin_id = %spec.plugin_id, error = %err, "projection plugin cannot run");
                    continue;
                }
            };
            match add_projection(&inner.store, &inner.spoolers, Arc::clone(&projection)).await {
                Ok(()) => {
                    running.insert(name, projection);
                }
                Err(err) => {
                    warn!(projection = %name, error = %err, "could not start a projection plugin")
                }
            }
        }
    }

    /// Follows `specs` (the registry's [`projections`](crate::PluginRegistry::projections)) until the
    /// returned task is aborted or the registry is dropped.
    pub fn spawn(
        &self,
        mut specs: watch::Receiver<Vec<ProjectionPluginSpec>>,
    ) -> tokio::task::JoinHandle<()> {
        let plugins = self.clone();
        tokio::spawn(async move {
            loop {
                let current = specs.borrow_and_update().clone();
                plugins.sync(&current).await;
                if specs.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}

/// A page of rows: the rows with a key after `after`, in key order, at most `limit` (1 to [`MAX_PAGE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Return rows whose key sorts after this one (the last key of the previous page).
    pub after: Option<String>,
    /// The most rows to return.
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            after: None,
            limit: 100,
        }
    }
}

/// One row of a plugin's view.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewRow {
    /// The row's key.
    pub key: String,
    /// The row's JSON document.
    pub value: Value,
    /// When the event that last wrote the row was stored, µs since the Unix epoch.
    pub updated_at: i64,
}

/// The projection whose rows are served for a plugin (its active version), if one was ever added.
pub async fn served_projection(
    store: &Store,
    instance_id: &str,
    plugin_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    Db::of(store)
        .fetch_optional(
            "SELECT projection FROM plugin_view_versions WHERE instance_id = $1 AND plugin_id = $2",
            &params![instance_id, plugin_id],
        )
        .await?
        .map(|row| row.get::<String>("projection"))
        .transpose()
}

/// The most bytes of values one page returns (a page holds at least one row, however large).
pub const MAX_PAGE_BYTES: u64 = 4 << 20;

/// A page of the rows of `table` of a plugin's view, as its served version wrote them, in key order: at most
/// `page.limit` rows and, past the first row, at most [`MAX_PAGE_BYTES`] of values. Empty when the plugin has
/// no view or the table no rows.
pub async fn plugin_view_rows(
    store: &Store,
    instance_id: &str,
    plugin_id: &str,
    table: &str,
    page: &Page,
) -> Result<Vec<ViewRow>, sqlx::Error> {
    Ok(plugin_view_page(store, instance_id, plugin_id, table, page)
        .await?
        .rows)
}

/// A page of a plugin view's rows, and whether rows follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewPage {
    /// The rows, in key order.
    pub rows: Vec<ViewRow>,
    /// Whether the page was cut (by its row limit or [`MAX_PAGE_BYTES`]) with rows after it.
    pub more: bool,
}

/// As [`plugin_view_rows`], saying whether rows follow the page.
pub async fn plugin_view_page(
    store: &Store,
    instance_id: &str,
    plugin_id: &str,
    table: &str,
    page: &Page,
) -> Result<ViewPage, sqlx::Error> {
    let empty = ViewPage {
        rows: Vec::new(),
        more: false,
    };
    let Some(projection) = served_projection(store, instance_id, plugin_id).await? else {
        return Ok(empty);
    };
    let db = Db::of(store);
    let limit = i64::from(page.limit.clamp(1, MAX_PAGE));
    let after = page.after.as_deref().unwrap_or("");
    // The sizes first, so the values read are only those that fit the page.
    let sizes = db
        .fetch_all(
            "SELECT row_key, size FROM plugin_view_rows \
             WHERE projection = $1 AND table_name = $2 AND row_key > $3 \
             ORDER BY row_key LIMIT $4",
            &params![projection.as_str(), table, after, limit],
        )
        .await?;
    let mut last = None;
    let mut rows: i64 = 0;
    let mut bytes: u64 = 0;
    for row in &sizes {
        let size = u64::try_from(row.get::<i64>("size")?).unwrap_or(0);
        if rows > 0 && bytes + size > MAX_PAGE_BYTES {
            break;
        }
        bytes += size;
        rows += 1;
        last = Some(row.get::<String>("row_key")?);
    }
    let Some(last) = last else {
        return Ok(empty);
    };
    let more = usize::try_from(rows).unwrap_or(usize::MAX) < sizes.len() || rows == limit;
    let rows = db
        .fetch_all(
            "SELECT row_key, value, updated_at FROM plugin_view_rows \
         WHERE projection = $1 AND table_name = $2 AND row_key > $3 AND row_key <= $4 \
         ORDER BY row_key LIMIT $5",
            &params![projection.as_str(), table, after, last.as_str(), rows],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(ViewRow {
                key: row.get("row_key")?,
                value: row.json("value")?,
                updated_at: row.get("updated_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(ViewPage { rows, more })
}

/// The row `key` of `table` of a plugin's view, as its served version wrote it.
pub async fn plugin_view_row(
    store: &Store,
    instance_id: &str,
    plugin_id: &str,
    table: &str,
    key: &str,
) -> Result<Option<ViewRow>, sqlx::Error> {
    let Some(projection) = served_projection(store, instance_id, plugin_id).await? else {
        return Ok(None);
    };
    Db::of(store)
        .fetch_optional(
            "SELECT row_key, value, updated_at FROM plugin_view_rows \
             WHERE projection = $1 AND table_name = $2 AND row_key = $3",
            &params![projection.as_str(), table, key],
        )
        .await?
        .map(|row| {
            Ok(ViewRow {
                key: row.get("row_key")?,
                value: row.json("value")?,
                updated_at: row.get("updated_at")?,
            })
        })
        .transpose()
}

/// Waits (within the spoolers' catch-up bound) until the served version of a plugin's view reflects every
/// event up to `cursor`, for read-your-writes; returns at once when no version runs on this node.
pub async fn ensure_caught_up(
    store: &Store,
    spoolers: &Spoolers,
    instance_id: &str,
    plugin_id: &str,
    cursor: Cursor,
) -> Result<(), ProjectionPluginError> {
    let Some(projection) = served_projection(store, instance_id, plugin_id).await? else {
        return Ok(());
    };
    match spoolers.ensure_caught_up(&projection, cursor).await {
        Err(warden_spooler::Error::UnknownProjection(_)) => Ok(()),
        other => Ok(other?),
    }
}
