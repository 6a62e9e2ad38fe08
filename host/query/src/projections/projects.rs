//! The `projects` projection: projects, their roles and their grants to other organizations.

use warden_domain::project::ProjectEvent;
use warden_eventstore::Event;
use warden_spooler::{BoxFuture, Projection, ProjectionError, SqlValue, ViewTx, params};

use super::{PROJECTS, at_ms, decode, event_types, rename, set_state, tables};

/// Keeps `projects`, `project_roles` and `project_grants` up to date.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectsProjection;

impl Projection for ProjectsProjection {
    fn name(&self) -> &str {
        PROJECTS
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["project".to_owned()]
    }

    fn event_types(&self) -> Vec<String> {
        // Members have their own projection.
        event_types(
            ProjectEvent::EVENT_TYPES,
            &[
                "project.member.added",
                "project.member.changed",
                "project.member.removed",
            ],
        )
    }

    fn tables(&self) -> Vec<String> {
        tables(&["projects", "project_roles", "project_grants"])
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(apply(tx, event))
    }
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    let at = at_ms(event);
    match decode::<ProjectEvent>(event)? {
        ProjectEvent::Added(e) => {
            tx.execute(
                "INSERT INTO projects (instance_id, id, org_id, name, name_lower, state, created_at_ms, \
                 changed_at_ms, sequence) VALUES ($1, $2, $3, $4, $5, 'active', $6, $6, $7) \
                 ON CONFLICT (instance_id, id) DO NOTHING",
                &params![instance, id, e.org_id, e.name.as_str(), e.name.to_lowercase(), at, event.sequence],
            )
            .await?;
            return Ok(());
        }
        ProjectEvent::Renamed(e) => rename(tx, "projects", instance, id, &e.name).await?,
        ProjectEvent::Deactivated => set_state(tx, "projects", instance, id, false).await?,
        ProjectEvent::Reactivated => set_state(tx, "projects", instance, id, true).await?,
        ProjectEvent::Removed => {
            for table in ["project_roles", "project_grants"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE instance_id = $1 AND project_id = $2"),
                    &params![instance, id],
                )
                .await?;
            }
            tx.execute(
                "DELETE FROM projects WHERE instance_id = $1 AND id = $2",
                &params![instance, id],
            )
            .await?;
            return Ok(());
        }
        ProjectEvent::RoleAdded(role) => {
            tx.execute(
                "INSERT INTO project_roles (instance_id, project_id, role_key, display_name, role_group, \
                 created_at_ms, changed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (instance_id, project_id, role_key) DO UPDATE SET \
                 display_name = excluded.display_name, role_group = excluded.role_group, \
                 changed_at_ms = excluded.changed_at_ms",
                &params![instance, id, role.key, role.display_name, role.group, at],
            )
            .await?;
        }
        ProjectEvent::RoleChanged(role) => {
            tx.execute(
                "UPDATE project_roles SET display_name = $4, role_group = $5, changed_at_ms = $6 \
                 WHERE instance_id = $1 AND project_id = $2 AND role_key = $3",
                &params![instance, id, role.key, role.display_name, role.group, at],
            )
            .await?;
        }
        ProjectEvent::RoleRemoved(e) => {
            tx.execute(
                "DELETE FROM project_roles WHERE instance_id = $1 AND project_id = $2 AND role_key = $3",
                &params![instance, id, e.key],
            )
            .await?;
        }
        ProjectEvent::GrantAdded(e) => {
            tx.execute(
                "INSERT INTO project_grants (instance_id, project_id, grant_id, org_id, granted_org_id, role_keys, \
                 created_at_ms, changed_at_ms) VALUES ($1, $2, $3, \
                 COALESCE((SELECT org_id FROM projects WHERE instance_id = $1 AND id = $2), ''), $4, $5, $6, $6) \
                 ON CONFLICT (instance_id, project_id, grant_id) DO NOTHING",
                &params![instance, id, e.grant_id, e.granted_org_id, SqlValue::json(&e.role_keys), at],
            )
            .await?;
        }
        ProjectEvent::GrantChanged(e) => {
            tx.execute(
                "UPDATE project_grants SET role_keys = $4, changed_at_ms = $5 \
                 WHERE instance_id = $1 AND project_id = $2 AND grant_id = $3",
                &params![instance, id, e.grant_id, SqlValue::json(&e.role_keys), at],
            )
            .await?;
        }
        ProjectEvent::GrantRemoved(e) => {
            tx.execute(
                "DELETE FROM project_grants WHERE instance_id = $1 AND project_id = $2 AND grant_id = $3",
                &params![instance, id, e.grant_id],
            )
            .await?;
        }
        ProjectEvent::MemberAdded(_)
        | ProjectEvent::MemberChanged(_)
        | ProjectEvent::MemberRemoved(_) => {
            return Ok(());
        }
    }
    tx.execute(
        "UPDATE projects SET changed_at_ms = $3, sequence = $4 WHERE instance_id = $1 AND id = $2",
        &params![instance, id, at, event.sequence],
    )
    .await?;
    Ok(())
}
