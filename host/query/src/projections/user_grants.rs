//! The `user_grants` projection: a user's roles in a project.

use warden_domain::user_grant::UserGrantEvent;
use warden_eventstore::Event;
use warden_spooler::{BoxFuture, Projection, ProjectionError, SqlValue, ViewTx, params};

use super::{USER_GRANTS, at_ms, decode, tables};

/// Keeps `user_grants` up to date.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserGrantsProjection;

impl Projection for UserGrantsProjection {
    fn name(&self) -> &str {
        USER_GRANTS
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["user_grant".to_owned()]
    }

    fn tables(&self) -> Vec<String> {
        tables(&["user_grants"])
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
    let set = |set: &str| {
        format!(
            "UPDATE user_grants SET {set}, changed_at_ms = $3, sequence = $4 WHERE instance_id = $1 AND id = $2"
        )
    };
    let mut params = Vec::from(params![instance, id, at, event.sequence]);
    match decode::<UserGrantEvent>(event)? {
        UserGrantEvent::Added(e) => {
            tx.execute(
                "INSERT INTO user_grants (instance_id, id, user_id, project_id, project_grant_id, org_id, role_keys, \
                 state, created_at_ms, changed_at_ms, sequence) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8, $9) ON CONFLICT (instance_id, id) DO NOTHING",
                &params![
                    instance,
                    id,
                    e.user_id,
                    e.project_id,
                    e.project_grant_id,
                    e.org_id,
                    SqlValue::json(&e.role_keys),
                    at,
                    event.sequence
                ],
            )
            .await?;
        }
        UserGrantEvent::Changed(e) => {
            params.push(SqlValue::json(&e.role_keys));
            tx.execute(&set("role_keys = $5"), &params).await?;
        }
        UserGrantEvent::Deactivated => {
            tx.execute(&set("state = 'inactive'"), &params).await?;
        }
        UserGrantEvent::Reactivated => {
            tx.execute(&set("state = 'active'"), &params).await?;
        }
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
