//! The changes that take the ids the path names (lock a user, deactivate a project, remove a domain, …),
//! and those that take a JSON body beside them (change a member's roles): one handler serves each kind.

use std::{future::Future, pin::Pin};

use axum::{extract::State, http::Method};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use warden_command::{CallerCommands, CommandError, Details};

use crate::{
    ApiState,
    bodies::{Reply, changed},
    extract::{Authenticated, IfMatch, Json, Path},
    openapi::Endpoint,
};

/// What a change without a body runs: the caller's command on what the path's parameters `P` name (an id, or
/// a pair such as an organization and one of its domains).
pub(crate) type Command<P> =
    for<'a> fn(
        &'a CallerCommands<'a>,
        &'a P,
    ) -> Pin<Box<dyn Future<Output = Result<Details, CommandError>> + Send + 'a>>;

/// An endpoint that runs `command` on what the path's parameters name, honouring `If-Match`, and answers 200
/// with the details of the change.
pub(crate) fn without_body<P>(
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    command: Command<P>,
) -> Endpoint
where
    P: DeserializeOwned + Send + Sync + 'static,
{
    Endpoint::new(
        method,
        path,
        operation_id,
        summary,
        move |State(api): State<ApiState>,
              Authenticated(caller): Authenticated,
              IfMatch(seq): IfMatch,
              Path(ids): Path<P>| async move {
            let commands = api.commands.for_caller(&caller).if_sequence(seq);
            let reply: Reply = changed(command(&commands, &ids).await?);
            reply
        },
    )
}

/// What a change with a body runs: the caller's command on what the path's parameters `P` name, with the
/// JSON body `B`.
pub(crate) type CommandWith<P, B> =
    for<'a> fn(
        &'a CallerCommands<'a>,
        &'a P,
        &'a B,
    ) -> Pin<Box<dyn Future<Output = Result<Details, CommandError>> + Send + 'a>>;

/// An endpoint that runs `command` on what the path's parameters name with the JSON body `B` (documented as
/// its request body), honouring `If-Match`, and answers with `reply` (`changed` or `created`).
pub(crate) fn with_body<P, B>(
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    reply: fn(Details) -> Reply,
    command: CommandWith<P, B>,
) -> Endpoint
where
    P: DeserializeOwned + Send + Sync + 'static,
    B: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    Endpoint::new(
        method,
        path,
        operation_id,
        summary,
        move |State(api): State<ApiState>,
              Authenticated(caller): Authenticated,
              IfMatch(seq): IfMatch,
              Path(ids): Path<P>,
              Json(body): Json<B>| async move {
            let commands = api.commands.for_caller(&caller).if_sequence(seq);
            reply(command(&commands, &ids, &body).await?)
        },
    )
    .body::<B>()
}
