//! `/api/v1/apps/{app_id}/keys`: the public keys an application authenticates with (`private_key_jwt`,
//! RFC 7523 §2.2): upload (PEM or JWK, optional expiry), list, remove.

use axum::http::StatusCode;
use warden_domain::application::{AddAppKey, RemoveAppKey};
use warden_domain::authz::Permission;

use super::read::readable_app;
use crate::routes::change;
use crate::routes::public_keys::{AddKeyRequest, KeyOwner, PublicKeyBody, add_key, key_created};
use crate::{
    openapi::Endpoint,
    view::{Items, part_lists},
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        change::post("/api/v1/apps/{app_id}/keys", "addAppKey")
            .summary(
                "Register a public key for private_key_jwt client authentication on an application",
            )
            .command::<AddAppKey>()
            .answers_with(
                StatusCode::CREATED,
                key_created,
                |c, id: &String, body: &AddKeyRequest| add_key(c, KeyOwner::App(id), body),
            ),
        Endpoint::get(
            "/api/v1/apps/{app_id}/keys",
            "listAppKeys",
            "An application's public keys, oldest first",
            list_keys,
        )
        .reads::<Items<PublicKeyBody>>(Permission::AppRead),
        change::delete("/api/v1/apps/{app_id}/keys/{key_id}", "removeAppKey")
            .summary(
                "Remove an application's public key; assertions signed with it are refused from \
                 then on",
            )
            .command::<RemoveAppKey>()
            .runs(|c, (app_id, key_id): &(String, String)| {
                Box::pin(c.remove_app_key(app_id, key_id))
            }),
    ]
}

part_lists! {
    readable_app() {
        list_keys: PublicKeyBody = application_keys,
    }
}
