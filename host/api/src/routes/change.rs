//! The changes that take nothing but the id of the resource the path names (lock, deactivate, remove, …): one
//! handler serves them all.

use std::{future::Future, pin::Pin};

use axum::{extract::State, http::Method};
use warden_command::{CallerCommands, CommandError, Details};

use crate::{
    ApiState,
    bodies::{Reply, changed},
    extract::{Authenticated, IfMatch, Path},
    openapi::Endpoint,
};

/// What a change without a body runs: the caller's command on the resource `id`.
pub(crate) type Command =
    for<'a> fn(
        &'a CallerCommands<'a>,
        &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Details, CommandError>> + Send + 'a>>;

/// An endpoint that runs `command` on the resource whose id is the path's one parameter, honouring
/// `If-Match`, and answers 200 with the details of the change.
pub(crate) fn without_body(
    method: Method,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    command: Command,
) -> Endpoint {
    Endpoint::new(
        method,
        path,
        operation_id,
        summary,
        move |State(api): State<ApiState>,
              Authenticated(caller): Authenticated,
              IfMatch(seq): IfMatch,
              Path(id): Path<String>| async move {
            let commands = api.commands.for_caller(&caller).if_sequence(seq);
            let reply: Reply = changed(command(&commands, &id).await?);
            reply
        },
    )
}
