//! `/api/v1/users/machine` and the credentials of machine users: keys, client secret, personal access tokens.

use axum::{extract::State, http::StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::NewMachineUser;
use warden_domain::application::AccessTokenType;
use warden_domain::user::{
    AddMachine, AddMachineKey, AddPersonalAccessToken, ChangeMachine, RemoveMachineKey,
    RemoveMachineSecret, RemovePersonalAccessToken, SetMachineSecret,
};

use crate::routes::change;
use crate::routes::public_keys::{AddKeyRequest, KeyOwner, add_key, expiry, key_created};
use crate::{
    ApiState,
    bodies::{Reply, SecretCreated, WriteDetails, reply},
    extract::{Authenticated, IfMatch, OptionalJson, Path},
    openapi::Endpoint,
    schema, time,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::create("/api/v1/users/machine", "addMachineUser")
            .summary("Create a machine user (service account)")
            .command::<AddMachine>()
            .creates_with(|c, (): &(), body: &AddMachineUserRequest| {
                let user = NewMachineUser {
                    org_id: body.org_id.clone(),
                    login_name: body.login_name.clone(),
                    name: body.name.clone(),
                    description: body.description.clone(),
                    access_token_type: body.access_token_type,
                };
                Box::pin(async move { c.add_machine_user(&user).await })
            }),
        change::put("/api/v1/users/{user_id}/machine", "changeMachineUser")
            .summary("Change a machine user's name, description and access token type")
            .command::<ChangeMachine>()
            .runs_with(|c, id: &String, body: &ChangeMachineUserRequest| {
                Box::pin(c.change_machine_user(
                    id,
                    &body.name,
                    &body.description,
                    body.access_token_type,
                ))
            }),
        change::post("/api/v1/users/{user_id}/keys", "addMachineKey")
            .summary("Add a public key for the JWT profile grant to a machine user")
            .command::<AddMachineKey>()
            .answers_with(
                StatusCode::CREATED,
                key_created,
                |c, id: &String, body: &AddKeyRequest| add_key(c, KeyOwner::Machine(id), body),
            ),
        change::delete("/api/v1/users/{user_id}/keys/{key_id}", "removeMachineKey")
            .summary("Remove a machine user's key")
            .command::<RemoveMachineKey>()
            .runs(|c, (id, key_id): &(String, String)| Box::pin(c.remove_machine_key(id, key_id))),
        change::put("/api/v1/users/{user_id}/secret", "setMachineSecret")
            .summary("Generate a new client secret for a machine user (returned this once)")
            .command::<SetMachineSecret>()
            .answers(StatusCode::OK, SecretCreated::issued, |c, id: &String| {
                Box::pin(c.set_machine_secret(id))
            }),
        change::delete("/api/v1/users/{user_id}/secret", "removeMachineSecret")
            .summary("Remove a machine user's client secret")
            .command::<RemoveMachineSecret>()
            .runs(|c, id: &String| Box::pin(c.remove_machine_secret(id))),
        Endpoint::post(
            "/api/v1/users/{user_id}/pats",
            "addPersonalAccessToken",
            "Issue a personal access token to a machine user (returned this once)",
            add_token,
        )
        .command::<AddPersonalAccessToken>()
        .optional_body::<AddTokenRequest>()
        .returns::<TokenCreated>(StatusCode::CREATED),
        change::delete(
            "/api/v1/users/{user_id}/pats/{token_id}",
            "removePersonalAccessToken",
        )
        .summary("Revoke a personal access token")
        .command::<RemovePersonalAccessToken>()
        .runs(|c, (id, token_id): &(String, String)| {
            Box::pin(c.remove_personal_access_token(id, token_id))
        }),
    ]
}

/// A new machine user.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMachineUserRequest {
    /// The organization the user belongs to.
    #[schemars(length(max = schema::ID_LEN), regex(pattern = schema::IDENTIFIER))]
    org_id: String,
    /// The login name, unique in the instance (case-insensitively).
    #[schemars(length(max = schema::LOGIN_NAME_LEN), regex(pattern = schema::LOGIN_NAME))]
    login_name: String,
    /// The display name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
    /// What the service account is for.
    #[serde(default)]
    #[schemars(length(max = schema::DESCRIPTION_LEN), regex(pattern = schema::OPTIONAL_TEXT))]
    description: String,
    /// The kind of its client-credentials and JWT-bearer access tokens: `jwt` (default) or `opaque`
    /// (stored, revocable one by one).
    #[serde(default)]
    access_token_type: AccessTokenType,
}

/// A machine user's name and description, and the kind of its access tokens.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeMachineUserRequest {
    /// The display name.
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    name: String,
    /// What the service account is for.
    #[serde(default)]
    #[schemars(length(max = schema::DESCRIPTION_LEN), regex(pattern = schema::OPTIONAL_TEXT))]
    description: String,
    /// The kind of its access tokens: `jwt` or `opaque`; unchanged when absent.
    #[serde(default)]
    access_token_type: Option<AccessTokenType>,
}

/// Options of a new personal access token.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddTokenRequest {
    /// When the token stops being accepted (RFC 3339, UTC; default: never).
    #[serde(default)]
    #[schemars(schema_with = "schema::optional_timestamp")]
    expires_at: Option<String>,
}

/// A personal access token, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(crate) struct TokenCreated {
    /// What the write produced (of the user).
    #[serde(flatten)]
    details: WriteDetails,
    /// The token's id, to revoke it.
    token_id: String,
    /// The token, for `Authorization: Bearer`; only its hash is stored, so it cannot be shown again.
    token: String,
    /// When the token stops being accepted (RFC 3339, UTC).
    expires_at: String,
}

async fn add_token(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(user_id): Path<String>,
    OptionalJson(body): OptionalJson<AddTokenRequest>,
) -> Reply<TokenCreated> {
    let expires_at = expiry(body.expires_at.as_deref())?;
    let issued = api
        .commands
        .for_caller(&caller)
        .if_sequence(seq)
        .add_personal_access_token(&user_id, expires_at)
        .await?;
    reply(
        StatusCode::CREATED,
        issued.details.sequence,
        TokenCreated {
            details: issued.details.into(),
            token_id: issued.token_id,
            token: issued.token.into_inner(),
            expires_at: time::format_millis(issued.expires_at_unix_ms),
        },
    )
}
