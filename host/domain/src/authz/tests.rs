use super::*;
use crate::error::ErrorKind;

fn member(scope: Scope, roles: &[Role]) -> Vec<Membership> {
    vec![Membership {
        scope,
        roles: roles.to_vec(),
    }]
}

fn org(id: &str) -> Target {
    Target::Org {
        org_id: id.to_owned(),
    }
}

fn project(org_id: &str, project_id: &str) -> Target {
    Target::Project {
        org_id: org_id.to_owned(),
        project_id: project_id.to_owned(),
    }
}

#[test]
fn iam_owner_may_do_everything_everywhere() {
    let owner = member(Scope::Instance, &[Role::IamOwner]);
    for permission in Permission::ALL {
        for target in [Target::Instance, org("org-1"), project("org-1", "p-1")] {
            assert!(
                is_allowed(&owner, permission, &target),
                "{permission} on {target}"
            );
        }
    }
}

#[test]
fn org_owner_manages_own_org_and_its_projects_only() {
    let owner = member(Scope::Org("org-1".to_owned()), &[Role::OrgOwner]);
    assert!(is_allowed(&owner, Permission::OrgWrite, &org("org-1")));
    assert!(is_allowed(&owner, Permission::UserWrite, &org("org-1")));
    assert!(is_allowed(
        &owner,
        Permission::AppWrite,
        &project("org-1", "p-1")
    ));
    assert!(!is_allowed(&owner, Permission::OrgWrite, &org("org-2")));
    assert!(!is_allowed(&owner, Permission::UserRead, &org("org-2")));
    assert!(!is_allowed(
        &owner,
        Permission::ProjectRead,
        &project("org-2", "p-2")
    ));
    assert!(!is_allowed(
        &owner,
        Permission::OrgCreate,
        &Target::Instance
    ));
    assert!(!is_allowed(
        &owner,
        Permission::InstanceWrite,
        &Target::Instance
    ));
}

#[test]
fn project_owner_is_limited_to_the_project() {
    let owner = member(Scope::Project("p-1".to_owned()), &[Role::ProjectOwner]);
    assert!(is_allowed(
        &owner,
        Permission::ProjectWrite,
        &project("org-1", "p-1")
    ));
    assert!(is_allowed(
        &owner,
        Permission::UserGrantWrite,
        &project("org-1", "p-1")
    ));
    assert!(!is_allowed(
        &owner,
        Permission::ProjectWrite,
        &project("org-1", "p-2")
    ));
    assert!(!is_allowed(&owner, Permission::OrgRead, &org("org-1")));
    assert!(!is_allowed(&owner, Permission::UserWrite, &org("org-1")));
}

#[test]
fn viewers_only_read() {
    let viewers = [
        member(Scope::Instance, &[Role::IamOwnerViewer]),
        member(Scope::Org("org-1".to_owned()), &[Role::OrgOwnerViewer]),
        member(
            Scope::Project("p-1".to_owned()),
            &[Role::ProjectOwnerViewer],
        ),
    ];
    for viewer in &viewers {
        for role in viewer.iter().flat_map(|m| &m.roles) {
            for permission in role.permissions() {
                assert!(
                    permission.as_str().ends_with(".read"),
                    "{role} grants {permission}"
                );
            }
        }
    }
    assert!(is_allowed(&viewers[1], Permission::UserRead, &org("org-1")));
    assert!(!is_allowed(
        &viewers[1],
        Permission::UserWrite,
        &org("org-1")
    ));
}

#[test]
fn user_managers_manage_users_but_not_the_org() {
    let manager = member(Scope::Org("org-1".to_owned()), &[Role::OrgUserManager]);
    assert!(is_allowed(&manager, Permission::UserWrite, &org("org-1")));
    assert!(is_allowed(
        &manager,
        Permission::UserGrantWrite,
        &project("org-1", "p-1")
    ));
    assert!(!is_allowed(&manager, Permission::OrgWrite, &org("org-1")));
    assert!(!is_allowed(
        &manager,
        Permission::OrgMemberWrite,
        &org("org-1")
    ));
    assert!(!is_allowed(
        &manager,
        Permission::ProjectWrite,
        &project("org-1", "p-1")
    ));
}

#[test]
fn iam_org_manager_manages_orgs_but_not_the_instance() {
    let manager = member(Scope::Instance, &[Role::IamOrgManager]);
    assert!(is_allowed(
        &manager,
        Permission::OrgCreate,
        &Target::Instance
    ));
    assert!(is_allowed(&manager, Permission::OrgDelete, &org("org-9")));
    assert!(!is_allowed(
        &manager,
        Permission::InstanceWrite,
        &Target::Instance
    ));
    assert!(!is_allowed(
        &manager,
        Permission::InstanceMemberWrite,
        &Target::Instance
    ));
}

#[test]
fn project_creator_creates_projects_but_cannot_change_others() {
    let creator = member(Scope::Org("org-1".to_owned()), &[Role::OrgProjectCreator]);
    assert!(is_allowed(
        &creator,
        Permission::ProjectCreate,
        &org("org-1")
    ));
    assert!(!is_allowed(
        &creator,
        Permission::ProjectWrite,
        &project("org-1", "p-1")
    ));
}

#[test]
fn a_role_on_a_scope_of_the_wrong_kind_grants_nothing() {
    let misplaced = member(Scope::Instance, &[Role::OrgOwner]);
    assert!(!is_allowed(&misplaced, Permission::OrgRead, &org("org-1")));
}

#[test]
fn no_memberships_no_permissions() {
    assert!(!is_allowed(&[], Permission::OrgRead, &org("org-1")));
}

#[test]
fn memberships_add_up() {
    let mut memberships = member(Scope::Org("org-1".to_owned()), &[Role::OrgProjectCreator]);
    memberships.extend(member(
        Scope::Project("p-2".to_owned()),
        &[Role::ProjectOwner],
    ));
    assert!(is_allowed(
        &memberships,
        Permission::ProjectCreate,
        &org("org-1")
    ));
    assert!(is_allowed(
        &memberships,
        Permission::AppWrite,
        &project("org-2", "p-2")
    ));
    assert!(!is_allowed(
        &memberships,
        Permission::AppWrite,
        &project("org-1", "p-1")
    ));
}

#[test]
fn authorize_explains_what_is_missing() {
    let owner = member(Scope::Org("org-1".to_owned()), &[Role::OrgOwner]);
    assert_eq!(
        authorize(&owner, Permission::OrgWrite, &org("org-1")),
        Ok(())
    );
    let error = authorize(&owner, Permission::OrgWrite, &org("org-2")).expect_err("other org");
    assert_eq!(error.kind, ErrorKind::PermissionDenied);
    assert_eq!(error.code, "authz.permission_denied");
    assert_eq!(
        error.message,
        "permission org.write on organization org-2 is required for this request"
    );
}

#[test]
fn role_and_permission_names_round_trip() {
    for role in Role::ALL {
        assert_eq!(Role::parse(role.as_str()), Some(role));
        assert_eq!(
            serde_json::to_value(role).expect("serializes"),
            role.as_str()
        );
    }
    for permission in Permission::ALL {
        assert_eq!(Permission::parse(permission.as_str()), Some(permission));
        assert_eq!(
            serde_json::to_value(permission).expect("serializes"),
            permission.as_str()
        );
    }
    assert_eq!(Role::parse("ROOT"), None);
    assert_eq!(Permission::parse("everything"), None);
}

#[test]
fn every_permission_is_granted_by_some_role_other_than_iam_owner() {
    for permission in Permission::ALL {
        let granted = Role::ALL
            .iter()
            .filter(|r| **r != Role::IamOwner)
            .any(|r| r.grants(permission));
        assert!(
            granted
                || permission == Permission::InstanceWrite
                || permission == Permission::InstanceMemberWrite
                // Uploading and binding plugins runs code for the whole instance: owners only.
                || permission == Permission::PluginWrite,
            "{permission} is only granted by IAM_OWNER"
        );
    }
}

#[test]
fn only_instance_owners_manage_plugins() {
    for role in Role::ALL {
        assert_eq!(
            role.grants(Permission::PluginWrite),
            role == Role::IamOwner,
            "{role:?}"
        );
    }
    assert!(Role::IamOwnerViewer.grants(Permission::PluginRead));
}

fn held(on: Target, roles: &[Role]) -> HeldMembership {
    HeldMembership {
        on,
        roles: roles.to_vec(),
    }
}

#[test]
fn acting_on_a_user_needs_every_privilege_it_holds() {
    let owner_a = member(Scope::Org("a".to_owned()), &[Role::OrgOwner]);
    // A user of A without memberships, or an owner of A: the owner of A covers it.
    assert!(may_act_on(&owner_a, &[]).is_ok());
    assert!(may_act_on(&owner_a, &[held(org("a"), &[Role::OrgOwner])]).is_ok());
    // An owner of B (or any instance role) is beyond an owner of A.
    let refused = may_act_on(
        &owner_a,
        &[
            held(org("a"), &[Role::OrgUserManager]),
            held(org("b"), &[Role::OrgOwner]),
        ],
    )
    .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::PermissionDenied);
    assert_eq!(refused.code, "authz.target_more_privileged");
    assert!(may_act_on(&owner_a, &[held(Target::Instance, &[Role::IamOwnerViewer])]).is_err());
    // A user manager holds no member permission: it cannot act on anyone holding a role.
    let manager = member(Scope::Org("a".to_owned()), &[Role::OrgUserManager]);
    assert!(may_act_on(&manager, &[]).is_ok());
    assert!(may_act_on(&manager, &[held(org("a"), &[Role::OrgOwnerViewer])]).is_err());
    // The instance owner covers everything.
    let iam = member(Scope::Instance, &[Role::IamOwner]);
    assert!(
        may_act_on(
            &iam,
            &[
                held(Target::Instance, &[Role::IamOwner]),
                held(org("b"), &[Role::OrgOwner]),
                held(project("b", "p"), &[Role::ProjectOwner]),
            ]
        )
        .is_ok()
    );
    // IAM_ORG_MANAGER manages org members but lacks `events.read`, which ORG_OWNER has.
    let org_manager = member(Scope::Instance, &[Role::IamOrgManager]);
    assert!(may_act_on(&org_manager, &[held(org("b"), &[Role::OrgUserManager])]).is_ok());
    assert!(may_act_on(&org_manager, &[held(org("b"), &[Role::OrgOwner])]).is_err());
    // A project owner covers a member of its project, an org owner covers the org's projects.
    let project_owner = member(Scope::Project("p".to_owned()), &[Role::ProjectOwner]);
    assert!(
        may_act_on(
            &project_owner,
            &[held(project("a", "p"), &[Role::ProjectOwner])]
        )
        .is_ok()
    );
    assert!(may_act_on(&owner_a, &[held(project("a", "p"), &[Role::ProjectOwner])]).is_ok());
    assert!(
        may_act_on(
            &owner_a,
            &[held(project("b", "q"), &[Role::ProjectOwnerViewer])]
        )
        .is_err()
    );
}

#[test]
fn resources_outside_every_membership_are_hidden_not_forbidden() {
    let owner_a = member(Scope::Org("a".to_owned()), &[Role::OrgOwner]);
    assert!(may_see(&owner_a, Permission::UserWrite, &org("a")));
    assert!(!may_see(&owner_a, Permission::UserWrite, &org("b")));
    assert!(!may_see(&owner_a, Permission::AppRead, &project("b", "p")));
    // The instance itself is never hidden.
    assert!(may_see(
        &owner_a,
        Permission::InstanceWrite,
        &Target::Instance
    ));
    // A project creator sees its organization (403 on writes), but not the projects it did not get.
    let creator = member(Scope::Org("a".to_owned()), &[Role::OrgProjectCreator]);
    assert!(may_see(&creator, Permission::OrgWrite, &org("a")));
    assert!(!may_see(
        &creator,
        Permission::ProjectWrite,
        &project("a", "p")
    ));
}

#[test]
fn roles_are_given_only_within_the_givers_own_privileges() {
    // An organization manager of the instance manages members but does not read the audit trail:
    // it can give the roles it covers, not ORG_OWNER (which includes `events.read`).
    let org_manager = member(Scope::Instance, &[Role::IamOrgManager]);
    assert!(may_grant(&org_manager, &[Role::OrgUserManager], &org("a")).is_ok());
    assert!(may_grant(&org_manager, &[Role::ProjectOwner], &project("a", "p")).is_ok());
    let refused = may_grant(&org_manager, &[Role::OrgOwner], &org("a")).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::PermissionDenied);
    assert_eq!(refused.code, "authz.role_beyond_own");
    assert!(
        refused.message.contains("events.read"),
        "{}",
        refused.message
    );
    // An owner gives its own role, and a project owner its own.
    let owner_a = member(Scope::Org("a".to_owned()), &[Role::OrgOwner]);
    assert!(may_grant(&owner_a, &[Role::OrgOwner, Role::OrgOwnerViewer], &org("a")).is_ok());
    assert!(may_grant(&owner_a, &[Role::OrgOwner], &org("b")).is_err());
    let project_owner = member(Scope::Project("p".to_owned()), &[Role::ProjectOwner]);
    assert!(may_grant(&project_owner, &[Role::ProjectOwner], &project("a", "p")).is_ok());
    // The instance owner gives anything.
    let iam = member(Scope::Instance, &[Role::IamOwner]);
    assert!(may_grant(&iam, &Role::ALL, &Target::Instance).is_ok());
    assert!(may_grant(&iam, &[Role::OrgOwner], &org("a")).is_ok());
}
