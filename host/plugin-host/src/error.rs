//! Errors of the plugin service and the registry, and how the API answers them.

use axum::http::StatusCode;
use warden_api::ApiError;
use warden_command::CommandError;
use warden_domain::DecodeError;
use warden_wasm_runtime::PluginError;

/// Why the registry could not catch up with the plugin events or load a plugin.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The eventstore or blob store failed.
    #[error("eventstore: {0}")]
    Store(#[from] warden_eventstore::Error),
    /// A stored plugin event cannot be read back.
    #[error("stored plugin event: {0}")]
    Decode(#[from] DecodeError),
    /// The active version's bytes are not in the blob store.
    #[error("the component {0} is not in the blob store")]
    MissingBlob(String),
    /// The runtime refused the component.
    #[error(transparent)]
    Load(#[from] PluginError),
}

/// Why a request to the plugin service failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The upload is larger than the limit.
    #[error("the component is {size} bytes; at most {max} bytes are accepted")]
    TooLarge {
        /// The upload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a component Warden can run.
    #[error("{0}")]
    InvalidComponent(String),
    /// A projection subscribes to a pattern that matches no event type Warden stores.
    #[error(transparent)]
    UnknownSubscription(#[from] crate::subscriptions::UnknownSubscription),
    /// The plugin does not exist.
    #[error("the plugin does not exist")]
    NotFound,
    /// A field of the request is not accepted.
    #[error("{message}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// A stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A field of the request names a resource that does not exist (answered 404, as everywhere in the API).
    #[error("{message}")]
    UnknownReference {
        /// The field at fault.
        field: &'static str,
        /// A stable code.
        code: &'static str,
        /// What is missing.
        message: String,
    },
    /// The command failed (refused, not permitted, ...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The blob store failed.
    #[error("blob store: {0}")]
    Store(#[from] warden_eventstore::Error),
    /// Too many compilations are waiting; the upload can be retried.
    #[error("too many plugins are being compiled; try again later")]
    Busy,
    /// The plugin's active version is not loaded on this node (still compiling, failed, or none).
    #[error("{0}")]
    NotLoaded(String),
    /// The runtime failed for a reason other than the component.
    #[error("plugin runtime: {0}")]
    Runtime(String),
}

impl From<PluginError> for ServiceError {
    fn from(error: PluginError) -> Self {
        match error {
            PluginError::InvalidComponent(_)
            | PluginError::UnknownWorld(_)
            | PluginError::Link { .. }
            | PluginError::WrongWorld { .. }
            | PluginError::Subscriptions(_)
            | PluginError::CompileTimeout(_) => Self::InvalidComponent(error.to_string()),
            PluginError::CompileBusy => Self::Busy,
            PluginError::Cache { .. } | PluginError::Config(_) | PluginError::Internal(_) => {
                Self::Runtime(error.to_string())
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            e @ ServiceError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "plugin.too_large",
                e.to_string(),
            ),
            ServiceError::InvalidComponent(message) => {
                ApiError::invalid("body", "plugin.component.invalid", message)
            }
            ServiceError::UnknownSubscription(e) => {
                ApiError::invalid("body", "plugin.subscription.unknown", e.to_string())
            }
            ServiceError::Invalid {
                field,
                code,
                message,
            } => ApiError::invalid(field, code, message),
            ServiceError::UnknownReference {
                field,
                code,
                message,
            } => ApiError::new(StatusCode::NOT_FOUND, code, message).with_field(field),
            e @ ServiceError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin.compile_busy",
                e.to_string(),
            ),
            ServiceError::NotLoaded(message) => {
                ApiError::new(StatusCode::CONFLICT, "plugin.not_loaded", message)
            }
            ServiceError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "plugin.not_found",
                "the plugin does not exist",
            ),
            ServiceError::Command(e) => e.into(),
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "plugin service failed");
                // A busy or unreachable database is a 503 with Retry-After, like everywhere in the API.
                ApiError::failure(&e)
            }
            e @ ServiceError::Runtime(_) => {
                tracing::error!(error = %e, "plugin service failed");
                ApiError::internal()
            }
        }
    }
}
