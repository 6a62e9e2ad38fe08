//! Commands on projects: life cycle, roles, grants to other organizations and project members.

use serde_json::json;
use warden_domain::{
    authz::{Permission, Role, ScopeKind},
    org::Organization,
    project::{AddProject, Project, ProjectGrantAdded, ProjectRole},
    user::User,
};

use super::{Resource, org_target};
use crate::{CallerCommands, CommandError, Details, new_id, pipeline::attempt};

impl CallerCommands<'_> {
    /// Creates a project with a new id in an organization.
    pub async fn add_project(&self, org_id: &str, name: &str) -> Result<Details, CommandError> {
        self.add_project_with_id(&new_id(), org_id, name).await
    }

    /// Creates a project with the given id (e.g. one derived at first start) in an organization.
    pub async fn add_project_with_id(
        &self,
        id: &str,
        org_id: &str,
        name: &str,
    ) -> Result<Details, CommandError> {
        let command = AddProject {
            org_id: org_id.to_owned(),
            name: name.to_owned(),
        };
        let target = org_target(org_id);
        let mut run = self.run("project.add", || {
            serde_json::to_value(&command).unwrap_or_default()
        });
        loop {
            attempt!(
                run,
                run.authorize_or_hide(Permission::ProjectCreate, &target, || {
                    Project::default()
                        .add(&command, &Organization::default(), run.ctx())
                        .err()
                })
                .await
            );
            let org = attempt!(run, run.read::<Organization>(org_id).await);
            let project = attempt!(run, run.new_target::<Project>(id).await);
            let decision = attempt!(run, project.state.add(&command, &org.state, run.ctx()));
            if let Some(details) = run.commit(&project, decision, Some(org_id)).await? {
                return Ok(details);
            }
        }
    }

    /// Renames a project.
    pub async fn rename_project(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.rename",
            project_id,
            Permission::ProjectWrite,
            || json!({ "name": name }),
            |project, ctx| project.rename(name, ctx),
        )
        .await
    }

    /// Deactivates a project.
    pub async fn deactivate_project(&self, project_id: &str) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.deactivate",
            project_id,
            Permission::ProjectWrite,
            || json!({}),
            |project, ctx| project.deactivate(ctx),
        )
        .await
    }

    /// Reactivates a project.
    pub async fn reactivate_project(&self, project_id: &str) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.reactivate",
            project_id,
            Permission::ProjectWrite,
            || json!({}),
            |project, ctx| project.reactivate(ctx),
        )
        .await
    }

    /// Removes a project.
    pub async fn remove_project(&self, project_id: &str) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.remove",
            project_id,
            Permission::ProjectDelete,
            || json!({}),
            |project, ctx| project.remove(ctx),
        )
        .await
    }

    /// Adds a role to a project.
    pub async fn add_project_role(
        &self,
        project_id: &str,
        role: &ProjectRole,
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.role.add",
            project_id,
            Permission::ProjectWrite,
            || serde_json::to_value(role).unwrap_or_default(),
            |project, ctx| project.add_role(role, ctx),
        )
        .await
    }

    /// Changes a project role's display name and group.
    pub async fn change_project_role(
        &self,
        project_id: &str,
        role: &ProjectRole,
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.role.change",
            project_id,
            Permission::ProjectWrite,
            || serde_json::to_value(role).unwrap_or_default(),
            |project, ctx| project.change_role(role, ctx),
        )
        .await
    }

    /// Removes a project role (and takes it out of the project's grants).
    pub async fn remove_project_role(
        &self,
        project_id: &str,
        key: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.role.remove",
            project_id,
            Permission::ProjectWrite,
            || json!({ "key": key }),
            |project, ctx| project.remove_role(key, ctx),
        )
        .await
    }

    /// Grants a project to another organization with some of its roles; returns the new grant's id.
    pub async fn add_project_grant(
        &self,
        project_id: &str,
        granted_org_id: &str,
        role_keys: &[String],
    ) -> Result<(Details, String), CommandError> {
        let grant = ProjectGrantAdded {
            grant_id: new_id(),
            granted_org_id: granted_org_id.to_owned(),
            role_keys: role_keys.to_vec(),
        };
        let mut run = self.run("project.grant.add", || {
            serde_json::to_value(&grant).unwrap_or_default()
        });
        loop {
            let project = attempt!(run, run.target::<Project>(project_id).await);
            if let Some(target) = project.state.authz_target(project_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(Permission::ProjectGrantWrite, &target, || {
                        Project::default()
                            .add_grant(&grant, &Organization::default(), run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let granted_org = attempt!(run, run.read::<Organization>(granted_org_id).await);
            let decision = attempt!(
                run,
                project
                    .state
                    .add_grant(&grant, &granted_org.state, run.ctx())
            );
            let org = project.state.owner_org(project_id);
            if let Some(details) = run.commit(&project, decision, org.as_deref()).await? {
                return Ok((details, grant.grant_id));
            }
        }
    }

    /// Replaces the roles of a project grant.
    pub async fn change_project_grant(
        &self,
        project_id: &str,
        grant_id: &str,
        role_keys: &[String],
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.grant.change",
            project_id,
            Permission::ProjectGrantWrite,
            || json!({ "grant_id": grant_id, "role_keys": role_keys }),
            |project, ctx| project.change_grant(grant_id, role_keys, ctx),
        )
        .await
    }

    /// Removes a project grant.
    pub async fn remove_project_grant(
        &self,
        project_id: &str,
        grant_id: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.grant.remove",
            project_id,
            Permission::ProjectGrantWrite,
            || json!({ "grant_id": grant_id }),
            |project, ctx| project.remove_grant(grant_id, ctx),
        )
        .await
    }

    /// Makes a user a project member with project roles.
    pub async fn add_project_member(
        &self,
        project_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let mut run = self.run(
            "project.member.add",
            || json!({ "user_id": user_id, "roles": roles }),
        );
        loop {
            let project = attempt!(run, run.target::<Project>(project_id).await);
            if let Some(target) = project.state.authz_target(project_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(Permission::ProjectMemberWrite, &target, || {
                        Project::default()
                            .add_member(user_id, &User::default(), roles, run.ctx())
                            .err()
                    })
                    .await
                );
                attempt!(run, run.ensure_may_grant(roles, &target).await);
            }
            let user = attempt!(run, run.read::<User>(user_id).await);
            let decision = attempt!(
                run,
                project
                    .state
                    .add_member(user_id, &user.state, roles, run.ctx())
            );
            let recorded = attempt!(
                run,
                user.state
                    .record_membership(ScopeKind::Project, project_id, run.ctx())
            );
            run.append_also::<User>(user_id, user.sequence, &recorded);
            let org = project.state.owner_org(project_id);
            if let Some(details) = run.commit(&project, decision, org.as_deref()).await? {
                return Ok(details);
            }
        }
    }

    /// Replaces a project member's roles.
    pub async fn change_project_member(
        &self,
        project_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        self.change_roles::<Project>(
            "project.member.change",
            project_id,
            Permission::ProjectMemberWrite,
            roles,
            || json!({ "user_id": user_id, "roles": roles }),
            |project, ctx| project.change_member(user_id, roles, ctx),
        )
        .await
    }

    /// Ends a project membership.
    pub async fn remove_project_member(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<Details, CommandError> {
        self.change::<Project>(
            "project.member.remove",
            project_id,
            Permission::ProjectMemberWrite,
            || json!({ "user_id": user_id }),
            |project, ctx| project.remove_member(user_id, ctx),
        )
        .await
    }
}
