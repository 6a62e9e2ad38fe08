//! The `users` projection: humans and machines, their metadata, machine keys and personal access tokens.

use std::collections::HashSet;
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

/// Sets columns of the user row (`$1` instance, `$2` id, `$3` changed at, `$4` sequence, then `values`), unless
/// the row already reflects the event.
///
/// Every statement of this projection checks the user row's `sequence`: a read by id may bring a row up to
/// date ahead of the spooler (see `Queries`), and the spooler applying the same events afterwards must change
/// nothing rather than move the row (or its metadata, keys and tokens) backwards.
async fn update(
    tx: &mut ViewTx,
    event: &Event,
    set: &str,
    values: &[SqlValue],
) -> Result<(), ProjectionError> {
    let sql = format!(
        "UPDATE users SET {set}{sep}changed_at_ms = $3, sequence = $4 \
         WHERE instance_id = $1 AND id = $2 AND sequence < $4",
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

/// Most values bound to one multi-row `UPDATE`, far below the bound-parameter limits of both backends.
const MAX_UPDATE_VALUES: usize = 4_000;

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

/// A change of the user row alone (no other table): the columns it sets, naming its values `c1`, `c2`, …
/// (see [`update_rows`]), and the values.
struct RowUpdate {
    set: &'static str,
    values: Vec<SqlValue>,
    /// A metadata entry set with the change (key, value): written by a statement of its own before the row.
    metadata: Option<(String, String)>,
}

/// The change an event makes to the user row, for events that change nothing else.
fn row_update(decoded: &UserEvent) -> Option<RowUpdate> {
    let (set, values): (&'static str, Vec<SqlValue>) = match decoded {
        UserEvent::ProfileChanged(p) => (
            "given_name = c1, family_name = c2, display_name = c3, preferred_language = c4",
            Vec::from(params![
                p.given_name.as_str(),
                p.family_name.as_str(),
                p.display_name.as_str(),
                p.preferred_language.as_str()
            ]),
        ),
        UserEvent::EmailChanged(e) => (
            "email = c1, email_verified = FALSE",
            Vec::from(params![e.email.as_str()]),
        ),
        UserEvent::EmailVerified => ("email_verified = TRUE", Vec::new()),
        UserEvent::PhoneChanged(e) => ("phone = c1", Vec::from(params![e.phone.clone()])),
        UserEvent::PhoneRemoved => ("phone = NULL", Vec::new()),
        UserEvent::PasswordChanged(e) => (
            "password_set = TRUE, password_change_required = c1",
            Vec::from(params![e.change_required]),
        ),
        UserEvent::Locked => ("locked = TRUE", Vec::new()),
        UserEvent::Unlocked => ("locked = FALSE", Vec::new()),
        UserEvent::Deactivated => ("state = 'inactive'", Vec::new()),
        UserEvent::Reactivated => ("state = 'active'", Vec::new()),
        UserEvent::MachineChanged(e) => (
            "display_name = c1, description = c2",
            Vec::from(params![e.name.as_str(), e.description.as_str()]),
        ),
        UserEvent::MachineSecretSet(_) => ("has_secret = TRUE", Vec::new()),
        UserEvent::MachineSecretRemoved => ("has_secret = FALSE", Vec::new()),
        // Password and second-factor checks and emailed codes change nothing shown; the memberships view
        // follows organizations and projects.
        UserEvent::PasswordCheckSucceeded
        | UserEvent::PasswordCheckFailed
        | UserEvent::OtpAdded(_)
        | UserEvent::OtpVerified(_)
        | UserEvent::OtpRemoved
        | UserEvent::OtpCheckSucceeded(_)
        | UserEvent::OtpCheckFailed
        | UserEvent::EmailCodeAdded(_)
        | UserEvent::PasswordCodeAdded(_)
        | UserEvent::MembershipAdded(_) => ("", Vec::new()),
        UserEvent::MetadataSet(e) => {
            return Some(RowUpdate {
                set: "",
                values: Vec::new(),
                metadata: Some((e.key.clone(), e.value.clone())),
            });
        }
        _ => return None,
    };
    Some(RowUpdate {
        set,
        values,
        metadata: None,
    })
}

/// An upsert of metadata entries for `rows` users (`$1` instance, `$2` id, `$3` sequence, `$4` key, `$5`
/// value per row), each only while its user row does not yet reflect the event (see [`behind`]).
fn set_metadata_rows(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let p: Vec<String> = (1..=5).map(|n| format!("${}", row * 5 + n)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    format!(
        "WITH v(instance_id, id, seq, k, val) AS (VALUES {}) \
         INSERT INTO user_metadata (instance_id, user_id, key, value) \
         SELECT v.instance_id, v.id, v.k, v.val FROM v WHERE EXISTS (SELECT 1 FROM users u \
             WHERE u.instance_id = v.instance_id AND u.id = v.id AND u.sequence < v.seq) \
         ON CONFLICT (instance_id, user_id, key) DO UPDATE SET value = excluded.value",
        values.join(", ")
    )
}

/// An `UPDATE` of `rows` user rows by one kind of change (`set`, with `width` values per row after the
/// instance, id, change time and sequence). A row that already reflects its event is left as it is.
fn update_rows(set: &str, width: usize, rows: usize) -> String {
    let per_row = 4 + width;
    let mut values = String::new();
    for row in 0..rows {
        if row > 0 {
            values.push_str(", ");
        }
        values.push('(');
        let params: Vec<String> = (1..=per_row)
            .map(|n| format!("${}", row * per_row + n))
            .collect();
        values.push_str(&params.join(", "));
        values.push(')');
    }
    let columns: String = (1..=width).map(|n| format!(", c{n}")).collect();
    format!(
        "WITH v(instance_id, id, changed_at, seq{columns}) AS (VALUES {values}) \
         UPDATE users SET {set}{sep}changed_at_ms = v.changed_at, sequence = v.seq FROM v \
         WHERE users.instance_id = v.instance_id AND users.id = v.id AND users.sequence < v.seq",
        sep = if set.is_empty() { "" } else { ", " }
    )
}

/// The multi-row statement a batch is building: a run of creations, or a run of one kind of row update
/// touching each user at most once.
#[derive(Default)]
enum Run {
    #[default]
    Empty,
    Inserts {
        start: usize,
        values: Vec<SqlValue>,
    },
    Updates {
        start: usize,
        set: &'static str,
        width: usize,
        values: Vec<SqlValue>,
        users: HashSet<(String, String)>,
        /// Whether the run sets metadata entries (then `metadata` holds their rows).
        sets_metadata: bool,
        metadata: Vec<SqlValue>,
    },
}

impl Run {
    /// Writes the run, if any; a failure is reported at the run's first event (the spooler then retries the
    /// batch event by event).
    async fn flush(&mut self, tx: &mut ViewTx) -> Result<(), (usize, ProjectionError)> {
        let (sql, values, start) = match std::mem::take(self) {
            Run::Empty => return Ok(()),
            Run::Inserts { start, values } => {
                (insert_users(values.len() / ROW_VALUES), values, start)
            }
            Run::Updates {
                start,
                set,
                width,
                values,
                users,
                metadata,
                ..
            } => {
                if !metadata.is_empty() {
                    tx.execute(&set_metadata_rows(users.len()), &metadata)
                        .await
                        .map_err(|error| (start, ProjectionError::Database(error)))?;
                }
                (update_rows(set, width, users.len()), values, start)
            }
        };
        tx.execute(&sql, &values)
            .await
            .map_err(|error| (start, ProjectionError::Database(error)))?;
        Ok(())
    }
}

/// Applies a batch with multi-row statements: one `INSERT` per run of consecutive creations and one `UPDATE`
/// per run of consecutive changes of the same kind to distinct users (a bulk import, a replay, a busy stream);
/// every other event is applied on its own, in stream order. A user changed twice in a run ends the run, so
/// each user's changes keep their order.
async fn apply_batch(tx: &mut ViewTx, events: &[Event]) -> Result<(), (usize, ProjectionError)> {
    let mut run = Run::Empty;
    // SQLite runs in the process, so a cached one-row statement per event costs no round trip, and measured
    // faster than the multi-row statements (`cargo bench -p warden-query --bench replay`).
    if tx.backend() == Backend::Sqlite {
        for (index, event) in events.iter().enumerate() {
            apply(tx, event).await.map_err(|error| (index, error))?;
        }
        return Ok(());
    }
    for (index, event) in events.iter().enumerate() {
        let decoded = decode::<UserEvent>(event).map_err(|error| (index, error))?;
        if let Some(row) = added_row(event, &decoded) {
            if !matches!(run, Run::Inserts { .. }) {
                run.flush(tx).await?;
                run = Run::Inserts {
                    start: index,
                    values: Vec::new(),
                };
            }
            if let Run::Inserts { values, .. } = &mut run {
                values.extend(row);
                if values.len() / ROW_VALUES == MAX_INSERT_ROWS {
                    run.flush(tx).await?;
                }
            }
            continue;
        }
        if let Some(update) = row_update(&decoded) {
            let user = (
                event.aggregate.instance_id.clone(),
                event.aggregate.aggregate_id.clone(),
            );
            let width = update.values.len();
            let sets_metadata = update.metadata.is_some();
            let joins = matches!(&run, Run::Updates { set, users, values, sets_metadata: m, .. }
                if *set == update.set
                    && *m == sets_metadata
                    && !users.contains(&user)
                    && values.len() + 4 + width <= MAX_UPDATE_VALUES);
            if !joins {
                run.flush(tx).await?;
                run = Run::Updates {
                    start: index,
                    set: update.set,
                    width,
                    values: Vec::new(),
                    users: HashSet::new(),
                    sets_metadata,
                    metadata: Vec::new(),
                };
            }
            if let Run::Updates {
                values,
                users,
                metadata,
                ..
            } = &mut run
            {
                if let Some((key, value)) = update.metadata {
                    metadata.extend(params![
                        event.aggregate.instance_id.as_str(),
                        event.aggregate.aggregate_id.as_str(),
                        event.sequence,
                        key,
                        value
                    ]);
                }
                values.extend(params![
                    event.aggregate.instance_id.as_str(),
                    event.aggregate.aggregate_id.as_str(),
                    at_ms(event),
                    event.sequence
                ]);
                values.extend(update.values);
                users.insert(user);
            }
            continue;
        }
        run.flush(tx).await?;
        apply_decoded(tx, event, decoded)
            .await
            .map_err(|error| (index, error))?;
    }
    run.flush(tx).await
}

/// Whether the user row exists and does not yet reflect the event (`$1` instance, `$2` id, the event's
/// sequence at `$n`): the condition of every write to the user's metadata, keys and tokens.
fn behind(n: usize) -> String {
    format!("EXISTS (SELECT 1 FROM users WHERE instance_id = $1 AND id = $2 AND sequence < ${n})")
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
                &format!(
                    "INSERT INTO user_metadata (instance_id, user_id, key, value) SELECT $1, $2, $3, $4 \
                     WHERE {} ON CONFLICT (instance_id, user_id, key) DO UPDATE SET value = excluded.value",
                    behind(5)
                ),
                &params![instance, id, e.key, e.value, event.sequence],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MetadataRemoved(e) => {
            tx.execute(
                &format!(
                    "DELETE FROM user_metadata WHERE instance_id = $1 AND user_id = $2 AND key = $3 AND {}",
                    behind(4)
                ),
                &params![instance, id, e.key, event.sequence],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MachineKeyAdded(e) => {
            let format = match e.format {
                KeyFormat::Pem => "pem",
                KeyFormat::Jwk => "jwk",
            };
            tx.execute(
                &format!(
                    "INSERT INTO machine_keys (instance_id, user_id, key_id, format, public_key, \
                     expires_at_ms, created_at_ms) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE {} \
                     ON CONFLICT (instance_id, user_id, key_id) DO NOTHING",
                    behind(8)
                ),
                &params![
                    instance,
                    id,
                    e.key_id,
                    format,
                    e.public_key,
                    e.expires_at_unix_ms,
                    at_ms(event),
                    event.sequence
                ],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::MachineKeyRemoved(e) => {
            tx.execute(
                &format!(
                    "DELETE FROM machine_keys WHERE instance_id = $1 AND user_id = $2 AND key_id = $3 AND {}",
                    behind(4)
                ),
                &params![instance, id, e.key_id, event.sequence],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::PersonalAccessTokenAdded(e) => {
            tx.execute(
                &format!(
                    "INSERT INTO personal_access_tokens (instance_id, user_id, token_id, expires_at_ms, \
                     created_at_ms) SELECT $1, $2, $3, $4, $5 WHERE {} \
                     ON CONFLICT (instance_id, user_id, token_id) DO NOTHING",
                    behind(6)
                ),
                &params![
                    instance,
                    id,
                    e.token_id,
                    e.expires_at_unix_ms,
                    at_ms(event),
                    event.sequence
                ],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        UserEvent::PersonalAccessTokenRemoved(e) => {
            tx.execute(
                &format!(
                    "DELETE FROM personal_access_tokens WHERE instance_id = $1 AND user_id = $2 \
                     AND token_id = $3 AND {}",
                    behind(4)
                ),
                &params![instance, id, e.token_id, event.sequence],
            )
            .await?;
            update(tx, event, "", &[]).await?;
        }
        // Changes of the user row alone.
        _ => {
            if let Some(update) = row_update(&decoded) {
                tx.execute(&update_rows(update.set, update.values.len(), 1), &{
                    let mut values = Vec::from(params![instance, id, at_ms(event), event.sequence]);
                    values.extend(update.values);
                    values
                })
                .await?;
            }
        }
    }
    Ok(())
}
