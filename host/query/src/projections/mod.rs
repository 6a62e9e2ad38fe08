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

/// Declares a built-in projection: a unit struct implementing [`Projection`] with the given name, the
/// aggregate types it reads (and, when given, the only event types it reads), the tables of its view and the
/// function that applies one event. Further methods of [`Projection`] follow `apply`.
macro_rules! builtin_projection {
    (
        $(#[$doc:meta])*
        $projection:ident {
            name: $name:expr,
            aggregate_types: [$($aggregate:literal),+ $(,)?],
            $(event_types: $event_types:expr,)?
            tables: [$($table:literal),+ $(,)?],
            apply: $apply:path,
            $($methods:tt)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $projection;

        impl warden_spooler::Projection for $projection {
            fn name(&self) -> &str {
                $name
            }

            fn aggregate_types(&self) -> Vec<String> {
                vec![$($aggregate.to_owned()),+]
            }

            $(
                fn event_types(&self) -> Vec<String> {
                    $event_types
                }
            )?

            fn tables(&self) -> Vec<String> {
                vec![$($table.to_owned()),+]
            }

            fn apply<'a>(
                &'a self,
                tx: &'a mut warden_spooler::ViewTx,
                event: &'a warden_eventstore::Event,
            ) -> warden_spooler::BoxFuture<'a, Result<(), warden_spooler::ProjectionError>> {
                Box::pin($apply(tx, event))
            }

            $($methods)*
        }
    };
}

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
use warden_spooler::{Projection, ProjectionError, SqlValue, ViewTx, params};

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

/// The parameters `$1` to `$4` of a statement changing the row of the resource `event` is about: instance,
/// id, the event's time and its sequence.
fn row_params(event: &Event) -> Vec<SqlValue> {
    Vec::from(params![
        event.aggregate.instance_id.as_str(),
        event.aggregate.aggregate_id.as_str(),
        at_ms(event),
        event.sequence
    ])
}

/// The table of a resource's view: one row per resource, keyed by instance and id, stamped with the time and
/// sequence of the last event applied to it.
#[derive(Debug, Clone, Copy)]
struct Table(&'static str);

impl Table {
    /// Inserts the row of the resource `event` adds: active, created and changed at the event, with
    /// `columns`; a row that exists already is left as it is.
    async fn insert(
        self,
        tx: &mut ViewTx,
        event: &Event,
        columns: impl IntoIterator<Item = (&str, SqlValue)>,
    ) -> Result<(), ProjectionError> {
        let Self(table) = self;
        let mut names = Vec::new();
        let mut placeholders = Vec::new();
        let mut params = row_params(event);
        for (name, value) in columns {
            names.push(name);
            params.push(value);
            placeholders.push(format!("${}", params.len()));
        }
        tx.execute(
            &format!(
                "INSERT INTO {table} (instance_id, id, state, created_at_ms, changed_at_ms, sequence, {}) \
                 VALUES ($1, $2, 'active', $3, $3, $4, {}) ON CONFLICT (instance_id, id) DO NOTHING",
                names.join(", "),
                placeholders.join(", "),
            ),
            &params,
        )
        .await?;
        Ok(())
    }

    /// Sets columns of the row of the resource `event` is about (`set`, over `values` from `$5` on; may be
    /// empty) and stamps it with the event: its time in `changed_at_ms`, its sequence in `sequence` (which
    /// tells readers the row is current).
    async fn update(
        self,
        tx: &mut ViewTx,
        event: &Event,
        set: &str,
        values: &[SqlValue],
    ) -> Result<(), ProjectionError> {
        let Self(table) = self;
        let sep = if set.is_empty() { "" } else { ", " };
        let mut params = row_params(event);
        params.extend_from_slice(values);
        tx.execute(
            &format!(
                "UPDATE {table} SET {set}{sep}changed_at_ms = $3, sequence = $4 \
                 WHERE instance_id = $1 AND id = $2"
            ),
            &params,
        )
        .await?;
        Ok(())
    }

    /// Renames the row (a view with `name` and `name_lower`, by which lists sort and filter), stamped with the
    /// event.
    async fn rename(
        self,
        tx: &mut ViewTx,
        event: &Event,
        name: &str,
    ) -> Result<(), ProjectionError> {
        let set = "name = $5, name_lower = $6";
        self.update(tx, event, set, &params![name, name.to_lowercase()])
            .await
    }

    /// Sets the row's life-cycle state (`active` or `inactive`), stamped with the event.
    async fn set_state(
        self,
        tx: &mut ViewTx,
        event: &Event,
        active: bool,
    ) -> Result<(), ProjectionError> {
        let set = if active {
            "state = 'active'"
        } else {
            "state = 'inactive'"
        };
        self.update(tx, event, set, &[]).await
    }
}
