//! The validator plugins in the command pipeline: [`PluginValidators`] is the [`CommandValidator`] that
//! runs every validator binding matching a command.

use serde_json::Value;
use warden_command::{
    CommandValidator, ValidationRequest, ValidatorError, Violation,
    validator::{ProposedEvent, ValidationFuture},
};
use warden_wasm_runtime::{
    Actor, CallError, Command, CommandPayload, Event, FailurePolicy, Profile, ValidatorInput,
    ValidatorOutcome,
};

use crate::registry::{PluginRegistry, ValidatorBinding};

/// The code of the violation reported when a validator bound failing closed fails.
pub const PLUGIN_FAILED: &str = "plugin.failed";

/// Runs the validator plugins bound to each command (see [`PluginRegistry::validators_for`]), except
/// commands that manage plugins ([`is_plugin_management`]), so plugins can always be managed.
///
/// Violations of all matching bindings are collected. A plugin fault (trap, timeout, exhausted memory, an
/// error of its own) under a binding that fails closed refuses the command with a violation of code
/// [`PLUGIN_FAILED`] naming the plugin; under a binding that allows failure it is logged and skipped. A
/// failure of the host (no free instance slot, a plugin bound failing closed that could not be loaded) is a
/// [`ValidatorError`]: the command fails as unavailable and can be retried.
#[derive(Debug, Clone)]
pub struct PluginValidators {
    registry: PluginRegistry,
}

impl PluginValidators {
    /// The validators of `registry`.
    pub fn new(registry: PluginRegistry) -> Self {
        Self { registry }
    }

    async fn check(&self, request: &ValidationRequest) -> Result<Vec<Violation>, ValidatorError> {
        if is_plugin_management(&request.command_type) {
            return Ok(Vec::new());
        }
        let bindings = self.registry.validators_for(
            &request.instance_id,
            request.org_id.as_deref(),
            &request.command_type,
        );
        if bindings.is_empty() {
            return Ok(Vec::new());
        }
        let input = validator_input(request);
        let mut violations = Vec::new();
        for binding in bindings {
            violations.extend(self.run(&binding, &input).await?);
        }
        Ok(violations)
    }

    async fn run(
        &self,
        binding: &ValidatorBinding,
        input: &ValidatorInput,
    ) -> Result<Vec<Violation>, ValidatorError> {
        let Some(bound) = &binding.plugin else {
            return match binding.failure_policy {
                FailurePolicy::FailClosed => Err(ValidatorError {
                    validator: binding.name.clone(),
                    reason:
                        "the plugin is bound failing closed but its active version is not loaded"
                            .into(),
                }),
                FailurePolicy::AllowFailure => {
                    tracing::warn!(plugin = %binding.name, "validator is not loaded; the binding allows failure, going on");
                    Ok(Vec::new())
                }
            };
        };
        let result = self
            .registry
            .runtime()
            .validate(&bound.loaded, &bound.binding, input)
            .await;
        let outcome = bound
            .binding
            .failure_policy
            .resolve(&bound.name, result, || ValidatorOutcome::Ok);
        match outcome {
            Ok(ValidatorOutcome::Ok) => Ok(Vec::new()),
            Ok(ValidatorOutcome::Violations(found)) => Ok(found
                .into_iter()
                .map(|v| Violation {
                    field: v.field,
                    code: v.code,
                    message: v.message,
                })
                .collect()),
            Err(error) if error.is_plugin_fault() => {
                tracing::warn!(plugin = %bound.name, %error, "validator failed; the binding fails closed");
                Ok(vec![plugin_failed(&bound.name, &error)])
            }
            Err(error) => Err(ValidatorError {
                validator: bound.name.clone(),
                reason: error.to_string(),
            }),
        }
    }
}

/// Whether a command manages plugins (`plugin.*`). Validators never run on those: a validator bound to
/// `*` that fails closed must not be able to block its own unbinding.
pub fn is_plugin_management(command_type: &str) -> bool {
    command_type.starts_with("plugin.")
}

impl CommandValidator for PluginValidators {
    fn validate<'a>(&'a self, request: &'a ValidationRequest) -> ValidationFuture<'a> {
        Box::pin(self.check(request))
    }

    fn applies(&self, instance_id: &str, org_id: Option<&str>, command_type: &str) -> bool {
        !self
            .registry
            .validators_for(instance_id, org_id, command_type)
            .is_empty()
    }
}

fn plugin_failed(name: &str, error: &CallError) -> Violation {
    Violation {
        field: String::new(),
        code: PLUGIN_FAILED.into(),
        message: format!(
            "the validation plugin `{name}` failed ({}), and its binding refuses commands it cannot check",
            error.kind()
        ),
    }
}

/// What a validator plugin sees of a request.
pub fn validator_input(request: &ValidationRequest) -> ValidatorInput {
    ValidatorInput {
        command: Command {
            command_type: request.command_type.clone(),
            instance_id: request.instance_id.clone(),
            org_id: request.org_id.clone(),
            aggregate_type: request.aggregate_type.clone(),
            aggregate_id: request.aggregate_id.clone(),
            actor: Actor {
                user_id: request.actor.user_id.clone(),
                org_id: request.actor.org_id.clone(),
            },
            payload: payload(&request.command_type, &request.payload),
        },
        state: request.state.clone(),
        events: request.events.iter().map(|e| event(request, e)).collect(),
    }
}

fn event(request: &ValidationRequest, proposed: &ProposedEvent) -> Event {
    Event {
        instance_id: request.instance_id.clone(),
        org_id: request.org_id.clone(),
        aggregate_type: request.aggregate_type.clone(),
        aggregate_id: request.aggregate_id.clone(),
        sequence: 0,
        position: 0,
        event_type: proposed.event_type.clone(),
        revision: proposed.revision,
        creator: request.actor.user_id.clone(),
        created_at: 0,
        payload: proposed.payload.clone(),
    }
}

/// A text a plugin sees as absent when empty.
fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The profile fields of a command as plugins see them.
fn profile(profile: warden_domain::user::Profile) -> Profile {
    Profile {
        given_name: non_empty(profile.given_name),
        family_name: non_empty(profile.family_name),
        display_name: non_empty(profile.display_name),
        preferred_language: non_empty(profile.preferred_language),
        ..Profile::default()
    }
}

/// Reads the payload back as the command `C` it was serialized from, so that a renamed field of the command
/// breaks this file's build instead of what plugins see; JSON for a payload that is not one (none the
/// pipeline builds).
fn typed<C: warden_domain::command::Command>(
    payload: &Value,
    to_wit: impl FnOnce(C) -> CommandPayload,
) -> CommandPayload {
    match <C as serde::Deserialize>::deserialize(payload) {
        Ok(command) => to_wit(command),
        Err(_) => CommandPayload::Other(payload.clone()),
    }
}

/// The typed payload of the commands whose shape plugins know; JSON for any other.
fn payload(command_type: &str, payload: &Value) -> CommandPayload {
    use warden_domain::{
        command::Command,
        org::AddOrg,
        user::{AddHuman, ChangeEmail, ChangeProfile},
    };
    match command_type {
        AddHuman::TYPE => typed(payload, |add: AddHuman| {
            CommandPayload::AddHumanUser(Profile {
                username: add.login_name,
                email: non_empty(add.email),
                phone: add.phone.and_then(non_empty),
                ..profile(add.profile)
            })
        }),
        ChangeProfile::TYPE => typed(payload, |change: ChangeProfile| {
            CommandPayload::ChangeProfile(profile(change.profile))
        }),
        ChangeEmail::TYPE => typed(payload, |change: ChangeEmail| {
            CommandPayload::ChangeEmail(change.email)
        }),
        AddOrg::TYPE => typed(payload, |add: AddOrg| CommandPayload::AddOrg(add.name)),
        _ => CommandPayload::Other(payload.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use warden_domain::{
        command::Command,
        org::AddOrg,
        user::{AddHuman, ChangeEmail, ChangeProfile, Profile as UserProfile},
    };

    use super::*;

    fn user_profile() -> UserProfile {
        UserProfile {
            given_name: "Ada".to_owned(),
            family_name: "Lovelace".to_owned(),
            display_name: String::new(),
            preferred_language: "en".to_owned(),
        }
    }

    fn typed_payload<C: Command>(command: &C) -> CommandPayload {
        payload(
            C::TYPE,
            &serde_json::to_value(command).expect("commands serialize"),
        )
    }

    #[test]
    fn typed_payloads_are_read_back_as_their_commands() {
        let add = AddHuman {
            org_id: "org-1".to_owned(),
            login_name: "ada".to_owned(),
            profile: user_profile(),
            email: "ada@example.com".to_owned(),
            email_verified: false,
            phone: Some("+41 44 123 45 67".to_owned()),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
            password_change_required: false,
        };
        assert_eq!(
            typed_payload(&add),
            CommandPayload::AddHumanUser(Profile {
                username: "ada".to_owned(),
                given_name: Some("Ada".to_owned()),
                family_name: Some("Lovelace".to_owned()),
                display_name: None,
                preferred_language: Some("en".to_owned()),
                email: Some("ada@example.com".to_owned()),
                phone: Some("+41 44 123 45 67".to_owned()),
            })
        );
        assert_eq!(
            typed_payload(&ChangeProfile {
                profile: user_profile()
            }),
            CommandPayload::ChangeProfile(Profile {
                given_name: Some("Ada".to_owned()),
                family_name: Some("Lovelace".to_owned()),
                preferred_language: Some("en".to_owned()),
                ..Profile::default()
            })
        );
        assert_eq!(
            typed_payload(&ChangeEmail {
                email: "ada@example.org".to_owned()
            }),
            CommandPayload::ChangeEmail("ada@example.org".to_owned())
        );
        assert_eq!(
            typed_payload(&AddOrg {
                name: "Analytical Engines".to_owned()
            }),
            CommandPayload::AddOrg("Analytical Engines".to_owned())
        );
    }

    #[test]
    fn a_payload_of_another_shape_arrives_as_json() {
        let odd = json!({ "title": "Analytical Engines" });
        assert_eq!(
            payload(AddOrg::TYPE, &odd),
            CommandPayload::Other(odd.clone())
        );
        assert_eq!(
            payload("user.lock", &json!({})),
            CommandPayload::Other(json!({}))
        );
    }
}
