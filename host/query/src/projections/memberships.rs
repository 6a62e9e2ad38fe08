//! The `memberships` projection: instance, organization and project members with their roles.

use warden_domain::{
    instance::InstanceEvent,
    member::{MemberRemoved, MemberRoles},
    org::OrgEvent,
    project::ProjectEvent,
    user::UserEvent,
};
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, SqlValue, ViewTx, params};

use super::{MEMBERSHIPS, at_ms, decode};

builtin_projection! {
    /// Keeps `memberships` up to date. Memberships end with the organization or project they are on, and with
    /// the user holding them.
    MembershipsProjection {
        name: MEMBERSHIPS,
        aggregate_types: ["instance", "org", "project", "user"],
        event_types: {
            let mut types = Vec::new();
            for scope in ["instance", "org", "project"] {
                for change in ["added", "changed", "removed"] {
                    types.push(format!("{scope}.member.{change}"));
                }
            }
            types.extend(["org.removed", "project.removed", "user.removed"].map(str::to_owned));
            types
        },
        tables: ["memberships"],
        apply: apply,
    }
}

/// What an event does to memberships.
enum Change {
    Set(MemberRoles),
    Remove(MemberRemoved),
    EndScope,
    EndUser,
    Nothing,
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let scope_id = event.aggregate.aggregate_id.as_str();
    let scope = event.aggregate.aggregate_type.as_str();
    let change = match scope {
        "instance" => match decode::<InstanceEvent>(event)? {
            InstanceEvent::MemberAdded(e) | InstanceEvent::MemberChanged(e) => Change::Set(e),
            InstanceEvent::MemberRemoved(e) => Change::Remove(e),
            _ => Change::Nothing,
        },
        "org" => match decode::<OrgEvent>(event)? {
            OrgEvent::MemberAdded(e) | OrgEvent::MemberChanged(e) => Change::Set(e),
            OrgEvent::MemberRemoved(e) => Change::Remove(e),
            OrgEvent::Removed => Change::EndScope,
            _ => Change::Nothing,
        },
        "project" => match decode::<ProjectEvent>(event)? {
            ProjectEvent::MemberAdded(e) | ProjectEvent::MemberChanged(e) => Change::Set(e),
            ProjectEvent::MemberRemoved(e) => Change::Remove(e),
            ProjectEvent::Removed => Change::EndScope,
            _ => Change::Nothing,
        },
        "user" => match decode::<UserEvent>(event)? {
            UserEvent::Removed => Change::EndUser,
            _ => Change::Nothing,
        },
        other => {
            return Err(ProjectionError::event(format!(
                "unexpected aggregate type {other}"
            )));
        }
    };
    match change {
        Change::Set(e) => {
            tx.execute(
                "INSERT INTO memberships (instance_id, scope, scope_id, user_id, roles, created_at_ms, changed_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (instance_id, scope, scope_id, user_id) \
                 DO UPDATE SET roles = excluded.roles, changed_at_ms = excluded.changed_at_ms",
                &params![instance, scope, scope_id, e.user_id, SqlValue::json(&e.roles), at_ms(event)],
            )
            .await?;
        }
        Change::Remove(e) => {
            tx.execute(
                "DELETE FROM memberships WHERE instance_id = $1 AND scope = $2 AND scope_id = $3 AND user_id = $4",
                &params![instance, scope, scope_id, e.user_id],
            )
            .await?;
        }
        Change::EndScope => {
            tx.execute(
                "DELETE FROM memberships WHERE instance_id = $1 AND scope = $2 AND scope_id = $3",
                &params![instance, scope, scope_id],
            )
            .await?;
        }
        Change::EndUser => {
            tx.execute(
                "DELETE FROM memberships WHERE instance_id = $1 AND user_id = $2",
                &params![instance, scope_id],
            )
            .await?;
        }
        Change::Nothing => {}
    }
    Ok(())
}
