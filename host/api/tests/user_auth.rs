//! The administrator's routes for a user's second factor and emailed codes, through the router on both
//! backends: a reset or verification mail is requested (as a notification event), a second factor removed,
//! each with the same authorization as the other credential routes.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::Api;
use warden_command::Caller;
use warden_domain::user::User;
use warden_eventstore::{Store, testing::TestStore};

both_backends!(
    password_reset_mail_is_requested_for_a_human_only,
    email_verification_code_is_resent_until_verified,
    second_factor_is_removed_by_an_administrator,
    an_org_owner_cannot_reset_the_instance_owner,
);

/// The number of `notification.requested` events for `user_id` (by the request's payload).
async fn mails_for(store: &Store, user_id: &str) -> i64 {
    let sqlite = format!(
        "SELECT COUNT(*) FROM events WHERE event_type = 'notification.requested' \
         AND payload LIKE '%\"user_id\":\"{user_id}\"%'"
    );
    let postgres = format!(
        "SELECT COUNT(*) FROM events WHERE event_type = 'notification.requested' \
         AND payload->>'user_id' = '{user_id}'"
    );
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(&sqlite).fetch_one(s.reader()).await,
        Store::Postgres(s) => sqlx::query_scalar(&postgres).fetch_one(s.pool()).await,
    }
    .expect("count")
}

async fn password_reset_mail_is_requested_for_a_human_only(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Acme").await;
    let user = api.human(&org, "ada").await;
    let reply = api
        .post_empty(&format!("/api/v1/users/{user}/password/reset"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply.body["id"], user.as_str());
    assert!(
        !reply.body.to_string().contains("code"),
        "the code is never shown to the caller: {}",
        reply.body
    );
    assert_eq!(mails_for(&api.store, &user).await, 1);
    let model = api
        .commands
        .load::<User>(&api.instance_id, &user)
        .await
        .expect("load");
    assert!(
        model
            .state
            .human()
            .is_some_and(|h| h.password_code.is_some())
    );

    let before = api.event_count().await;
    let (machine, _) = api.machine_with_token(&org, "bot").await;
    let after_machine = api.event_count().await;
    assert!(after_machine > before);
    api.post_empty(&format!("/api/v1/users/{machine}/password/reset"))
        .await
        .error(StatusCode::CONFLICT, "user.not_human");
    api.post_empty("/api/v1/users/0190-unknown/password/reset")
        .await
        .error(StatusCode::NOT_FOUND, "user.not_found");
    assert_eq!(
        api.event_count().await,
        after_machine,
        "refusals store nothing"
    );
}

async fn email_verification_code_is_resent_until_verified(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Acme").await;
    let user = api.human(&org, "bob").await;
    for _ in 0..2 {
        api.post_empty(&format!("/api/v1/users/{user}/email/verify-code"))
            .await
            .expect(StatusCode::OK);
    }
    assert_eq!(mails_for(&api.store, &user).await, 2);
    api.post_empty(&format!("/api/v1/users/{user}/email/verify"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("/api/v1/users/{user}/email/verify-code"))
        .await
        .error(StatusCode::CONFLICT, "user.email.already_verified");
    assert_eq!(mails_for(&api.store, &user).await, 2);
}

async fn second_factor_is_removed_by_an_administrator(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Acme").await;
    let user = api.human(&org, "carol").await;
    api.delete(&format!("/api/v1/users/{user}/otp"))
        .await
        .error(StatusCode::NOT_FOUND, "user.otp.not_found");
    let system = Caller::system(&api.instance_id);
    api.commands
        .for_caller(&system)
        .enroll_otp(&user)
        .await
        .expect("enrolled");
    let reply = api
        .delete(&format!("/api/v1/users/{user}/otp"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply.body["id"], user.as_str());
    let model = api
        .commands
        .load::<User>(&api.instance_id, &user)
        .await
        .expect("load");
    assert!(model.state.human().is_some_and(|h| h.otp.is_none()));
}

async fn an_org_owner_cannot_reset_the_instance_owner(store: TestStore) {
    let api = Api::start(store).await;
    let org = api.org("Acme").await;
    let (owner, token) = api.machine_with_token(&org, "owner-bot").await;
    api.post(
        &format!("/api/v1/orgs/{org}/members"),
        json!({ "user_id": owner, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let member = api.human(&org, "dave").await;
    // Within its organization the owner may act on an ordinary user...
    api.call_as(
        &token,
        Method::POST,
        &format!("/api/v1/users/{member}/password/reset"),
        None,
    )
    .await
    .expect(StatusCode::OK);
    // ...but not on the instance's administrator, whose privileges it lacks.
    let before = api.event_count().await;
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v1/users/{}/password/reset", api.admin_id),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{}/email/verify-code", api.admin_id),
        ),
        (
            Method::DELETE,
            format!("/api/v1/users/{}/otp", api.admin_id),
        ),
    ] {
        let reply = api.call_as(&token, method.clone(), &path, None).await;
        assert!(
            matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{method} {path}: {} {:#}",
            reply.status,
            reply.body
        );
    }
    assert_eq!(api.event_count().await, before);
}
