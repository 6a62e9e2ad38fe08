//! Errors of loading plugins and of calling them.

use std::path::PathBuf;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component: {0}")]
    InvalidComponent(String),
    /// The component exports none of the plugin worlds, or more than one.
    #[error("{0}")]
    UnknownWorld(String),
    /// The component needs imports the server does not provide to its world.
    #[error("the component cannot be linked as a {world} plugin: {reason}")]
    Link {
        /// The world the component targets.
        world: crate::World,
        /// What is missing or mismatched.
        reason: String,
    },
    /// The component was expected to target another world.
    #[error("the component targets the {actual} world, not {expected}")]
    WrongWorld {
        /// The world the caller asked for.
        expected: crate::World,
        /// The world the component targets.
        actual: crate::World,
    },
    /// A projection's `subscriptions` export failed when the plugin was loaded.
    #[error("the projection's subscriptions could not be read: {0}")]
    Subscriptions(#[source] CallError),
    /// Too many compilations are waiting; the load can be retried.
    #[error("too many plugins are being compiled; try again later")]
    CompileBusy,
    /// Compiling the component took longer than the runtime allows.
    #[error("compiling the component took longer than {} s", .0.as_secs())]
    CompileTimeout(std::time::Duration),
    /// The compilation cache directory could not be used.
    #[error("plugin cache directory {path}: {source}")]
    Cache {
        /// The directory or file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The runtime could not be configured (for instance pool sizes the system refuses).
    #[error("plugin runtime configuration: {0}")]
    Config(String),
    /// A background task of the runtime failed.
    #[error("plugin runtime: {0}")]
    Internal(String),
}

/// Why one call of a plugin failed. The host keeps running; only this call is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call used up its CPU deadline, or ran past its deadline plus the grace in real time.
    #[error("the plugin ran out of time")]
    Timeout,
    /// The call asked for more memory than its limit.
    #[error("the plugin exceeded its memory limit")]
    MemoryExhausted,
    /// The plugin recursed deeper than the WebAssembly stack allows.
    #[error("the plugin overflowed its stack")]
    StackOverflow,
    /// The plugin trapped (a panic, an `unreachable`, an out-of-bounds access, …).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The plugin returned an error of its own (for instance a missing configuration value).
    #[error("the plugin failed: {0}")]
    Plugin(String),
    /// The plugin tried to set a claim that only the server may set.
    #[error("the plugin may not set the reserved claim `{0}`")]
    ReservedClaim(String),
    /// A projection wrote more rows or bytes in one call than its binding allows.
    #[error("the plugin exceeded its quota: {0}")]
    QuotaExceeded(String),
    /// The plugin returned something the host cannot accept (invalid JSON, an answer for another hook).
    #[error("the plugin returned an invalid result: {0}")]
    InvalidOutput(String),
    /// The host's view store failed while a projection ran.
    #[error("the view store failed: {0}")]
    ViewStore(String),
    /// Every instance slot is in use; the call can be retried.
    #[error("too many plugin calls at once")]
    Busy,
    /// The call's limits break the runtime's maximums.
    #[error("invalid binding: {0}")]
    InvalidBinding(String),
    /// The plugin does not target the world this call needs.
    #[error("the plugin targets the {actual} world, not {expected}")]
    WrongWorld {
        /// The world the call needs.
        expected: crate::World,
        /// The world the plugin targets.
        actual: crate::World,
    },
}

impl CallError {
    /// Whether the plugin itself is at fault, as opposed to the host (a full pool, a failing view
    /// store, a bad binding). A binding's failure policy applies to plugin faults only.
    pub fn is_plugin_fault(&self) -> bool {
        match self {
            CallError::Timeout
            | CallError::MemoryExhausted
            | CallError::StackOverflow
            | CallError::Trap(_)
            | CallError::Plugin(_)
            | CallError::ReservedClaim(_)
            | CallError::QuotaExceeded(_)
            | CallError::InvalidOutput(_) => true,
            CallError::ViewStore(_)
            | CallError::Busy
            | CallError::InvalidBinding(_)
            | CallError::WrongWorld { .. } => false,
        }
    }

    /// A short stable name for metrics and logs (`timeout`, `memory`, `trap`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout => "timeout",
            CallError::MemoryExhausted => "memory",
            CallError::StackOverflow => "stack_overflow",
            CallError::Trap(_) => "trap",
            CallError::Plugin(_) => "plugin_error",
            CallError::ReservedClaim(_) => "reserved_claim",
            CallError::QuotaExceeded(_) => "quota",
            CallError::InvalidOutput(_) => "invalid_output",
            CallError::ViewStore(_) => "view_store",
            CallError::Busy => "busy",
            CallError::InvalidBinding(_) => "invalid_binding",
            CallError::WrongWorld { .. } => "wrong_world",
        }
    }
}
