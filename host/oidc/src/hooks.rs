//! The action hooks the provider runs: `pre-token` (claims of the ID token) and `pre-userinfo` (claims of the
//! userinfo response), through [`PluginRegistry::run_hook`]. Actions may add or change claims, never the
//! reserved ones (`sub`, `iss`, `aud`, ...). An action bound failing closed that fails refuses the token or the
//! userinfo response with a clear error; one allowed to fail is skipped.

use serde_json::{Map, Value};
use warden_domain::user::User;
use warden_plugin_host::{
    PluginRegistry,
    actions::{plugin_org, plugin_user},
};
use warden_wasm_runtime::{ActionContext, ActionOutcome, AuthMethod, Claim, Hook, RESERVED_CLAIMS};

use crate::provider::Core;

/// A fail-closed action failed.
#[derive(Debug, thiserror::Error)]
#[error("a {hook} action failed: {message}")]
pub(crate) struct HookFailed {
    pub(crate) hook: &'static str,
    pub(crate) message: String,
}

/// Who the claims are for.
pub(crate) struct ClaimsFor<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) user: &'a User,
    pub(crate) client_id: &'a str,
    pub(crate) scope: &'a [String],
    pub(crate) amr: &'a [String],
    pub(crate) roles: Vec<String>,
}

fn auth_methods(amr: &[String]) -> Vec<AuthMethod> {
    amr.iter()
        .filter_map(|m| match m.as_str() {
            "pwd" => Some(AuthMethod::Password),
            "otp" | "totp" => Some(AuthMethod::Totp),
            _ => None,
        })
        .collect()
}

impl Core {
    /// The registry, when plugins are wired in.
    fn registry(&self) -> Option<&PluginRegistry> {
        self.plugins.get()
    }

    /// Runs the `pre-token` (`userinfo == false`) or `pre-userinfo` actions on `claims`, adding the claims they
    /// return (reserved names are never replaced).
    pub(crate) async fn run_claims_hook(
        &self,
        instance_id: &str,
        userinfo: bool,
        who: ClaimsFor<'_>,
        claims: &mut Map<String, Value>,
    ) -> Result<(), HookFailed> {
        let Some(registry) = self.registry() else {
            return Ok(());
        };
        let hook_name = if userinfo {
            "pre-userinfo"
        } else {
            "pre-token"
        };
        let so_far: Vec<Claim> = claims
            .iter()
            .map(|(name, value)| Claim {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        let hook = if userinfo {
            Hook::PreUserinfo { claims: so_far }
        } else {
            Hook::PreToken { claims: so_far }
        };
        if !registry.has_actions(instance_id, Some(&who.user.org_id), &hook) {
            return Ok(());
        }
        let org = plugin_org(&self.commands, instance_id, &who.user.org_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, hook = hook_name, "cannot read the organization for an action");
                HookFailed {
                    hook: hook_name,
                    message: format!("the organization cannot be read: {error}"),
                }
            })?;
        let ctx = ActionContext {
            instance_id: instance_id.to_owned(),
            org,
            user: Some(plugin_user(who.user_id, who.user)),
            login_name: Some(who.user.login_name.clone()),
            client_id: Some(who.client_id.to_owned()),
            requested_scopes: who.scope.to_vec(),
            roles: who.roles,
            auth_methods: auth_methods(who.amr),
            ip: None,
            user_agent: None,
        };
        let outcomes = registry
            .run_hook(instance_id, Some(&who.user.org_id), &hook, &ctx)
            .await
            .map_err(|error| {
                tracing::warn!(%error, hook = hook_name, "an action bound failing closed failed");
                HookFailed {
                    hook: hook_name,
                    message: error.to_string(),
                }
            })?;
        for outcome in outcomes {
            if let ActionOutcome::Claims { claims: added } = outcome {
                for claim in added {
                    if !RESERVED_CLAIMS.contains(&claim.name.as_str()) {
                        claims.insert(claim.name, claim.value);
                    }
                }
            }
        }
        Ok(())
    }
}
