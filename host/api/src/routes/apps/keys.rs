//! `/api/v1/apps/{app_id}/keys`: the public keys an application authenticates with (`private_key_jwt`,
//! RFC 7523 §2.2): upload (PEM or JWK, optional expiry), list, remove.

use axum::{
    extract::State,
    http::{Method, StatusCode},
};
use warden_domain::application::{AddAppKey, RemoveAppKey};
use warden_domain::authz::Permission;

use super::read::readable_app;
use crate::routes::change;
use crate::routes::public_keys::{AddKeyRequest, KeyCreated, KeyOwner, PublicKeyBody, add_key};
use crate::{
    ApiState,
    bodies::{Reply, WriteDetails},
    extract::{Authenticated, IfMatch, Json as JsonBody, Path},
    openapi::Endpoint,
    view::{Items, part_lists},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::post(
            "/api/v1/apps/{app_id}/keys",
            "addAppKey",
            "Register a public key for private_key_jwt client authentication on an application",
            add,
        )
        .command::<AddAppKey>()
        .body::<AddKeyRequest>()
        .returns::<KeyCreated>(StatusCode::CREATED),
        Endpoint::get(
            "/api/v1/apps/{app_id}/keys",
            "listAppKeys",
            "An application's public keys, oldest first",
            list_keys,
        )
        .reads::<Items<PublicKeyBody>>(Permission::AppRead),
        change::without_body(
            Method::DELETE,
            "/api/v1/apps/{app_id}/keys/{key_id}",
            "removeAppKey",
            "Remove an application's public key; assertions signed with it are refused from then on",
            |c, (app_id, key_id): &(String, String)| Box::pin(c.remove_app_key(app_id, key_id)),
        )
        .command::<RemoveAppKey>()
        .returns::<WriteDetails>(StatusCode::OK),
    ]
}

async fn add(
    State(api): State<ApiState>,
    Authenticated(caller): Authenticated,
    IfMatch(seq): IfMatch,
    Path(app_id): Path<String>,
    JsonBody(body): JsonBody<AddKeyRequest>,
) -> Reply<KeyCreated> {
    add_key(&api, &caller, seq, KeyOwner::App(&app_id), body).await
}

part_lists! {
    readable_app() {
        list_keys: PublicKeyBody = application_keys,
    }
}
