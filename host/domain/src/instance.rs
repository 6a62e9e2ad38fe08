//! The instance (tenant): its domains, default policies and instance members.
//!
//! Instance domains route requests to the instance, so they are unique across the installation
//! ([`unique::INSTANCE_DOMAIN`] has global scope).

use serde::{Deserialize, Serialize};

use crate::aggregate::{
    Aggregate, CommandContext, Decision, Lifecycle, UniqueChange, domain_events, no_upcast,
};
use crate::authz::Role;
use crate::error::DomainError;
use crate::member::{MemberRemoved, MemberRoles, Members};
use crate::policy::{LockoutPolicy, LoginPolicy, PasswordComplexityPolicy, Policy, PolicySet};
use crate::unique;
use crate::validate;

mod commands;

pub use commands::*;

/// The most domains an instance may have.
pub const MAX_INSTANCE_DOMAINS: usize = 100;

/// Payload of `instance.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAdded {
    /// The instance's display name.
    pub name: String,
    /// The language used where a user has none (BCP 47 tag).
    pub default_language: String,
}

/// Payload of `instance.system_org.set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemOrg {
    /// The id of the organization holding the instance's administrators.
    pub org_id: String,
}

/// Payload of the `instance.domain.*` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDomain {
    /// The domain, lower-cased.
    pub domain: String,
}

domain_events! {
    /// Events of the instance aggregate.
    pub enum InstanceEvent {
        /// The instance was set up.
        Added(InstanceAdded) => "instance.added" @ 1,
        /// A domain now routes to the instance.
        DomainAdded(InstanceDomain) => "instance.domain.added" @ 1,
        /// A domain no longer routes to the instance.
        DomainRemoved(InstanceDomain) => "instance.domain.removed" @ 1,
        /// The domain used in generated URLs changed.
        PrimaryDomainSet(InstanceDomain) => "instance.domain.primary.set" @ 1,
        /// The default password complexity policy changed.
        PasswordComplexityPolicySet(PasswordComplexityPolicy) => "instance.policy.password_complexity.set" @ 1,
        /// The default lockout policy changed.
        LockoutPolicySet(LockoutPolicy) => "instance.policy.lockout.set" @ 1,
        /// The default login policy changed.
        LoginPolicySet(LoginPolicy) => "instance.policy.login.set" @ 1,
        /// A user became an instance member.
        MemberAdded(MemberRoles) => "instance.member.added" @ 1,
        /// An instance member's roles changed.
        MemberChanged(MemberRoles) => "instance.member.changed" @ 1,
        /// A user is no longer an instance member.
        MemberRemoved(MemberRemoved) => "instance.member.removed" @ 1,
        /// The system organization was chosen: only instance roles manage it and its users.
        SystemOrgSet(SystemOrg) => "instance.system_org.set" @ 1,
    }
    upcast = no_upcast;
}

impl InstanceEvent {
    fn policy_set(policy: Policy) -> Self {
        match policy {
            Policy::PasswordComplexity(p) => Self::PasswordComplexityPolicySet(p),
            Policy::Lockout(p) => Self::LockoutPolicySet(p),
            Policy::Login(p) => Self::LoginPolicySet(p),
        }
    }
}

/// `instance.setup`: sets the instance up ([`Instance::setup`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SetupInstance {
    /// The display name.
    pub name: String,
    /// The domains routing to the instance; the first becomes primary.
    pub domains: Vec<String>,
    /// The language used where a user has none.
    pub default_language: String,
    /// The default policies.
    pub policies: PolicySet,
}

/// State of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// `Active` once set up.
    pub lifecycle: Lifecycle,
    /// The display name.
    pub name: String,
    /// The language used where a user has none.
    pub default_language: String,
    /// The domains, in the order they were added.
    pub domains: Vec<String>,
    /// The domain used in generated URLs.
    pub primary_domain: Option<String>,
    /// The default policies.
    pub policies: PolicySet,
    /// The instance members.
    pub members: Members,
    /// The system organization, which holds the first administrator and is managed by instance roles only.
    pub system_org_id: Option<String>,
}

impl Aggregate for Instance {
    const TYPE: &'static str = "instance";
    type Event = InstanceEvent;

    fn apply(&mut self, event: &InstanceEvent) {
        match event {
            InstanceEvent::Added(e) => {
                self.lifecycle = Lifecycle::Active;
                self.name.clone_from(&e.name);
                self.default_language.clone_from(&e.default_language);
            }
            InstanceEvent::DomainAdded(e) => {
                if !self.domains.contains(&e.domain) {
                    self.domains.push(e.domain.clone());
                }
            }
            InstanceEvent::DomainRemoved(e) => {
                self.domains.retain(|d| d != &e.domain);
                if self.primary_domain.as_ref() == Some(&e.domain) {
                    self.primary_domain = None;
                }
            }
            InstanceEvent::PrimaryDomainSet(e) => self.primary_domain = Some(e.domain.clone()),
            InstanceEvent::PasswordComplexityPolicySet(p) => {
                self.policies.password_complexity = p.clone()
            }
            InstanceEvent::LockoutPolicySet(p) => self.policies.lockout = p.clone(),
            InstanceEvent::LoginPolicySet(p) => self.policies.login = p.clone(),
            InstanceEvent::MemberAdded(e) | InstanceEvent::MemberChanged(e) => {
                self.members.apply_set(e)
            }
            InstanceEvent::MemberRemoved(e) => self.members.apply_removed(e),
            InstanceEvent::SystemOrgSet(e) => self.system_org_id = Some(e.org_id.clone()),
        }
    }
}

impl Instance {
    /// True once set up.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "instance.not_found",
                "the instance has not been set up",
            ))
        }
    }

    fn ensure_domain(&self, domain: &str) -> Result<(), DomainError> {
        if self.domains.iter().any(|d| d == domain) {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "instance.domain.not_found",
                format!("{domain} is not a domain of this instance"),
            )
            .with_field("domain"))
        }
    }

    /// Sets up the instance with its domains (the first becomes primary) and default policies.
    pub fn setup(
        &self,
        cmd: &SetupInstance,
        _ctx: &CommandContext,
    ) -> Result<Decision<InstanceEvent>, DomainError> {
        if self.lifecycle != Lifecycle::Unspecified {
            return Err(DomainError::already_exists(
                "instance.already_exists",
                "the instance is already set up",
            ));
        }
        let name = validate::text("instance.name", "name", &cmd.name, validate::MAX_NAME_LEN)?;
        let default_language = validate::language(
            "instance.default_language",
            "default_language",
            &cmd.default_language,
        )?;
        if cmd.domains.is_empty() {
            return Err(DomainError::invalid(
                "domains",
                "instance.domains.required",
                "domains must name at least one domain that routes to the instance",
            ));
        }
        if cmd.domains.len() > MAX_INSTANCE_DOMAINS {
            return Err(DomainError::invalid(
                "domains",
                "instance.domains.too_many",
                format!("an instance may have at most {MAX_INSTANCE_DOMAINS} domains"),
            ));
        }
        let mut domains: Vec<String> = Vec::with_capacity(cmd.domains.len());
        for (i, domain) in cmd.domains.iter().enumerate() {
            let field = format!("domains[{i}]");
            let domain = validate::domain("instance.domain", &field, domain, false)?;
            if domains.contains(&domain) {
                return Err(DomainError::invalid(
                    field,
                    "instance.domain.duplicate",
                    format!("domain {domain} is listed more than once"),
                ));
            }
            domains.push(domain);
        }
        cmd.policies.validate()?;

        let mut decision = Decision::event(InstanceEvent::Added(InstanceAdded {
            name,
            default_language,
        }));
        for domain in &domains {
            decision = decision
                .and(InstanceEvent::DomainAdded(InstanceDomain {
                    domain: domain.clone(),
                }))
                .with_unique(UniqueChange::add(
                    unique::INSTANCE_DOMAIN,
                    domain.clone(),
                    "domains",
                ));
        }
        if let Some(primary) = domains.first() {
            decision = decision.and(InstanceEvent::PrimaryDomainSet(InstanceDomain {
                domain: primary.clone(),
            }));
        }
        let policies = &cmd.policies;
        Ok(decision
            .and(InstanceEvent::PasswordComplexityPolicySet(
                policies.password_complexity.clone(),
            ))
            .and(InstanceEvent::LockoutPolicySet(policies.lockout.clone()))
            .and(InstanceEvent::LoginPolicySet(policies.login.clone())))
    }

    /// Adds a domain routing to the instance.
    pub fn add_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<InstanceEvent>, DomainError> {
        self.ensure_exists()?;
        let domain = validate::domain("instance.domain", "domain", domain, false)?;
        if self.domains.contains(&domain) {
            return Err(DomainError::already_exists(
                "instance.domain.already_exists",
                format!("{domain} is already a domain of this instance"),
            )
            .with_field("domain"));
        }
        if self.domains.len() >= MAX_INSTANCE_DOMAINS {
            return Err(DomainError::precondition(
                "instance.domains.limit_reached",
                format!("an instance may have at most {MAX_INSTANCE_DOMAINS} domains"),
            ));
        }
        Ok(Decision::event(InstanceEvent::DomainAdded(InstanceDomain {
            domain: domain.clone(),
        }))
        .with_unique(UniqueChange::add(unique::INSTANCE_DOMAIN, domain, "domain")))
    }

    /// Makes a domain of the instance its primary domain.
    pub fn set_primary_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<InstanceEvent>, DomainError> {
        self.ensure_exists()?;
        let domain = validate::domain("instance.domain", "domain", domain, false)?;
        self.ensure_domain(&domain)?;
        if self.primary_domain.as_ref() == Some(&domain) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(InstanceEvent::PrimaryDomainSet(
            InstanceDomain { domain },
        )))
    }

    /// Removes a domain; the primary domain cannot be removed.
    pub fn remove_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<InstanceEvent>, DomainError> {
        self.ensure_exists()?;
        let domain = validate::domain("instance.domain", "domain", domain, false)?;
        self.ensure_domain(&domain)?;
        if self.primary_domain.as_ref() == Some(&domain) {
            return Err(DomainError::precondition(
                "instance.domain.primary",
                format!("{domain} is the primary domain; make another domain primary first"),
            )
            .with_field("domain"));
        }
        Ok(
            Decision::event(InstanceEvent::DomainRemoved(InstanceDomain {
                domain: domain.clone(),
            }))
            .with_unique(UniqueChange::remove(unique::INSTANCE_DOMAIN, domain)),
        )
    }

    /// Replaces one default policy.
    pub fn set_default_policy(
        &self,
        policy: &Policy,
        _ctx: &CommandContext,
    ) -> Result<Decision<InstanceEvent>, DomainError> {
        self.ensure_exists()?;
        policy.validate()?;
        if self.policies.get(policy.kind()) == *policy {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(InstanceEvent::policy_set(policy.clone())))
    }

    /// Chooses the system organization (once): the organization that holds the instance's first
    /// administrator, whose organization roles authorize nothing, so only instance roles manage it.
    pub fn set_system_org(
        &self,
        org_id: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<InstanceEvent>, DomainError> {
        self.ensure_exists()?;
        let org_id = validate::identifier("instance.system_org_id", "org_id", org_id)?;
        match &self.system_org_id {
            Some(current) if *current == org_id => Ok(Decision::unchanged()),
            Some(_) => Err(DomainError::already_exists(
                "instance.system_org.already_set",
                "the instance already has a system organization",
            )),
            None => Ok(Decision::event(InstanceEvent::SystemOrgSet(SystemOrg {
                org_id,
            }))),
        }
    }

    /// Whether `org_id` is the system organization.
    pub fn is_system_org(&self, org_id: &str) -> bool {
        self.system_org_id.as_deref() == Some(org_id)
    }

    fn ensure_not_last_owner(&self, user_id: &str) -> Result<(), DomainError> {
        self.ensure_other_active_owner(user_id, |_| true)
    }

    /// Refuses a change that would leave the instance without an active `IAM_OWNER`: `user_id` is about to
    /// lose the role or stop being usable (deactivated, locked, removed), and `is_active` tells whether
    /// another owner is an active, unlocked user. Answers 409 `instance.last_owner`.
    pub fn ensure_other_active_owner(
        &self,
        user_id: &str,
        is_active: impl Fn(&str) -> bool,
    ) -> Result<(), DomainError> {
        if !self.is_owner(user_id) {
            return Ok(());
        }
        self.ensure_owner_remains(|id| id != user_id && is_active(id))
            .map_err(|e| e.with_field("user_id"))
    }

    /// Refuses a change after which no `IAM_OWNER` for which `remains` holds would be left (an active user
    /// of an active organization after the change). Answers 409 `instance.last_owner`.
    pub fn ensure_owner_remains(&self, remains: impl Fn(&str) -> bool) -> Result<(), DomainError> {
        if self.owners().any(remains) {
            return Ok(());
        }
        Err(DomainError::precondition(
            "instance.last_owner",
            "this would leave the instance without an active IAM_OWNER; make another active user IAM_OWNER first",
        ))
    }

    /// Whether `user_id` holds `IAM_OWNER`.
    pub fn is_owner(&self, user_id: &str) -> bool {
        self.members
            .roles_of(user_id)
            .is_some_and(|r| r.contains(&Role::IamOwner))
    }

    /// The ids of the users holding `IAM_OWNER`.
    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.members
            .iter()
            .filter(|(_, roles)| roles.contains(&Role::IamOwner))
            .map(|(id, _)| id)
    }
}

crate::member::with_members!(
    Instance,
    InstanceEvent,
    Instance,
    /// The last `IAM_OWNER` keeps that role and its membership.
    fn ensure_may_leave(&self, user_id: &str, roles: Option<&[Role]>) -> Result<(), DomainError> {
        if roles.is_some_and(|roles| roles.contains(&Role::IamOwner)) {
            return Ok(());
        }
        self.ensure_not_last_owner(user_id)
    }
);

#[cfg(test)]
mod tests;
