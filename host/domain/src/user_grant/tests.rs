use super::*;
use crate::aggregate::Aggregate;
use crate::error::ErrorKind;
use crate::fixtures::{alice, ctx, human, removed_user, shop, shop_events, strings};
use crate::project::ProjectEvent;
use crate::testing::given;
use crate::user::UserEvent;

fn cmd(roles: &[&str]) -> AddUserGrant {
    AddUserGrant {
        user_id: "user-1".to_owned(),
        project_id: "project-1".to_owned(),
        project_grant_id: None,
        role_keys: strings(roles),
    }
}

fn via_grant(roles: &[&str]) -> AddUserGrant {
    AddUserGrant {
        project_grant_id: Some("grant-1".to_owned()),
        ..cmd(roles)
    }
}

/// A user of `org-2`, the organization `grant-1` is granted to.
fn partner_user() -> User {
    User::replay(&[UserEvent::HumanAdded(crate::user::HumanAdded {
        org_id: "org-2".to_owned(),
        ..alice()
    })])
}

fn added(roles: &[&str]) -> UserGrantEvent {
    UserGrantEvent::Added(UserGrantAdded {
        user_id: "user-1".to_owned(),
        project_id: "project-1".to_owned(),
        project_grant_id: None,
        org_id: "org-1".to_owned(),
        role_keys: strings(roles),
    })
}

fn added_via_grant(roles: &[&str]) -> UserGrantEvent {
    UserGrantEvent::Added(UserGrantAdded {
        user_id: "user-1".to_owned(),
        project_id: "project-1".to_owned(),
        project_grant_id: Some("grant-1".to_owned()),
        org_id: "org-2".to_owned(),
        role_keys: strings(roles),
    })
}

#[test]
fn add_grants_project_roles() {
    given::<UserGrant>(&[])
        .when(|g| g.add(&cmd(&["reader", "admin"]), &human(), &shop(), &ctx()))
        .then_events([added(&["reader", "admin"])])
        .then_unique([UniqueChange::add(
            unique::USER_GRANT,
            "user-1/project-1/",
            "user_id",
        )])
        .then_state(|g| assert_eq!(g.org_id, "org-1"));
}

#[test]
fn add_without_roles_gives_plain_access() {
    given::<UserGrant>(&[])
        .when(|g| g.add(&cmd(&[]), &human(), &shop(), &ctx()))
        .then_events([added(&[])]);
}

#[test]
fn add_through_a_project_grant() {
    given::<UserGrant>(&[])
        .when(|g| g.add(&via_grant(&["writer"]), &partner_user(), &shop(), &ctx()))
        .then_events([added_via_grant(&["writer"])])
        .then_unique([UniqueChange::add(
            unique::USER_GRANT,
            "user-1/project-1/grant-1",
            "user_id",
        )]);
}

#[test]
fn add_refusals() {
    given::<UserGrant>(&[])
        .when(|g| g.add(&cmd(&["reader"]), &removed_user(), &shop(), &ctx()))
        .then_error(ErrorKind::NotFound, "user.not_found")
        .then_field("user_id");
    given::<UserGrant>(&[])
        .when(|g| g.add(&cmd(&["reader"]), &human(), &Project::default(), &ctx()))
        .then_error(ErrorKind::NotFound, "project.not_found")
        .then_field("project_id");
    given::<UserGrant>(&[])
        .when(|g| g.add(&cmd(&["reader", "ghost"]), &human(), &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user_grant.role_key.unknown")
        .then_field("role_keys[1]");
    given::<UserGrant>(&[])
        .when(|g| g.add(&cmd(&["reader", "reader"]), &human(), &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user_grant.role_key.duplicate")
        .then_field("role_keys[1]");
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.add(&cmd(&["reader"]), &human(), &shop(), &ctx()))
        .then_error(ErrorKind::AlreadyExists, "user_grant.already_exists");
    let no_user = AddUserGrant {
        user_id: String::new(),
        ..cmd(&[])
    };
    given::<UserGrant>(&[])
        .when(|g| g.add(&no_user, &human(), &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user_grant.user_id.required")
        .then_field("user_id");
}

#[test]
fn add_through_a_project_grant_refusals() {
    given::<UserGrant>(&[])
        .when(|g| g.add(&via_grant(&["admin"]), &partner_user(), &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user_grant.role_key.unknown")
        .then_field("role_keys[0]");
    given::<UserGrant>(&[])
        .when(|g| g.add(&via_grant(&["reader"]), &human(), &shop(), &ctx()))
        .then_error(
            ErrorKind::InvalidArgument,
            "user_grant.user_not_in_granted_org",
        )
        .then_field("user_id");
    let unknown_grant = AddUserGrant {
        project_grant_id: Some("grant-9".to_owned()),
        ..cmd(&["reader"])
    };
    given::<UserGrant>(&[])
        .when(|g| g.add(&unknown_grant, &partner_user(), &shop(), &ctx()))
        .then_error(ErrorKind::NotFound, "project.grant.not_found")
        .then_field("project_grant_id");
}

#[test]
fn change_roles() {
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.change_roles(&strings(&["reader", "writer"]), &shop(), &ctx()))
        .then_events([UserGrantEvent::Changed(UserGrantChanged {
            role_keys: strings(&["reader", "writer"]),
        })])
        .then_state(|g| assert_eq!(g.role_keys, ["reader", "writer"]));
    given::<UserGrant>(&[added(&["reader", "writer"])])
        .when(|g| g.change_roles(&strings(&["writer", "reader"]), &shop(), &ctx()))
        .then_unchanged();
}

#[test]
fn change_roles_refusals() {
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.change_roles(&strings(&["ghost"]), &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user_grant.role_key.unknown")
        .then_field("role_keys[0]");
    given::<UserGrant>(&[added_via_grant(&["reader"])])
        .when(|g| g.change_roles(&strings(&["admin"]), &shop(), &ctx()))
        .then_error(ErrorKind::InvalidArgument, "user_grant.role_key.unknown");
    let project_without_grant = Project::replay(
        &[
            shop_events(),
            vec![ProjectEvent::GrantRemoved(
                crate::project::ProjectGrantRemoved {
                    grant_id: "grant-1".to_owned(),
                },
            )],
        ]
        .concat(),
    );
    given::<UserGrant>(&[added_via_grant(&["reader"])])
        .when(|g| g.change_roles(&strings(&["reader"]), &project_without_grant, &ctx()))
        .then_error(ErrorKind::NotFound, "project.grant.not_found");
    given::<UserGrant>(&[])
        .when(|g| g.change_roles(&[], &shop(), &ctx()))
        .then_error(ErrorKind::NotFound, "user_grant.not_found");
}

#[test]
fn deactivate_reactivate() {
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.deactivate(&ctx()))
        .then_events([UserGrantEvent::Deactivated]);
    given::<UserGrant>(&[added(&["reader"]), UserGrantEvent::Deactivated])
        .when(|g| g.deactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user_grant.already_inactive");
    given::<UserGrant>(&[added(&["reader"]), UserGrantEvent::Deactivated])
        .when(|g| g.reactivate(&ctx()))
        .then_events([UserGrantEvent::Reactivated]);
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.reactivate(&ctx()))
        .then_error(ErrorKind::PreconditionFailed, "user_grant.not_inactive");
}

#[test]
fn remove_frees_the_pair() {
    given::<UserGrant>(&[added_via_grant(&["reader"])])
        .when(|g| g.remove(&ctx()))
        .then_events([UserGrantEvent::Removed])
        .then_unique([UniqueChange::remove(
            unique::USER_GRANT,
            "user-1/project-1/grant-1",
        )]);
    given::<UserGrant>(&[added(&["reader"]), UserGrantEvent::Removed])
        .when(|g| g.remove(&ctx()))
        .then_error(ErrorKind::NotFound, "user_grant.not_found");
    given::<UserGrant>(&[added(&["reader"]), UserGrantEvent::Removed])
        .when(|g| g.deactivate(&ctx()))
        .then_error(ErrorKind::NotFound, "user_grant.not_found");
}

#[test]
fn drop_role_takes_one_role_out_and_keeps_an_empty_grant() {
    given::<UserGrant>(&[added(&["reader", "admin"])])
        .when(|g| g.drop_role("admin", &ctx()))
        .then_events([UserGrantEvent::Changed(UserGrantChanged {
            role_keys: strings(&["reader"]),
        })]);
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.drop_role("reader", &ctx()))
        .then_events([UserGrantEvent::Changed(UserGrantChanged {
            role_keys: Vec::new(),
        })])
        .then_state(|g| assert!(g.exists(), "a grant without roles stays"));
    given::<UserGrant>(&[added(&["reader"])])
        .when(|g| g.drop_role("admin", &ctx()))
        .then_unchanged();
    given::<UserGrant>(&[added(&["reader"]), UserGrantEvent::Removed])
        .when(|g| g.drop_role("reader", &ctx()))
        .then_unchanged();
}
