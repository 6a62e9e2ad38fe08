//! The management API through the router (no socket), on both eventstore backends: each resource's life
//! cycle, authentication and authorization, bad input, and unique login names under concurrency.

mod support;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::Api;
use warden_domain::{instance::Instance, org::Organization, project::Project, user::User};
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;

both_backends!(
    every_documented_route_is_served,
    roles_are_given_only_within_the_givers_privileges,
    org_life_cycle,
    human_user_life_cycle,
    machine_user_life_cycle,
    project_life_cycle,
    application_life_cycle,
    user_grant_life_cycle,
    instance_settings_and_members,
    missing_or_invalid_token_is_401,
    org_owner_is_confined_to_its_org,
    wrong_role_is_403,
    bad_input_is_4xx_and_stores_nothing,
    stale_state_is_409,
    concurrent_creates_of_one_login_name,
);

async fn every_documented_route_is_served(store: TestStore) {
    let api = Api::start(store).await;
    let document = api.get("/openapi.json").await.expect(StatusCode::OK).body;
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            operations += 1;
            assert!(
                operation["operationId"].is_string(),
                "{method} {path} has an operation id"
            );
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has responses"
            );
            let concrete = path
                .replace("/metadata/{key}", "/metadata/some/key")
                .replace(['{', '}'], "");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let reply = api
                .raw(
                    method.clone(),
                    &concrete,
                    Some(&api.token),
                    None,
                    Vec::new(),
                    &[],
                )
                .await;
            assert_ne!(
                reply.body["code"], "route.not_found",
                "{method} {path} is routed"
            );
            assert_ne!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is routed"
            );
            assert_ne!(
                reply.status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "{method} {path}: {:#}",
                reply.body
            );
            if operation["requestBody"]["required"] == true {
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                assert!(schema.is_object(), "{method} {path} documents its body");
            }
            if path != "/openapi.json" {
                let unauthenticated = api
                    .raw(method.clone(), &concrete, None, None, Vec::new(), &[])
                    .await;
                assert_eq!(
                    unauthenticated.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} needs a token"
                );
            }
        }
    }
    assert!(operations > 70, "{operations} operations documented");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    assert!(schemas.contains_key("AddHumanUserRequest") && schemas.contains_key("ErrorBody"));
    assert_eq!(
        schemas["AddOrgRequest"]["additionalProperties"], false,
        "unknown fields are refused, and documented so"
    );
}

async fn org_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let org = api
        .post("/api/v1/orgs", json!({ "name": "Acme" }))
        .await
        .expect(StatusCode::CREATED);
    let id = org.id();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok_and(|u| u.get_version_num() == 7),
        "UUID v7 id"
    );
    assert_eq!(org.body["sequence"], 1);
    assert!(org.body["position"].as_i64().is_some_and(|p| p > 0));
    assert!(
        org.body["change_date"]
            .as_str()
            .is_some_and(|d| d.ends_with('Z'))
    );
    assert_eq!(org.headers[header::ETAG], "\"1\"");

    let base = format!("/api/v1/orgs/{id}");
    api.put(&base, json!({ "name": "Acme Corp" }))
        .await
        .expect(StatusCode::OK);
    api.post(
        &format!("{base}/domains"),
        json!({ "domain": "acme.example" }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.post(
        &format!("{base}/domains"),
        json!({ "domain": "old.example" }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.post_empty(&format!("{base}/domains/acme.example/verify"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/domains/acme.example/primary"))
        .await
        .expect(StatusCode::OK);
    api.delete(&format!("{base}/domains/old.example"))
        .await
        .expect(StatusCode::OK);
    let policy = json!({
        "min_length": 12, "has_uppercase": true, "has_lowercase": true, "has_number": true, "has_symbol": false
    });
    api.put(&format!("{base}/policies/password-complexity"), policy)
        .await
        .expect(StatusCode::OK);
    api.put(
        &format!("{base}/policies/lockout"),
        json!({ "max_password_attempts": 3, "show_lockout_failures": false }),
    )
    .await
    .expect(StatusCode::OK);
    api.delete(&format!("{base}/policies/lockout"))
        .await
        .expect(StatusCode::OK);
    api.delete(&format!("{base}/policies/lockout"))
        .await
        .error(StatusCode::NOT_FOUND, "org.policy.not_found");

    let user = api.human(&id, "olivia").await;
    api.post(
        &format!("{base}/members"),
        json!({ "user_id": user, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.put(
        &format!("{base}/members/{user}"),
        json!({ "roles": ["ORG_USER_MANAGER"] }),
    )
    .await
    .expect(StatusCode::OK);
    api.delete(&format!("{base}/members/{user}"))
        .await
        .expect(StatusCode::OK);

    api.post_empty(&format!("{base}/deactivate"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/deactivate"))
        .await
        .error(StatusCode::CONFLICT, "org.already_inactive");
    api.post_empty(&format!("{base}/reactivate"))
        .await
        .expect(StatusCode::OK);

    let org = api
        .commands
        .load::<Organization>(&api.instance_id, &id)
        .await
        .expect("load");
    assert_eq!(org.state.name, "Acme Corp");
    assert_eq!(org.state.primary_domain.as_deref(), Some("acme.example"));
    assert_eq!(org.state.domains.len(), 1);
    assert_eq!(
        org.state
            .policy_overrides
            .password_complexity
            .as_ref()
            .map(|p| p.min_length),
        Some(12)
    );
    assert!(org.state.policy_overrides.lockout.is_none());
    assert!(org.state.members.is_empty());

    let removed = api.delete(&base).await.expect(StatusCode::OK);
    assert_eq!(removed.body["sequence"], org.sequence + 1);
    api.put(&base, json!({ "name": "Gone" }))
        .await
        .error(StatusCode::NOT_FOUND, "org.not_found");
    api.org("Acme Corp").await;
}

async fn human_user_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let created = api
        .post(
            "/api/v1/users/human",
            json!({
                "org_id": api.org_id,
                "login_name": "Ada",
                "given_name": "Ada",
                "family_name": "Lovelace",
                "preferred_language": "en",
                "email": "ada@example.com",
                "phone": "+41 44 123 45 67",
                "password": "Analytical-Engine-1843",
                "password_change_required": true,
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = created.id();
    let base = format!("/api/v1/users/{id}");
    api.put(
        &format!("{base}/profile"),
        json!({ "given_name": "Augusta", "family_name": "King", "display_name": "Countess" }),
    )
    .await
    .expect(StatusCode::OK);
    api.put(
        &format!("{base}/email"),
        json!({ "email": "augusta@example.com" }),
    )
    .await
    .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/email/verify"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/email/verify"))
        .await
        .error(StatusCode::CONFLICT, "user.email.already_verified");
    api.put(
        &format!("{base}/phone"),
        json!({ "phone": "+44 20 7946 0000" }),
    )
    .await
    .expect(StatusCode::OK);
    api.delete(&format!("{base}/phone"))
        .await
        .expect(StatusCode::OK);
    api.put(
        &format!("{base}/password"),
        json!({ "password": "Difference-Engine-1822" }),
    )
    .await
    .expect(StatusCode::OK);
    let weak = api
        .put(&format!("{base}/password"), json!({ "password": "weak" }))
        .await;
    assert_eq!(
        weak.error(StatusCode::BAD_REQUEST, "password.too_short")
            .as_deref(),
        Some("password")
    );
    api.post_empty(&format!("{base}/lock"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/unlock"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/deactivate"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/reactivate"))
        .await
        .expect(StatusCode::OK);
    api.put(
        &format!("{base}/metadata/team/lead"),
        json!({ "value": "analytics" }),
    )
    .await
    .expect(StatusCode::OK);
    api.put(&format!("{base}/metadata/floor"), json!({ "value": "3" }))
        .await
        .expect(StatusCode::OK);
    api.delete(&format!("{base}/metadata/floor"))
        .await
        .expect(StatusCode::OK);

    let user = api
        .commands
        .load::<User>(&api.instance_id, &id)
        .await
        .expect("load");
    let human = user.state.human().expect("human");
    assert_eq!(human.profile.display_name, "Countess");
    assert_eq!(human.email, "augusta@example.com");
    assert!(human.email_verified && human.phone.is_none() && !user.state.locked);
    assert!(
        human
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$"))
    );
    assert_eq!(
        user.state.metadata.get("team/lead").map(String::as_str),
        Some("analytics")
    );
    assert_eq!(user.state.metadata.len(), 1);

    api.delete(&base).await.expect(StatusCode::OK);
    api.post_empty(&format!("{base}/lock"))
        .await
        .error(StatusCode::NOT_FOUND, "user.not_found");
    api.human(&api.org_id, "ada").await;
}

async fn machine_user_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let id = api
        .post(
            "/api/v1/users/machine",
            json!({ "org_id": api.org_id, "login_name": "ci-bot", "name": "CI", "description": "builds" }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    let base = format!("/api/v1/users/{id}");
    let shown = api.get(&base).await.expect(StatusCode::OK);
    assert_eq!(shown.body["machine"]["access_token_type"], "jwt");
    api.put(
        &format!("{base}/machine"),
        json!({ "name": "CI bot", "description": "", "access_token_type": "opaque" }),
    )
    .await
    .expect(StatusCode::OK);
    let shown = api.get(&base).await.expect(StatusCode::OK);
    assert_eq!(shown.body["machine"]["access_token_type"], "opaque");
    // Left out, the kind stays as it is.
    api.put(
        &format!("{base}/machine"),
        json!({ "name": "CI bot", "description": "" }),
    )
    .await
    .expect(StatusCode::OK);
    let shown = api.get(&base).await.expect(StatusCode::OK);
    assert_eq!(shown.body["machine"]["access_token_type"], "opaque");
    let bad = api
        .put(
            &format!("{base}/machine"),
            json!({ "name": "CI bot", "access_token_type": "paper" }),
        )
        .await;
    assert_eq!(
        bad.error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("access_token_type")
    );

    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----";
    let key = api
        .post(
            &format!("{base}/keys"),
            json!({ "public_key": pem, "expires_at": "2099-01-01T00:00:00Z" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let key_id = key.body["key_id"].as_str().expect("key id").to_owned();
    api.post(
        &format!("{base}/keys"),
        json!({ "public_key": pem, "expires_at": "2001-01-01T00:00:00Z" }),
    )
    .await
    .error(
        StatusCode::BAD_REQUEST,
        "user.machine.key.expires_at.in_past",
    );
    api.delete(&format!("{base}/keys/{key_id}"))
        .await
        .expect(StatusCode::OK);

    let secret = api
        .put(&format!("{base}/secret"), json!({}))
        .await
        .expect(StatusCode::OK);
    let secret = secret.body["client_secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert_eq!(secret.len(), 64);
    api.delete(&format!("{base}/secret"))
        .await
        .expect(StatusCode::OK);

    let pat = api
        .post(
            &format!("{base}/pats"),
            json!({ "expires_at": "2099-01-01T00:00:00Z" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let token = pat.body["token"]
        .as_str()
        .expect("token shown once")
        .to_owned();
    let token_id = pat.body["token_id"].as_str().expect("token id").to_owned();
    assert_eq!(pat.body["expires_at"], "2099-01-01T00:00:00.000Z");
    // The machine user has no roles: authenticated, but not allowed.
    api.call_as(
        &token,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({ "name": "Nope" })),
    )
    .await
    .error(StatusCode::FORBIDDEN, "authz.permission_denied");
    api.delete(&format!("{base}/pats/{token_id}"))
        .await
        .expect(StatusCode::OK);
    api.call_as(
        &token,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({ "name": "Nope" })),
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "unauthenticated");

    let stored = api
        .commands
        .load::<User>(&api.instance_id, &id)
        .await
        .expect("load");
    let machine = stored.state.machine().expect("machine");
    assert_eq!(machine.name, "CI bot");
    assert!(machine.keys.is_empty() && machine.tokens.is_empty() && machine.secret_hash.is_none());
    api.put(
        &format!("{base}/profile"),
        json!({ "given_name": "A", "family_name": "B" }),
    )
    .await
    .error(StatusCode::CONFLICT, "user.not_human");
}

async fn project_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let id = api.project(&api.org_id, "Portal").await;
    let base = format!("/api/v1/projects/{id}");
    api.put(&base, json!({ "name": "Customer portal" }))
        .await
        .expect(StatusCode::OK);
    api.post(
        &format!("{base}/roles"),
        json!({ "key": "admin", "display_name": "Admin" }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.post(
        &format!("{base}/roles"),
        json!({ "key": "viewer", "display_name": "Viewer", "group": "read" }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.post(
        &format!("{base}/roles"),
        json!({ "key": "admin", "display_name": "Again" }),
    )
    .await
    .error(StatusCode::CONFLICT, "project.role.already_exists");
    api.put(
        &format!("{base}/roles/viewer"),
        json!({ "display_name": "Reader" }),
    )
    .await
    .expect(StatusCode::OK);

    let partner = api.org("Partner").await;
    let grant = api
        .post(
            &format!("{base}/grants"),
            json!({ "granted_org_id": partner, "role_keys": ["admin", "viewer"] }),
        )
        .await
        .expect(StatusCode::CREATED);
    let grant_id = grant.body["grant_id"]
        .as_str()
        .expect("grant id")
        .to_owned();
    api.put(
        &format!("{base}/grants/{grant_id}"),
        json!({ "role_keys": ["viewer"] }),
    )
    .await
    .expect(StatusCode::OK);
    api.delete(&format!("{base}/roles/admin"))
        .await
        .expect(StatusCode::OK);

    let member = api.human(&api.org_id, "pm").await;
    api.post(
        &format!("{base}/members"),
        json!({ "user_id": member, "roles": ["PROJECT_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.post(
        &format!("{base}/members"),
        json!({ "user_id": member, "roles": ["PROJECT_OWNER_VIEWER"] }),
    )
    .await
    .error(StatusCode::CONFLICT, "member.already_exists");
    // A role of another kind of membership is no project role: the body does not fit the schema.
    let field = api
        .post(
            &format!("{base}/members"),
            json!({ "user_id": member, "roles": ["ORG_OWNER"] }),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(field.as_deref(), Some("roles[0]"));
    api.put(
        &format!("{base}/members/{member}"),
        json!({ "roles": ["PROJECT_OWNER_VIEWER"] }),
    )
    .await
    .expect(StatusCode::OK);

    let project = api
        .commands
        .load::<Project>(&api.instance_id, &id)
        .await
        .expect("load");
    assert_eq!(project.state.name, "Customer portal");
    assert_eq!(
        project.state.roles.keys().collect::<Vec<_>>(),
        vec!["viewer"]
    );
    assert_eq!(project.state.roles["viewer"].display_name, "Reader");
    assert_eq!(
        project.state.grants[&grant_id].role_keys,
        vec!["viewer".to_owned()]
    );

    api.delete(&format!("{base}/members/{member}"))
        .await
        .expect(StatusCode::OK);
    api.delete(&format!("{base}/grants/{grant_id}"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/deactivate"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/reactivate"))
        .await
        .expect(StatusCode::OK);
    api.delete(&base).await.expect(StatusCode::OK);
    api.put(&base, json!({ "name": "x" }))
        .await
        .error(StatusCode::NOT_FOUND, "project.not_found");
}

async fn application_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let project = api.project(&api.org_id, "Shop").await;
    let web = api
        .post(
            &format!("/api/v1/projects/{project}/apps/oidc"),
            json!({
                "name": "Shop web",
                "app_type": "web",
                "redirect_uris": ["https://shop.example.com/callback"],
                "post_logout_redirect_uris": ["https://shop.example.com/"],
                "grant_types": ["authorization_code", "refresh_token"],
                "auth_method": "basic",
                "access_token_type": "jwt",
                "id_token_signed_response_alg": "ES256",
            }),
        )
        .await
        .expect(StatusCode::CREATED);
    let app = web.id();
    let read = api
        .get(&format!("/api/v1/apps/{app}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(read.body["oidc"]["id_token_signed_response_alg"], "ES256");
    assert!(
        read.body["oidc"]
            .get("access_token_signed_response_alg")
            .is_none(),
        "the provider's default: {}",
        read.body
    );
    let alg = api
        .put(
            &format!("/api/v1/apps/{app}/oidc-config"),
            json!({ "app_type": "web", "redirect_uris": ["https://shop.example.com/callback"], "auth_method": "basic", "id_token_signed_response_alg": "HS256" }),
        )
        .await;
    assert_eq!(
        alg.error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("id_token_signed_response_alg")
    );
    assert!(web.body["client_id"].is_string());
    assert_eq!(
        web.body["client_secret"].as_str().map(str::len),
        Some(64),
        "secret shown once"
    );
    let base = format!("/api/v1/apps/{app}");

    let spa = json!({
        "app_type": "user_agent",
        "redirect_uris": ["https://shop.example.com/spa"],
        "auth_method": "none",
    });
    let changed = api
        .put(&format!("{base}/oidc-config"), spa)
        .await
        .expect(StatusCode::OK);
    assert!(
        changed.body.get("client_secret").is_none(),
        "no secret for a public client"
    );
    let back = json!({
        "app_type": "web",
        "redirect_uris": ["https://shop.example.com/callback"],
        "auth_method": "post",
    });
    let changed = api
        .put(&format!("{base}/oidc-config"), back)
        .await
        .expect(StatusCode::OK);
    assert!(
        changed.body["client_secret"].is_string(),
        "a newly needed secret is generated"
    );
    let regenerated = api
        .post_empty(&format!("{base}/secret"))
        .await
        .expect(StatusCode::OK);
    assert_ne!(
        regenerated.body["client_secret"],
        changed.body["client_secret"]
    );
    api.put(&base, json!({ "name": "Shop" }))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/deactivate"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("{base}/reactivate"))
        .await
        .expect(StatusCode::OK);
    api.delete(&base).await.expect(StatusCode::OK);
    api.put(&base, json!({ "name": "x" }))
        .await
        .error(StatusCode::NOT_FOUND, "application.not_found");

    let api_app = api
        .post(
            &format!("/api/v1/projects/{project}/apps/api"),
            json!({ "name": "Backend", "auth_method": "private_key_jwt" }),
        )
        .await
        .expect(StatusCode::CREATED);
    assert!(api_app.body.get("client_secret").is_none());
    let switched = api
        .put(
            &format!("/api/v1/apps/{}/api-config", api_app.id()),
            json!({ "auth_method": "basic" }),
        )
        .await
        .expect(StatusCode::OK);
    assert!(switched.body["client_secret"].is_string());
    let opaque = api
        .post(
            &format!("/api/v1/projects/{project}/apps/api"),
            json!({ "name": "Orders", "auth_method": "basic", "access_token_type": "opaque" }),
        )
        .await
        .expect(StatusCode::CREATED);
    let shown = api
        .get(&format!("/api/v1/apps/{}", opaque.id()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown.body["api"]["access_token_type"], "opaque");
    let shown = api
        .get(&format!("/api/v1/apps/{}", api_app.id()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown.body["api"]["access_token_type"], "jwt", "the default");
    let method = api
        .post(
            &format!("/api/v1/projects/{project}/apps/api"),
            json!({ "name": "x", "auth_method": "post" }),
        )
        .await;
    assert_eq!(
        method
            .error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("auth_method")
    );
}

async fn user_grant_life_cycle(store: TestStore) {
    let api = Api::start(store).await;
    let project = api.project(&api.org_id, "CRM").await;
    for key in ["sales", "support"] {
        api.post(
            &format!("/api/v1/projects/{project}/roles"),
            json!({ "key": key, "display_name": key }),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let user = api.human(&api.org_id, "sam").await;
    let grant = api
        .post(
            "/api/v1/user-grants",
            json!({ "user_id": user, "project_id": project, "role_keys": ["sales"] }),
        )
        .await
        .expect(StatusCode::CREATED)
        .id();
    api.post(
        "/api/v1/user-grants",
        json!({ "user_id": user, "project_id": project }),
    )
    .await
    .error(StatusCode::CONFLICT, "user_grant.already_exists");
    let unknown = api
        .put(
            &format!("/api/v1/user-grants/{grant}"),
            json!({ "role_keys": ["sales", "ghost"] }),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "user_grant.role_key.unknown");
    assert_eq!(unknown.as_deref(), Some("role_keys[1]"));
    api.put(
        &format!("/api/v1/user-grants/{grant}"),
        json!({ "role_keys": ["sales", "support"] }),
    )
    .await
    .expect(StatusCode::OK);
    api.post_empty(&format!("/api/v1/user-grants/{grant}/deactivate"))
        .await
        .expect(StatusCode::OK);
    api.post_empty(&format!("/api/v1/user-grants/{grant}/reactivate"))
        .await
        .expect(StatusCode::OK);
    api.delete(&format!("/api/v1/user-grants/{grant}"))
        .await
        .expect(StatusCode::OK);
    api.post(
        "/api/v1/user-grants",
        json!({ "user_id": user, "project_id": project }),
    )
    .await
    .expect(StatusCode::CREATED);

    // Through a project grant: a manager of the granted organization hands out the granted roles.
    let partner = api.org("Partner").await;
    let granted = api
        .post(
            &format!("/api/v1/projects/{project}/grants"),
            json!({ "granted_org_id": partner, "role_keys": ["support"] }),
        )
        .await
        .expect(StatusCode::CREATED);
    let project_grant = granted.body["grant_id"]
        .as_str()
        .expect("grant id")
        .to_owned();
    let (manager, token) = api.machine_with_token(&partner, "partner-admin").await;
    api.post(
        &format!("/api/v1/orgs/{partner}/members"),
        json!({ "user_id": manager, "roles": ["ORG_USER_MANAGER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let partner_user = api.human(&partner, "pat").await;
    let through = json!({
        "user_id": partner_user, "project_id": project, "project_grant_id": project_grant, "role_keys": ["support"]
    });
    api.call_as(&token, Method::POST, "/api/v1/user-grants", Some(through))
        .await
        .expect(StatusCode::CREATED);
    let direct =
        json!({ "user_id": partner_user, "project_id": project, "role_keys": ["support"] });
    // The granting organization's project itself is out of the partner's sight.
    api.call_as(&token, Method::POST, "/api/v1/user-grants", Some(direct))
        .await
        .error(StatusCode::NOT_FOUND, "project.not_found");
}

async fn instance_settings_and_members(store: TestStore) {
    let api = Api::start(store).await;
    api.put(
        "/api/v1/instance/policies/password-complexity",
        json!({ "min_length": 10, "has_uppercase": false, "has_lowercase": true, "has_number": false, "has_symbol": false }),
    )
    .await
    .expect(StatusCode::OK);
    api.put(
        "/api/v1/instance/policies/lockout",
        json!({ "max_password_attempts": 5, "show_lockout_failures": true }),
    )
    .await
    .expect(StatusCode::OK);
    api.put(
        "/api/v1/instance/policies/login",
        json!({
            "allow_username_password": true, "allow_register": true, "allow_external_idp": false,
            "force_mfa": false, "hide_password_reset": false, "ignore_unknown_usernames": true,
            "default_redirect_uri": "https://portal.example.com/",
        }),
    )
    .await
    .expect(StatusCode::OK);
    let field = api
        .put(
            "/api/v1/instance/policies/login",
            json!({
                "allow_username_password": false, "allow_register": true, "allow_external_idp": false,
                "force_mfa": false, "hide_password_reset": false, "ignore_unknown_usernames": true,
            }),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "policy.login.no_login_method");
    assert_eq!(field.as_deref(), Some("allow_username_password"));
    api.post(
        "/api/v1/instance/domains",
        json!({ "domain": "iam.example.com" }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.post_empty("/api/v1/instance/domains/iam.example.com/primary")
        .await
        .expect(StatusCode::OK);
    api.delete("/api/v1/instance/domains/localhost")
        .await
        .expect(StatusCode::OK);
    api.delete("/api/v1/instance/domains/iam.example.com")
        .await
        .error(StatusCode::CONFLICT, "instance.domain.primary");

    // The new policy applies to passwords of users of organizations without an override.
    let weak = api
        .post(
            "/api/v1/users/human",
            json!({
                "org_id": api.org_id, "login_name": "newbie", "given_name": "N", "family_name": "B",
                "email": "n@example.com", "password": "short-pw",
            }),
        )
        .await;
    assert_eq!(
        weak.error(StatusCode::BAD_REQUEST, "password.too_short")
            .as_deref(),
        Some("password")
    );

    let user = api.human(&api.org_id, "viewer").await;
    api.post(
        "/api/v1/instance/members",
        json!({ "user_id": user, "roles": ["IAM_OWNER_VIEWER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    api.put(
        &format!("/api/v1/instance/members/{user}"),
        json!({ "roles": ["IAM_USER_MANAGER"] }),
    )
    .await
    .expect(StatusCode::OK);
    api.delete(&format!("/api/v1/instance/members/{user}"))
        .await
        .expect(StatusCode::OK);
    api.delete(&format!("/api/v1/instance/members/{}", api.admin_id))
        .await
        .error(StatusCode::CONFLICT, "instance.last_owner");

    let instance = api
        .commands
        .load::<Instance>(&api.instance_id, &api.instance_id)
        .await
        .expect("load");
    assert_eq!(instance.state.domains, vec!["iam.example.com".to_owned()]);
    assert_eq!(instance.state.policies.password_complexity.min_length, 10);
    assert!(instance.state.policies.login.allow_register);
}

async fn missing_or_invalid_token_is_401(store: TestStore) {
    let api = Api::start(store).await;
    let body = || Some(json!({ "name": "Nope" }));
    let missing = api
        .raw(
            Method::POST,
            "/api/v1/orgs",
            None,
            Some("application/json"),
            b"{}".to_vec(),
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="warden""#
    );
    let message = missing.body["message"].clone();

    let (bot, token) = api.machine_with_token(&api.org_id, "bot").await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('a') { 'b' } else { 'a' });
    let basic = api
        .raw(
            Method::POST,
            "/api/v1/orgs",
            None,
            Some("application/json"),
            b"{}".to_vec(),
            &[("authorization", "Basic dXNlcjpwYXNz")],
        )
        .await;
    let mut replies = vec![basic];
    for token in ["garbage", "wdn_pat_a_b_c", tampered.as_str()] {
        replies.push(
            api.call_as(token, Method::POST, "/api/v1/orgs", body())
                .await,
        );
    }
    api.post_empty(&format!("/api/v1/users/{bot}/deactivate"))
        .await
        .expect(StatusCode::OK);
    replies.push(
        api.call_as(&token, Method::POST, "/api/v1/orgs", body())
            .await,
    );
    for reply in replies {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:#}", reply.body);
        assert_eq!(
            reply.headers[header::WWW_AUTHENTICATE],
            r#"Bearer realm="warden", error="invalid_token""#
        );
        assert_eq!(reply.body["code"], "unauthenticated");
        assert_eq!(
            reply.body["message"], message,
            "one message for every authentication failure"
        );
    }
    // Unauthenticated requests learn nothing about their input.
    let malformed = api
        .raw(
            Method::POST,
            "/api/v1/orgs",
            None,
            Some("application/json"),
            b"{".to_vec(),
            &[],
        )
        .await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
}

async fn org_owner_is_confined_to_its_org(store: TestStore) {
    let api = Api::start(store).await;
    let acme = api.org("Acme").await;
    let globex = api.org("Globex").await;
    let (owner, token) = api.machine_with_token(&acme, "acme-owner").await;
    api.post(
        &format!("/api/v1/orgs/{acme}/members"),
        json!({ "user_id": owner, "roles": ["ORG_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let globex_user = api.human(&globex, "gus").await;

    let as_owner = |method: Method, path: String, body: Option<Value>| {
        let api = &api;
        let token = token.clone();
        async move { api.call_as(&token, method, &path, body).await }
    };
    let user = |org: &str, login: &str| json!({ "org_id": org, "login_name": login, "given_name": "A", "family_name": "B", "email": "a@example.com" });
    // Allowed in its own organization.
    let own = as_owner(
        Method::POST,
        "/api/v1/users/human".into(),
        Some(user(&acme, "alice")),
    )
    .await;
    let alice = own.expect(StatusCode::CREATED).id();
    as_owner(Method::POST, format!("/api/v1/users/{alice}/lock"), None)
        .await
        .expect(StatusCode::OK);
    as_owner(
        Method::PUT,
        format!("/api/v1/orgs/{acme}"),
        Some(json!({ "name": "Acme Inc" })),
    )
    .await
    .expect(StatusCode::OK);
    let project = as_owner(
        Method::POST,
        "/api/v1/projects".into(),
        Some(json!({ "org_id": acme, "name": "P" })),
    )
    .await
    .expect(StatusCode::CREATED)
    .id();
    as_owner(
        Method::POST,
        format!("/api/v1/projects/{project}/roles"),
        Some(json!({ "key": "r", "display_name": "R" })),
    )
    .await
    .expect(StatusCode::CREATED);

    // Denied in the other organization, whatever the resource.
    let before = api.event_count().await;
    let denied = [
        as_owner(
            Method::POST,
            "/api/v1/users/human".into(),
            Some(user(&globex, "mallory")),
        )
        .await,
        as_owner(
            Method::POST,
            format!("/api/v1/users/{globex_user}/lock"),
            None,
        )
        .await,
        as_owner(Method::DELETE, format!("/api/v1/users/{globex_user}"), None).await,
        as_owner(
            Method::PUT,
            format!("/api/v1/orgs/{globex}"),
            Some(json!({ "name": "Mine" })),
        )
        .await,
        as_owner(Method::DELETE, format!("/api/v1/orgs/{globex}"), None).await,
        as_owner(
            Method::POST,
            format!("/api/v1/orgs/{globex}/members"),
            Some(json!({ "user_id": owner, "roles": ["ORG_OWNER"] })),
        )
        .await,
        as_owner(
            Method::POST,
            "/api/v1/projects".into(),
            Some(json!({ "org_id": globex, "name": "P" })),
        )
        .await,
        as_owner(
            Method::POST,
            "/api/v1/orgs".into(),
            Some(json!({ "name": "Own empire" })),
        )
        .await,
        as_owner(
            Method::POST,
            "/api/v1/instance/members".into(),
            Some(json!({ "user_id": owner, "roles": ["IAM_OWNER"] })),
        )
        .await,
        as_owner(
            Method::POST,
            format!("/api/v1/orgs/{acme}/domains/acme.example/verify"),
            None,
        )
        .await,
        as_owner(Method::GET, format!("/api/v1/events?org_id={globex}"), None).await,
    ];
    // Resources of the other organization answer as if they did not exist; the instance's own
    // operations are visible to everyone and refused with 403.
    let expected = [
        (StatusCode::NOT_FOUND, "org.not_found"),
        (StatusCode::NOT_FOUND, "user.not_found"),
        (StatusCode::NOT_FOUND, "user.not_found"),
        (StatusCode::NOT_FOUND, "org.not_found"),
        (StatusCode::NOT_FOUND, "org.not_found"),
        (StatusCode::NOT_FOUND, "org.not_found"),
        (StatusCode::NOT_FOUND, "org.not_found"),
        (StatusCode::FORBIDDEN, "authz.permission_denied"),
        (StatusCode::FORBIDDEN, "authz.permission_denied"),
        (StatusCode::FORBIDDEN, "authz.permission_denied"),
        // The other organization's audit trail: that organization is out of sight.
        (StatusCode::NOT_FOUND, "org.not_found"),
    ];
    for (reply, (status, code)) in denied.into_iter().zip(expected) {
        reply.error(status, code);
    }
    assert_eq!(api.event_count().await, before, "nothing stored");
}

async fn wrong_role_is_403(store: TestStore) {
    let api = Api::start(store).await;
    let tenant = api.org("Tenant").await;
    let (manager, token) = api.machine_with_token(&tenant, "user-manager").await;
    api.post(
        &format!("/api/v1/orgs/{tenant}/members"),
        json!({ "user_id": manager, "roles": ["ORG_USER_MANAGER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let user = json!({
        "org_id": tenant, "login_name": "u1", "given_name": "A", "family_name": "B", "email": "u1@example.com"
    });
    api.call_as(&token, Method::POST, "/api/v1/users/human", Some(user))
        .await
        .expect(StatusCode::CREATED);
    api.call_as(
        &token,
        Method::POST,
        "/api/v1/projects",
        Some(json!({ "org_id": tenant, "name": "P" })),
    )
    .await
    .error(StatusCode::FORBIDDEN, "authz.permission_denied");
    api.call_as(
        &token,
        Method::DELETE,
        &format!("/api/v1/orgs/{tenant}"),
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "authz.permission_denied");

    let project = api.project(&tenant, "Owned").await;
    let other = api.project(&tenant, "Other").await;
    let (owner, owner_token) = api.machine_with_token(&tenant, "project-owner").await;
    api.post(
        &format!("/api/v1/projects/{project}/members"),
        json!({ "user_id": owner, "roles": ["PROJECT_OWNER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let role = json!({ "key": "editor", "display_name": "Editor" });
    api.call_as(
        &owner_token,
        Method::POST,
        &format!("/api/v1/projects/{project}/roles"),
        Some(role.clone()),
    )
    .await
    .expect(StatusCode::CREATED);
    api.call_as(
        &owner_token,
        Method::POST,
        &format!("/api/v1/projects/{other}/roles"),
        Some(role),
    )
    .await
    .error(StatusCode::NOT_FOUND, "project.not_found");
    // Users of the organization are outside a project owner's sight: 404, as for a missing user.
    let hidden = api
        .call_as(
            &owner_token,
            Method::POST,
            &format!("/api/v1/users/{manager}/lock"),
            None,
        )
        .await;
    let missing = api
        .call_as(
            &owner_token,
            Method::POST,
            "/api/v1/users/no-such-user/lock",
            None,
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        hidden.body, missing.body,
        "the same answer as a missing user"
    );
}

async fn bad_input_is_4xx_and_stores_nothing(store: TestStore) {
    let api = Api::start(store).await;
    let taken = api.human(&api.org_id, "taken").await;
    let before = api.event_count().await;
    let json_body = |body: &str| body.as_bytes().to_vec();
    let post_raw = |path: &'static str, content_type: Option<&'static str>, body: Vec<u8>| {
        let api = &api;
        async move {
            api.raw(
                Method::POST,
                path,
                Some(&api.token),
                content_type,
                body,
                &[],
            )
            .await
        }
    };
    let ct = Some("application/json");

    post_raw("/api/v1/orgs", ct, json_body(r#"{"name": "x""#))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_json");
    post_raw("/api/v1/orgs", ct, json_body("not json"))
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_json");
    let unknown = post_raw(
        "/api/v1/orgs",
        ct,
        json_body(r#"{"name": "x", "owner": "me"}"#),
    )
    .await;
    assert_eq!(
        unknown
            .error(StatusCode::BAD_REQUEST, "unknown_field")
            .as_deref(),
        Some("owner")
    );
    let missing = post_raw("/api/v1/orgs", ct, json_body("{}")).await;
    assert_eq!(
        missing
            .error(StatusCode::BAD_REQUEST, "missing_field")
            .as_deref(),
        Some("name")
    );
    let wrong_type = post_raw("/api/v1/orgs", ct, json_body(r#"{"name": 42}"#)).await;
    assert_eq!(
        wrong_type
            .error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("name")
    );
    post_raw("/api/v1/orgs", None, json_body(r#"{"name": "x"}"#))
        .await
        .error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    post_raw(
        "/api/v1/orgs",
        Some("text/plain"),
        json_body(r#"{"name": "x"}"#),
    )
    .await
    .error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    post_raw("/api/v1/orgs", ct, huge.into_bytes())
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let long = api
        .post("/api/v1/orgs", json!({ "name": "x".repeat(201) }))
        .await;
    assert_eq!(
        long.error(StatusCode::BAD_REQUEST, "org.name.too_long")
            .as_deref(),
        Some("name")
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    post_raw("/api/v1/orgs", ct, deep.into_bytes())
        .await
        .error(StatusCode::BAD_REQUEST, "invalid_json");
    let deep_object = format!(
        r#"{{"name": {}"x"{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        post_raw("/api/v1/orgs", ct, deep_object.into_bytes())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let human = |login: &str, email: &str| json!({ "org_id": api.org_id, "login_name": login, "given_name": "A", "family_name": "B", "email": email });
    let email = api
        .post("/api/v1/users/human", human("new", "not-an-email"))
        .await;
    assert_eq!(
        email
            .error(StatusCode::BAD_REQUEST, "user.email.invalid")
            .as_deref(),
        Some("email")
    );
    let duplicate = api
        .post("/api/v1/users/human", human("TAKEN", "t@example.com"))
        .await;
    assert_eq!(
        duplicate
            .error(StatusCode::CONFLICT, "user.login_name.taken")
            .as_deref(),
        Some("login_name")
    );
    let org_missing = json!({
        "org_id": "no-such-org", "login_name": "x", "given_name": "A", "family_name": "B", "email": "x@example.com"
    });
    api.post("/api/v1/users/human", org_missing)
        .await
        .error(StatusCode::NOT_FOUND, "org.not_found");
    let language = json!({ "min_length": 70000, "has_uppercase": true, "has_lowercase": true, "has_number": true, "has_symbol": true });
    let range = api
        .put("/api/v1/instance/policies/password-complexity", language)
        .await;
    assert_eq!(
        range
            .error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("min_length")
    );

    let project = api.project(&api.org_id, "Apps").await;
    let before_apps = api.event_count().await;
    let relative = api
        .post(
            &format!("/api/v1/projects/{project}/apps/oidc"),
            json!({ "name": "x", "app_type": "web", "redirect_uris": ["/callback"], "auth_method": "basic" }),
        )
        .await;
    assert_eq!(
        relative
            .error(
                StatusCode::BAD_REQUEST,
                "application.redirect_uri.not_absolute"
            )
            .as_deref(),
        Some("redirect_uris[0]")
    );
    let variant = api
        .post(
            &format!("/api/v1/projects/{project}/apps/oidc"),
            json!({ "name": "x", "app_type": "desktop", "redirect_uris": [], "auth_method": "basic" }),
        )
        .await;
    assert_eq!(
        variant
            .error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("app_type")
    );
    api.post(
        &format!("/api/v1/users/{taken}/pats"),
        json!({ "expires_at": "tomorrow" }),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "invalid_timestamp");
    api.post_empty("/api/v1/users/no-such-user/lock")
        .await
        .error(StatusCode::NOT_FOUND, "user.not_found");
    api.delete(&format!("/api/v1/orgs/{}/policies/nonsense", api.org_id))
        .await
        .error(StatusCode::NOT_FOUND, "route.not_found");
    let nul = api
        .put(
            &format!("/api/v1/users/{taken}/metadata/note"),
            json!({ "value": "a\u{0}b" }),
        )
        .await;
    assert_eq!(
        nul.error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("value")
    );
    let nul = api.post_empty("/api/v1/users/abc%00def/lock").await;
    assert_eq!(
        nul.error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("user_id")
    );
    let nul = api.get("/api/v1/events?event_type=a%00b").await;
    assert_eq!(
        nul.error(StatusCode::BAD_REQUEST, "invalid_field")
            .as_deref(),
        Some("event_type")
    );
    api.post_empty(&format!("/api/v1/users/{}/lock", "x".repeat(5000)))
        .await
        .error(StatusCode::NOT_FOUND, "user.not_found");
    api.get("/api/v1/nothing-here")
        .await
        .error(StatusCode::NOT_FOUND, "route.not_found");
    api.call(Method::PATCH, "/api/v1/orgs", None)
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED, "method.not_allowed");
    let if_match = api
        .raw(
            Method::POST,
            &format!("/api/v1/users/{taken}/lock"),
            Some(&api.token),
            None,
            Vec::new(),
            &[("if-match", "soon")],
        )
        .await;
    assert_eq!(
        if_match
            .error(StatusCode::BAD_REQUEST, "invalid_if_match")
            .as_deref(),
        Some("If-Match")
    );
    assert_eq!(
        api.event_count().await,
        before_apps,
        "nothing stored after any error"
    );
    assert_eq!(before_apps, before + 1, "only the project was stored");
}

async fn stale_state_is_409(store: TestStore) {
    let api = Api::start(store).await;
    let user = api.human(&api.org_id, "stale").await;
    let path = format!("/api/v1/users/{user}/lock");
    let stale = api
        .raw(
            Method::POST,
            &path,
            Some(&api.token),
            None,
            Vec::new(),
            &[("if-match", "\"7\"")],
        )
        .await;
    assert_eq!(
        stale.error(StatusCode::CONFLICT, "stale_state").as_deref(),
        Some("If-Match")
    );
    let locked = api
        .raw(
            Method::POST,
            &path,
            Some(&api.token),
            None,
            Vec::new(),
            &[("if-match", "\"1\"")],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(locked.headers[header::ETAG], "\"2\"");
    api.raw(
        Method::POST,
        &format!("/api/v1/users/{user}/unlock"),
        Some(&api.token),
        None,
        Vec::new(),
        &[("if-match", "\"1\"")],
    )
    .await
    .error(StatusCode::CONFLICT, "stale_state");
}

async fn concurrent_creates_of_one_login_name(store: TestStore) {
    let api = std::sync::Arc::new(Api::start(store).await);
    let before = api.event_count().await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                api.post(
                    "/api/v1/users/human",
                    json!({
                        "org_id": api.org_id, "login_name": "same-name", "given_name": "N", "family_name": "O",
                        "email": format!("n{i}@example.com"),
                    }),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    let mut conflicts = 0;
    for task in tasks {
        let reply = task.await.expect("task");
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(reply.body["code"], "user.login_name.taken");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {:#}", reply.body),
        }
    }
    assert_eq!((created, conflicts), (1, 15));
    assert_eq!(api.event_count().await, before + 1);
}

/// An organization manager of the instance manages organization members but does not read the audit
/// trail: it cannot make anyone, itself included, `ORG_OWNER` (which reads it), neither by adding nor by
/// changing a membership; nothing is stored. It can still give the roles it covers.
async fn roles_are_given_only_within_the_givers_privileges(store: TestStore) {
    let api = Api::start(store).await;
    let acme = api.org("Acme").await;
    let (manager, token) = api.machine_with_token(&acme, "org-manager").await;
    api.post(
        "/api/v1/instance/members",
        json!({ "user_id": manager, "roles": ["IAM_ORG_MANAGER"] }),
    )
    .await
    .expect(StatusCode::CREATED);
    let members = format!("/api/v1/orgs/{acme}/members");
    let before = api.event_count().await;
    api.call_as(
        &token,
        Method::POST,
        &members,
        Some(json!({ "user_id": manager, "roles": ["ORG_OWNER"] })),
    )
    .await
    .error(StatusCode::FORBIDDEN, "authz.role_beyond_own");
    assert_eq!(api.event_count().await, before, "nothing stored");

    api.call_as(
        &token,
        Method::POST,
        &members,
        Some(json!({ "user_id": manager, "roles": ["ORG_USER_MANAGER"] })),
    )
    .await
    .expect(StatusCode::CREATED);
    let before = api.event_count().await;
    api.call_as(
        &token,
        Method::PUT,
        &format!("{members}/{manager}"),
        Some(json!({ "roles": ["ORG_OWNER"] })),
    )
    .await
    .error(StatusCode::FORBIDDEN, "authz.role_beyond_own");
    assert_eq!(api.event_count().await, before, "nothing stored");
    api.call_as(&token, Method::GET, "/api/v1/events?limit=1", None)
        .await
        .error(StatusCode::FORBIDDEN, "authz.permission_denied");
}
