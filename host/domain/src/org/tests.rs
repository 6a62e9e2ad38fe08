use super::*;
use crate::authz::Role;
use crate::error::ErrorKind;
use crate::fixtures::{ctx, human, org_added, removed_user};
use crate::member::WithMembers;
use crate::testing::given;

fn d(domain: &str) -> OrgDomainName {
    OrgDomainName {
        domain: domain.to_owned(),
    }
}

/// ACME with a verified primary domain acme.com, a verified acme.org and an unverified acme.net.
fn with_domains() -> Vec<OrgEvent> {
    vec![
        org_added("ACME"),
        OrgEvent::DomainAdded(d("acme.com")),
        OrgEvent::DomainVerified(d("acme.com")),
        OrgEvent::PrimaryDomainSet(d("acme.com")),
        OrgEvent::DomainAdded(d("acme.org")),
        OrgEvent::DomainVerified(d("acme.org")),
        OrgEvent::DomainAdded(d("acme.net")),
    ]
}

#[test]
fn add_claims_the_lower_cased_name() {
    given::<Organization>(&[])
        .when(|o| o.add("  ACME Corp ", &ctx()))
        .then_events([org_added("ACME Corp")])
        .then_unique([UniqueChange::add(unique::ORG_NAME, "acme corp", "name")])
        .then_state(|o| assert!(o.is_active()));
}

#[test]
fn add_refusals() {
    given::<Organization>(&[])
        .when(|o| o.add("", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "org.name.required")
        .then_field("name");
    given::<Organization>(&[])
        .when(|o| o.add(&"x".repeat(201), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "org.name.too_long")
        .then_field("name");
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.add("Other", &ctx()))
        .then_error(ErrorKind::AlreadyExists, "org.already_exists");
    given::<Organization>(&[org_added("ACME"), OrgEvent::Removed])
        .when(|o| o.add("ACME", &ctx()))
        .then_error(ErrorKind::AlreadyExists, "org.already_exists");
}

#[test]
fn rename_moves_the_name_claim() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.rename("Globex", &ctx()))
        .then_events([OrgEvent::Renamed(OrgName {
            name: "Globex".to_owned(),
        })])
        .then_unique([
            UniqueChange::remove(unique::ORG_NAME, "acme"),
            UniqueChange::add(unique::ORG_NAME, "globex", "name"),
        ]);
}

#[test]
fn rename_changing_only_case_keeps_the_claim() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.rename("Acme", &ctx()))
        .then_events([OrgEvent::Renamed(OrgName {
            name: "Acme".to_owned(),
        })])
        .then_unique([]);
}

#[test]
fn rename_to_the_same_name_is_unchanged() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.rename("ACME", &ctx()))
        .then_unchanged();
}

#[test]
fn rename_removed_org_is_not_found() {
    given::<Organization>(&[org_added("ACME"), OrgEvent::Removed])
        .when(|o| o.rename("Globex", &ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found");
}

#[test]
fn deactivate_and_reactivate() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.deactivate(&ctx()))
        .then_events([OrgEvent::Deactivated])
        .then_state(|o| assert_eq!(o.lifecycle, Lifecycle::Inactive));
    given::<Organization>(&[org_added("ACME"), OrgEvent::Deactivated])
        .when(|o| o.reactivate(&ctx()))
        .then_events([OrgEvent::Reactivated])
        .then_state(|o| assert!(o.is_active()));
}

#[test]
fn deactivate_twice_or_reactivate_active_is_refused() {
    given::<Organization>(&[org_added("ACME"), OrgEvent::Deactivated])
        .when(|o| o.deactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.already_inactive");
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.reactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.not_inactive");
    given::<Organization>(&[])
        .when(|o| o.deactivate(&ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found");
}

#[test]
fn remove_frees_name_and_verified_domains() {
    given::<Organization>(&with_domains())
        .when(|o| o.remove(&ctx()))
        .then_events([OrgEvent::Removed])
        .then_unique([
            UniqueChange::remove(unique::ORG_NAME, "acme"),
            UniqueChange::remove(unique::ORG_DOMAIN, "acme.com"),
            UniqueChange::remove(unique::ORG_DOMAIN, "acme.org"),
        ])
        .then_state(|o| assert!(!o.exists()));
}

#[test]
fn remove_twice_is_not_found() {
    given::<Organization>(&[org_added("ACME"), OrgEvent::Removed])
        .when(|o| o.remove(&ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found");
}

#[test]
fn add_domain_is_unverified_and_unclaimed() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.add_domain("ACME.com", &ctx()))
        .then_events([OrgEvent::DomainAdded(d("acme.com"))])
        .then_unique([])
        .then_state(|o| assert_eq!(o.domain("acme.com").map(|d| d.verified), Some(false)));
}

#[test]
fn add_domain_refusals() {
    given::<Organization>(&with_domains())
        .when(|o| o.add_domain("acme.net", &ctx()))
        .then_error(ErrorKind::AlreadyExists, "org.domain.already_exists")
        .then_field("domain");
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.add_domain("localhost", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "org.domain.invalid")
        .then_field("domain");
}

#[test]
fn verify_domain_claims_it() {
    given::<Organization>(&with_domains())
        .when(|o| o.verify_domain("acme.net", &ctx()))
        .then_events([OrgEvent::DomainVerified(d("acme.net"))])
        .then_unique([UniqueChange::add(unique::ORG_DOMAIN, "acme.net", "domain")]);
}

#[test]
fn verify_domain_refusals() {
    given::<Organization>(&with_domains())
        .when(|o| o.verify_domain("acme.org", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.domain.already_verified");
    given::<Organization>(&with_domains())
        .when(|o| o.verify_domain("other.com", &ctx()))
        .then_error(ErrorKind::NotFound, "org.domain.not_found")
        .then_field("domain");
}

#[test]
fn set_primary_domain() {
    given::<Organization>(&with_domains())
        .when(|o| o.set_primary_domain("acme.org", &ctx()))
        .then_events([OrgEvent::PrimaryDomainSet(d("acme.org"))])
        .then_state(|o| assert_eq!(o.primary_domain.as_deref(), Some("acme.org")));
    given::<Organization>(&with_domains())
        .when(|o| o.set_primary_domain("acme.com", &ctx()))
        .then_unchanged();
}

#[test]
fn set_primary_domain_needs_a_verified_domain() {
    given::<Organization>(&with_domains())
        .when(|o| o.set_primary_domain("acme.net", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.domain.not_verified")
        .then_field("domain");
}

#[test]
fn remove_domain_frees_it_when_verified() {
    given::<Organization>(&with_domains())
        .when(|o| o.remove_domain("acme.org", &ctx()))
        .then_events([OrgEvent::DomainRemoved(d("acme.org"))])
        .then_unique([UniqueChange::remove(unique::ORG_DOMAIN, "acme.org")]);
    given::<Organization>(&with_domains())
        .when(|o| o.remove_domain("acme.net", &ctx()))
        .then_events([OrgEvent::DomainRemoved(d("acme.net"))])
        .then_unique([]);
}

#[test]
fn remove_primary_or_unknown_domain_is_refused() {
    given::<Organization>(&with_domains())
        .when(|o| o.remove_domain("acme.com", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.domain.primary");
    given::<Organization>(&with_domains())
        .when(|o| o.remove_domain("other.com", &ctx()))
        .then_error(ErrorKind::NotFound, "org.domain.not_found");
}

#[test]
fn set_policy_overrides_the_default() {
    let lockout = LockoutPolicy {
        max_password_attempts: 5,
        show_lockout_failures: true,
    };
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.set_policy(&Policy::Lockout(lockout.clone()), &ctx()))
        .then_events([OrgEvent::LockoutPolicySet(lockout.clone())])
        .then_state(|o| assert_eq!(o.policy_overrides.lockout, Some(lockout.clone())));
    given::<Organization>(&[
        org_added("ACME"),
        OrgEvent::LockoutPolicySet(lockout.clone()),
    ])
    .when(|o| o.set_policy(&Policy::Lockout(lockout.clone()), &ctx()))
    .then_unchanged();
}

#[test]
fn set_each_kind_of_policy() {
    let complexity = PasswordComplexityPolicy {
        min_length: 10,
        ..PasswordComplexityPolicy::default()
    };
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.set_policy(&Policy::PasswordComplexity(complexity.clone()), &ctx()))
        .then_events([OrgEvent::PasswordComplexityPolicySet(complexity)]);
    let login = LoginPolicy {
        allow_register: true,
        force_mfa: true,
        ..LoginPolicy::default()
    };
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.set_policy(&Policy::Login(login.clone()), &ctx()))
        .then_events([OrgEvent::LoginPolicySet(login)]);
}

#[test]
fn set_invalid_policy_is_refused() {
    let lockout = LockoutPolicy {
        max_password_attempts: 5000,
        show_lockout_failures: true,
    };
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.set_policy(&Policy::Lockout(lockout), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "policy.lockout.max_password_attempts.out_of_range",
        )
        .then_field("max_password_attempts");
}

#[test]
fn reset_policy_goes_back_to_the_default() {
    given::<Organization>(&[
        org_added("ACME"),
        OrgEvent::LoginPolicySet(LoginPolicy::default()),
    ])
    .when(|o| o.reset_policy(PolicyKind::Login, &ctx()))
    .then_events([OrgEvent::LoginPolicyReset])
    .then_state(|o| assert!(!o.policy_overrides.is_overridden(PolicyKind::Login)));
    given::<Organization>(&[
        org_added("ACME"),
        OrgEvent::PasswordComplexityPolicySet(PasswordComplexityPolicy::default()),
        OrgEvent::LockoutPolicySet(LockoutPolicy::default()),
    ])
    .when(|o| {
        let first = o.reset_policy(PolicyKind::PasswordComplexity, &ctx())?;
        let second = o.reset_policy(PolicyKind::Lockout, &ctx())?;
        Ok(Decision::events([first.events, second.events].concat()))
    })
    .then_events([
        OrgEvent::PasswordComplexityPolicyReset,
        OrgEvent::LockoutPolicyReset,
    ]);
}

#[test]
fn reset_policy_without_override_is_not_found() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.reset_policy(PolicyKind::Lockout, &ctx()))
        .then_error(ErrorKind::NotFound, "org.policy.not_found");
}

#[test]
fn org_policies_resolve_against_instance_defaults() {
    let strict = PasswordComplexityPolicy {
        min_length: 20,
        ..PasswordComplexityPolicy::default()
    };
    let org = Organization::replay(&[
        org_added("ACME"),
        OrgEvent::PasswordComplexityPolicySet(strict.clone()),
    ]);
    let defaults = crate::policy::PolicySet::default();
    let in_force = crate::policy::resolve(&defaults, &org.policy_overrides);
    assert_eq!(in_force.password_complexity, strict);
    assert_eq!(in_force.login, defaults.login);
}

#[test]
fn members_add_change_remove() {
    let member = MemberRoles {
        user_id: "user-1".to_owned(),
        roles: vec![Role::OrgOwner],
    };
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.add_member("user-1", &human(), &[Role::OrgOwner], &ctx()))
        .then_events([OrgEvent::MemberAdded(member.clone())]);
    given::<Organization>(&[org_added("ACME"), OrgEvent::MemberAdded(member.clone())])
        .when(|o| o.change_member("user-1", &[Role::OrgUserManager], &ctx()))
        .then_events([OrgEvent::MemberChanged(MemberRoles {
            user_id: "user-1".to_owned(),
            roles: vec![Role::OrgUserManager],
        })]);
    given::<Organization>(&[org_added("ACME"), OrgEvent::MemberAdded(member.clone())])
        .when(|o| o.change_member("user-1", &[Role::OrgOwner], &ctx()))
        .then_unchanged();
    given::<Organization>(&[org_added("ACME"), OrgEvent::MemberAdded(member)])
        .when(|o| o.remove_member("user-1", &ctx()))
        .then_events([OrgEvent::MemberRemoved(MemberRemoved {
            user_id: "user-1".to_owned(),
        })])
        .then_state(|o| assert!(o.members.is_empty()));
}

#[test]
fn member_refusals() {
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.add_member("user-1", &human(), &[Role::ProjectOwner], &ctx()))
        .then_error(ErrorKind::InvalidArgument, "member.role.wrong_scope")
        .then_field("roles[0]");
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.add_member("user-1", &removed_user(), &[Role::OrgOwner], &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found");
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.remove_member("user-1", &ctx()))
        .then_error(ErrorKind::NotFound, "member.not_found");
    given::<Organization>(&[org_added("ACME")])
        .when(|o| o.change_member("user-1", &[Role::OrgOwner], &ctx()))
        .then_error(ErrorKind::NotFound, "member.not_found");
    given::<Organization>(&[])
        .when(|o| o.add_member("user-1", &human(), &[Role::OrgOwner], &ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found");
}
