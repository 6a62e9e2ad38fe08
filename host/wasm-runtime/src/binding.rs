//! How a plugin is bound: configuration values, limits, capabilities and failure policy.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::CallError;

/// One use of a plugin: a validator bound to commands, a projection, or an action bound to a hook.
///
/// Everything a call needs besides the plugin and its input. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// Configuration values the plugin reads through the `config` interface.
    pub config: Arc<BTreeMap<String, String>>,
    /// CPU deadline and memory cap of each call.
    pub limits: Limits,
    /// What the sandbox grants beyond the default of nothing.
    pub grants: Capabilities,
    /// What a failing call means for the command or login it belongs to.
    pub failure_policy: FailurePolicy,
}

impl Binding {
    /// A binding with these configuration values, default limits, no grants, failing closed.
    pub fn with_config<K, V>(config: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            config: Arc::new(
                config
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
            ..Self::default()
        }
    }
}

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time the call may run (default 50 ms), counted in epoch ticks while the plugin is on its thread:
    /// time parked at a yield or awaiting the host does not count, time the OS takes the thread away does.
    /// On the wall clock, the call may take this plus the runtime's grace, whatever it waits on.
    pub deadline: Duration,
    /// Linear memory the call may hold, all memories of the instance together (default 64 MiB).
    pub memory: u64,
    /// Projections: rows one call may write, upserts and deletes together (default 100).
    pub view_rows: usize,
    /// Projections: bytes of keys and values one call may write (default 4 MiB).
    pub view_bytes: usize,
}

impl Limits {
    /// The default deadline of a call.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(50);
    /// The default memory cap of a call.
    pub const DEFAULT_MEMORY: u64 = 64 << 20;
    /// The default number of rows a projection call may write.
    pub const DEFAULT_VIEW_ROWS: usize = 100;
    /// The default number of bytes a projection call may write.
    pub const DEFAULT_VIEW_BYTES: usize = 4 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Self::DEFAULT_DEADLINE,
            memory: Self::DEFAULT_MEMORY,
            view_rows: Self::DEFAULT_VIEW_ROWS,
            view_bytes: Self::DEFAULT_VIEW_BYTES,
        }
    }
}

/// Capabilities granted to a plugin beyond the default sandbox, which has no file system, no
/// environment, no arguments and no network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Environment variables the plugin sees.
    pub env: BTreeMap<String, String>,
    /// Host directories the plugin may open, each confined to its directory.
    pub dirs: Vec<DirGrant>,
    /// Addresses the plugin may connect to over TCP or send UDP datagrams to.
    pub connect: Vec<SocketAddr>,
    /// Whether the plugin may resolve host names.
    pub name_lookup: bool,
}

impl Capabilities {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty() && self.dirs.is_empty() && self.connect.is_empty() && !self.name_lookup
    }
}

/// A host directory made visible to the plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host_path: PathBuf,
    /// Where the plugin sees it, e.g. `/data`.
    pub guest_path: String,
    /// Whether the plugin may create, change and delete files in it.
    pub writable: bool,
}

/// What a failing call means for the command or login it belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Refuse the command or login (the default).
    #[default]
    FailClosed,
    /// Log the failure and go on as if the plugin had not been bound.
    AllowFailure,
}

impl FailurePolicy {
    /// Applies the policy to a call's result.
    ///
    /// A success passes through. A plugin fault (see [`CallError::is_plugin_fault`]) under
    /// [`FailurePolicy::AllowFailure`] is logged and replaced by `fallback()`; every other failure is
    /// returned, so a full pool or a failing store never silently skips a plugin.
    ///
    /// ```
    /// use warden_wasm_runtime::{CallError, FailurePolicy, ValidatorOutcome};
    ///
    /// let failed: Result<ValidatorOutcome, CallError> = Err(CallError::Timeout);
    /// let outcome = FailurePolicy::AllowFailure.resolve("domains", failed, || ValidatorOutcome::Ok);
    /// assert_eq!(outcome, Ok(ValidatorOutcome::Ok));
    /// let outcome = FailurePolicy::FailClosed.resolve("domains", Err(CallError::Timeout), || ValidatorOutcome::Ok);
    /// assert_eq!(outcome, Err(CallError::Timeout));
    /// ```
    pub fn resolve<T>(
        self,
        plugin: &str,
        result: Result<T, CallError>,
        fallback: impl FnOnce() -> T,
    ) -> Result<T, CallError> {
        match result {
            Err(err) if self == FailurePolicy::AllowFailure && err.is_plugin_fault() => {
                tracing::warn!(plugin, error = %err, "plugin call failed; the binding allows failure, going on");
                Ok(fallback())
            }
            other => other,
        }
    }
}
