//! The authorization matrix: every route of the API's endpoint table (as `/openapi.json` lists it, the plugin
//! endpoints included), called by every kind of caller, against the expected status. A route without a row
//! fails the test.
//!
//! Each row names a route, what the target resources need to be (a fresh organization `A` with its own
//! resources is set up for every call that is expected to change something), and one status per caller
//! kind, in the order of [`CALLERS`]: `2` a 2xx, `3` 403, `4` 404 (the same answer as a missing id), `9` 409,
//! `1` 401. Refused calls must store nothing.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::Api;
use warden_eventstore::both_backends;
use warden_eventstore::testing::TestStore;

both_backends!(every_route_answers_every_caller_as_the_matrix_says);

/// Whether the owner of a removed organization still authenticates. Its memberships authorize nothing
/// either way (its column equals a user without roles); once authentication refuses users of removed
/// organizations, set this to `false` and every authenticated route answers it 401.
const REMOVED_ORG_OWNER_AUTHENTICATES: bool = false;

/// The column of the owner of a removed organization.
const REMOVED_ORG_OWNER: usize = 7;

/// The caller kinds, in the order of a row's expected statuses.
const CALLERS: [&str; 9] = [
    "IAM_OWNER",
    "IAM_USER_MANAGER",
    "ORG_OWNER of the target's organization",
    "ORG_OWNER of another organization",
    "ORG_USER_MANAGER of the target's organization",
    "PROJECT_OWNER of the target's project",
    "a user without roles",
    "the ORG_OWNER of a removed organization",
    "a locked user",
];

// What a row's target organization `A` is set up with (besides its ORG_OWNER and ORG_USER_MANAGER).
/// A human user `U` with a phone number and the metadata entry `k`.
const USER: u32 = 1;
/// A machine user `M` with a key, a personal access token and a client secret.
const MACHINE: u32 = 1 << 1;
/// A machine user and a human user of `A` that are `ORG_OWNER` of the other organization `B`.
const PRIVILEGED: u32 = 1 << 2;
/// A project `P` with roles `r` and `r2`, whose `PROJECT_OWNER` is the project owner caller.
const PROJECT: u32 = 1 << 3;
/// An OIDC application (client secret: basic) in `P`.
const APP: u32 = 1 << 4;
/// An API application in `P`.
const API_APP: u32 = 1 << 5;
/// A user grant of `U` on `P` with role `r`.
const GRANT: u32 = 1 << 6;
/// A grant of `P` to `B` with role `r`.
const PROJECT_GRANT: u32 = 1 << 7;
/// An unverified domain `u.<n>.example` and a verified one `v.<n>.example` of `A`.
const ORG_DOMAINS: u32 = 1 << 8;
/// `U` is a member of `A` (`ORG_OWNER_VIEWER`).
const ORG_MEMBER: u32 = 1 << 9;
/// `U` is a member of `P` (`PROJECT_OWNER_VIEWER`).
const PROJECT_MEMBER: u32 = 1 << 10;
/// `U` is an instance member (`IAM_OWNER_VIEWER`).
const INSTANCE_MEMBER: u32 = 1 << 11;
/// A domain `i.<n>.example` of the instance.
const INSTANCE_DOMAIN: u32 = 1 << 12;
/// `A` overrides every policy.
const POLICIES: u32 = 1 << 13;
/// `A` is deactivated.
const ORG_OFF: u32 = 1 << 14;
/// `P` is deactivated.
const PROJECT_OFF: u32 = 1 << 15;
/// The OIDC application is deactivated.
const APP_OFF: u32 = 1 << 16;
/// The user grant is deactivated.
const GRANT_OFF: u32 = 1 << 17;
/// `U` is deactivated.
const USER_OFF: u32 = 1 << 18;
/// `U` is locked.
const USER_LOCKED: u32 = 1 << 19;
/// `U` (with [`USER`]) and the privileged human (with [`PRIVILEGED`]) have an authenticator app enrolled.
const OTP: u32 = 1 << 20;
/// A validator plugin of the instance, bound to `user.human.add` in `A`.
const PLUGIN: u32 = 1 << 21;
/// The API application (with [`API_APP`]) has a public key.
const APP_KEY: u32 = 1 << 22;

/// The resources of one call's target organization `A`.
#[derive(Debug, Default, Clone)]
struct Scene {
    n: usize,
    org: String,
    user: String,
    machine: String,
    key_id: String,
    token_id: String,
    privileged_machine: String,
    privileged_token_id: String,
    privileged_human: String,
    project: String,
    app: String,
    api_app: String,
    app_key_id: String,
    grant: String,
    project_grant: String,
    plugin: String,
    plugin_digest: String,
    binding: String,
}

/// A caller of one kind.
#[derive(Debug, Clone)]
struct Caller {
    id: String,
    token: String,
}

/// The callers and the resources every scene shares.
struct World {
    api: Api,
    callers: Vec<Caller>,
    owner_a: String,
    user_manager_a: String,
    project_owner: String,
    other_org: String,
}

/// What a call sends.
enum Payload {
    None,
    Json(Value),
    /// A plugin component (`application/wasm`).
    Component,
}

type Call = fn(&Scene, &World, &Caller) -> (String, Payload);

struct Row {
    method: Method,
    route: &'static str,
    needs: u32,
    expect: &'static str,
    call: Call,
}

macro_rules! row {
    ($method:ident $route:literal, $needs:expr, $expect:literal, |$s:ident, $w:ident, $c:ident| $call:expr) => {
        Row {
            method: Method::$method,
            route: $route,
            needs: $needs,
            expect: $expect,
            call: |$s: &Scene, $w: &World, $c: &Caller| {
                let _ = (&$s, &$w, &$c);
                $call
            },
        }
    };
}

const PEM: &str =
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----";

fn password_policy() -> Value {
    json!({ "min_length": 10, "has_uppercase": false, "has_lowercase": true, "has_number": false, "has_symbol": false })
}

fn lockout_policy() -> Value {
    json!({ "max_password_attempts": 5, "show_lockout_failures": true })
}

fn login_policy() -> Value {
    json!({
        "allow_username_password": true, "allow_register": true, "allow_external_idp": false,
        "force_mfa": false, "hide_password_reset": false, "ignore_unknown_usernames": true,
    })
}

fn none(path: String) -> (String, Payload) {
    (path, Payload::None)
}

fn body(path: String, body: Value) -> (String, Payload) {
    (path, Payload::Json(body))
}

fn component(path: String) -> (String, Payload) {
    (path, Payload::Component)
}

/// The plugin of the rows: a validator of email domains.
fn plugin_bytes() -> Vec<u8> {
    warden_plugin_fixtures::bytes(warden_plugin_fixtures::EMAIL_DOMAINS)
}

/// A binding of the plugin to `user.human.add` in `A`.
fn binding(s: &Scene, allowed: &str) -> Value {
    json!({
        "target": { "kind": "validator", "command_types": ["user.human.add"] },
        "org_id": s.org,
        "config": { "allowed_domains": allowed },
    })
}

/// A sample the plugin decides on.
fn validator_sample() -> Value {
    json!({
        "input": {
            "command": {
                "command_type": "user.human.add",
                "instance_id": "inst-1",
                "org_id": "org-1",
                "aggregate_type": "user",
                "aggregate_id": "user-1",
                "actor": { "user_id": "admin-1" },
                "payload": { "add_human_user": { "username": "ada", "email": "ada@example.com" } }
            },
            "state": null,
            "events": []
        }
    })
}

/// Every row. Statuses: IAM_OWNER, IAM_USER_MANAGER, ORG_OWNER(A), ORG_OWNER(B), ORG_USER_MANAGER(A),
/// PROJECT_OWNER(P), no roles, owner of a removed org, locked.
fn rows() -> Vec<Row> {
    vec![
        // The document itself is public.
        row!(GET "/openapi.json", 0, "222222222", |s, w, c| none("/openapi.json".into())),
        // The instance: visible to everyone, changed by instance roles only.
        row!(GET "/api/v1/instance", 0, "223333331", |s, w, c| none("/api/v1/instance".into())),
        row!(GET "/api/v1/instance/domains", 0, "223333331", |s, w, c| none("/api/v1/instance/domains".into())),
        row!(GET "/api/v1/instance/members", 0, "233333331", |s, w, c| none("/api/v1/instance/members".into())),
        row!(GET "/api/v1/instance/policies", 0, "233333331", |s, w, c| none("/api/v1/instance/policies".into())),
        row!(GET "/api/v1/events", 0, "232434441", |s, w, c| none(format!("/api/v1/events?limit=1&org_id={}", s.org))),
        row!(GET "/api/v1/projections", 0, "233333331", |s, w, c| none("/api/v1/projections".into())),
        row!(POST "/api/v1/projections/{name}/rebuild", 0, "233333331", |s, w, c| none("/api/v1/projections/instances/rebuild".into())),
        row!(PUT "/api/v1/instance/policies/password-complexity", 0, "233333331", |s, w, c| body("/api/v1/instance/policies/password-complexity".into(), password_policy())),
        row!(PUT "/api/v1/instance/policies/lockout", 0, "233333331", |s, w, c| body("/api/v1/instance/policies/lockout".into(), lockout_policy())),
        row!(PUT "/api/v1/instance/policies/login", 0, "233333331", |s, w, c| body("/api/v1/instance/policies/login".into(), login_policy())),
        row!(POST "/api/v1/instance/domains", 0, "233333331", |s, w, c| body("/api/v1/instance/domains".into(), json!({ "domain": format!("new.{}.example", s.n) }))),
        row!(POST "/api/v1/instance/domains/{domain}/primary", INSTANCE_DOMAIN, "233333331", |s, w, c| none(format!("/api/v1/instance/domains/i.{}.example/primary", s.n))),
        row!(DELETE "/api/v1/instance/domains/{domain}", INSTANCE_DOMAIN, "233333331", |s, w, c| none(format!("/api/v1/instance/domains/i.{}.example", s.n))),
        row!(POST "/api/v1/instance/members", USER, "233333331", |s, w, c| body("/api/v1/instance/members".into(), json!({ "user_id": s.user, "roles": ["IAM_OWNER_VIEWER"] }))),
        row!(PUT "/api/v1/instance/members/{user_id}", USER | INSTANCE_MEMBER, "233333331", |s, w, c| body(format!("/api/v1/instance/members/{}", s.user), json!({ "roles": ["IAM_USER_MANAGER"] }))),
        row!(DELETE "/api/v1/instance/members/{user_id}", USER | INSTANCE_MEMBER, "233333331", |s, w, c| none(format!("/api/v1/instance/members/{}", s.user))),
        // The last active IAM_OWNER stays.
        row!(DELETE "/api/v1/instance/members/{user_id}", 0, "933333331", |s, w, c| none(format!("/api/v1/instance/members/{}", w.api.admin_id))),
        row!(PUT "/api/v1/instance/members/{user_id}", 0, "933333331", |s, w, c| body(format!("/api/v1/instance/members/{}", w.api.admin_id), json!({ "roles": ["IAM_OWNER_VIEWER"] }))),
        // Organizations.
        row!(GET "/api/v1/orgs", 0, "223233331", |s, w, c| none("/api/v1/orgs".into())),
        row!(POST "/api/v1/orgs", 0, "233333331", |s, w, c| body("/api/v1/orgs".into(), json!({ "name": format!("New org {}", s.n) }))),
        row!(GET "/api/v1/orgs/{org_id}", 0, "222424441", |s, w, c| none(format!("/api/v1/orgs/{}", s.org))),
        row!(GET "/api/v1/orgs/{org_id}/domains", 0, "222424441", |s, w, c| none(format!("/api/v1/orgs/{}/domains", s.org))),
        row!(GET "/api/v1/orgs/{org_id}/members", 0, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/members", s.org))),
        row!(GET "/api/v1/orgs/{org_id}/policies", 0, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/policies", s.org))),
        row!(PUT "/api/v1/orgs/{org_id}", 0, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}", s.org), json!({ "name": format!("Renamed {}", s.n) }))),
        row!(POST "/api/v1/orgs/{org_id}/deactivate", 0, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/deactivate", s.org))),
        row!(DELETE "/api/v1/orgs/{org_id}", 0, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}", s.org))),
        // A deactivated organization: its memberships authorize nothing, so only instance roles bring it back.
        row!(POST "/api/v1/orgs/{org_id}/reactivate", ORG_OFF, "234444441", |s, w, c| none(format!("/api/v1/orgs/{}/reactivate", s.org))),
        row!(GET "/api/v1/orgs/{org_id}", ORG_OFF, "224444441", |s, w, c| none(format!("/api/v1/orgs/{}", s.org))),
        row!(PUT "/api/v1/users/{user_id}/profile", USER | ORG_OFF, "224444441", |s, w, c| body(format!("/api/v1/users/{}/profile", s.user), json!({ "given_name": "G", "family_name": "F" }))),
        row!(POST "/api/v1/orgs/{org_id}/domains", 0, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}/domains", s.org), json!({ "domain": format!("new.{}.example", s.n) }))),
        // Verifying a domain is an instance administrator's statement.
        row!(POST "/api/v1/orgs/{org_id}/domains/{domain}/verify", ORG_DOMAINS, "233333331", |s, w, c| none(format!("/api/v1/orgs/{}/domains/u.{}.example/verify", s.org, s.n))),
        row!(POST "/api/v1/orgs/{org_id}/domains/{domain}/primary", ORG_DOMAINS, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/domains/v.{}.example/primary", s.org, s.n))),
        row!(DELETE "/api/v1/orgs/{org_id}/domains/{domain}", ORG_DOMAINS, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/domains/u.{}.example", s.org, s.n))),
        row!(PUT "/api/v1/orgs/{org_id}/policies/password-complexity", 0, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}/policies/password-complexity", s.org), password_policy())),
        row!(PUT "/api/v1/orgs/{org_id}/policies/lockout", 0, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}/policies/lockout", s.org), lockout_policy())),
        row!(PUT "/api/v1/orgs/{org_id}/policies/login", 0, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}/policies/login", s.org), login_policy())),
        row!(DELETE "/api/v1/orgs/{org_id}/policies/password-complexity", POLICIES, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/policies/password-complexity", s.org))),
        row!(DELETE "/api/v1/orgs/{org_id}/policies/lockout", POLICIES, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/policies/lockout", s.org))),
        row!(DELETE "/api/v1/orgs/{org_id}/policies/login", POLICIES, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/policies/login", s.org))),
        row!(POST "/api/v1/orgs/{org_id}/members", USER, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}/members", s.org), json!({ "user_id": s.user, "roles": ["ORG_OWNER_VIEWER"] }))),
        row!(PUT "/api/v1/orgs/{org_id}/members/{user_id}", USER | ORG_MEMBER, "232434441", |s, w, c| body(format!("/api/v1/orgs/{}/members/{}", s.org, s.user), json!({ "roles": ["ORG_USER_MANAGER"] }))),
        row!(DELETE "/api/v1/orgs/{org_id}/members/{user_id}", USER | ORG_MEMBER, "232434441", |s, w, c| none(format!("/api/v1/orgs/{}/members/{}", s.org, s.user))),
        // Users.
        row!(GET "/api/v1/users", 0, "223233331", |s, w, c| none("/api/v1/users".into())),
        row!(POST "/api/v1/users/human", 0, "222424441", |s, w, c| body("/api/v1/users/human".into(), json!({ "org_id": s.org, "login_name": format!("h{}", s.n), "given_name": "A", "family_name": "B", "email": format!("h{}@example.com", s.n) }))),
        row!(POST "/api/v1/users/machine", 0, "222424441", |s, w, c| body("/api/v1/users/machine".into(), json!({ "org_id": s.org, "login_name": format!("m{}", s.n), "name": "M" }))),
        row!(GET "/api/v1/users/{user_id}", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}", s.user))),
        row!(GET "/api/v1/users/{user_id}/metadata", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/metadata", s.user))),
        row!(GET "/api/v1/users/{user_id}/memberships", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/memberships", s.user))),
        row!(GET "/api/v1/users/{user_id}/keys", MACHINE, "222424441", |s, w, c| none(format!("/api/v1/users/{}/keys", s.machine))),
        row!(GET "/api/v1/users/{user_id}/pats", MACHINE, "222424441", |s, w, c| none(format!("/api/v1/users/{}/pats", s.machine))),
        row!(PUT "/api/v1/users/{user_id}/profile", USER, "222424441", |s, w, c| body(format!("/api/v1/users/{}/profile", s.user), json!({ "given_name": "G", "family_name": "F" }))),
        row!(PUT "/api/v1/users/{user_id}/email", USER, "222424441", |s, w, c| body(format!("/api/v1/users/{}/email", s.user), json!({ "email": format!("new{}@example.com", s.n) }))),
        row!(POST "/api/v1/users/{user_id}/email/verify", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/email/verify", s.user))),
        row!(POST "/api/v1/users/{user_id}/email/verify-code", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/email/verify-code", s.user))),
        row!(POST "/api/v1/users/{user_id}/password/reset", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/password/reset", s.user))),
        row!(DELETE "/api/v1/users/{user_id}/otp", USER | OTP, "222424441", |s, w, c| none(format!("/api/v1/users/{}/otp", s.user))),
        row!(PUT "/api/v1/users/{user_id}/phone", USER, "222424441", |s, w, c| body(format!("/api/v1/users/{}/phone", s.user), json!({ "phone": "+44 20 7946 0001" }))),
        row!(DELETE "/api/v1/users/{user_id}/phone", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/phone", s.user))),
        row!(PUT "/api/v1/users/{user_id}/password", USER, "222424441", |s, w, c| body(format!("/api/v1/users/{}/password", s.user), json!({ "password": "Difference-Engine-1822" }))),
        row!(POST "/api/v1/users/{user_id}/lock", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/lock", s.user))),
        row!(POST "/api/v1/users/{user_id}/unlock", USER | USER_LOCKED, "222424441", |s, w, c| none(format!("/api/v1/users/{}/unlock", s.user))),
        row!(POST "/api/v1/users/{user_id}/deactivate", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/deactivate", s.user))),
        row!(POST "/api/v1/users/{user_id}/reactivate", USER | USER_OFF, "222424441", |s, w, c| none(format!("/api/v1/users/{}/reactivate", s.user))),
        row!(DELETE "/api/v1/users/{user_id}", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}", s.user))),
        row!(PUT "/api/v1/users/{user_id}/metadata/{key}", USER, "222424441", |s, w, c| body(format!("/api/v1/users/{}/metadata/team/lead", s.user), json!({ "value": "v" }))),
        row!(DELETE "/api/v1/users/{user_id}/metadata/{key}", USER, "222424441", |s, w, c| none(format!("/api/v1/users/{}/metadata/k", s.user))),
        row!(PUT "/api/v1/users/{user_id}/machine", MACHINE, "222424441", |s, w, c| body(format!("/api/v1/users/{}/machine", s.machine), json!({ "name": "Renamed", "description": "" }))),
        row!(POST "/api/v1/users/{user_id}/keys", MACHINE, "222424441", |s, w, c| body(format!("/api/v1/users/{}/keys", s.machine), json!({ "public_key": PEM, "expires_at": "2099-01-01T00:00:00Z" }))),
        row!(DELETE "/api/v1/users/{user_id}/keys/{key_id}", MACHINE, "222424441", |s, w, c| none(format!("/api/v1/users/{}/keys/{}", s.machine, s.key_id))),
        row!(PUT "/api/v1/users/{user_id}/secret", MACHINE, "222424441", |s, w, c| body(format!("/api/v1/users/{}/secret", s.machine), json!({}))),
        row!(DELETE "/api/v1/users/{user_id}/secret", MACHINE, "222424441", |s, w, c| none(format!("/api/v1/users/{}/secret", s.machine))),
        row!(POST "/api/v1/users/{user_id}/pats", MACHINE, "222424441", |s, w, c| none(format!("/api/v1/users/{}/pats", s.machine))),
        row!(DELETE "/api/v1/users/{user_id}/pats/{token_id}", MACHINE, "222424441", |s, w, c| none(format!("/api/v1/users/{}/pats/{}", s.machine, s.token_id))),
        // A user manages its own tokens, while its organization is active.
        row!(POST "/api/v1/users/{user_id}/pats", 0, "222222241", |s, w, c| none(format!("/api/v1/users/{}/pats", c.id))),
        // Escalation through a more privileged user: a user of A who owns organization B.
        row!(POST "/api/v1/users/{user_id}/pats", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}/pats", s.privileged_machine))),
        row!(DELETE "/api/v1/users/{user_id}/pats/{token_id}", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}/pats/{}", s.privileged_machine, s.privileged_token_id))),
        row!(PUT "/api/v1/users/{user_id}/secret", PRIVILEGED, "233434441", |s, w, c| body(format!("/api/v1/users/{}/secret", s.privileged_machine), json!({}))),
        row!(POST "/api/v1/users/{user_id}/keys", PRIVILEGED, "233434441", |s, w, c| body(format!("/api/v1/users/{}/keys", s.privileged_machine), json!({ "public_key": PEM, "expires_at": "2099-01-01T00:00:00Z" }))),
        row!(PUT "/api/v1/users/{user_id}/password", PRIVILEGED, "233434441", |s, w, c| body(format!("/api/v1/users/{}/password", s.privileged_human), json!({ "password": "Difference-Engine-1822" }))),
        // The emailed codes and the second factor are credentials too.
        row!(POST "/api/v1/users/{user_id}/email/verify-code", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}/email/verify-code", s.privileged_human))),
        row!(POST "/api/v1/users/{user_id}/password/reset", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}/password/reset", s.privileged_human))),
        row!(DELETE "/api/v1/users/{user_id}/otp", PRIVILEGED | OTP, "233434441", |s, w, c| none(format!("/api/v1/users/{}/otp", s.privileged_human))),
        row!(POST "/api/v1/users/{user_id}/lock", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}/lock", s.privileged_machine))),
        row!(POST "/api/v1/users/{user_id}/deactivate", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}/deactivate", s.privileged_machine))),
        row!(DELETE "/api/v1/users/{user_id}", PRIVILEGED, "233434441", |s, w, c| none(format!("/api/v1/users/{}", s.privileged_machine))),
        row!(PUT "/api/v1/users/{user_id}/email", PRIVILEGED, "233434441", |s, w, c| body(format!("/api/v1/users/{}/email", s.privileged_human), json!({ "email": format!("taken{}@example.com", s.n) }))),
        row!(PUT "/api/v1/users/{user_id}/phone", PRIVILEGED, "233434441", |s, w, c| body(format!("/api/v1/users/{}/phone", s.privileged_human), json!({ "phone": "+44 20 7946 0002" }))),
        // What is neither a credential nor the life cycle stays with user.write.
        row!(PUT "/api/v1/users/{user_id}/machine", PRIVILEGED, "222424441", |s, w, c| body(format!("/api/v1/users/{}/machine", s.privileged_machine), json!({ "name": "Renamed", "description": "" }))),
        // The first administrator lives in the system organization, out of every tenant's reach.
        row!(POST "/api/v1/users/{user_id}/pats", 0, "234444441", |s, w, c| none(format!("/api/v1/users/{}/pats", w.api.admin_id))),
        row!(POST "/api/v1/users/{user_id}/lock", 0, "934444441", |s, w, c| none(format!("/api/v1/users/{}/lock", w.api.admin_id))),
        row!(POST "/api/v1/users/{user_id}/deactivate", 0, "934444441", |s, w, c| none(format!("/api/v1/users/{}/deactivate", w.api.admin_id))),
        row!(DELETE "/api/v1/users/{user_id}", 0, "934444441", |s, w, c| none(format!("/api/v1/users/{}", w.api.admin_id))),
        row!(POST "/api/v1/orgs/{org_id}/members", 0, "934444441", |s, w, c| body(format!("/api/v1/orgs/{}/members", w.api.org_id), json!({ "user_id": c.id, "roles": ["ORG_OWNER"] }))),
        // Projects.
        row!(GET "/api/v1/projects", 0, "223233331", |s, w, c| none("/api/v1/projects".into())),
        row!(POST "/api/v1/projects", 0, "232434441", |s, w, c| body("/api/v1/projects".into(), json!({ "org_id": s.org, "name": format!("New project {}", s.n) }))),
        row!(GET "/api/v1/projects/{project_id}", PROJECT, "222422441", |s, w, c| none(format!("/api/v1/projects/{}", s.project))),
        row!(GET "/api/v1/projects/{project_id}", PROJECT | PROJECT_OFF, "222424441", |s, w, c| none(format!("/api/v1/projects/{}", s.project))),
        row!(GET "/api/v1/projects/{project_id}/roles", PROJECT, "222422441", |s, w, c| none(format!("/api/v1/projects/{}/roles", s.project))),
        row!(GET "/api/v1/projects/{project_id}/grants", PROJECT, "222422441", |s, w, c| none(format!("/api/v1/projects/{}/grants", s.project))),
        row!(GET "/api/v1/projects/{project_id}/grants/{grant_id}", PROJECT | PROJECT_GRANT, "222422441", |s, w, c| none(format!("/api/v1/projects/{}/grants/{}", s.project, s.project_grant))),
        row!(GET "/api/v1/projects/{project_id}/members", PROJECT, "232432441", |s, w, c| none(format!("/api/v1/projects/{}/members", s.project))),
        row!(PUT "/api/v1/projects/{project_id}", PROJECT, "232432441", |s, w, c| body(format!("/api/v1/projects/{}", s.project), json!({ "name": format!("Renamed {}", s.n) }))),
        row!(POST "/api/v1/projects/{project_id}/deactivate", PROJECT, "232432441", |s, w, c| none(format!("/api/v1/projects/{}/deactivate", s.project))),
        row!(POST "/api/v1/projects/{project_id}/reactivate", PROJECT | PROJECT_OFF, "232434441", |s, w, c| none(format!("/api/v1/projects/{}/reactivate", s.project))),
        row!(DELETE "/api/v1/projects/{project_id}", PROJECT, "232432441", |s, w, c| none(format!("/api/v1/projects/{}", s.project))),
        row!(POST "/api/v1/projects/{project_id}/roles", PROJECT, "232432441", |s, w, c| body(format!("/api/v1/projects/{}/roles", s.project), json!({ "key": "new", "display_name": "New" }))),
        row!(PUT "/api/v1/projects/{project_id}/roles/{key}", PROJECT, "232432441", |s, w, c| body(format!("/api/v1/projects/{}/roles/r", s.project), json!({ "display_name": "Reader" }))),
        row!(DELETE "/api/v1/projects/{project_id}/roles/{key}", PROJECT, "232432441", |s, w, c| none(format!("/api/v1/projects/{}/roles/r2", s.project))),
        row!(POST "/api/v1/projects/{project_id}/grants", PROJECT, "232432441", |s, w, c| body(format!("/api/v1/projects/{}/grants", s.project), json!({ "granted_org_id": w.other_org, "role_keys": ["r"] }))),
        row!(PUT "/api/v1/projects/{project_id}/grants/{grant_id}", PROJECT | PROJECT_GRANT, "232432441", |s, w, c| body(format!("/api/v1/projects/{}/grants/{}", s.project, s.project_grant), json!({ "role_keys": ["r", "r2"] }))),
        row!(DELETE "/api/v1/projects/{project_id}/grants/{grant_id}", PROJECT | PROJECT_GRANT, "232432441", |s, w, c| none(format!("/api/v1/projects/{}/grants/{}", s.project, s.project_grant))),
        row!(POST "/api/v1/projects/{project_id}/members", PROJECT | USER, "232432441", |s, w, c| body(format!("/api/v1/projects/{}/members", s.project), json!({ "user_id": s.user, "roles": ["PROJECT_OWNER_VIEWER"] }))),
        row!(PUT "/api/v1/projects/{project_id}/members/{user_id}", PROJECT | USER | PROJECT_MEMBER, "232432441", |s, w, c| body(format!("/api/v1/projects/{}/members/{}", s.project, s.user), json!({ "roles": ["PROJECT_OWNER"] }))),
        row!(DELETE "/api/v1/projects/{project_id}/members/{user_id}", PROJECT | USER | PROJECT_MEMBER, "232432441", |s, w, c| none(format!("/api/v1/projects/{}/members/{}", s.project, s.user))),
        // Applications: only roles with app permissions see them.
        row!(GET "/api/v1/apps", 0, "233233331", |s, w, c| none("/api/v1/apps".into())),
        row!(GET "/api/v1/projects/{project_id}/apps", PROJECT, "242442441", |s, w, c| none(format!("/api/v1/projects/{}/apps", s.project))),
        row!(GET "/api/v1/apps/{app_id}", PROJECT | APP, "242442441", |s, w, c| none(format!("/api/v1/apps/{}", s.app))),
        row!(POST "/api/v1/projects/{project_id}/apps/oidc", PROJECT, "242442441", |s, w, c| body(format!("/api/v1/projects/{}/apps/oidc", s.project), json!({ "name": "Web", "app_type": "web", "redirect_uris": ["https://app.example.com/cb"], "auth_method": "basic" }))),
        row!(POST "/api/v1/projects/{project_id}/apps/api", PROJECT, "242442441", |s, w, c| body(format!("/api/v1/projects/{}/apps/api", s.project), json!({ "name": "Backend", "auth_method": "private_key_jwt" }))),
        row!(PUT "/api/v1/apps/{app_id}", PROJECT | APP, "242442441", |s, w, c| body(format!("/api/v1/apps/{}", s.app), json!({ "name": "Renamed" }))),
        row!(PUT "/api/v1/apps/{app_id}/oidc-config", PROJECT | APP, "242442441", |s, w, c| body(format!("/api/v1/apps/{}/oidc-config", s.app), json!({ "app_type": "user_agent", "redirect_uris": ["https://app.example.com/spa"], "auth_method": "none" }))),
        row!(PUT "/api/v1/apps/{app_id}/api-config", PROJECT | API_APP, "242442441", |s, w, c| body(format!("/api/v1/apps/{}/api-config", s.api_app), json!({ "auth_method": "basic" }))),
        row!(POST "/api/v1/apps/{app_id}/secret", PROJECT | APP, "242442441", |s, w, c| none(format!("/api/v1/apps/{}/secret", s.app))),
        row!(POST "/api/v1/apps/{app_id}/deactivate", PROJECT | APP, "242442441", |s, w, c| none(format!("/api/v1/apps/{}/deactivate", s.app))),
        row!(POST "/api/v1/apps/{app_id}/reactivate", PROJECT | APP | APP_OFF, "242442441", |s, w, c| none(format!("/api/v1/apps/{}/reactivate", s.app))),
        row!(DELETE "/api/v1/apps/{app_id}", PROJECT | APP, "242442441", |s, w, c| none(format!("/api/v1/apps/{}", s.app))),
        row!(GET "/api/v1/apps/{app_id}/keys", PROJECT | API_APP | APP_KEY, "242442441", |s, w, c| none(format!("/api/v1/apps/{}/keys", s.api_app))),
        row!(POST "/api/v1/apps/{app_id}/keys", PROJECT | API_APP, "242442441", |s, w, c| body(format!("/api/v1/apps/{}/keys", s.api_app), json!({ "public_key": PEM, "expires_at": "2099-01-01T00:00:00Z" }))),
        row!(DELETE "/api/v1/apps/{app_id}/keys/{key_id}", PROJECT | API_APP | APP_KEY, "242442441", |s, w, c| none(format!("/api/v1/apps/{}/keys/{}", s.api_app, s.app_key_id))),
        // User grants.
        row!(GET "/api/v1/user-grants", 0, "223233331", |s, w, c| none("/api/v1/user-grants".into())),
        row!(GET "/api/v1/user-grants/{grant_id}", USER | PROJECT | GRANT, "222422441", |s, w, c| none(format!("/api/v1/user-grants/{}", s.grant))),
        row!(POST "/api/v1/user-grants", USER | PROJECT, "222422441", |s, w, c| body("/api/v1/user-grants".into(), json!({ "user_id": s.user, "project_id": s.project, "role_keys": ["r"] }))),
        row!(PUT "/api/v1/user-grants/{grant_id}", USER | PROJECT | GRANT, "222422441", |s, w, c| body(format!("/api/v1/user-grants/{}", s.grant), json!({ "role_keys": ["r", "r2"] }))),
        row!(POST "/api/v1/user-grants/{grant_id}/deactivate", USER | PROJECT | GRANT, "222422441", |s, w, c| none(format!("/api/v1/user-grants/{}/deactivate", s.grant))),
        row!(POST "/api/v1/user-grants/{grant_id}/reactivate", USER | PROJECT | GRANT | GRANT_OFF, "222422441", |s, w, c| none(format!("/api/v1/user-grants/{}/reactivate", s.grant))),
        row!(DELETE "/api/v1/user-grants/{grant_id}", USER | PROJECT | GRANT, "222422441", |s, w, c| none(format!("/api/v1/user-grants/{}", s.grant))),
        // Plugins run code in every organization: instance roles only.
        row!(GET "/api/v1/plugins", 0, "233333331", |s, w, c| none("/api/v1/plugins".into())),
        row!(POST "/api/v1/plugins", 0, "233333331", |s, w, c| component(format!("/api/v1/plugins?name=upload-{}", s.n))),
        row!(GET "/api/v1/plugins/{id}", PLUGIN, "233333331", |s, w, c| none(format!("/api/v1/plugins/{}", s.plugin))),
        row!(DELETE "/api/v1/plugins/{id}", PLUGIN, "233333331", |s, w, c| none(format!("/api/v1/plugins/{}", s.plugin))),
        row!(POST "/api/v1/plugins/{id}/versions", PLUGIN, "233333331", |s, w, c| component(format!("/api/v1/plugins/{}/versions", s.plugin))),
        row!(PUT "/api/v1/plugins/{id}/active-version", PLUGIN, "233333331", |s, w, c| body(format!("/api/v1/plugins/{}/active-version", s.plugin), json!({ "digest": s.plugin_digest }))),
        row!(POST "/api/v1/plugins/{id}/bindings", PLUGIN, "233333331", |s, w, c| body(format!("/api/v1/plugins/{}/bindings", s.plugin), binding(s, "example.org"))),
        row!(PUT "/api/v1/plugins/{id}/bindings/{binding_id}", PLUGIN, "233333331", |s, w, c| body(format!("/api/v1/plugins/{}/bindings/{}", s.plugin, s.binding), binding(s, "example.net"))),
        row!(DELETE "/api/v1/plugins/{id}/bindings/{binding_id}", PLUGIN, "233333331", |s, w, c| none(format!("/api/v1/plugins/{}/bindings/{}", s.plugin, s.binding))),
        row!(POST "/api/v1/plugins/{id}/test", PLUGIN, "233333331", |s, w, c| body(format!("/api/v1/plugins/{}/test", s.plugin), json!({ "binding_id": s.binding, "sample": validator_sample() }))),
        row!(GET "/api/v1/plugins/{id}/views/{table}", PLUGIN, "233333331", |s, w, c| none(format!("/api/v1/plugins/{}/views/rows", s.plugin))),
        // A validator writes no view rows: the owner passes the permission check and finds no row.
        row!(GET "/api/v1/plugins/{id}/views/{table}/{key}", PLUGIN, "433333331", |s, w, c| none(format!("/api/v1/plugins/{}/views/rows/k", s.plugin))),
    ]
}

static SCENES: AtomicUsize = AtomicUsize::new(0);

impl World {
    async fn new(api: Api) -> Self {
        let callers_org = api.org("Callers").await;
        let other_org = api.org("Other").await;
        let member = |scope: String, user: String, role: &'static str| {
            let api = &api;
            async move {
                api.post(&scope, json!({ "user_id": user, "roles": [role] }))
                    .await
                    .expect(StatusCode::CREATED);
            }
        };
        let (iam_manager, iam_manager_token) = api
            .machine_with_token(&callers_org, "iam-user-manager")
            .await;
        member(
            "/api/v1/instance/members".into(),
            iam_manager.clone(),
            "IAM_USER_MANAGER",
        )
        .await;
        let (owner_a, owner_a_token) = api.machine_with_token(&callers_org, "owner-a").await;
        let (owner_b, owner_b_token) = api.machine_with_token(&other_org, "owner-b").await;
        member(
            format!("/api/v1/orgs/{other_org}/members"),
            owner_b.clone(),
            "ORG_OWNER",
        )
        .await;
        let (user_manager_a, user_manager_token) =
            api.machine_with_token(&callers_org, "user-manager-a").await;
        let (project_owner, project_owner_token) =
            api.machine_with_token(&callers_org, "project-owner").await;
        let (nobody, nobody_token) = api.machine_with_token(&callers_org, "nobody").await;
        let removed_org = api.org("Removed").await;
        let (removed_owner, removed_owner_token) =
            api.machine_with_token(&removed_org, "removed-owner").await;
        member(
            format!("/api/v1/orgs/{removed_org}/members"),
            removed_owner.clone(),
            "ORG_OWNER",
        )
        .await;
        api.delete(&format!("/api/v1/orgs/{removed_org}"))
            .await
            .expect(StatusCode::OK);
        let (locked, locked_token) = api.machine_with_token(&callers_org, "locked").await;
        api.post_empty(&format!("/api/v1/users/{locked}/lock"))
            .await
            .expect(StatusCode::OK);
        let caller = |id: &str, token: &str| Caller {
            id: id.to_owned(),
            token: token.to_owned(),
        };
        let callers = vec![
            caller(&api.admin_id, &api.token),
            caller(&iam_manager, &iam_manager_token),
            caller(&owner_a, &owner_a_token),
            caller(&owner_b, &owner_b_token),
            caller(&user_manager_a, &user_manager_token),
            caller(&project_owner, &project_owner_token),
            caller(&nobody, &nobody_token),
            caller(&removed_owner, &removed_owner_token),
            caller(&locked, &locked_token),
        ];
        Self {
            api,
            callers,
            owner_a,
            user_manager_a,
            project_owner,
            other_org,
        }
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let reply = self.api.call(method.clone(), path, body).await;
        assert!(
            reply.status.is_success(),
            "setting up: {method} {path}: {} {:#}",
            reply.status,
            reply.body
        );
        reply.body
    }

    /// A fresh organization `A` with the resources `needs` names.
    async fn scene(&self, needs: u32) -> Scene {
        let n = SCENES.fetch_add(1, Ordering::Relaxed);
        let mut s = Scene {
            n,
            ..Scene::default()
        };
        s.org = self.api.org(&format!("Org {n}")).await;
        let members = format!("/api/v1/orgs/{}/members", s.org);
        for (user, role) in [
            (&self.owner_a, "ORG_OWNER"),
            (&self.user_manager_a, "ORG_USER_MANAGER"),
        ] {
            self.ok(
                Method::POST,
                &members,
                Some(json!({ "user_id": user, "roles": [role] })),
            )
            .await;
        }
        if needs & USER != 0 {
            s.user = self.api.human(&s.org, &format!("u{n}")).await;
            let user = format!("/api/v1/users/{}", s.user);
            self.ok(
                Method::PUT,
                &format!("{user}/phone"),
                Some(json!({ "phone": "+44 20 7946 0000" })),
            )
            .await;
            self.ok(
                Method::PUT,
                &format!("{user}/metadata/k"),
                Some(json!({ "value": "v" })),
            )
            .await;
        }
        if needs & MACHINE != 0 {
            let (machine, token) = self.machine(&s.org, &format!("m{n}")).await;
            (s.machine, s.token_id) = (machine, token);
            let key = self
                .ok(
                    Method::POST,
                    &format!("/api/v1/users/{}/keys", s.machine),
                    Some(json!({ "public_key": PEM, "expires_at": "2099-01-01T00:00:00Z" })),
                )
                .await;
            s.key_id = key["key_id"].as_str().expect("key id").to_owned();
            self.ok(
                Method::PUT,
                &format!("/api/v1/users/{}/secret", s.machine),
                Some(json!({})),
            )
            .await;
        }
        if needs & PRIVILEGED != 0 {
            let (machine, token) = self.machine(&s.org, &format!("pm{n}")).await;
            (s.privileged_machine, s.privileged_token_id) = (machine, token);
            s.privileged_human = self.api.human(&s.org, &format!("ph{n}")).await;
            for user in [&s.privileged_machine, &s.privileged_human] {
                self.ok(
                    Method::POST,
                    &format!("/api/v1/orgs/{}/members", self.other_org),
                    Some(json!({ "user_id": user, "roles": ["ORG_OWNER"] })),
                )
                .await;
            }
        }
        if needs & OTP != 0 {
            // No route enrols an authenticator app (the user does it on the login pages).
            let system = warden_command::Caller::system(self.api.instance_id.clone());
            for user in [&s.user, &s.privileged_human] {
                if !user.is_empty() {
                    self.api
                        .commands
                        .for_caller(&system)
                        .enroll_otp(user)
                        .await
                        .expect("enrol an authenticator app");
                }
            }
        }
        if needs & PROJECT != 0 {
            s.project = self.api.project(&s.org, &format!("P{n}")).await;
            let project = format!("/api/v1/projects/{}", s.project);
            for key in ["r", "r2"] {
                self.ok(
                    Method::POST,
                    &format!("{project}/roles"),
                    Some(json!({ "key": key, "display_name": key })),
                )
                .await;
            }
            self.ok(
                Method::POST,
                &format!("{project}/members"),
                Some(json!({ "user_id": self.project_owner, "roles": ["PROJECT_OWNER"] })),
            )
            .await;
            if needs & APP != 0 {
                let app = self
                    .ok(
                        Method::POST,
                        &format!("{project}/apps/oidc"),
                        Some(json!({ "name": "Web", "app_type": "web", "redirect_uris": ["https://app.example.com/cb"], "auth_method": "basic" })),
                    )
                    .await;
                s.app = app["id"].as_str().expect("app id").to_owned();
            }
            if needs & API_APP != 0 {
                let app = self
                    .ok(
                        Method::POST,
                        &format!("{project}/apps/api"),
                        Some(json!({ "name": "Backend", "auth_method": "private_key_jwt" })),
                    )
                    .await;
                s.api_app = app["id"].as_str().expect("app id").to_owned();
                if needs & APP_KEY != 0 {
                    let key = self
                        .ok(
                            Method::POST,
                            &format!("/api/v1/apps/{}/keys", s.api_app),
                            Some(json!({ "public_key": PEM })),
                        )
                        .await;
                    s.app_key_id = key["key_id"].as_str().expect("key id").to_owned();
                }
            }
            if needs & GRANT != 0 {
                let grant = self
                    .ok(
                        Method::POST,
                        "/api/v1/user-grants",
                        Some(json!({ "user_id": s.user, "project_id": s.project, "role_keys": ["r"] })),
                    )
                    .await;
                s.grant = grant["id"].as_str().expect("grant id").to_owned();
            }
            if needs & PROJECT_GRANT != 0 {
                let grant = self
                    .ok(
                        Method::POST,
                        &format!("{project}/grants"),
                        Some(json!({ "granted_org_id": self.other_org, "role_keys": ["r"] })),
                    )
                    .await;
                s.project_grant = grant["grant_id"].as_str().expect("grant id").to_owned();
            }
            if needs & PROJECT_MEMBER != 0 {
                self.ok(
                    Method::POST,
                    &format!("{project}/members"),
                    Some(json!({ "user_id": s.user, "roles": ["PROJECT_OWNER_VIEWER"] })),
                )
                .await;
            }
        }
        let org = format!("/api/v1/orgs/{}", s.org);
        if needs & ORG_DOMAINS != 0 {
            for domain in [format!("u.{n}.example"), format!("v.{n}.example")] {
                self.ok(
                    Method::POST,
                    &format!("{org}/domains"),
                    Some(json!({ "domain": domain })),
                )
                .await;
            }
            self.ok(
                Method::POST,
                &format!("{org}/domains/v.{n}.example/verify"),
                None,
            )
            .await;
        }
        if needs & ORG_MEMBER != 0 {
            self.ok(
                Method::POST,
                &members,
                Some(json!({ "user_id": s.user, "roles": ["ORG_OWNER_VIEWER"] })),
            )
            .await;
        }
        if needs & INSTANCE_MEMBER != 0 {
            self.ok(
                Method::POST,
                "/api/v1/instance/members",
                Some(json!({ "user_id": s.user, "roles": ["IAM_OWNER_VIEWER"] })),
            )
            .await;
        }
        if needs & INSTANCE_DOMAIN != 0 {
            self.ok(
                Method::POST,
                "/api/v1/instance/domains",
                Some(json!({ "domain": format!("i.{n}.example") })),
            )
            .await;
        }
        if needs & POLICIES != 0 {
            for (policy, body) in [
                ("password-complexity", password_policy()),
                ("lockout", lockout_policy()),
                ("login", login_policy()),
            ] {
                self.ok(Method::PUT, &format!("{org}/policies/{policy}"), Some(body))
                    .await;
            }
        }
        if needs & PLUGIN != 0 {
            let reply = self
                .api
                .raw(
                    Method::POST,
                    &format!("/api/v1/plugins?name=plugin-{n}"),
                    Some(&self.api.token),
                    Some("application/wasm"),
                    plugin_bytes(),
                    &[],
                )
                .await
                .expect(StatusCode::CREATED);
            s.plugin = reply.id();
            let plugin = format!("/api/v1/plugins/{}", s.plugin);
            let read = self.ok(Method::GET, &plugin, None).await;
            s.plugin_digest = read["active_digest"].as_str().expect("digest").to_owned();
            let bound = self
                .ok(
                    Method::POST,
                    &format!("{plugin}/bindings"),
                    Some(binding(&s, "example.com")),
                )
                .await;
            s.binding = bound["binding_id"].as_str().expect("binding id").to_owned();
        }
        let switches = [
            (
                PROJECT_OFF,
                format!("/api/v1/projects/{}/deactivate", s.project),
            ),
            (APP_OFF, format!("/api/v1/apps/{}/deactivate", s.app)),
            (
                GRANT_OFF,
                format!("/api/v1/user-grants/{}/deactivate", s.grant),
            ),
            (USER_OFF, format!("/api/v1/users/{}/deactivate", s.user)),
            (USER_LOCKED, format!("/api/v1/users/{}/lock", s.user)),
            (ORG_OFF, format!("{org}/deactivate")),
        ];
        for (flag, path) in switches {
            if needs & flag != 0 {
                self.ok(Method::POST, &path, None).await;
            }
        }
        s
    }

    /// A machine user of `org` with a personal access token; its id and the token's id.
    async fn machine(&self, org: &str, login_name: &str) -> (String, String) {
        let user = self
            .ok(
                Method::POST,
                "/api/v1/users/machine",
                Some(json!({ "org_id": org, "login_name": login_name, "name": login_name })),
            )
            .await;
        let id = user["id"].as_str().expect("user id").to_owned();
        let token = self
            .ok(Method::POST, &format!("/api/v1/users/{id}/pats"), None)
            .await;
        let token_id = token["token_id"].as_str().expect("token id").to_owned();
        (id, token_id)
    }
}

/// The status a row's character stands for.
fn status_of(code: char) -> Option<StatusCode> {
    match code {
        '1' => Some(StatusCode::UNAUTHORIZED),
        '3' => Some(StatusCode::FORBIDDEN),
        '4' => Some(StatusCode::NOT_FOUND),
        '9' => Some(StatusCode::CONFLICT),
        _ => None,
    }
}

/// Every route `api` documents as `METHOD /path` (path parameters as `{name}`).
async fn documented_routes(api: &Api) -> Vec<String> {
    let document = api.call(Method::GET, "/openapi.json", None).await.body;
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                routes.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    routes
}

fn route_key(row: &Row) -> String {
    format!("{} {}", row.method, row.route)
}

/// The API with the plugin endpoints, as the server serves them.
async fn api_with_plugins(store: TestStore) -> Api {
    let runtime =
        warden_wasm_runtime::PluginRuntime::new(warden_wasm_runtime::RuntimeConfig::default())
            .expect("plugin runtime");
    let registry = warden_plugin_host::PluginRegistry::new(store.store.clone(), runtime);
    Api::start_with(store, move |commands, instance_id| {
        warden_plugin_host::PluginApiState::new(
            warden_plugin_host::PluginService::new(commands.clone(), registry),
            instance_id,
        )
        .into_endpoints()
    })
    .await
}

async fn every_route_answers_every_caller_as_the_matrix_says(store: TestStore) {
    let rows = rows();
    let api = api_with_plugins(store).await;
    // The table covers the endpoint table, and only it.
    let documented = documented_routes(&api).await;
    let covered: Vec<String> = rows.iter().map(route_key).collect();
    let missing: Vec<&String> = documented.iter().filter(|r| !covered.contains(r)).collect();
    assert!(
        missing.is_empty(),
        "routes without matrix rows: {missing:#?}"
    );
    let unknown: Vec<&String> = covered.iter().filter(|r| !documented.contains(r)).collect();
    assert!(
        unknown.is_empty(),
        "rows for undocumented routes: {unknown:#?}"
    );
    for row in &rows {
        assert_eq!(row.expect.len(), CALLERS.len(), "{}", route_key(row));
    }

    let world = World::new(api).await;
    let mut failures = Vec::new();
    for row in &rows {
        // Callers that are refused share one scene (and must leave it unchanged); each caller that is
        // expected to succeed gets its own.
        let shared = world.scene(row.needs).await;
        for (kind, (caller, code)) in world.callers.iter().zip(row.expect.chars()).enumerate() {
            let code = if kind == REMOVED_ORG_OWNER
                && !REMOVED_ORG_OWNER_AUTHENTICATES
                && row.route != "/openapi.json"
            {
                '1'
            } else {
                code
            };
            let expected = status_of(code);
            let scene = match expected {
                Some(_) => shared.clone(),
                None => world.scene(row.needs).await,
            };
            let (path, body) = (row.call)(&scene, &world, caller);
            let before = world.api.event_count().await;
            let reply = match body {
                Payload::None => {
                    world
                        .api
                        .call_as(&caller.token, row.method.clone(), &path, None)
                        .await
                }
                Payload::Json(body) => {
                    world
                        .api
                        .call_as(&caller.token, row.method.clone(), &path, Some(body))
                        .await
                }
                Payload::Component => {
                    world
                        .api
                        .raw(
                            row.method.clone(),
                            &path,
                            Some(&caller.token),
                            Some("application/wasm"),
                            plugin_bytes(),
                            &[],
                        )
                        .await
                }
            };
            let ok = match expected {
                None => reply.status.is_success(),
                Some(status) => reply.status == status && world.api.event_count().await == before,
            };
            if !ok {
                failures.push(format!(
                    "{} as {}: expected {}, got {} {}",
                    route_key(row),
                    CALLERS[kind],
                    expected.map_or("2xx".to_owned(), |s| s.as_u16().to_string()),
                    reply.status.as_u16(),
                    reply.body
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the matrix's answers differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
