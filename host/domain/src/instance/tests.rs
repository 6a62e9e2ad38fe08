use super::*;
use crate::error::ErrorKind;
use crate::fixtures::{ctx, human, removed_user};
use crate::member::WithMembers;
use crate::policy::PolicySet;
use crate::testing::given;

fn setup_cmd() -> SetupInstance {
    SetupInstance {
        name: "Warden".to_owned(),
        domains: vec!["Auth.Example.com".to_owned(), "localhost".to_owned()],
        default_language: "en".to_owned(),
        policies: PolicySet::default(),
    }
}

fn domain(d: &str) -> InstanceDomain {
    InstanceDomain {
        domain: d.to_owned(),
    }
}

fn set_up() -> Vec<InstanceEvent> {
    let policies = PolicySet::default();
    vec![
        InstanceEvent::Added(InstanceAdded {
            name: "Warden".to_owned(),
            default_language: "en".to_owned(),
        }),
        InstanceEvent::DomainAdded(domain("auth.example.com")),
        InstanceEvent::DomainAdded(domain("localhost")),
        InstanceEvent::PrimaryDomainSet(domain("auth.example.com")),
        InstanceEvent::PasswordComplexityPolicySet(policies.password_complexity),
        InstanceEvent::LockoutPolicySet(policies.lockout),
        InstanceEvent::LoginPolicySet(policies.login),
    ]
}

fn with_owner(user_id: &str) -> Vec<InstanceEvent> {
    let mut events = set_up();
    events.push(InstanceEvent::MemberAdded(MemberRoles {
        user_id: user_id.to_owned(),
        roles: vec![Role::IamOwner],
    }));
    events
}

#[test]
fn setup_adds_instance_domains_primary_and_default_policies() {
    given::<Instance>(&[])
        .when(|i| i.setup(&setup_cmd(), &ctx()))
        .then_events(set_up())
        .then_unique([
            UniqueChange::add(unique::INSTANCE_DOMAIN, "auth.example.com", "domains"),
            UniqueChange::add(unique::INSTANCE_DOMAIN, "localhost", "domains"),
        ])
        .then_state(|i| {
            assert_eq!(i.primary_domain.as_deref(), Some("auth.example.com"));
            assert_eq!(i.domains, ["auth.example.com", "localhost"]);
            assert_eq!(i.policies, PolicySet::default());
        });
}

#[test]
fn setup_twice_is_refused() {
    given::<Instance>(&set_up())
        .when(|i| i.setup(&setup_cmd(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "instance.already_exists");
}

#[test]
fn setup_without_domains_is_refused() {
    let cmd = SetupInstance {
        domains: vec![],
        ..setup_cmd()
    };
    given::<Instance>(&[])
        .when(|i| i.setup(&cmd, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "instance.domains.required")
        .then_field("domains");
}

#[test]
fn setup_with_a_bad_or_repeated_domain_names_it() {
    let cmd = SetupInstance {
        domains: vec!["auth.example.com".to_owned(), "https://x".to_owned()],
        ..setup_cmd()
    };
    given::<Instance>(&[])
        .when(|i| i.setup(&cmd, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "instance.domain.invalid")
        .then_field("domains[1]");
    let cmd = SetupInstance {
        domains: vec!["auth.example.com".to_owned(), "AUTH.example.com".to_owned()],
        ..setup_cmd()
    };
    given::<Instance>(&[])
        .when(|i| i.setup(&cmd, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "instance.domain.duplicate")
        .then_field("domains[1]");
}

#[test]
fn setup_with_an_invalid_policy_is_refused() {
    let mut cmd = setup_cmd();
    cmd.policies.password_complexity.min_length = 4;
    given::<Instance>(&[])
        .when(|i| i.setup(&cmd, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "policy.password_complexity.min_length.out_of_range",
        )
        .then_field("min_length");
}

#[test]
fn setup_with_a_blank_name_is_refused() {
    let cmd = SetupInstance {
        name: " ".to_owned(),
        ..setup_cmd()
    };
    given::<Instance>(&[])
        .when(|i| i.setup(&cmd, &ctx()))
        .then_error(ErrorKind::InvalidArgument, "instance.name.required")
        .then_field("name");
}

#[test]
fn commands_before_setup_are_not_found() {
    given::<Instance>(&[])
        .when(|i| i.add_domain("x.example.com", &ctx()))
        .then_error(ErrorKind::NotFound, "instance.not_found");
}

#[test]
fn add_domain_claims_it_globally() {
    given::<Instance>(&set_up())
        .when(|i| i.add_domain("Login.Example.org", &ctx()))
        .then_events([InstanceEvent::DomainAdded(domain("login.example.org"))])
        .then_unique([UniqueChange::add(
            unique::INSTANCE_DOMAIN,
            "login.example.org",
            "domain",
        )]);
    assert_eq!(
        UniqueChange::add(unique::INSTANCE_DOMAIN, "x", "domain").scope(),
        crate::aggregate::UniqueScope::Global
    );
}

#[test]
fn add_existing_domain_is_refused() {
    given::<Instance>(&set_up())
        .when(|i| i.add_domain("LOCALHOST", &ctx()))
        .then_error(ErrorKind::AlreadyExists, "instance.domain.already_exists")
        .then_field("domain");
}

#[test]
fn add_invalid_domain_is_refused() {
    given::<Instance>(&set_up())
        .when(|i| i.add_domain("exa mple.com", &ctx()))
        .then_error(ErrorKind::InvalidArgument, "instance.domain.invalid")
        .then_field("domain");
}

#[test]
fn remove_domain_frees_it() {
    given::<Instance>(&set_up())
        .when(|i| i.remove_domain("localhost", &ctx()))
        .then_events([InstanceEvent::DomainRemoved(domain("localhost"))])
        .then_unique([UniqueChange::remove(unique::INSTANCE_DOMAIN, "localhost")])
        .then_state(|i| assert_eq!(i.domains, ["auth.example.com"]));
}

#[test]
fn remove_primary_domain_is_refused() {
    given::<Instance>(&set_up())
        .when(|i| i.remove_domain("auth.example.com", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "instance.domain.primary")
        .then_field("domain");
}

#[test]
fn remove_unknown_domain_is_not_found() {
    given::<Instance>(&set_up())
        .when(|i| i.remove_domain("other.example.com", &ctx()))
        .then_error(ErrorKind::NotFound, "instance.domain.not_found");
}

#[test]
fn set_primary_domain() {
    given::<Instance>(&set_up())
        .when(|i| i.set_primary_domain("localhost", &ctx()))
        .then_events([InstanceEvent::PrimaryDomainSet(domain("localhost"))]);
    given::<Instance>(&set_up())
        .when(|i| i.set_primary_domain("auth.example.com", &ctx()))
        .then_unchanged();
    given::<Instance>(&set_up())
        .when(|i| i.set_primary_domain("nope.example.com", &ctx()))
        .then_error(ErrorKind::NotFound, "instance.domain.not_found");
}

#[test]
fn change_default_policy() {
    let lockout = LockoutPolicy {
        max_password_attempts: 3,
        show_lockout_failures: false,
    };
    given::<Instance>(&set_up())
        .when(|i| i.set_default_policy(&Policy::Lockout(lockout.clone()), &ctx()))
        .then_events([InstanceEvent::LockoutPolicySet(lockout.clone())])
        .then_state(|i| assert_eq!(i.policies.lockout, lockout));
}

#[test]
fn change_default_policy_to_the_same_is_unchanged() {
    given::<Instance>(&set_up())
        .when(|i| i.set_default_policy(&Policy::Login(LoginPolicy::default()), &ctx()))
        .then_unchanged();
}

#[test]
fn change_default_policy_to_an_invalid_one_is_refused() {
    let login = LoginPolicy {
        allow_username_password: false,
        allow_external_idp: false,
        ..LoginPolicy::default()
    };
    given::<Instance>(&set_up())
        .when(|i| i.set_default_policy(&Policy::Login(login), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "policy.login.no_login_method");
}

#[test]
fn change_password_complexity_default() {
    let strict = PasswordComplexityPolicy {
        min_length: 12,
        ..PasswordComplexityPolicy::default()
    };
    given::<Instance>(&set_up())
        .when(|i| i.set_default_policy(&Policy::PasswordComplexity(strict.clone()), &ctx()))
        .then_events([InstanceEvent::PasswordComplexityPolicySet(strict)]);
}

#[test]
fn add_member() {
    given::<Instance>(&set_up())
        .when(|i| i.add_member("user-1", &human(), &[Role::IamOwner], &ctx()))
        .then_events([InstanceEvent::MemberAdded(MemberRoles {
            user_id: "user-1".to_owned(),
            roles: vec![Role::IamOwner],
        })])
        .then_state(|i| assert_eq!(i.members.roles_of("user-1"), Some(&[Role::IamOwner][..])));
}

#[test]
fn add_member_refusals() {
    given::<Instance>(&set_up())
        .when(|i| i.add_member("user-9", &removed_user(), &[Role::IamOwner], &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found")
        .then_field("user_id");
    given::<Instance>(&set_up())
        .when(|i| i.add_member("user-1", &human(), &[Role::OrgOwner], &ctx()))
        .then_error(ErrorKind::InvalidArgument, "member.role.wrong_scope")
        .then_field("roles[0]");
    given::<Instance>(&set_up())
        .when(|i| i.add_member("user-1", &human(), &[], &ctx()))
        .then_error(ErrorKind::InvalidArgument, "member.roles.required")
        .then_field("roles");
    given::<Instance>(&set_up())
        .when(|i| {
            i.add_member(
                "user-1",
                &human(),
                &[Role::IamOwnerViewer, Role::IamOwnerViewer],
                &ctx(),
            )
        })
        .then_error(ErrorKind::InvalidArgument, "member.role.duplicate")
        .then_field("roles[1]");
    given::<Instance>(&with_owner("user-1"))
        .when(|i| i.add_member("user-1", &human(), &[Role::IamOwnerViewer], &ctx()))
        .then_error(ErrorKind::AlreadyExists, "member.already_exists");
}

#[test]
fn change_member_roles() {
    let mut events = with_owner("user-1");
    events.push(InstanceEvent::MemberAdded(MemberRoles {
        user_id: "user-2".to_owned(),
        roles: vec![Role::IamOwnerViewer],
    }));
    given::<Instance>(&events)
        .when(|i| {
            i.change_member(
                "user-2",
                &[Role::IamUserManager, Role::IamOwnerViewer],
                &ctx(),
            )
        })
        .then_events([InstanceEvent::MemberChanged(MemberRoles {
            user_id: "user-2".to_owned(),
            roles: vec![Role::IamOwnerViewer, Role::IamUserManager],
        })]);
    given::<Instance>(&events)
        .when(|i| i.change_member("user-2", &[Role::IamOwnerViewer], &ctx()))
        .then_unchanged();
    given::<Instance>(&events)
        .when(|i| i.change_member("user-3", &[Role::IamOwnerViewer], &ctx()))
        .then_error(ErrorKind::NotFound, "member.not_found");
}

#[test]
fn the_last_owner_cannot_be_removed_or_demoted() {
    given::<Instance>(&with_owner("user-1"))
        .when(|i| i.remove_member("user-1", &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "instance.last_owner");
    given::<Instance>(&with_owner("user-1"))
        .when(|i| i.change_member("user-1", &[Role::IamOwnerViewer], &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "instance.last_owner");
}

#[test]
fn an_owner_can_be_removed_when_another_remains() {
    let mut events = with_owner("user-1");
    events.push(InstanceEvent::MemberAdded(MemberRoles {
        user_id: "user-2".to_owned(),
        roles: vec![Role::IamOwner],
    }));
    given::<Instance>(&events)
        .when(|i| i.remove_member("user-1", &ctx()))
        .then_events([InstanceEvent::MemberRemoved(MemberRemoved {
            user_id: "user-1".to_owned(),
        })])
        .then_state(|i| assert_eq!(i.members.len(), 1));
}

#[test]
fn remove_unknown_member_is_not_found() {
    given::<Instance>(&set_up())
        .when(|i| i.remove_member("user-1", &ctx()))
        .then_error(ErrorKind::NotFound, "member.not_found")
        .then_field("user_id");
}

#[test]
fn members_give_memberships_for_authorization() {
    let instance = Instance::replay(&with_owner("user-1"));
    let membership = instance
        .members
        .membership_of("user-1", crate::authz::Scope::Instance)
        .expect("member");
    assert!(crate::authz::is_allowed(
        &[membership],
        crate::authz::Permission::InstanceWrite,
        &crate::authz::Target::Instance
    ));
    assert!(
        instance
            .members
            .membership_of("user-2", crate::authz::Scope::Instance)
            .is_none()
    );
}

#[test]
fn the_last_active_owner_is_kept() {
    let roles = |user: &str, roles: &[Role]| {
        InstanceEvent::MemberAdded(MemberRoles {
            user_id: user.to_owned(),
            roles: roles.to_vec(),
        })
    };
    let mut instance = Instance::default();
    for event in set_up() {
        instance.apply(&event);
    }
    instance.apply(&roles("u1", &[Role::IamOwner]));
    instance.apply(&roles("u2", &[Role::IamOwner]));
    instance.apply(&roles("u3", &[Role::IamUserManager]));
    // u2 is an owner but not active (locked or deactivated): u1 is the last active one.
    let refused = instance
        .ensure_other_active_owner("u1", |id| id == "u1")
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::PreconditionFailed);
    assert_eq!(refused.code, "instance.last_owner");
    assert!(instance.ensure_other_active_owner("u1", |_| true).is_ok());
    // Not an owner: nothing to keep.
    assert!(instance.ensure_other_active_owner("u3", |_| false).is_ok());
}

#[test]
fn the_system_organization_is_chosen_once() {
    given::<Instance>(&set_up())
        .when(|i| i.set_system_org("org-sys", &ctx()))
        .then_events([InstanceEvent::SystemOrgSet(SystemOrg {
            org_id: "org-sys".to_owned(),
        })]);
    let mut events = set_up();
    events.push(InstanceEvent::SystemOrgSet(SystemOrg {
        org_id: "org-sys".to_owned(),
    }));
    given::<Instance>(&events)
        .when(|i| i.set_system_org("org-other", &ctx()))
        .then_error(ErrorKind::AlreadyExists, "instance.system_org.already_set");
    given::<Instance>(&events)
        .when(|i| i.set_system_org("org-sys", &ctx()))
        .then_unchanged();
}
