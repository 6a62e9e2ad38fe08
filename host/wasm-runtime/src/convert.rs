//! Conversions between the host's types and those of the WIT bindings (`warden:plugin@0.1.0`).
//!
//! A future WIT version gets its own bindings module and its own conversions here; the host types stay
//! the one shape the rest of the server uses.

use crate::runtime::{MAX_VIOLATION_MESSAGE, truncated};
use crate::types::*;
use crate::wit::action::exports::warden::plugin::login_hooks as hooks;
use crate::wit::validator::exports::warden::plugin::validation;
use crate::wit::validator::warden::plugin::types as wit;

impl From<&Event> for wit::Event {
    fn from(e: &Event) -> Self {
        Self {
            instance_id: e.instance_id.clone(),
            org_id: e.org_id.clone(),
            aggregate_type: e.aggregate_type.clone(),
            aggregate_id: e.aggregate_id.clone(),
            sequence: e.sequence,
            position: e.position,
            event_type: e.event_type.clone(),
            revision: e.revision,
            creator: e.creator.clone(),
            created_at: e.created_at,
            payload: e.payload.to_string(),
        }
    }
}

impl From<&Actor> for wit::Actor {
    fn from(a: &Actor) -> Self {
        Self {
            user_id: a.user_id.clone(),
            org_id: a.org_id.clone(),
        }
    }
}

impl From<&Profile> for wit::Profile {
    fn from(p: &Profile) -> Self {
        Self {
            username: p.username.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            display_name: p.display_name.clone(),
            preferred_language: p.preferred_language.clone(),
            email: p.email.clone(),
            phone: p.phone.clone(),
        }
    }
}

impl From<wit::Profile> for Profile {
    fn from(p: wit::Profile) -> Self {
        Self {
            username: p.username,
            given_name: p.given_name,
            family_name: p.family_name,
            display_name: p.display_name,
            preferred_language: p.preferred_language,
            email: p.email,
            phone: p.phone,
        }
    }
}

impl From<&CommandPayload> for wit::CommandPayload {
    fn from(p: &CommandPayload) -> Self {
        match p {
            CommandPayload::AddHumanUser(profile) => Self::AddHumanUser(profile.into()),
            CommandPayload::ChangeEmail(email) => Self::ChangeEmail(email.clone()),
            CommandPayload::ChangeProfile(profile) => Self::ChangeProfile(profile.into()),
            CommandPayload::AddOrg(name) => Self::AddOrg(name.clone()),
            CommandPayload::Other(json) => Self::Other(json.to_string()),
        }
    }
}

impl From<&Command> for wit::Command {
    fn from(c: &Command) -> Self {
        Self {
            command_type: c.command_type.clone(),
            instance_id: c.instance_id.clone(),
            org_id: c.org_id.clone(),
            aggregate_type: c.aggregate_type.clone(),
            aggregate_id: c.aggregate_id.clone(),
            actor: (&c.actor).into(),
            payload: (&c.payload).into(),
        }
    }
}

impl From<&ValidatorInput> for validation::ValidationInput {
    fn from(i: &ValidatorInput) -> Self {
        Self {
            command: (&i.command).into(),
            state: i.state.as_ref().map(ToString::to_string),
            events: i.events.iter().map(Into::into).collect(),
        }
    }
}

impl From<wit::Violation> for Violation {
    fn from(v: wit::Violation) -> Self {
        Self {
            field: v.field,
            code: v.code,
            message: v.message,
        }
    }
}

impl From<UserState> for wit::UserState {
    fn from(s: UserState) -> Self {
        match s {
            UserState::Active => Self::Active,
            UserState::Inactive => Self::Inactive,
            UserState::Locked => Self::Locked,
            UserState::Initial => Self::Initial,
        }
    }
}

impl From<&Metadata> for wit::Metadata {
    fn from(m: &Metadata) -> Self {
        Self {
            key: m.key.clone(),
            value: m.value.clone(),
        }
    }
}

impl From<&User> for wit::User {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            org_id: u.org_id.clone(),
            username: u.username.clone(),
            login_names: u.login_names.clone(),
            state: u.state.into(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            phone: u.phone.clone(),
            phone_verified: u.phone_verified,
            given_name: u.given_name.clone(),
            family_name: u.family_name.clone(),
            display_name: u.display_name.clone(),
            preferred_language: u.preferred_language.clone(),
            metadata: u.metadata.iter().map(Into::into).collect(),
        }
    }
}

impl From<&Org> for wit::Org {
    fn from(o: &Org) -> Self {
        Self {
            id: o.id.clone(),
            name: o.name.clone(),
            primary_domain: o.primary_domain.clone(),
        }
    }
}

impl From<AuthMethod> for wit::AuthMethod {
    fn from(m: AuthMethod) -> Self {
        match m {
            AuthMethod::Password => Self::Password,
            AuthMethod::Totp => Self::Totp,
            AuthMethod::U2f => Self::U2f,
            AuthMethod::Passkey => Self::Passkey,
            AuthMethod::EmailOtp => Self::EmailOtp,
            AuthMethod::SmsOtp => Self::SmsOtp,
            AuthMethod::Idp => Self::Idp,
        }
    }
}

impl From<&ActionContext> for wit::AuthContext {
    fn from(c: &ActionContext) -> Self {
        Self {
            instance_id: c.instance_id.clone(),
            org: c.org.as_ref().map(Into::into),
            user: c.user.as_ref().map(Into::into),
            login_name: c.login_name.clone(),
            client_id: c.client_id.clone(),
            requested_scopes: c.requested_scopes.clone(),
            roles: c.roles.clone(),
            auth_methods: c.auth_methods.iter().copied().map(Into::into).collect(),
            ip: c.ip.map(|ip| ip.to_string()),
            user_agent: c.user_agent.clone(),
        }
    }
}

impl From<&Claim> for wit::Claim {
    fn from(c: &Claim) -> Self {
        Self {
            name: c.name.clone(),
            value: c.value.to_string(),
        }
    }
}

impl From<hooks::PreAuthDecision> for ActionOutcome {
    fn from(d: hooks::PreAuthDecision) -> Self {
        match d {
            hooks::PreAuthDecision::Allow => Self::Allow,
            hooks::PreAuthDecision::Deny(reason) => Self::Deny {
                reason: truncated(reason, MAX_VIOLATION_MESSAGE),
            },
        }
    }
}

impl From<hooks::PostAuthDecision> for ActionOutcome {
    fn from(d: hooks::PostAuthDecision) -> Self {
        match d {
            hooks::PostAuthDecision::Allow => Self::Allow,
            hooks::PostAuthDecision::Deny(reason) => Self::Deny {
                reason: truncated(reason, MAX_VIOLATION_MESSAGE),
            },
            hooks::PostAuthDecision::RequireSecondFactor => Self::RequireSecondFactor,
        }
    }
}

impl From<hooks::RegistrationDecision> for ActionOutcome {
    fn from(d: hooks::RegistrationDecision) -> Self {
        match d {
            hooks::RegistrationDecision::Allow => Self::Allow,
            hooks::RegistrationDecision::Deny(reason) => Self::Deny {
                reason: truncated(reason, MAX_VIOLATION_MESSAGE),
            },
            hooks::RegistrationDecision::Adjust(profile) => Self::AdjustProfile {
                profile: profile.into(),
            },
        }
    }
}
