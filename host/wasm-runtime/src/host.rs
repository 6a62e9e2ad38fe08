//! The host side of a call: the store's data, the imports plugins call, the sandbox and its limits.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::binding::{Binding, Capabilities};
use crate::runtime::truncated;
use crate::views::{PendingWrites, ViewStore, check_key, check_table, check_value};
use crate::wit::projection::warden::plugin::views::{self, ViewError};
use crate::wit::validator::warden::plugin::{config, log, types};

/// Bounds on what one call may write to its log and standard streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputBudget {
    /// Bytes kept of stdout, and of stderr, per call.
    pub(crate) stream_bytes: usize,
    /// Log records kept per call.
    pub(crate) log_records: usize,
    /// Bytes of log messages and fields kept per call.
    pub(crate) log_bytes: usize,
}

/// The data of one call's store.
pub(crate) struct HostState {
    plugin: Arc<str>,
    config: Arc<BTreeMap<String, String>>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: CallLimiter,
    stdout: Captured,
    stderr: Captured,
    log: LogBudget,
    /// What the plugin logged and printed during the call, kept for [`crate::LoadedPlugin::recent_logs`].
    pub(crate) lines: Vec<crate::LogLine>,
    pub(crate) views: Option<ViewAccess>,
}

impl HostState {
    pub(crate) fn new(
        plugin: Arc<str>,
        binding: &Binding,
        budget: OutputBudget,
        limiter: CallLimiter,
        views: Option<ViewAccess>,
    ) -> Result<Self, String> {
        let stdout = Captured::new(budget.stream_bytes);
        let stderr = Captured::new(budget.stream_bytes);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            // What one `get-random-bytes` may ask the host to allocate and copy in.
            .max_random_size(MAX_RANDOM_BYTES);
        sandbox(&mut wasi, &binding.grants)?;
        Ok(Self {
            plugin,
            config: binding.config.clone(),
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits: limiter,
            stdout,
            stderr,
            log: LogBudget {
                records_left: budget.log_records,
                bytes_left: budget.log_bytes,
                dropped: 0,
            },
            lines: Vec::new(),
            views,
        })
    }

    /// Sends what the plugin wrote to stdout and stderr to the log, and notes dropped output.
    pub(crate) fn flush_output(&mut self) {
        for (stream, captured) in [
            ("stdout", self.stdout.clone()),
            ("stderr", self.stderr.clone()),
        ] {
            let (bytes, dropped) = captured.take();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                tracing::info!(target: "warden_wasm_runtime::guest", plugin = %self.plugin, stream, "{line}");
                self.lines
                    .push(crate::LogLine::new(stream, line.to_owned(), Vec::new()));
            }
            if dropped > 0 {
                tracing::warn!(target: "warden_wasm_runtime::guest", plugin = %self.plugin, stream, dropped_bytes = dropped, "plugin output over the limit was dropped");
            }
        }
        if self.log.dropped > 0 {
            tracing::warn!(target: "warden_wasm_runtime::guest", plugin = %self.plugin, dropped_records = self.log.dropped, "plugin log records over the limit were dropped");
        }
    }
}

/// Configures WASI: nothing inherited, no network, plus what the binding grants.
fn sandbox(wasi: &mut WasiCtxBuilder, grants: &Capabilities) -> Result<(), String> {
    wasi.allow_tcp(!grants.connect.is_empty())
        .allow_udp(!grants.connect.is_empty())
        .allow_ip_name_lookup(grants.name_lookup);
    let allowed: Arc<[std::net::SocketAddr]> = grants.connect.clone().into();
    wasi.socket_addr_check(move |addr, usage| {
        use wasmtime_wasi::sockets::SocketAddrUse;
        let ok = match usage {
            // The implicit bind to an ephemeral port that precedes a connect.
            SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                !allowed.is_empty() && addr.ip().is_unspecified() && addr.port() == 0
            }
            SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => {
                allowed.contains(&addr)
            }
            _ => false,
        };
        Box::pin(async move { ok })
    });
    for (key, value) in &grants.env {
        wasi.env(key, value);
    }
    for dir in &grants.dirs {
        let perms = if dir.writable {
            wasmtime_wasi::FsPerms::ReadWrite
        } else {
            wasmtime_wasi::FsPerms::ReadOnly
        };
        wasi.preopened_dir(&dir.host_path, &dir.guest_path, perms)
            .map_err(|e| format!("granted directory {}: {e}", dir.host_path.display()))?;
    }
    Ok(())
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

/// Bytes one `get-random-bytes` call may ask for.
const MAX_RANDOM_BYTES: u64 = 64 << 10;
/// Longest log message kept, in bytes; a longer one is cut and marked.
const MAX_LOG_MESSAGE: usize = 4 << 10;
/// Most fields kept per log record.
const MAX_LOG_FIELDS: usize = 32;
/// Longest log field key or value kept, in bytes.
const MAX_LOG_FIELD: usize = 1 << 10;

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        // Bounded per record first, so one huge record cannot use the whole budget or the log.
        let message = truncated(message, MAX_LOG_MESSAGE);
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .take(MAX_LOG_FIELDS)
            .map(|(k, v)| (truncated(k, MAX_LOG_FIELD), truncated(v, MAX_LOG_FIELD)))
            .collect();
        let size = message.len() + fields.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if self.log.records_left == 0 || size > self.log.bytes_left {
            self.log.dropped += 1;
            return;
        }
        self.log.records_left -= 1;
        self.log.bytes_left -= size;
        let mut rendered = String::new();
        for (key, value) in &fields {
            if !rendered.is_empty() {
                rendered.push(' ');
            }
            let _ = write!(rendered, "{key}={value:?}");
        }
        let level_name = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.lines.push(crate::LogLine::new(
            level_name,
            message.clone(),
            fields.clone(),
        ));
        let plugin = &*self.plugin;
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "warden_wasm_runtime::guest", $level, plugin = %plugin, fields = %rendered, "{message}")
            };
        }
        match level {
            log::Level::Trace => emit!(tracing::Level::TRACE),
            log::Level::Debug => emit!(tracing::Level::DEBUG),
            log::Level::Info => emit!(tracing::Level::INFO),
            log::Level::Warn => emit!(tracing::Level::WARN),
            log::Level::Error => emit!(tracing::Level::ERROR),
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A projection call's access to the views: reads go through to the store, writes wait for success.
pub(crate) struct ViewAccess {
    pub(crate) store: Arc<dyn ViewStore>,
    pub(crate) pending: PendingWrites,
    /// The first failure of the store during the call; it fails the call whatever the plugin returns.
    pub(crate) failure: Option<String>,
    /// Rows the call may write.
    max_rows: usize,
    /// Bytes the call may write.
    max_bytes: usize,
    rows_written: usize,
    bytes_written: usize,
    /// Set when the call wrote past its quota; it fails the call whatever the plugin returns.
    pub(crate) over_quota: Option<String>,
}

impl ViewAccess {
    /// Access to `store` for a call that may write `rows` rows and `bytes` bytes.
    pub(crate) fn new(store: Arc<dyn ViewStore>, rows: usize, bytes: usize) -> Self {
        Self {
            store,
            pending: PendingWrites::default(),
            failure: None,
            max_rows: rows,
            max_bytes: bytes,
            rows_written: 0,
            bytes_written: 0,
            over_quota: None,
        }
    }

    /// Counts one write of `bytes` against the call's quota. Checked before the write is copied into the
    /// pending writes, so a plugin writing in a loop cannot grow the host's memory past the quota.
    fn charge(&mut self, bytes: usize) -> Result<(), ViewError> {
        if self.over_quota.is_none()
            && (self.rows_written >= self.max_rows
                || self.bytes_written.saturating_add(bytes) > self.max_bytes)
        {
            self.over_quota = Some(format!(
                "a call may write at most {} rows and {} bytes",
                self.max_rows, self.max_bytes
            ));
        }
        if let Some(why) = &self.over_quota {
            return Err(ViewError::Invalid(why.clone()));
        }
        self.rows_written += 1;
        self.bytes_written += bytes;
        Ok(())
    }
}

impl HostState {
    fn views(&mut self) -> Result<&mut ViewAccess, ViewError> {
        self.views
            .as_mut()
            .ok_or_else(|| ViewError::Unavailable("views are only available to projections".into()))
    }
}

impl views::Host for HostState {
    async fn upsert(&mut self, table: String, key: String, value: String) -> Result<(), ViewError> {
        check_table(&table)
            .and_then(|()| check_key(&key))
            .and_then(|()| check_value(&value))
            .map_err(ViewError::Invalid)?;
        let access = self.views()?;
        access.charge(table.len() + key.len() + value.len())?;
        access.pending.upsert(table, key, value);
        Ok(())
    }

    async fn delete(&mut self, table: String, key: String) -> Result<(), ViewError> {
        check_table(&table)
            .and_then(|()| check_key(&key))
            .map_err(ViewError::Invalid)?;
        let access = self.views()?;
        access.charge(table.len() + key.len())?;
        access.pending.delete(table, key);
        Ok(())
    }

    async fn get(&mut self, table: String, key: String) -> Result<Option<String>, ViewError> {
        check_table(&table)
            .and_then(|()| check_key(&key))
            .map_err(ViewError::Invalid)?;
        let access = self.views()?;
        if let Some(pending) = access.pending.get(&table, &key) {
            return Ok(pending.map(str::to_owned));
        }
        match access.store.get(&table, &key).await {
            Ok(row) => Ok(row),
            Err(err) => {
                access.failure.get_or_insert_with(|| err.0.clone());
                Err(ViewError::Unavailable(err.0))
            }
        }
    }
}

/// The per-call resource limits: total linear memory, instances, tables.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    pub(crate) memory_cap: usize,
    memory_used: usize,
    /// Set when a memory growth was refused for the cap: a trap that follows is memory exhaustion.
    pub(crate) memory_refused: bool,
    instances: usize,
    tables: usize,
    memories: usize,
    table_elements: usize,
}

impl CallLimiter {
    pub(crate) fn new(
        memory_cap: usize,
        instances: usize,
        tables: usize,
        memories: usize,
        table_elements: usize,
    ) -> Self {
        Self {
            memory_cap,
            memory_used: 0,
            memory_refused: false,
            instances,
            tables,
            memories,
            table_elements,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.memory_used - current.min(self.memory_used) + desired;
        if after > self.memory_cap {
            self.memory_refused = true;
            return Ok(false);
        }
        self.memory_used = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

struct LogBudget {
    records_left: usize,
    bytes_left: usize,
    dropped: u64,
}

/// A guest's stdout or stderr: keeps the first bytes up to a bound and counts the rest.
#[derive(Clone)]
struct Captured(Arc<Mutex<CapturedInner>>);

struct CapturedInner {
    bytes: Vec<u8>,
    cap: usize,
    dropped: u64,
}

impl Captured {
    fn new(cap: usize) -> Self {
        Self(Arc::new(Mutex::new(CapturedInner {
            bytes: Vec::new(),
            cap,
            dropped: 0,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CapturedInner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(&self, buf: &[u8]) {
        let mut inner = self.lock();
        let room = inner.cap - inner.bytes.len();
        let kept = buf.len().min(room);
        inner.bytes.extend_from_slice(&buf[..kept]);
        inner.dropped += (buf.len() - kept) as u64;
    }

    fn take(&self) -> (Vec<u8>, u64) {
        let mut inner = self.lock();
        let dropped = std::mem::take(&mut inner.dropped);
        (std::mem::take(&mut inner.bytes), dropped)
    }
}

/// Bytes a guest may hand over in one write; it writes more by calling again.
const WRITE_CHUNK: usize = 64 << 10;

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Captured {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_CHUNK)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Captured {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
