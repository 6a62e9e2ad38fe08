//! The `user_grants` projection: a user's roles in a project.

use warden_domain::user_grant::UserGrantEvent;
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, SqlValue, ViewTx, params};

use super::{Table, USER_GRANTS, decode};

builtin_projection! {
    /// Keeps `user_grants` up to date.
    UserGrantsProjection {
        name: USER_GRANTS,
        aggregate_types: ["user_grant"],
        tables: ["user_grants"],
        apply: apply,
    }
}

/// The rows of the view.
const TABLE: Table = Table("user_grants");

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    match decode::<UserGrantEvent>(event)? {
        UserGrantEvent::Added(e) => {
            let columns = [
                ("user_id", e.user_id.as_str().into()),
                ("project_id", e.project_id.as_str().into()),
                ("project_grant_id", e.project_grant_id.as_deref().into()),
                ("org_id", e.org_id.as_str().into()),
                ("role_keys", SqlValue::json(&e.role_keys)),
            ];
            TABLE.insert(tx, event, columns).await?;
        }
        UserGrantEvent::Changed(e) => {
            TABLE
                .update(tx, event, "role_keys = $5", &[SqlValue::json(&e.role_keys)])
                .await?;
        }
        UserGrantEvent::Deactivated => TABLE.set_state(tx, event, false).await?,
        UserGrantEvent::Reactivated => TABLE.set_state(tx, event, true).await?,
        UserGrantEvent::Removed => {
            tx.execute(
                "DELETE FROM user_grants WHERE instance_id = $1 AND id = $2",
                &params![instance, id],
            )
            .await?;
        }
    }
    Ok(())
}
