//! The built-in projections: one per view, each turning the events of its aggregates into rows.
//!
//! | projection | reads | tables |
//! |---|---|---|
//! | [`INSTANCES`] | `instance` | `instances`, `instance_domains` |
//! | [`ORGS`] | `org` | `orgs`, `org_domains` |
//! | [`USERS`] | `user` | `users`, `user_metadata`, `machine_keys`, `personal_access_tokens` |
//! | [`PROJECTS`] | `project` | `projects`, `project_roles`, `project_grants` |
//! | [`APPLICATIONS`] | `application` | `applications`, `application_keys` |
//! | [`USER_GRANTS`] | `user_grant` | `user_grants` |
//! | [`MEMBERSHIPS`] | member events of `instance`, `org`, `project`; removals of orgs, projects, users | `memberships` |
//! | [`POLICIES`] | policy events of `instance` and `org`; orgs added and removed | `policies` |

mod applications;
mod instances;
mod memberships;
mod orgs;
mod policies;
mod projects;
mod user_grants;
mod users;

use std::sync::Arc;

use warden_domain::DomainEvent;
use warden_eventstore::Event;
use warden_spooler::{Projection, ProjectionError, ViewTx, params};

pub use applications::ApplicationsProjection;
pub use instances::InstancesProjection;
pub use memberships::MembershipsProjection;
pub use orgs::OrgsProjection;
pub use policies::PoliciesProjection;
pub use projects::ProjectsProjection;
pub use user_grants::UserGrantsProjection;
pub use users::UsersProjection;

/// Name of the projection of instances and their domains.
pub const INSTANCES: &str = "instances";
/// Name of the projection of organizations and their domains.
pub const ORGS: &str = "orgs";
/// Name of the projection of users, their metadata, machine keys and personal access tokens.
pub const USERS: &str = "users";
/// Name of the projection of projects, their roles and grants.
pub const PROJECTS: &str = "projects";
/// Name of the projection of applications.
pub const APPLICATIONS: &str = "applications";
/// Name of the projection of user grants.
pub const USER_GRANTS: &str = "user_grants";
/// Name of the projection of instance, organization and project memberships.
pub const MEMBERSHIPS: &str = "memberships";
/// Name of the projection of policies, with organization overrides resolved.
pub const POLICIES: &str = "policies";

/// Every built-in projection.
pub fn builtin() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(InstancesProjection),
        Arc::new(OrgsProjection),
        Arc::new(UsersProjection),
        Arc::new(ProjectsProjection),
        Arc::new(ApplicationsProjection),
        Arc::new(UserGrantsProjection),
        Arc::new(MembershipsProjection),
        Arc::new(PoliciesProjection),
    ]
}

/// The domain event stored as `event`.
fn decode<E: DomainEvent>(event: &Event) -> Result<E, ProjectionError> {
    E::from_stored(&event.event_type, event.revision, &event.payload).map_err(|e| {
        ProjectionError::event(format!("cannot decode {} event: {e}", event.event_type))
    })
}

/// When the event was stored, in ms since the Unix epoch.
fn at_ms(event: &Event) -> i64 {
    event.created_at / 1000
}

/// The event types of `types` (an aggregate's `EVENT_TYPES`) except those in `except`.
fn event_types(types: &[(&str, u16)], except: &[&str]) -> Vec<String> {
    types
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| !except.contains(t))
        .map(str::to_owned)
        .collect()
}

/// Names of a list of tables.
fn tables(names: &[&str]) -> Vec<String> {
    names.iter().map(|t| (*t).to_owned()).collect()
}

/// Sets the name of the row `id` of `table` (a resource's view with `name` and `name_lower`, by which lists
/// sort and filter).
async fn rename(
    tx: &mut ViewTx,
    table: &str,
    instance: &str,
    id: &str,
    name: &str,
) -> Result<(), ProjectionError> {
    tx.execute(
        &format!(
            "UPDATE {table} SET name = $3, name_lower = $4 WHERE instance_id = $1 AND id = $2"
        ),
        &params![instance, id, name, name.to_lowercase()],
    )
    .await?;
    Ok(())
}

/// Sets the life-cycle state (`active` or `inactive`) of the row `id` of `table`.
async fn set_state(
    tx: &mut ViewTx,
    table: &str,
    instance: &str,
    id: &str,
    active: bool,
) -> Result<(), ProjectionError> {
    let state = if active { "active" } else { "inactive" };
    tx.execute(
        &format!("UPDATE {table} SET state = '{state}' WHERE instance_id = $1 AND id = $2"),
        &params![instance, id],
    )
    .await?;
    Ok(())
}
