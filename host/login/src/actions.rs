//! The login hooks of action plugins: pre-authentication, post-authentication, pre-registration and
//! post-creation, run through [`warden_plugin_host::PluginRegistry::run_hook`].
//!
//! The registry honours each binding's failure policy: an action allowed to fail that fails is skipped; one
//! bound failing closed that fails (or is not loaded) makes the hook fail, which the pages show as a clear
//! login error ([`Verdict::Failed`]), never as a server error.

use std::net::IpAddr;

use warden_domain::{Lifecycle, org::Organization, user::User};
use warden_wasm_runtime::{ActionContext, ActionOutcome, AuthMethod, Hook, Metadata, Org, Profile};

use crate::Inner;

/// What the actions of one hook decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Go on.
    Allow {
        /// An action asked for a second factor (post-authentication).
        second_factor: bool,
        /// An action replaced the profile (pre-registration).
        profile: Option<Profile>,
        /// Metadata to set on the new user (post-creation).
        metadata: Vec<Metadata>,
    },
    /// An action refused, with its reason for the user.
    Deny(String),
    /// An action bound failing closed could not give an answer.
    Failed(String),
}

/// What the request tells about the browser.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) user_agent: Option<String>,
}

/// The hook's view of a user.
pub(crate) fn plugin_user(id: &str, user: &User) -> warden_wasm_runtime::User {
    let human = user.human();
    let state = if user.locked {
        warden_wasm_runtime::UserState::Locked
    } else if user.lifecycle == Lifecycle::Inactive {
        warden_wasm_runtime::UserState::Inactive
    } else {
        warden_wasm_runtime::UserState::Active
    };
    warden_wasm_runtime::User {
        id: id.to_owned(),
        org_id: user.org_id.clone(),
        username: user.login_name.clone(),
        login_names: vec![user.login_name.clone()],
        state,
        email: human.map(|h| h.email.clone()),
        email_verified: human.is_some_and(|h| h.email_verified),
        phone: human.and_then(|h| h.phone.clone()),
        phone_verified: false,
        given_name: human.map(|h| h.profile.given_name.clone()),
        family_name: human.map(|h| h.profile.family_name.clone()),
        display_name: human.map(|h| h.profile.display_name.clone()),
        preferred_language: human.map(|h| h.profile.preferred_language.clone()),
        metadata: user
            .metadata
            .iter()
            .map(|(key, value)| Metadata {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

/// What a hook is told about the login.
#[derive(Debug, Clone, Default)]
pub(crate) struct HookInput<'a> {
    pub(crate) org_id: Option<&'a str>,
    pub(crate) user: Option<(&'a str, &'a User)>,
    pub(crate) login_name: Option<&'a str>,
    pub(crate) client_id: Option<&'a str>,
    pub(crate) scopes: &'a [String],
    pub(crate) auth_methods: Vec<AuthMethod>,
}

impl Inner {
    async fn hook_context(&self, input: &HookInput<'_>, client: &Client) -> ActionContext {
        // The organization as token checks read it (checked against the store within a second).
        let org = match input.org_id {
            Some(org_id) => self
                .commands
                .load_recent::<Organization>(&self.instance_id, org_id)
                .await
                .ok()
                .filter(|m| m.state.exists())
                .map(|m| Org {
                    id: org_id.to_owned(),
                    name: m.state.name.clone(),
                    primary_domain: m.state.primary_domain.clone(),
                }),
            None => None,
        };
        ActionContext {
            instance_id: self.instance_id.clone(),
            org,
            user: input.user.map(|(id, user)| plugin_user(id, user)),
            login_name: input.login_name.map(str::to_owned),
            client_id: input.client_id.map(str::to_owned),
            requested_scopes: input.scopes.to_vec(),
            roles: Vec::new(),
            auth_methods: input.auth_methods.clone(),
            ip: client.ip,
            user_agent: client.user_agent.clone(),
        }
    }

    /// Runs the actions bound to `hook` for the login described by `input`.
    pub(crate) async fn run_hook(
        &self,
        hook: Hook,
        input: &HookInput<'_>,
        client: &Client,
    ) -> Verdict {
        let allow = Verdict::Allow {
            second_factor: false,
            profile: None,
            metadata: Vec::new(),
        };
        let Some(registry) = &self.plugins else {
            return allow;
        };
        let ctx = self.hook_context(input, client).await;
        let outcomes = match registry
            .run_hook(&self.instance_id, input.org_id, &hook, &ctx)
            .await
        {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tracing::warn!(%error, hook = hook.name(), "a login action bound failing closed failed");
                return Verdict::Failed(error.to_string());
            }
        };
        let mut verdict = allow;
        for outcome in outcomes {
            match (outcome, &mut verdict) {
                (ActionOutcome::Deny { reason }, _) => return Verdict::Deny(reason),
                (ActionOutcome::RequireSecondFactor, Verdict::Allow { second_factor, .. }) => {
                    *second_factor = true;
                }
                (ActionOutcome::AdjustProfile { profile: p }, Verdict::Allow { profile, .. }) => {
                    *profile = Some(p);
                }
                (ActionOutcome::Metadata { metadata: m }, Verdict::Allow { metadata, .. }) => {
                    metadata.extend(m);
                }
                _ => {}
            }
        }
        verdict
    }
}
