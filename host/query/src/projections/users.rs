//! The `users` projection: humans and machines, their metadata, machine keys and personal access tokens.

use warden_domain::user::{KeyFormat, UserEvent};
use warden_eventstore::Event;
use warden_spooler::{Backend, BoxFuture, Projection, ProjectionError, SqlValue, ViewTx, params};

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
        // Password and second-factor checks and emailed codes change nothing the view shows (a lockout
        // arrives as its own event).
        event_types(
            UserEvent::EVENT_TYPES,
            &[
                "user.human.password.check.succeeded",
                "user.human.password.check.failed",
                "user.human.otp.check.succeeded",
                "user.human.otp.check.failed",
                "user.human.email.code.added",
                "user.human.password.code.added",
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

    fn apply_batch<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), (usize, ProjectionError)>> {
        Box::pin(apply_batch(tx, events))
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

/// The columns of a new user row, in the order of [`added_row`]'s values.
const INSERT_COLUMNS: &str = "instance_id, id, org_id, kind, login_name, login_name_lower, state, locked, \
     display_name, given_name, family_name, preferred_language, email, email_verified, phone, password_set, \
     password_change_required, description, has_secret, created_at_ms, changed_at_ms, sequence";

/// Values of one new user row.
const ROW_VALUES: usize = 19;

/// Most rows in one `INSERT`: 19 values each stay far below the bound-parameter limits of both backends.
const MAX_INSERT_ROWS: usize = 500;

/// An `INSERT` of `rows` new users; a user that exists already (a replayed event) is left as it is.
fn insert_users(rows: usize) -> String {
    let mut sql = format!("INSERT INTO users ({INSERT_COLUMNS}) VALUES ");
    for row in 0..rows {
        let p = |n: usize| format!("${}", row * ROW_VALUES + n);
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        let mut values: Vec<String> = (1..=6).map(p).collect();
        values.extend(["'active'".to_owned(), "FALSE".to_owned()]);
        values.extend((7..=18).map(p));
        values.extend([p(18), p(19)]);
        sql.push_str(&values.join(", "));
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (instance_id, id) DO NOTHING");
    sql
}

/// The values of the row a creation event inserts; `None` for any other event.
fn added_row(event: &Event, decoded: &UserEvent) -> Option<[SqlValue; ROW_VALUES]> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    Some(match decoded {
        UserEvent::HumanAdded(e) => params![
            instance,
            id,
            e.org_id.as_str(),
            "human",
            e.login_name.as_str(),
            e.login_name.to_lowercase(),
            e.profile.display_name.as_str(),
            e.profile.given_name.as_str(),
            e.profile.family_name.as_str(),
            e.profile.preferred_language.as_str(),
            e.email.as_str(),
            e.email_verified,
            e.phone.clone(),
            e.password_hash.is_some(),
            e.password_change_required,
            None::<String>,
            SqlValue::Bool(None),
            at_ms(event),
            event.sequence
        ],
        UserEvent::MachineAdded(e) => params![
            instance,
            id,
            e.org_id.as_str(),
            "machine",
            e.login_name.as_str(),
            e.login_name.to_lowercase(),
            e.name.as_str(),
            None::<String>,
            None::<String>,
            None::<String>,
            None::<String>,
            SqlValue::Bool(None),
            None::<String>,
            SqlValue::Bool(None),
            SqlValue::Bool(None),
            e.description.as_str(),
            false,
            at_ms(event),
            event.sequence
        ],
        _ => return None,
    })
}

/// Applies a batch with one multi-row `INSERT` per run of consecutive creations (a bulk import, a replay);
/// every other event is applied on its own, in stream order.
///
/// On PostgreSQL only: there every statement is a round trip, which the multi-row statement saves. SQLite
/// runs in the process, so a cached one-row statement per event costs no round trip, and measured slower
/// with the multi-row statement (`cargo bench -p warden-query --bench read_side`).
async fn apply_batch(tx: &mut ViewTx, events: &[Event]) -> Result<(), (usize, ProjectionError)> {
    if tx.backend() == Backend::Sqlite {
        for (index, event) in events.iter().enumerate() {
            apply(tx, event).await.map_err(|error| (index, error))?;
        }
        return Ok(());
    }
    // The rows of the current run of creations, and the index of its first event.
    let mut run: Vec<SqlValue> = Vec::new();
    let mut run_start = 0;
    for (index, event) in events.iter().enumerate() {
        let decoded = decode::<UserEvent>(event).map_err(|error| (index, error))?;
        if let Some(row) = added_row(event, &decoded) {
            if run.is_empty() {
                run_start = index;
            }
            run.extend(row);
            if run.len() / ROW_VALUES == MAX_INSERT_ROWS {
                flush(tx, &mut run, run_start).await?;
            }
            continue;
        }
        flush(tx, &mut run, run_start).await?;
        apply_decoded(tx, event, decoded)
            .await
            .map_err(|error| (index, error))?;
    }
    flush(tx, &mut run, run_start).await
}

/// Inserts the rows of a run of creations, if any; a failure is reported at the run's first event.
async fn flush(
    tx: &mut ViewTx,
    run: &mut Vec<SqlValue>,
    run_start: usize,
) -> Result<(), (usize, ProjectionError)> {
    if run.is_empty() {
        return Ok(());
    }
    let rows = run.len() / ROW_VALUES;
    tx.execute(&insert_users(rows), run)
        .await
        .map_err(|error| (run_start, ProjectionError::Database(error)))?;
    run.clear();
    Ok(())
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let decoded = decode::<UserEvent>(event)?;
    apply_decoded(tx, event, decoded).await
}

async fn apply_decoded(
    tx: &mut ViewTx,
    event: &Event,
    decoded: UserEvent,
) -> Result<(), ProjectionError> {
    if let Some(row) = added_row(event, &decoded) {
        tx.execute(&insert_users(1), &row).await?;
        return Ok(());
    }
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    match decoded {
        UserEvent::HumanAdded(_) | UserEvent::MachineAdded(_) => {}
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
        UserEvent::PasswordCheckSucceeded
        | UserEvent::PasswordCheckFailed
        | UserEvent::OtpAdded(_)
        | UserEvent::OtpVerified(_)
        | UserEvent::OtpRemoved
        | UserEvent::OtpCheckSucceeded(_)
        | UserEvent::OtpCheckFailed
        | UserEvent::EmailCodeAdded(_)
        | UserEvent::PasswordCodeAdded(_) => update(tx, event, "", &[]).await?,
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
