//! Changes: endpoints that run one command on what the path names (lock a user, deactivate a project, remove
//! a domain, …), with or without a JSON body beside it (change a member's roles), honour `If-Match` and answer
//! with what the command produced. One handler serves them all; a route is declared as data:
//!
//! ```ignore
//! change::post("/api/v1/apps/{app_id}/deactivate", "deactivateApp")
//!     .summary("Deactivate an application")
//!     .command::<DeactivateApp>()
//!     .runs(|c, id: &String| Box::pin(c.deactivate_app(id)))
//! ```

use std::{future::Future, pin::Pin};

use axum::{
    extract::{FromRequest, FromRequestParts, State},
    http::{Method, StatusCode, request::Parts},
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use warden_command::{CallerCommands, CommandError, Details};
use warden_domain::{authz::Permission, command};

use crate::{
    ApiState,
    bodies::{Reply, changed, created},
    error::ApiError,
    extract::{Authenticated, IfMatch, Json, Path},
    openapi::Endpoint,
};

/// The future of a command a change runs: what it produced, `R` (the details of the change by default), or
/// why not, `E` (the command's error by default; an [`ApiError`] where the input is checked first).
pub(crate) type Outcome<'a, R = Details, E = CommandError> =
    Pin<Box<dyn Future<Output = Result<R, E>> + Send + 'a>>;

/// What a change without a body runs: the caller's command on what the path's parameters `P` name (an id, or
/// a pair such as an organization and one of its domains).
pub(crate) type Command<P, R = Details> =
    for<'a> fn(&'a CallerCommands<'a>, &'a P) -> Outcome<'a, R>;

/// What a change with a body runs: the caller's command on what the path's parameters `P` name, with the
/// JSON body `B`.
pub(crate) type CommandWith<P, B, R = Details, E = CommandError> =
    for<'a> fn(&'a CallerCommands<'a>, &'a P, &'a B) -> Outcome<'a, R, E>;

/// A change endpoint being declared: [`create`], [`post`], [`put`] or [`delete`] give its route and operation
/// id, [`Change::summary`] and [`Change::command`] its documentation and permission, and one of the `runs`,
/// `creates` or `answers` methods what it does, completing the [`Endpoint`].
#[must_use]
pub(crate) struct Change {
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    permission: Option<Permission>,
    /// Whether `If-Match` holds the change to the sequence of the resource the path names.
    conditional: bool,
}

/// A `POST` that creates a resource of its own rather than a part of the one the path names: there is no
/// sequence to hold it to, so `If-Match` is not read.
pub(crate) fn create(path: &'static str, operation_id: &'static str) -> Change {
    Change {
        conditional: false,
        ..Change::new(Method::POST, path, operation_id)
    }
}

/// A `POST` change.
pub(crate) fn post(path: &'static str, operation_id: &'static str) -> Change {
    Change::new(Method::POST, path, operation_id)
}

/// A `PUT` change.
pub(crate) fn put(path: &'static str, operation_id: &'static str) -> Change {
    Change::new(Method::PUT, path, operation_id)
}

/// A `DELETE` change.
pub(crate) fn delete(path: &'static str, operation_id: &'static str) -> Change {
    Change::new(Method::DELETE, path, operation_id)
}

impl Change {
    fn new(method: Method, path: &'static str, operation_id: &'static str) -> Self {
        Self {
            method,
            path,
            operation_id,
            summary: "",
            permission: None,
            conditional: true,
        }
    }

    /// What the change does, in a line.
    pub(crate) fn summary(mut self, summary: &'static str) -> Self {
        self.summary = summary;
        self
    }

    /// The command `C` the change issues, whose permission the caller needs.
    pub(crate) fn command<C: command::Command>(mut self) -> Self {
        self.permission = Some(C::PERMISSION);
        self
    }

    /// Runs `command` on what the path names and answers 200 with the details of the change.
    pub(crate) fn runs<P>(self, command: Command<P>) -> Endpoint
    where
        P: DeserializeOwned + Send + Sync + 'static,
    {
        self.answers(StatusCode::OK, changed, command)
    }

    /// Runs `command` on what the path names and answers `status` with what `answer` makes of its outcome.
    pub(crate) fn answers<P, R, T>(
        self,
        status: StatusCode,
        answer: fn(R) -> Reply<T>,
        command: Command<P, R>,
    ) -> Endpoint
    where
        P: DeserializeOwned + Send + Sync + 'static,
        R: 'static,
        T: serde::Serialize + JsonSchema + 'static,
    {
        self.serve(status, answer, move |c, ids, (): &()| command(c, ids))
    }

    /// Runs `command` on what the path names with the JSON body `B` and answers 200 with the details of
    /// the change.
    pub(crate) fn runs_with<P, B>(self, command: CommandWith<P, B>) -> Endpoint
    where
        P: DeserializeOwned + Send + Sync + 'static,
        B: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    {
        self.answers_with(StatusCode::OK, changed, command)
    }

    /// Runs `command` on what the path names with the JSON body `B` and answers 201 with the details of
    /// the creation.
    pub(crate) fn creates_with<P, B>(self, command: CommandWith<P, B>) -> Endpoint
    where
        P: DeserializeOwned + Send + Sync + 'static,
        B: DeserializeOwned + JsonSchema + Send + Sync + 'static,
    {
        self.answers_with(StatusCode::CREATED, created, command)
    }

    /// Runs `command` on what the path names with the JSON body `B` and answers `status` with what
    /// `answer` makes of its outcome.
    pub(crate) fn answers_with<P, B, R, E, T>(
        self,
        status: StatusCode,
        answer: fn(R) -> Reply<T>,
        command: CommandWith<P, B, R, E>,
    ) -> Endpoint
    where
        P: DeserializeOwned + Send + Sync + 'static,
        B: DeserializeOwned + JsonSchema + Send + Sync + 'static,
        R: 'static,
        E: 'static,
        ApiError: From<E>,
        T: serde::Serialize + JsonSchema + 'static,
    {
        self.serve(status, answer, move |c, ids, Json(body): &Json<B>| {
            command(c, ids, body)
        })
        .body::<B>()
    }

    /// The endpoint: takes the caller, `If-Match` if the change is conditional, the path's parameters `P` and
    /// the input `X` (nothing, or a JSON body), runs `run` and answers `status` with what `answer` makes of
    /// its outcome.
    fn serve<P, X, M, R, E, T, F>(
        self,
        status: StatusCode,
        answer: fn(R) -> Reply<T>,
        run: F,
    ) -> Endpoint
    where
        P: DeserializeOwned + Send + Sync + 'static,
        X: FromRequest<ApiState, M> + Send + Sync + 'static,
        M: 'static,
        R: 'static,
        E: 'static,
        ApiError: From<E>,
        T: serde::Serialize + JsonSchema + 'static,
        F: for<'a> Fn(&'a CallerCommands<'a>, &'a P, &'a X) -> Outcome<'a, R, E>
            + Copy
            + Send
            + Sync
            + 'static,
    {
        let permission = self.permission;
        let endpoint = if self.conditional {
            self.handle::<Conditional<P>, _, _, _, _, _, _, _>(answer, run)
        } else {
            self.handle::<Unconditional<P>, _, _, _, _, _, _, _>(answer, run)
        }
        .returns::<T>(status);
        match permission {
            Some(permission) => endpoint.permission(permission),
            None => endpoint,
        }
    }

    /// The endpoint's route: takes the caller, the target `G` and the input `X`, runs `run` and answers with
    /// what `answer` makes of its outcome.
    fn handle<G, P, X, M, R, E, T, F>(self, answer: fn(R) -> Reply<T>, run: F) -> Endpoint
    where
        G: Target<P>,
        P: Send + Sync + 'static,
        X: FromRequest<ApiState, M> + Send + Sync + 'static,
        M: 'static,
        R: 'static,
        E: 'static,
        ApiError: From<E>,
        T: serde::Serialize + 'static,
        F: for<'a> Fn(&'a CallerCommands<'a>, &'a P, &'a X) -> Outcome<'a, R, E>
            + Copy
            + Send
            + Sync
            + 'static,
    {
        Endpoint::new(
            self.method,
            self.path,
            self.operation_id,
            self.summary,
            move |State(api): State<ApiState>,
                  Authenticated(caller): Authenticated,
                  target: G,
                  input: X| async move {
                let (seq, ids) = target.into_parts();
                let commands = api.commands.for_caller(&caller).if_sequence(seq);
                answer(run(&commands, &ids, &input).await?)
            },
        )
    }
}

/// What a change reads from the request's head beside the caller: the sequence `If-Match` holds it to, if
/// any, and the ids `P` its path names.
trait Target<P>: FromRequestParts<ApiState, Rejection = ApiError> + Send + 'static {
    /// The sequence and the ids.
    fn into_parts(self) -> (Option<i64>, P);
}

/// The target of a conditional change: `If-Match`, then the path's ids.
struct Conditional<P>(Option<i64>, P);

impl<P: DeserializeOwned + Send + Sync + 'static> FromRequestParts<ApiState> for Conditional<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let IfMatch(seq) = IfMatch::from_request_parts(parts, state).await?;
        let Path(ids) = Path::from_request_parts(parts, state).await?;
        Ok(Self(seq, ids))
    }
}

impl<P: DeserializeOwned + Send + Sync + 'static> Target<P> for Conditional<P> {
    fn into_parts(self) -> (Option<i64>, P) {
        (self.0, self.1)
    }
}

/// The target of an unconditional change: the path's ids only.
struct Unconditional<P>(P);

impl<P: DeserializeOwned + Send + Sync + 'static> FromRequestParts<ApiState> for Unconditional<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let Path(ids) = Path::from_request_parts(parts, state).await?;
        Ok(Self(ids))
    }
}

impl<P: DeserializeOwned + Send + Sync + 'static> Target<P> for Unconditional<P> {
    fn into_parts(self) -> (Option<i64>, P) {
        (None, self.0)
    }
}
