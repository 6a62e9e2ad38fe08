//! Shared inputs for the runtime tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, OnceLock};

use warden_wasm_runtime::{
    ActionContext, Actor, AuthMethod, Command, CommandPayload, LoadedPlugin, Org, PluginRuntime,
    Profile, RuntimeConfig, User, ValidatorInput,
};

/// One runtime for all tests of a binary (as in the server: one per process).
pub fn runtime() -> PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| PluginRuntime::new(RuntimeConfig::default()).expect("runtime"))
        .clone()
}

pub async fn load(name: &str, path: &str) -> Arc<LoadedPlugin> {
    runtime()
        .load(name, &warden_plugin_fixtures::bytes(path))
        .await
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

pub fn new_user(email: Option<&str>) -> ValidatorInput {
    ValidatorInput {
        command: Command {
            command_type: "user.human.add".into(),
            instance_id: "inst-1".into(),
            org_id: Some("org-1".into()),
            aggregate_type: "user".into(),
            aggregate_id: "user-1".into(),
            actor: Actor {
                user_id: "admin-1".into(),
                org_id: Some("org-1".into()),
            },
            payload: CommandPayload::AddHumanUser(Profile {
                username: "ada".into(),
                given_name: Some("Ada".into()),
                family_name: Some("Lovelace".into()),
                email: email.map(Into::into),
                ..Profile::default()
            }),
        },
        state: None,
        events: Vec::new(),
    }
}

pub fn login(ip: &str) -> ActionContext {
    ActionContext {
        instance_id: "inst-1".into(),
        org: Some(Org {
            id: "org-1".into(),
            name: "Acme \"Rockets\"".into(),
            primary_domain: Some("acme.example.com".into()),
        }),
        user: Some(User {
            id: "user-1".into(),
            org_id: "org-1".into(),
            username: "ada".into(),
            email: Some("ada@acme.example.com".into()),
            email_verified: true,
            ..User::default()
        }),
        login_name: Some("ada@acme.example.com".into()),
        client_id: Some("console".into()),
        requested_scopes: vec!["openid".into(), "profile".into()],
        roles: vec!["admin".into(), "billing".into()],
        auth_methods: vec![AuthMethod::Password],
        ip: Some(ip.parse().expect("ip")),
        user_agent: Some("test".into()),
    }
}
