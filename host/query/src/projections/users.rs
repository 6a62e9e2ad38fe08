//! The `users` projection: humans and machines, their metadata, machine keys and personal access tokens.

use warden_domain::user::{KeyFormat, UserEvent};
use warden_eventstore::Event;
use warden_spooler::{BoxFuture, Projection, ProjectionError, SqlValue, ViewTx, params};

use super::{USERS, at_ms, decode, event_types, tables};

/// Keeps `users`, `user_metadata`, `machine_keys` and `personal_access_tokens` up to date.
#[derive(Debug, Clone, Copy, Default)]
pub struct UsersProjection;

impl Projection for UsersProjection {
    fn name(&self) -> &str {
        USERS
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["user".to_owned()]
    }

    fn event_types(&self) -> Vec<String> {
        // Password checks change nothing the view shows (a lockout arrives as its own event).
        event_types(
            UserEvent::EVENT_TYPES,
            &[
                "user.human.password.check.succeeded",
                "user.human.password.check.failed",
            ],
        )
    }

    fn tables(&self) -> Vec<String> {
        tables(&[
            "users",
            "user_metadata",
            "machine_keys",
            "personal_access_tokens",
        ])
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(apply(tx, event))
    }
}

/// Sets columns of the user row (`$1` instance, `$2` id, `$3` changed at, `$4` sequence, then `values`).
async fn update(
    tx: &mut ViewTx,
    event: &Event,
    set: &str,
    values: &[SqlValue],
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE users SET {set}{sep}changed_at_ms = $3, sequence = $4 WHERE instance_id = $1 AND id = $2",
        sep = if set.is_empty() { "" } else { ", " }
    );
    let mut params = Vec::from(params![
        event.aggregate.instance_id.as_str(),
        event.aggregate.aggregate_id.as_str(),
        at_ms(event),
        event.sequence
    ]);
    params.extend_from_slice(values);
    tx.execute(&sql, &params).await?;
    Ok(())
}

const INSERT: &str = "INSERT INTO users (instance_id, id, org_id, kind, login_name, login_name_lower, state, locked, \
     display_name, given_name, family_name, preferred_language, email, email_verified, phone, password_set, \
     password_change_required, description, has_secret, created_at_ms, changed_at_ms, sequence) \
     VALUES ($1, $2, $3, $4, $5, $6, 'active', FALSE, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18, $19) \
     ON CONFLICT (instance_id, id) DO NOTHING";

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    match decode::<UserEvent>(event)? {
        UserEvent::HumanAdded(e) => {
            let params = params![
                instance,
                id,
                e.org_id,
                "human",
                e.login_name.as_str(),
                e.login_name.to_lowercase(),
                e.profile.display_name,
                e.profile.given_name,
                e.profile.family_name,
                e.profile.preferred_language,
                e.email,
                e.email_verified,
                e.phone,
                e.password_hash.is_some(),
                e.password_change_required,
                None::<String>,
                SqlValue::Bool(None),
                at_ms(event),
                event.sequence
            ];
            tx.execute(INSERT, &params).await?;
        }
        UserEvent::MachineAdded(e) => {
            let params = params![
                instance,
                id,
                e.org_id,
                "machine",
                e.login_name.as_str(),
                e.login_name.to_lowercase(),
                e.name,
                None::<String>,
                None::<String>,
                None::<String>,
                None::<String>,
                SqlValue::Bool(None),
                None::<String>,
                SqlValue::Bool(None),
                SqlValue::Bool(None),
                e.description,
                false,
                at_ms(event),
                event.sequence
            ];
            tx.execute(INSERT, &params).await?;
        }
        UserEvent::ProfileChanged(p) => {
            update(
                tx,
                event,
                "given_name = $5, family_name = $6, display_name = $7, preferred_language = $8",
                &params![
                    p.given_name,
                    p.family_name,
                    p.display_name,
                    p.preferred_language
                ],
            )
            .await?;
        }
        UserEvent::EmailChanged(e) => {
            update(
                tx,
                event,
                "email = $5, email_verified = FALSE",
                &params![e.email],
            )
            .await?;
        }
        UserEvent::EmailVerified => update(tx, event, "email_verified = TRUE", &[]).await?,
        UserEvent::PhoneChanged(e) => update(tx, event, "phone = $5", &params![e.phone]).await?,
        UserEvent::PhoneRemoved => update(tx, event, "phone = NULL", &[]).await?,
        UserEvent::PasswordChanged(e) => {
            update(
                tx,
                event,
                "password_set = TRUE, password_change_required = $5",
                &params![e.change_required],
            )
            .await?;
        }
        UserEvent::PasswordCheckSucceeded | UserEvent::PasswordCheckFailed => {
            update(tx, event, "", &[]).await?
        }
        UserEvent::Locked => update(tx, event, "locked = TRUE", &[]).await?,
        UserEvent::Unlocked => update(tx, event, "locked = FALSE", &[]).await?,
        UserEvent::Deactivated => update(tx, event, "state = 'inactive'", &[]).await?,
        UserEvent::Reactivated => update(tx, event, "state = 'active'", &[]).await?,
        UserEvent::Removed => {
            for table in ["user_metadata", "machine_keys", "personal_access_tokens"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE instance_id = $1 AND user_id = $2"),
                    &params![instance, id],
                )
                .await?;
            }
            tx.execute(
                "DELETE FROM users WHERE instance_id = $1 AND id = $2",
                &params![instance, id],
            )
            .await?;
        }
        UserEvent::MetadataSet(e) => {
            tx.execute(
                "INSERT INTO user_metadata (instance_id, user_id, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (instance_id, user_id, key) DO UPDATE SET value = excluded.value",
                &params![instance, id, e.key, e.value],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MetadataRemoved(e) => {
            tx.execute(
                "DELETE FROM user_metadata WHERE instance_id = $1 AND user_id = $2 AND key = $3",
                &params![instance, id, e.key],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MachineChanged(e) => {
            update(
                tx,
                event,
                "display_name = $5, description = $6",
                &params![e.name, e.description],
            )
            .await?;
        }
        UserEvent::MachineKeyAdded(e) => {
            let format = match e.format {
                KeyFormat::Pem => "pem",
                KeyFormat::Jwk => "jwk",
            };
            tx.execute(
                "INSERT INTO machine_keys (instance_id, user_id, key_id, format, public_key, expires_at_ms, \
                 created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (instance_id, user_id, key_id) DO NOTHING",
                &params![instance, id, e.key_id, format, e.public_key, e.expires_at_unix_ms, at_ms(event)],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MachineKeyRemoved(e) => {
            tx.execute(
                "DELETE FROM machine_keys WHERE instance_id = $1 AND user_id = $2 AND key_id = $3",
                &params![instance, id, e.key_id],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MachineSecretSet(_) => update(tx, event, "has_secret = TRUE", &[]).await?,
        UserEvent::MachineSecretRemoved => update(tx, event, "has_secret = FALSE", &[]).await?,
        UserEvent::PersonalAccessTokenAdded(e) => {
            tx.execute(
                "INSERT INTO personal_access_tokens (instance_id, user_id, token_id, expires_at_ms, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance_id, user_id, token_id) DO NOTHING",
                &params![instance, id, e.token_id, e.expires_at_unix_ms, at_ms(event)],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::PersonalAccessTokenRemoved(e) => {
            tx.execute(
                "DELETE FROM personal_access_tokens WHERE instance_id = $1 AND user_id = $2 AND token_id = $3",
                &params![instance, id, e.token_id],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        // The memberships view follows the organizations and projects themselves.
        UserEvent::MembershipAdded(_) => update(tx, event, "", &[]).await?,
    }
    Ok(())
}
