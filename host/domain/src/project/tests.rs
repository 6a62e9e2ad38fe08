use super::*;
use crate::authz::Role;
use crate::error::ErrorKind;
use crate::fixtures::{
    active_org, ctx, human, inactive_org, removed_org, removed_user, role, shop_events, strings,
};
use crate::member::WithMembers;
use crate::testing::given;

/// A command on a project, boxed so several can be run in a loop.
type Command<'a> = Box<dyn Fn(&Project) -> Result<Decision<ProjectEvent>, DomainError> + 'a>;

fn added() -> ProjectEvent {
    ProjectEvent::Added(ProjectAdded {
        org_id: "org-1".to_owned(),
        name: "Shop".to_owned(),
    })
}

fn with(extra: &[ProjectEvent]) -> Vec<ProjectEvent> {
    [shop_events(), extra.to_vec()].concat()
}

fn grant_to(grant_id: &str, org_id: &str, roles: &[&str]) -> ProjectGrantAdded {
    ProjectGrantAdded {
        grant_id: grant_id.to_owned(),
        granted_org_id: org_id.to_owned(),
        role_keys: strings(roles),
    }
}

#[test]
fn add_project_to_an_active_org() {
    let cmd = AddProject {
        org_id: "org-1".to_owned(),
        name: " Shop ".to_owned(),
    };
    given::<Project>(&[])
        .when(|p| p.add(&cmd, &active_org(), &ctx()))
        .then_events([added()])
        .then_state(|p| assert_eq!(p.org_id, "org-1"));
}

#[test]
fn add_project_refusals() {
    let cmd = AddProject {
        org_id: "org-1".to_owned(),
        name: "Shop".to_owned(),
    };
    given::<Project>(&[])
        .when(|p| p.add(&cmd, &removed_org(), &ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found")
        .then_field("org_id");
    given::<Project>(&[])
        .when(|p| p.add(&cmd, &inactive_org(), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.inactive");
    given::<Project>(&[added()])
        .when(|p| p.add(&cmd, &active_org(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "project.already_exists");
    let blank = AddProject {
        name: String::new(),
        ..cmd
    };
    given::<Project>(&[])
        .when(|p| p.add(&blank, &active_org(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "project.name.required")
        .then_field("name");
}

#[test]
fn rename() {
    given::<Project>(&[added()])
        .when(|p| p.rename("Store", &ctx()))
        .then_events([ProjectEvent::Renamed(ProjectRenamed {
            name: "Store".to_owned(),
        })]);
    given::<Project>(&[added()])
        .when(|p| p.rename("Shop", &ctx()))
        .then_unchanged();
    given::<Project>(&[added()])
        .when(|p| p.rename(&"n".repeat(201), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "project.name.too_long");
}

#[test]
fn deactivate_reactivate_remove() {
    given::<Project>(&[added()])
        .when(|p| p.deactivate(&ctx()))
        .then_events([ProjectEvent::Deactivated]);
    given::<Project>(&[added(), ProjectEvent::Deactivated])
        .when(|p| p.deactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "project.already_inactive");
    given::<Project>(&[added(), ProjectEvent::Deactivated])
        .when(|p| p.reactivate(&ctx()))
        .then_events([ProjectEvent::Reactivated]);
    given::<Project>(&[added()])
        .when(|p| p.reactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "project.not_inactive");
    given::<Project>(&[added()])
        .when(|p| p.remove(&ctx()))
        .then_events([ProjectEvent::Removed])
        .then_state(|p| assert!(!p.exists()));
}

#[test]
fn commands_on_a_removed_project_are_not_found() {
    let c = ctx();
    let commands: Vec<Command<'_>> = vec![
        Box::new(|p| p.rename("x", &c)),
        Box::new(|p| p.deactivate(&c)),
        Box::new(|p| p.reactivate(&c)),
        Box::new(|p| p.remove(&c)),
        Box::new(|p| p.add_role(&role("new"), &c)),
        Box::new(|p| p.change_role(&role("reader"), &c)),
        Box::new(|p| p.remove_role("reader", &c)),
        Box::new(|p| p.add_grant(&grant_to("grant-2", "org-3", &[]), &active_org(), &c)),
        Box::new(|p| p.change_grant("grant-1", &[], &c)),
        Box::new(|p| p.remove_grant("grant-1", &c)),
        Box::new(|p| p.add_member("user-1", &human(), &[Role::ProjectOwner], &c)),
        Box::new(|p| p.change_member("user-1", &[Role::ProjectOwner], &c)),
        Box::new(|p| p.remove_member("user-1", &c)),
    ];
    for command in commands {
        given::<Project>(&with(&[ProjectEvent::Removed]))
            .when(|p| command(p))
            .then_error(ErrorKind::NotFound, "project.not_found");
    }
}

#[test]
fn add_role() {
    let editor = ProjectRole {
        key: "editor".to_owned(),
        display_name: "Editor".to_owned(),
        group: "content".to_owned(),
    };
    given::<Project>(&shop_events())
        .when(|p| p.add_role(&editor, &ctx()))
        .then_events([ProjectEvent::RoleAdded(editor.clone())])
        .then_state(|p| assert!(p.has_role("editor")));
}

#[test]
fn add_role_refusals() {
    given::<Project>(&shop_events())
        .when(|p| p.add_role(&role("reader"), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "project.role.already_exists")
        .then_field("key");
    given::<Project>(&shop_events())
        .when(|p| p.add_role(&role("bad key"), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "project.role.key.invalid")
        .then_field("key");
    let unnamed = ProjectRole {
        display_name: String::new(),
        ..role("x")
    };
    given::<Project>(&shop_events())
        .when(|p| p.add_role(&unnamed, &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "project.role.display_name.required",
        )
        .then_field("display_name");
}

#[test]
fn roles_are_limited() {
    let mut events = vec![added()];
    events.extend((0..MAX_PROJECT_ROLES).map(|i| ProjectEvent::RoleAdded(role(&format!("r{i}")))));
    given::<Project>(&events)
        .when(|p| p.add_role(&role("extra"), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "project.roles.limit_reached");
}

#[test]
fn change_role() {
    let renamed = ProjectRole {
        display_name: "Readers".to_owned(),
        ..role("reader")
    };
    given::<Project>(&shop_events())
        .when(|p| p.change_role(&renamed, &ctx()))
        .then_events([ProjectEvent::RoleChanged(renamed.clone())]);
    given::<Project>(&shop_events())
        .when(|p| p.change_role(&role("reader"), &ctx()))
        .then_unchanged();
    given::<Project>(&shop_events())
        .when(|p| p.change_role(&role("ghost"), &ctx()))
        .then_error(ErrorKind::NotFound, "project.role.not_found")
        .then_field("key");
}

#[test]
fn remove_role_also_removes_it_from_grants() {
    given::<Project>(&shop_events())
        .when(|p| p.remove_role("writer", &ctx()))
        .then_events([
            ProjectEvent::RoleRemoved(ProjectRoleRemoved {
                key: "writer".to_owned(),
            }),
            ProjectEvent::GrantChanged(ProjectGrantChanged {
                grant_id: "grant-1".to_owned(),
                role_keys: strings(&["reader"]),
            }),
        ])
        .then_state(|p| {
            assert!(!p.has_role("writer"));
            assert_eq!(p.grants["grant-1"].role_keys, ["reader"]);
        });
}

#[test]
fn remove_role_not_in_grants_touches_no_grant() {
    given::<Project>(&shop_events())
        .when(|p| p.remove_role("admin", &ctx()))
        .then_events([ProjectEvent::RoleRemoved(ProjectRoleRemoved {
            key: "admin".to_owned(),
        })]);
}

#[test]
fn remove_unknown_role_is_not_found() {
    given::<Project>(&shop_events())
        .when(|p| p.remove_role("ghost", &ctx()))
        .then_error(ErrorKind::NotFound, "project.role.not_found");
}

#[test]
fn add_grant() {
    let grant = grant_to("grant-2", "org-3", &["admin"]);
    given::<Project>(&shop_events())
        .when(|p| p.add_grant(&grant, &active_org(), &ctx()))
        .then_events([ProjectEvent::GrantAdded(grant.clone())])
        .then_state(|p| assert_eq!(p.grants["grant-2"].granted_org_id, "org-3"));
}

#[test]
fn add_grant_refusals() {
    given::<Project>(&shop_events())
        .when(|p| p.add_grant(&grant_to("grant-2", "org-1", &[]), &active_org(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "project.grant.own_org")
        .then_field("granted_org_id");
    given::<Project>(&shop_events())
        .when(|p| p.add_grant(&grant_to("grant-2", "org-2", &[]), &active_org(), &ctx()))
        .then_error(
            ErrorKind::AlreadyExists,
            "project.grant.org_already_granted",
        )
        .then_field("granted_org_id");
    given::<Project>(&shop_events())
        .when(|p| p.add_grant(&grant_to("grant-1", "org-3", &[]), &active_org(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "project.grant.already_exists")
        .then_field("grant_id");
    given::<Project>(&shop_events())
        .when(|p| p.add_grant(&grant_to("grant-2", "org-3", &[]), &removed_org(), &ctx()))
        .then_error(ErrorKind::NotFound, "org.not_found")
        .then_field("granted_org_id");
    given::<Project>(&shop_events())
        .when(|p| p.add_grant(&grant_to("grant-2", "org-3", &[]), &inactive_org(), &ctx()))
        .then_error(ErrorKind::PreconditionFailed, "org.inactive");
    given::<Project>(&shop_events())
        .when(|p| {
            p.add_grant(
                &grant_to("grant-2", "org-3", &["reader", "ghost"]),
                &active_org(),
                &ctx(),
            )
        })
        .then_error(ErrorKind::InvalidArgument, "project.grant.role_key.unknown")
        .then_field("role_keys[1]");
    given::<Project>(&shop_events())
        .when(|p| {
            p.add_grant(
                &grant_to("grant-2", "org-3", &["reader", "reader"]),
                &active_org(),
                &ctx(),
            )
        })
        .then_error(
            ErrorKind::InvalidArgument,
            "project.grant.role_key.duplicate",
        )
        .then_field("role_keys[1]");
}

#[test]
fn change_grant() {
    given::<Project>(&shop_events())
        .when(|p| p.change_grant("grant-1", &strings(&["reader", "admin"]), &ctx()))
        .then_events([ProjectEvent::GrantChanged(ProjectGrantChanged {
            grant_id: "grant-1".to_owned(),
            role_keys: strings(&["reader", "admin"]),
        })]);
    given::<Project>(&shop_events())
        .when(|p| p.change_grant("grant-1", &strings(&["writer", "reader"]), &ctx()))
        .then_unchanged();
    given::<Project>(&shop_events())
        .when(|p| p.change_grant("grant-9", &[], &ctx()))
        .then_error(ErrorKind::NotFound, "project.grant.not_found")
        .then_field("grant_id");
    given::<Project>(&shop_events())
        .when(|p| p.change_grant("grant-1", &strings(&["ghost"]), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "project.grant.role_key.unknown")
        .then_field("role_keys[0]");
}

#[test]
fn remove_grant() {
    given::<Project>(&shop_events())
        .when(|p| p.remove_grant("grant-1", &ctx()))
        .then_events([ProjectEvent::GrantRemoved(ProjectGrantRemoved {
            grant_id: "grant-1".to_owned(),
        })])
        .then_state(|p| assert!(p.grants.is_empty()));
    given::<Project>(&shop_events())
        .when(|p| p.remove_grant("grant-9", &ctx()))
        .then_error(ErrorKind::NotFound, "project.grant.not_found");
}

#[test]
fn members() {
    let owner = MemberRoles {
        user_id: "user-1".to_owned(),
        roles: vec![Role::ProjectOwner],
    };
    given::<Project>(&shop_events())
        .when(|p| p.add_member("user-1", &human(), &[Role::ProjectOwner], &ctx()))
        .then_events([ProjectEvent::MemberAdded(owner.clone())]);
    given::<Project>(&with(&[ProjectEvent::MemberAdded(owner.clone())]))
        .when(|p| p.change_member("user-1", &[Role::ProjectOwnerViewer], &ctx()))
        .then_events([ProjectEvent::MemberChanged(MemberRoles {
            user_id: "user-1".to_owned(),
            roles: vec![Role::ProjectOwnerViewer],
        })]);
    given::<Project>(&with(&[ProjectEvent::MemberAdded(owner.clone())]))
        .when(|p| p.change_member("user-1", &[Role::ProjectOwner], &ctx()))
        .then_unchanged();
    given::<Project>(&with(&[ProjectEvent::MemberAdded(owner)]))
        .when(|p| p.remove_member("user-1", &ctx()))
        .then_events([ProjectEvent::MemberRemoved(MemberRemoved {
            user_id: "user-1".to_owned(),
        })]);
}

#[test]
fn member_refusals() {
    given::<Project>(&shop_events())
        .when(|p| p.add_member("user-1", &human(), &[Role::IamOwner], &ctx()))
        .then_error(ErrorKind::InvalidArgument, "member.role.wrong_scope");
    given::<Project>(&shop_events())
        .when(|p| p.add_member("user-1", &removed_user(), &[Role::ProjectOwner], &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found");
    given::<Project>(&shop_events())
        .when(|p| p.remove_member("user-1", &ctx()))
        .then_error(ErrorKind::NotFound, "member.not_found");
}

#[test]
fn drop_grant_works_after_removal_and_repeats_harmlessly() {
    let removed = with(&[ProjectEvent::Removed]);
    let dropped = ProjectEvent::GrantRemoved(ProjectGrantRemoved {
        grant_id: "grant-1".to_owned(),
    });
    given::<Project>(&removed)
        .when(|p| p.drop_grant("grant-1", &ctx()))
        .then_events([dropped.clone()]);
    given::<Project>(&shop_events())
        .when(|p| p.drop_grant("grant-1", &ctx()))
        .then_events([dropped.clone()]);
    given::<Project>(&[removed, vec![dropped]].concat())
        .when(|p| p.drop_grant("grant-1", &ctx()))
        .then_unchanged();
    given::<Project>(&[])
        .when(|p| p.drop_grant("grant-1", &ctx()))
        .then_unchanged();
}
