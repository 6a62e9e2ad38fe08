//! The `projects` projection: projects, their roles and their grants to other organizations.

use warden_domain::project::ProjectEvent;
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, SqlValue, ViewTx, params};

use super::{PROJECTS, Table, at_ms, decode, event_types};

builtin_projection! {
    /// Keeps `projects`, `project_roles` and `project_grants` up to date.
    ProjectsProjection {
        name: PROJECTS,
        aggregate_types: ["project"],
        // Members have their own projection.
        event_types: event_types(
            ProjectEvent::EVENT_TYPES,
            &[
                "project.member.added",
                "project.member.changed",
                "project.member.removed",
            ],
        ),
        tables: ["projects", "project_roles", "project_grants"],
        apply: apply,
    }
}

/// The rows of the view.
const TABLE: Table = Table("projects");

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    let at = at_ms(event);
    match decode::<ProjectEvent>(event)? {
        ProjectEvent::Added(e) => {
            let columns = [
                ("org_id", e.org_id.as_str().into()),
                ("name", e.name.as_str().into()),
                ("name_lower", e.name.to_lowercase().into()),
            ];
            return TABLE.insert(tx, event, columns).await;
        }
        ProjectEvent::Renamed(e) => return TABLE.rename(tx, event, &e.name).await,
        ProjectEvent::Deactivated => return TABLE.set_state(tx, event, false).await,
        ProjectEvent::Reactivated => return TABLE.set_state(tx, event, true).await,
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
    TABLE.update(tx, event, "", &[]).await
}
