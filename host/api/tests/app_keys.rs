//! Applications' public keys through the router, on both backends: upload as PEM or JWK, list (public halves
//! only), remove, and the refusals of bad input, each naming its field.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::Api;
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;

both_backends!(app_keys_life_cycle, bad_keys_are_refused_naming_the_field);

const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";

/// An API application authenticating with private_key_jwt; its `/api/v1/apps/{id}` path.
async fn api_app(api: &Api) -> String {
    let project = api.project(&api.org_id, "Shop").await;
    let id = api
        .post(
            &format!("/api/v1/projects/{project}/apps/api"),
            json!({ "name": "Backend", "auth_method": "private_key_jwt" }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    format!("/api/v1/apps/{id}")
}

async fn app_keys_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let app = api_app(&api).await;
    let keys = format!("{app}/keys");
    assert_eq!(
        api.get(&keys).await.expect(StatusCode::OK).body,
        json!({ "items": [] })
    );
    let pem = api
        .post(
            &keys,
            json!({ "public_key": PEM, "expires_at": "2099-01-01T00:00:00Z" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let pem_id = pem.body["key_id"].as_str().expect("key id").to_owned();
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "x": "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE" });
    let jwk_id = api
        .post(
            &keys,
            json!({ "format": "jwk", "public_key": jwk.to_string() }),
        )
        .await
        .expect(StatusCode::CREATED)
        .body["key_id"]
        .as_str()
        .expect("key id")
        .to_owned();

    let listed = api.get(&keys).await.expect(StatusCode::OK).body;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{listed:#}");
    assert_eq!(items[0]["key_id"], pem_id.as_str());
    assert_eq!(items[0]["format"], "pem");
    assert_eq!(items[0]["public_key"], PEM);
    assert_eq!(items[0]["expires_at"], "2099-01-01T00:00:00.000Z");
    assert_eq!(items[1]["key_id"], jwk_id.as_str());
    assert_eq!(items[1]["format"], "jwk");
    // Sent without an expiry: never expires.
    assert_eq!(items[1]["expires_at"], "9999-12-31T23:59:59.000Z");

    api.delete(&format!("{keys}/{pem_id}"))
        .await
        .expect(StatusCode::OK);
    let listed = api.get(&keys).await.expect(StatusCode::OK).body;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|k| k["key_id"].as_str())
        .collect();
    assert_eq!(ids, [jwk_id.as_str()]);
    let field = api
        .delete(&format!("{keys}/{pem_id}"))
        .await
        .error(StatusCode::NOT_FOUND, "application.key.not_found");
    assert_eq!(field.as_deref(), Some("key_id"));

    // Removing the application removes its keys from the view.
    api.delete(&app).await.expect(StatusCode::OK);
    api.get(&keys)
        .await
        .error(StatusCode::NOT_FOUND, "application.not_found");
}

async fn bad_keys_are_refused_naming_the_field(store: TestStore) {
    let api = Api::start(store).await;
    let app = api_app(&api).await;
    let keys = format!("{app}/keys");
    let before = api.event_count().await;
    let refusals = [
        (
            json!({ "public_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----" }),
            "application.key.private",
            "public_key",
        ),
        (
            json!({ "format": "jwk", "public_key": r#"{"kty":"oct","k":"c2VjcmV0"}"# }),
            "application.key.private",
            "public_key",
        ),
        (
            json!({ "format": "jwk", "public_key": "not json" }),
            "application.key.invalid",
            "public_key",
        ),
        (
            json!({ "public_key": PEM, "expires_at": "2001-01-01T00:00:00Z" }),
            "application.key.expires_at.in_past",
            "expires_at",
        ),
    ];
    for (body, code, field) in refusals {
        let answer = api.post(&keys, body.clone()).await;
        assert!(answer.status.is_client_error(), "{body}: {:#}", answer.body);
        assert_eq!(answer.body["field"], field, "{body}: {:#}", answer.body);
        if answer.body["code"] != "invalid_request" {
            assert_eq!(answer.body["code"], code, "{body}: {:#}", answer.body);
        }
    }
    let answer = api
        .post(
            &keys,
            json!({ "public_key": PEM, "expires_at": "tomorrow" }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:#}", answer.body);
    assert_eq!(answer.body["field"], "expires_at");
    let answer = api
        .post(&keys, json!({ "public_key": PEM, "colour": "blue" }))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:#}", answer.body);
    assert_eq!(api.event_count().await, before, "refusals store nothing");

    // The limit per application.
    for _ in 0..warden_domain::application::MAX_APP_KEYS {
        api.post(&keys, json!({ "public_key": PEM }))
            .await
            .expect(StatusCode::CREATED);
    }
    api.post(&keys, json!({ "public_key": PEM }))
        .await
        .error(StatusCode::CONFLICT, "application.key.limit_reached");
    api.post("/api/v1/apps/nope/keys", json!({ "public_key": PEM }))
        .await
        .error(StatusCode::NOT_FOUND, "application.not_found");
}
