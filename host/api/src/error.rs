//! The one error type of the API: every failure is answered with a status and a JSON body
//! `{ "code": "...", "message": "...", "field": "..." }`.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use schemars::JsonSchema;
use serde::Serialize;
use warden_command::CommandError;
use warden_domain::{DomainError, ErrorKind};
use warden_query::QueryError;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `user.login_name.taken` or `invalid_json`.
    pub code: Cow<'static, str>,
    /// What is wrong and why.
    pub message: String,
    /// The input at fault, as a path into the request (`email`, `redirect_uris[1]`, the query parameter or
    /// header name), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The rules a command breaks, when validators refused it.
    // `default` tells the schema that the member may be absent, as it is whenever it would be empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ViolationBody>,
}

/// One rule a refused command breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ViolationBody {
    /// The input field at fault, or empty for the command as a whole.
    pub field: String,
    /// A stable, machine-readable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// The `WWW-Authenticate` challenge of a 401.
    challenge: Option<&'static str>,
}

/// The `Retry-After` of every 503, in seconds: the conditions it reports (a lagging view, a validator out of
/// reach) are short-lived.
const RETRY_AFTER_SECS: u32 = 1;

/// The message of every authentication failure: it does not tell which check failed.
const UNAUTHENTICATED: &str =
    "a valid bearer token is required: send `Authorization: Bearer <personal access token>`";

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
                field: None,
                violations: Vec::new(),
            },
            challenge: None,
        }
    }

    /// The same error, naming the input at fault.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// 400 for bad input in `field`.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).with_field(field)
    }

    /// 401: no token, or one that is malformed, unknown, expired or of an inactive user.
    pub fn unauthenticated(token_sent: bool) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", UNAUTHENTICATED);
        error.challenge = Some(if token_sent {
            r#"Bearer realm="warden", error="invalid_token""#
        } else {
            r#"Bearer realm="warden""#
        });
        error
    }

    /// 404 for a path that names no endpoint.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route.not_found",
            "no endpoint has this path",
        )
    }

    /// 405 for a method the path does not serve.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method.not_allowed",
            "this endpoint does not serve this HTTP method",
        )
    }

    /// 500 without details; the cause is logged by the caller.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    /// 503 for a database that is busy or out of reach for a moment (SQLite busy or locked, a PostgreSQL
    /// deadlock, lost connection or exhausted resources): retrying shortly can succeed.
    pub fn database_busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database.busy",
            "the database is busy; retry shortly",
        )
    }

    /// The answer to a failure of Warden itself: 503 [`database_busy`](Self::database_busy) when a transient
    /// database error caused it (anywhere in its chain of sources), otherwise 500
    /// [`internal`](Self::internal). The caller logs the cause.
    pub fn failure(error: &(dyn std::error::Error + 'static)) -> Self {
        if warden_eventstore::is_transient_source(error) {
            Self::database_busy()
        } else {
            Self::internal()
        }
    }

    /// 503 for a read by id whose view did not catch up with the resource's latest change in time; sent with
    /// `Retry-After`, as every 503.
    pub fn catching_up() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "read.catching_up",
            "the view of this resource is catching up with its latest change; retry shortly",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        let status = match error.kind {
            ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists | ErrorKind::PreconditionFailed => StatusCode::CONFLICT,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        };
        let field = error.field;
        let mut api = Self::new(status, error.code, error.message);
        api.body.field = field;
        api
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> Self {
        if error.is_catch_up_timeout() {
            tracing::warn!(error = %error, "read by id did not catch up in time");
            Self::catching_up()
        } else {
            tracing::error!(error = %error, "query failed");
            Self::failure(&error)
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Refused(e) => e.into(),
            CommandError::Rejected(violations) => {
                let mut api = Self::new(
                    StatusCode::BAD_REQUEST,
                    "command.rejected",
                    format!(
                        "the request breaks {} rule(s) of this instance",
                        violations.len()
                    ),
                );
                api.body.field = violations
                    .first()
                    .map(|v| v.field.clone())
                    .filter(|f| !f.is_empty());
                api.body.violations = violations
                    .into_iter()
                    .map(|v| ViolationBody {
                        field: v.field,
                        code: v.code,
                        message: v.message,
                    })
                    .collect();
                api
            }
            e @ CommandError::Stale { .. } => {
                Self::new(StatusCode::CONFLICT, "stale_state", e.to_string()).with_field("If-Match")
            }
            e @ CommandError::Contended { .. } => Self::new(
                StatusCode::CONFLICT,
                "concurrent_modification",
                e.to_string(),
            ),
            CommandError::Unauthenticated => Self::unauthenticated(true),
            e @ CommandError::Validator(_) => {
                tracing::error!(error = %e, "validator failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "validator.unavailable",
                    "a validation rule of this instance could not be checked; try again later",
                )
            }
            e => {
                tracing::error!(error = %e, "command failed");
                Self::failure(&e)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real `SQLITE_BUSY`: a second connection writes, without waiting, while the first holds the lock.
    async fn sqlite_busy() -> sqlx::Error {
        use sqlx::{Connection, Executor, sqlite::SqliteConnectOptions};
        let dir = tempfile::tempdir().expect("temp dir");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("busy.db"))
            .create_if_missing(true)
            .busy_timeout(std::time::Duration::ZERO);
        let mut holder = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("connect");
        holder
            .execute("CREATE TABLE t (x INTEGER); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1)")
            .await
            .expect("hold the lock");
        let mut other = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("connect");
        other
            .execute("INSERT INTO t VALUES (2)")
            .await
            .expect_err("the database is locked")
    }

    #[tokio::test]
    async fn a_busy_database_is_a_503_with_retry_after_never_a_500() {
        let busy = sqlite_busy().await;
        assert!(warden_eventstore::is_transient(&busy), "{busy:?}");
        let command = CommandError::Store(warden_eventstore::Error::Database(busy));
        let response = ApiError::from(command).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(RETRY_AFTER_SECS))
        );
        let query = QueryError::Database(sqlite_busy().await);
        let api = ApiError::from(query);
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.body().code, "database.busy");

        // Any other database failure stays a 500 without details.
        let other =
            CommandError::Store(warden_eventstore::Error::Database(sqlx::Error::RowNotFound));
        assert_eq!(
            ApiError::from(other).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
