//! `/api/v1/users/machine` and the credentials of machine users: keys, client secret, personal access tokens.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::NewMachineUser;
use warden_domain::application::AccessTokenType;
use warden_domain::user::{
    AddMachine, AddMachineKey, AddPersonalAccessToken, ChangeMachine, RemoveMachineKey,
    RemoveMachineSecret, RemovePersonalAccessToken, SetMachineSecret,
};

use crate::routes::change;
use crate::routes::public_keys::{AddKeyRequest, KeyCreated, KeyOwner, add_key, expiry};
use crate::{
    ApiState,
    bodies::{Reply, SecretCreated, WriteDetails, changed, created, reply},
    extract::{Authenticated, IfMatch, Json, OptionalJson, Path},
    openapi::Endpoint,
    schema, time,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let ok = StatusCode::OK;
    vec![
        Endpoint::post(
            "/api/v1/users/machine",
            "addMachineUser",
            "Create a machine user (service account)",
            add_machine,
        )
        .command::<AddMachine>()
        .body::<AddMachineUserRequest>()
        .returns::<WriteDetails>(StatusCode::CREATED),
        Endpoint::put(
            "/api/v1/users/{user_id}/machine",
            "changeMachineUser",
            "Change a machine user's name, description and access token type",
            change_machine,
        )
        .command::<ChangeMachine>()
        .body::<ChangeMachineUserRequest>()
        .returns::<WriteDetails>(ok),
        Endpoint::post(
            "/api/v1/users/{user_id}/keys",
            "addMachineKey",
            "Add a public key for the JWT profile grant to a machine user",
            add_machine_key,
        )
        .command::<AddMachineKey>()
        .body::<AddKeyRequest>()
        .returns::<KeyCreated>(StatusCode::CREATED),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}/keys/{key_id}",
            "removeMachineKey",
            "Remove a machine user's key",
            |c, (user_id, key_id): &(String, String)| {
                Box::pin(c.remove_machine_key(user_id, key_id))
            },
        )
        .command::<RemoveMachineKey>()
        .returns::<WriteDetails>(ok),
        Endpoint::put(
            "/api/v1/users/{user_id}/secret",
            "setMachineSecret",
            "Generate a new client secret for a machine user (returned this once)",
            set_secret,
        )
        .command::<SetMachineSecret>()
        .returns::<SecretCreated>(ok),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}/secret",
            "removeMachineSecret",
            "Remove a machine user's client secret",
            |c, id: &String| Box::pin(c.remove_machine_secret(id)),
        )
        .command::<RemoveMachineSecret>()
        .returns::<WriteDetails>(ok),
        Endpoint::post(
            "/api/v1/users/{user_id}/pats",
            "addPersonalAccessToken",
            "Issue a personal access token to a machine user (returned this once)",
            add_token,
        )
        .command::<AddPersonalAccessToken>()
        .optional_body::<AddTokenRequest>()
        .returns::<TokenCreated>(StatusCode::CREATED),
        change::without_body(
            Method::DELETE,
            "/api/v1/users/{user_id}/pats/{token_id}",
            "removePersonalAccessToken",
            "Revoke a personal access token",
            |c, (user_id, token_id): &(String, String)| {
                Box::pin(c.remove_personal_access_token(user_id, token_id))
            },
        )
        .command::<RemovePersonalAccessToken>()
        .returns::<WriteDetails>(ok),
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

async fn add_machine(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    Json(body): Json<AddMachineUserRequest>,
) -> Reply {
    let user = NewMachineUser {
        org_id: body.org_id,
        login_name: body.login_name,
        name: body.name,
        description: body.description,
        access_token_type: body.access_token_type,
    };
    created(
        api.commands
            .for_caller(&caller)
            .add_machine_user(&user)
            .await?,
    )
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

async fn change_machine(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(user_id): Path<String>,
    Json(body): Json<ChangeMachineUserRequest>,
) -> Reply {
    changed(
        api.commands
            .for_caller(&caller)
            .if_sequence(seq)
            .change_machine_user(
                &user_id,
                &body.name,
                &body.description,
                body.access_token_type,
            )
            .await?,
    )
}

async fn add_machine_key(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(user_id): Path<String>,
    Json(body): Json<AddKeyRequest>,
) -> Reply<KeyCreated> {
    add_key(&api, &caller, seq, KeyOwner::Machine(&user_id), body).await
}

async fn set_secret(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(user_id): Path<String>,
) -> Reply<SecretCreated> {
    let issued = api
        .commands
        .for_caller(&caller)
        .if_sequence(seq)
        .set_machine_secret(&user_id)
        .await?;
    SecretCreated::issued(issued)
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
