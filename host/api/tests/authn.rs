//! Who can authenticate: personal access tokens of inactive users, or of users of inactive organizations, are
//! refused at once (401), on both eventstore backends.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::Api;
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;

both_backends!(
    tokens_of_a_deactivated_or_removed_org_are_refused,
    tokens_of_locked_deactivated_or_removed_users_are_refused
);

/// A machine user of `org` holding `ORG_OWNER` there, with a token.
async fn owner(api: &Api, org: &str, login: &str) -> (String, String) {
    let (id, token) = api.machine_with_token(org, login).await;
    api.post(
        &format!("/api/v1/orgs/{org}/members"),
        json!({ "user_id": id, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    (id, token)
}

async fn status_as(api: &Api, token: &str, path: &str) -> StatusCode {
    api.call_as(token, Method::GET, path, None).await.status
}

async fn tokens_of_a_deactivated_or_removed_org_are_refused(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Tenant C").await;
    let (robot, token) = owner(&api, &org, "c-robot").await;
    let own_org = format!("/api/v1/orgs/{org}");
    assert_eq!(status_as(&api, &token, &own_org).await, StatusCode::OK);

    api.post_empty(&format!("/api/v1/orgs/{org}/deactivate"))
        .await
        .expect(StatusCode::OK);
    api.call_as(&token, Method::GET, &own_org, None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    api.post_empty(&format!("/api/v1/orgs/{org}/reactivate"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        status_as(&api, &token, &own_org).await,
        StatusCode::OK,
        "a reactivated organization's users authenticate again"
    );

    api.delete(&own_org).await.expect(StatusCode::OK);
    api.call_as(&token, Method::GET, &own_org, None)
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // Nor can the token mint another token for its own user.
    api.call_as(
        &token,
        Method::POST,
        &format!("/api/v1/users/{robot}/pats"),
        None,
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

async fn tokens_of_locked_deactivated_or_removed_users_are_refused(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Tenant D").await;
    let (user, token) = owner(&api, &org, "d-robot").await;
    let own_org = format!("/api/v1/orgs/{org}");
    assert_eq!(status_as(&api, &token, &own_org).await, StatusCode::OK);

    for (stop, restart) in [("lock", "unlock"), ("deactivate", "reactivate")] {
        api.post_empty(&format!("/api/v1/users/{user}/{stop}"))
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            status_as(&api, &token, &own_org).await,
            StatusCode::UNAUTHORIZED,
            "after {stop}"
        );
        api.post_empty(&format!("/api/v1/users/{user}/{restart}"))
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            status_as(&api, &token, &own_org).await,
            StatusCode::OK,
            "after {restart}"
        );
    }
    api.delete(&format!("/api/v1/users/{user}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        status_as(&api, &token, &own_org).await,
        StatusCode::UNAUTHORIZED
    );
}
