//! Commands on projects: life cycle, roles, grants to other organizations and project members.

use warden_domain::{
    authz::{Role, ScopeKind},
    command::Command,
    member::WithMembers,
    org::Organization,
    project::{
        AddProject, AddProjectGrant, AddProjectMember, AddProjectRole, ChangeProjectGrant,
        ChangeProjectMember, ChangeProjectRole, DeactivateProject, Project, ProjectGrantAdded,
        ProjectRole, ReactivateProject, RemoveProject, RemoveProjectGrant, RemoveProjectMember,
        RemoveProjectRole, RenameProject,
    },
    user::User,
};

use super::{Resource, org_target, payload};
use crate::{
    CallerCommands, CommandError, Details, new_id,
    pipeline::{Decided, decide},
};

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
        let mut run = self.run(AddProject::TYPE, || payload(&command));
        // Two aggregates: a new project, decided with its organization's state.
        let (details, ()) = decide!(run, {
            run.authorize_or_hide(AddProject::PERMISSION, &target, || {
                Project::default()
                    .add(&command, &Organization::default(), run.ctx())
                    .err()
            })
            .await?;
            let org = run.read::<Organization>(org_id).await?;
            let project = run.new_target::<Project>(id).await?;
            let decision = project.state.add(&command, &org.state, run.ctx())?;
            Ok(Decided::new(project, decision, Some(org_id.to_owned())))
        });
        Ok(details)
    }

    /// Renames a project.
    pub async fn rename_project(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            project_id,
            &RenameProject {
                name: name.to_owned(),
            },
        )
        .await
    }

    /// Deactivates a project.
    pub async fn deactivate_project(&self, project_id: &str) -> Result<Details, CommandError> {
        self.execute(project_id, &DeactivateProject {}).await
    }

    /// Reactivates a project.
    pub async fn reactivate_project(&self, project_id: &str) -> Result<Details, CommandError> {
        self.execute(project_id, &ReactivateProject {}).await
    }

    /// Removes a project.
    pub async fn remove_project(&self, project_id: &str) -> Result<Details, CommandError> {
        self.execute(project_id, &RemoveProject {}).await
    }

    /// Adds a role to a project.
    pub async fn add_project_role(
        &self,
        project_id: &str,
        role: &ProjectRole,
    ) -> Result<Details, CommandError> {
        self.execute(project_id, &AddProjectRole { role: role.clone() })
            .await
    }

    /// Changes a project role's display name and group.
    pub async fn change_project_role(
        &self,
        project_id: &str,
        role: &ProjectRole,
    ) -> Result<Details, CommandError> {
        self.execute(project_id, &ChangeProjectRole { role: role.clone() })
            .await
    }

    /// Removes a project role (and takes it out of the project's grants).
    pub async fn remove_project_role(
        &self,
        project_id: &str,
        key: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            project_id,
            &RemoveProjectRole {
                key: key.to_owned(),
            },
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
        let command = AddProjectGrant {
            grant: ProjectGrantAdded {
                grant_id: new_id(),
                granted_org_id: granted_org_id.to_owned(),
                role_keys: role_keys.to_vec(),
            },
        };
        let grant = &command.grant;
        let mut run = self.run(AddProjectGrant::TYPE, || payload(&command));
        // Two aggregates: the project decides with the granted organization's state.
        let (details, ()) = decide!(run, {
            let project = run.target::<Project>(project_id).await?;
            if let Some(target) = project.state.authz_target(project_id) {
                run.authorize_or_hide(AddProjectGrant::PERMISSION, &target, || {
                    Project::default()
                        .add_grant(grant, &Organization::default(), run.ctx())
                        .err()
                })
                .await?;
            }
            let granted_org = run.read::<Organization>(granted_org_id).await?;
            let decision = project
                .state
                .add_grant(grant, &granted_org.state, run.ctx())?;
            let org = project.state.owner_org(project_id);
            Ok(Decided::new(project, decision, org))
        });
        Ok((details, grant.grant_id.clone()))
    }

    /// Replaces the roles of a project grant.
    pub async fn change_project_grant(
        &self,
        project_id: &str,
        grant_id: &str,
        role_keys: &[String],
    ) -> Result<Details, CommandError> {
        self.execute(
            project_id,
            &ChangeProjectGrant {
                grant_id: grant_id.to_owned(),
                role_keys: role_keys.to_vec(),
            },
        )
        .await
    }

    /// Removes a project grant.
    pub async fn remove_project_grant(
        &self,
        project_id: &str,
        grant_id: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            project_id,
            &RemoveProjectGrant {
                grant_id: grant_id.to_owned(),
            },
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
        let command = AddProjectMember {
            user_id: user_id.to_owned(),
            roles: roles.to_vec(),
        };
        let mut run = self.run(AddProjectMember::TYPE, || payload(&command));
        // Two aggregates: the project decides with the user's state, and the user records the membership
        // in the same push.
        let (details, ()) = decide!(run, {
            let project = run.target::<Project>(project_id).await?;
            if let Some(target) = project.state.authz_target(project_id) {
                run.authorize_or_hide(AddProjectMember::PERMISSION, &target, || {
                    Project::default()
                        .add_member(user_id, &User::default(), roles, run.ctx())
                        .err()
                })
                .await?;
                run.ensure_may_grant(command.grants(), &target).await?;
            }
            let user = run.read::<User>(user_id).await?;
            let decision = project
                .state
                .add_member(user_id, &user.state, roles, run.ctx())?;
            let recorded =
                user.state
                    .record_membership(ScopeKind::Project, project_id, run.ctx())?;
            run.append_also::<User>(user_id, user.sequence, &recorded);
            let org = project.state.owner_org(project_id);
            Ok(Decided::new(project, decision, org))
        });
        Ok(details)
    }

    /// Replaces a project member's roles.
    pub async fn change_project_member(
        &self,
        project_id: &str,
        user_id: &str,
        roles: &[Role],
    ) -> Result<Details, CommandError> {
        let command = ChangeProjectMember {
            user_id: user_id.to_owned(),
            roles: roles.to_vec(),
        };
        self.execute(project_id, &command).await
    }

    /// Ends a project membership.
    pub async fn remove_project_member(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<Details, CommandError> {
        self.execute(
            project_id,
            &RemoveProjectMember {
                user_id: user_id.to_owned(),
            },
        )
        .await
    }
}
