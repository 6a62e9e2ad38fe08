//! The changes that take nothing but the ids the path names (lock a user, deactivate a project, remove a
//! domain, …): one handler serves them all.

use std::{future::Future, pin::Pin};

use axum::{extract::State, http::Method};
use serde::de::DeserializeOwned;
use warden_command::{CallerCommands, CommandError, Details};

use crate::{
    ApiState,
    bodies::{Reply, changed},
    extract::{Authenticated, IfMatch, Path},
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
