//! Organizations: name, life cycle, domains, policy overrides and organization members.
//!
//! Names are unique per instance, case-insensitively ([`unique::ORG_NAME`]). A domain is claimed
//! ([`unique::ORG_DOMAIN`]) only once verified: any organization may add an unverified domain, but only one can
//! prove it owns it. Verification itself (DNS or HTTP challenge) happens outside the domain.

use serde::{Deserialize, Serialize};

use crate::aggregate::{
    Aggregate, CommandContext, Decision, Lifecycle, UniqueChange, domain_events, no_upcast,
};
use crate::error::DomainError;
use crate::member::{MemberRemoved, MemberRoles, Members};
use crate::policy::{
    LockoutPolicy, LoginPolicy, PasswordComplexityPolicy, Policy, PolicyKind, PolicyOverrides,
};
use crate::unique;
use crate::validate;

mod commands;

pub use commands::*;

/// The most domains an organization may have.
pub const MAX_ORG_DOMAINS: usize = 100;

/// Payload of `org.added` and `org.renamed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgName {
    /// The organization's name, as entered (trimmed).
    pub name: String,
}

/// Payload of the `org.domain.*` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgDomainName {
    /// The domain, lower-cased.
    pub domain: String,
}

domain_events! {
    /// Events of the organization aggregate.
    pub enum OrgEvent {
        /// The organization was created.
        Added(OrgName) => "org.added" @ 1,
        /// The organization was renamed.
        Renamed(OrgName) => "org.renamed" @ 1,
        /// The organization was deactivated.
        Deactivated => "org.deactivated" @ 1,
        /// The organization was reactivated.
        Reactivated => "org.reactivated" @ 1,
        /// The organization was removed; its name and verified domains are free again.
        Removed => "org.removed" @ 1,
        /// An unverified domain was added.
        DomainAdded(OrgDomainName) => "org.domain.added" @ 1,
        /// A domain was verified and is now claimed by this organization.
        DomainVerified(OrgDomainName) => "org.domain.verified" @ 1,
        /// A verified domain became the primary domain.
        PrimaryDomainSet(OrgDomainName) => "org.domain.primary.set" @ 1,
        /// A domain was removed.
        DomainRemoved(OrgDomainName) => "org.domain.removed" @ 1,
        /// The organization overrides the password complexity policy.
        PasswordComplexityPolicySet(PasswordComplexityPolicy) => "org.policy.password_complexity.set" @ 1,
        /// The organization follows the instance's password complexity policy again.
        PasswordComplexityPolicyReset => "org.policy.password_complexity.reset" @ 1,
        /// The organization overrides the lockout policy.
        LockoutPolicySet(LockoutPolicy) => "org.policy.lockout.set" @ 1,
        /// The organization follows the instance's lockout policy again.
        LockoutPolicyReset => "org.policy.lockout.reset" @ 1,
        /// The organization overrides the login policy.
        LoginPolicySet(LoginPolicy) => "org.policy.login.set" @ 1,
        /// The organization follows the instance's login policy again.
        LoginPolicyReset => "org.policy.login.reset" @ 1,
        /// A user became an organization member.
        MemberAdded(MemberRoles) => "org.member.added" @ 1,
        /// An organization member's roles changed.
        MemberChanged(MemberRoles) => "org.member.changed" @ 1,
        /// A user is no longer an organization member.
        MemberRemoved(MemberRemoved) => "org.member.removed" @ 1,
    }
    upcast = no_upcast;
}

/// A domain of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgDomain {
    /// The domain, lower-cased.
    pub domain: String,
    /// True once ownership was proven.
    pub verified: bool,
}

/// State of an organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Organization {
    /// Life cycle.
    pub lifecycle: Lifecycle,
    /// The name.
    pub name: String,
    /// The domains, in the order they were added.
    pub domains: Vec<OrgDomain>,
    /// The primary (verified) domain.
    pub primary_domain: Option<String>,
    /// Policies that differ from the instance defaults.
    pub policy_overrides: PolicyOverrides,
    /// The organization members.
    pub members: Members,
}

impl Aggregate for Organization {
    const TYPE: &'static str = "org";
    type Event = OrgEvent;

    fn apply(&mut self, event: &OrgEvent) {
        match event {
            OrgEvent::Added(e) => {
                self.lifecycle = Lifecycle::Active;
                self.name.clone_from(&e.name);
            }
            OrgEvent::Renamed(e) => self.name.clone_from(&e.name),
            OrgEvent::Deactivated => self.lifecycle = Lifecycle::Inactive,
            OrgEvent::Reactivated => self.lifecycle = Lifecycle::Active,
            OrgEvent::Removed => self.lifecycle = Lifecycle::Removed,
            OrgEvent::DomainAdded(e) => {
                if self.domain(&e.domain).is_none() {
                    self.domains.push(OrgDomain {
                        domain: e.domain.clone(),
                        verified: false,
                    });
                }
            }
            OrgEvent::DomainVerified(e) => {
                if let Some(d) = self.domains.iter_mut().find(|d| d.domain == e.domain) {
                    d.verified = true;
                }
            }
            OrgEvent::PrimaryDomainSet(e) => self.primary_domain = Some(e.domain.clone()),
            OrgEvent::DomainRemoved(e) => {
                self.domains.retain(|d| d.domain != e.domain);
                if self.primary_domain.as_ref() == Some(&e.domain) {
                    self.primary_domain = None;
                }
            }
            OrgEvent::PasswordComplexityPolicySet(p) => {
                self.policy_overrides
                    .set(Policy::PasswordComplexity(p.clone()));
            }
            OrgEvent::LockoutPolicySet(p) => self.policy_overrides.set(Policy::Lockout(p.clone())),
            OrgEvent::LoginPolicySet(p) => self.policy_overrides.set(Policy::Login(p.clone())),
            OrgEvent::PasswordComplexityPolicyReset => {
                self.policy_overrides.reset(PolicyKind::PasswordComplexity);
            }
            OrgEvent::LockoutPolicyReset => self.policy_overrides.reset(PolicyKind::Lockout),
            OrgEvent::LoginPolicyReset => self.policy_overrides.reset(PolicyKind::Login),
            OrgEvent::MemberAdded(e) | OrgEvent::MemberChanged(e) => self.members.apply_set(e),
            OrgEvent::MemberRemoved(e) => self.members.apply_removed(e),
        }
    }
}

fn name_key(name: &str) -> String {
    name.to_lowercase()
}

impl Organization {
    /// Added and not removed.
    pub fn exists(&self) -> bool {
        self.lifecycle.exists()
    }

    /// Added, not removed, not deactivated.
    pub fn is_active(&self) -> bool {
        self.lifecycle == Lifecycle::Active
    }

    /// The domain `domain` (lower-cased), if the organization has it.
    pub fn domain(&self, domain: &str) -> Option<&OrgDomain> {
        self.domains.iter().find(|d| d.domain == domain)
    }

    fn ensure_exists(&self) -> Result<(), DomainError> {
        if self.exists() {
            Ok(())
        } else {
            Err(DomainError::not_found(
                "org.not_found",
                "the organization does not exist",
            ))
        }
    }

    fn existing_domain(&self, domain: &str) -> Result<(String, &OrgDomain), DomainError> {
        let domain = validate::domain("org.domain", "domain", domain, true)?;
        match self.domain(&domain) {
            Some(found) => Ok((domain, found)),
            None => Err(DomainError::not_found(
                "org.domain.not_found",
                format!("{domain} is not a domain of this organization"),
            )
            .with_field("domain")),
        }
    }

    /// Creates the organization; claims its name.
    pub fn add(
        &self,
        name: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        if self.lifecycle != Lifecycle::Unspecified {
            return Err(DomainError::already_exists(
                "org.already_exists",
                "an organization with this id already exists",
            ));
        }
        let name = validate::text("org.name", "name", name, validate::MAX_NAME_LEN)?;
        Ok(
            Decision::event(OrgEvent::Added(OrgName { name: name.clone() }))
                .with_unique(UniqueChange::add(unique::ORG_NAME, name_key(&name), "name")),
        )
    }

    /// Renames the organization; moves the name claim unless only the case changed.
    pub fn rename(
        &self,
        name: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        let name = validate::text("org.name", "name", name, validate::MAX_NAME_LEN)?;
        if name == self.name {
            return Ok(Decision::unchanged());
        }
        let mut decision = Decision::event(OrgEvent::Renamed(OrgName { name: name.clone() }));
        if name_key(&name) != name_key(&self.name) {
            decision = decision
                .with_unique(UniqueChange::remove(unique::ORG_NAME, name_key(&self.name)))
                .with_unique(UniqueChange::add(unique::ORG_NAME, name_key(&name), "name"));
        }
        Ok(decision)
    }

    /// Deactivates an active organization.
    pub fn deactivate(&self, _ctx: &CommandContext) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.deactivate(
            OrgEvent::Deactivated,
            (
                "org.already_inactive",
                "the organization is already deactivated",
            ),
        )
    }

    /// Reactivates a deactivated organization.
    pub fn reactivate(&self, _ctx: &CommandContext) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        self.lifecycle.reactivate(
            OrgEvent::Reactivated,
            (
                "org.not_inactive",
                "the organization is active; only a deactivated organization can be reactivated",
            ),
        )
    }

    /// Removes the organization; frees its name and verified domains.
    pub fn remove(&self, _ctx: &CommandContext) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        let mut decision = Decision::event(OrgEvent::Removed)
            .with_unique(UniqueChange::remove(unique::ORG_NAME, name_key(&self.name)));
        for domain in self.domains.iter().filter(|d| d.verified) {
            decision = decision.with_unique(UniqueChange::remove(
                unique::ORG_DOMAIN,
                domain.domain.clone(),
            ));
        }
        Ok(decision)
    }

    /// Adds an unverified domain.
    pub fn add_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        let domain = validate::domain("org.domain", "domain", domain, true)?;
        if self.domain(&domain).is_some() {
            return Err(DomainError::already_exists(
                "org.domain.already_exists",
                format!("{domain} is already a domain of this organization"),
            )
            .with_field("domain"));
        }
        if self.domains.len() >= MAX_ORG_DOMAINS {
            return Err(DomainError::precondition(
                "org.domains.limit_reached",
                format!("an organization may have at most {MAX_ORG_DOMAINS} domains"),
            ));
        }
        Ok(Decision::event(OrgEvent::DomainAdded(OrgDomainName {
            domain,
        })))
    }

    /// Marks a domain verified (after the caller checked the challenge) and claims it in the instance.
    pub fn verify_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        let (domain, found) = self.existing_domain(domain)?;
        if found.verified {
            return Err(DomainError::precondition(
                "org.domain.already_verified",
                format!("{domain} is already verified"),
            )
            .with_field("domain"));
        }
        Ok(Decision::event(OrgEvent::DomainVerified(OrgDomainName {
            domain: domain.clone(),
        }))
        .with_unique(UniqueChange::add(unique::ORG_DOMAIN, domain, "domain")))
    }

    /// Makes a verified domain the primary domain.
    pub fn set_primary_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        let (domain, found) = self.existing_domain(domain)?;
        if !found.verified {
            return Err(DomainError::precondition(
                "org.domain.not_verified",
                format!("{domain} must be verified before it can be the primary domain"),
            )
            .with_field("domain"));
        }
        if self.primary_domain.as_ref() == Some(&domain) {
            return Ok(Decision::unchanged());
        }
        Ok(Decision::event(OrgEvent::PrimaryDomainSet(OrgDomainName {
            domain,
        })))
    }

    /// Removes a domain other than the primary one; frees it if it was verified.
    pub fn remove_domain(
        &self,
        domain: &str,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        let (domain, found) = self.existing_domain(domain)?;
        if self.primary_domain.as_ref() == Some(&domain) {
            return Err(DomainError::precondition(
                "org.domain.primary",
                format!("{domain} is the primary domain; make another domain primary first"),
            )
            .with_field("domain"));
        }
        let verified = found.verified;
        let mut decision = Decision::event(OrgEvent::DomainRemoved(OrgDomainName {
            domain: domain.clone(),
        }));
        if verified {
            decision = decision.with_unique(UniqueChange::remove(unique::ORG_DOMAIN, domain));
        }
        Ok(decision)
    }

    /// Overrides one instance default policy for this organization.
    pub fn set_policy(
        &self,
        policy: &Policy,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        policy.validate()?;
        if self.policy_overrides.get(policy.kind()).as_ref() == Some(policy) {
            return Ok(Decision::unchanged());
        }
        let event = match policy.clone() {
            Policy::PasswordComplexity(p) => OrgEvent::PasswordComplexityPolicySet(p),
            Policy::Lockout(p) => OrgEvent::LockoutPolicySet(p),
            Policy::Login(p) => OrgEvent::LoginPolicySet(p),
        };
        Ok(Decision::event(event))
    }

    /// Drops an override: the instance default is in force again.
    pub fn reset_policy(
        &self,
        kind: PolicyKind,
        _ctx: &CommandContext,
    ) -> Result<Decision<OrgEvent>, DomainError> {
        self.ensure_exists()?;
        if !self.policy_overrides.is_overridden(kind) {
            return Err(DomainError::not_found(
                "org.policy.not_found",
                format!(
                    "the organization has no own {} policy; the instance default is already in force",
                    kind.as_str()
                ),
            ));
        }
        let event = match kind {
            PolicyKind::PasswordComplexity => OrgEvent::PasswordComplexityPolicyReset,
            PolicyKind::Lockout => OrgEvent::LockoutPolicyReset,
            PolicyKind::Login => OrgEvent::LoginPolicyReset,
        };
        Ok(Decision::event(event))
    }
}

crate::member::with_members!(Organization, OrgEvent, Org);

#[cfg(test)]
mod tests;
