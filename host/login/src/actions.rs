//! The login hooks of action plugins: pre-authentication, post-authentication, pre-registration and
//! post-creation, run through [`warden_plugin_host::PluginRegistry::run_hook`].
//!
//! The registry honours each binding's failure policy: an action allowed to fail that fails is skipped; one
//! bound failing closed that fails (or is not loaded) makes the hook fail, which the pages show as a clear
//! login error ([`Verdict::Failed`]), never as a server error.

use std::net::IpAddr;

use warden_command::CommandError;
use warden_domain::user::User;
use warden_plugin_host::actions::{plugin_org, plugin_user};
use warden_wasm_runtime::{ActionContext, ActionOutcome, AuthMethod, Hook, Metadata, Profile};

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
    async fn hook_context(
        &self,
        input: &HookInput<'_>,
        client: &Client,
    ) -> Result<ActionContext, CommandError> {
        // The organization as token checks read it (checked against the store within a second).
        let org = match input.org_id {
            Some(org_id) => plugin_org(&self.commands, &self.instance_id, org_id).await?,
            None => None,
        };
        Ok(ActionContext {
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
        })
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
        if !registry.has_actions(&self.instance_id, input.org_id, &hook) {
            return allow;
        }
        let ctx = match self.hook_context(input, client).await {
            Ok(ctx) => ctx,
            Err(error) => {
                tracing::error!(%error, hook = hook.name(), "cannot read the organization for a login action");
                return Verdict::Failed(format!("the organization cannot be read: {error}"));
            }
        };
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
