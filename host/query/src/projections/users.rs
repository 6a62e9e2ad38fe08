//! The `users` projection: humans and machines, their metadata, machine keys and personal access tokens.

use std::collections::HashMap;
use warden_domain::user::{KeyFormat, UserEvent};
use warden_eventstore::Event;

use warden_spooler::{BoxFuture, ProjectionError, Rows, SqlValue, ViewTx, params};

use super::{USERS, at_ms, decode, event_types, row_params};

builtin_projection! {
    /// Keeps `users`, `user_metadata`, `machine_keys` and `personal_access_tokens` up to date.
    UsersProjection {
        name: USERS,
        aggregate_types: ["user"],
        // Password and second-factor checks and emailed codes change nothing the view shows (a lockout
        // arrives as its own event).
        event_types: event_types(
            UserEvent::EVENT_TYPES,
            &[
                "user.human.password.check.succeeded",
                "user.human.password.check.failed",
                "user.human.otp.check.succeeded",
                "user.human.otp.check.failed",
                "user.human.email.code.added",
                "user.human.password.code.added",
            ],
        ),
        tables: [
            "users",
            "user_metadata",
            "machine_keys",
            "personal_access_tokens",
        ],
        apply: apply,

        fn apply_batch<'a>(
            &'a self,
            tx: &'a mut ViewTx,
            events: &'a [Event],
        ) -> BoxFuture<'a, Result<(), (usize, ProjectionError)>> {
            Box::pin(apply_batch(tx, events))
        }

        fn merges_events(&self) -> bool {
            true
        }
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
    let mut params = row_params(event);
    params.extend_from_slice(values);
    tx.execute(&sql, &params).await?;
    Ok(())
}

/// What a creation does when the user row exists already: the row a read by id brought up to date (see
/// [`update`]) is replaced only by a newer one (a creation with the batch's later changes merged into it).
const INSERT_CONFLICT: &str = "ON CONFLICT (instance_id, id) DO UPDATE SET org_id = excluded.org_id, \
     kind = excluded.kind, login_name = excluded.login_name, login_name_lower = excluded.login_name_lower, \
     state = excluded.state, locked = excluded.locked, display_name = excluded.display_name, \
     given_name = excluded.given_name, family_name = excluded.family_name, \
     preferred_language = excluded.preferred_language, email = excluded.email, \
     email_verified = excluded.email_verified, phone = excluded.phone, password_set = excluded.password_set, \
     password_change_required = excluded.password_change_required, description = excluded.description, \
     has_secret = excluded.has_secret, created_at_ms = excluded.created_at_ms, \
     changed_at_ms = excluded.changed_at_ms, sequence = excluded.sequence \
     WHERE users.sequence < excluded.sequence";

/// A column of a view row and its value.
type Column = (&'static str, SqlValue);

/// The row a creation event inserts; `None` for any other event.
fn added_row(event: &Event, decoded: &UserEvent) -> Option<Vec<Column>> {
    let at = at_ms(event);
    let (kind, org_id, login_name, display_name, human, machine) = match decoded {
        UserEvent::HumanAdded(e) => (
            "human",
            &e.org_id,
            &e.login_name,
            &e.profile.display_name,
            Some(e),
            None,
        ),
        UserEvent::MachineAdded(e) => ("machine", &e.org_id, &e.login_name, &e.name, None, Some(e)),
        _ => return None,
    };
    Some(vec![
        ("instance_id", event.aggregate.instance_id.as_str().into()),
        ("id", event.aggregate.aggregate_id.as_str().into()),
        ("org_id", org_id.into()),
        ("kind", kind.into()),
        ("login_name", login_name.into()),
        ("login_name_lower", login_name.to_lowercase().into()),
        ("state", "active".into()),
        ("locked", false.into()),
        ("display_name", display_name.into()),
        (
            "given_name",
            human.map(|e| e.profile.given_name.clone()).into(),
        ),
        (
            "family_name",
            human.map(|e| e.profile.family_name.clone()).into(),
        ),
        (
            "preferred_language",
            human.map(|e| e.profile.preferred_language.clone()).into(),
        ),
        ("email", human.map(|e| e.email.clone()).into()),
        (
            "email_verified",
            SqlValue::Bool(human.map(|e| e.email_verified)),
        ),
        ("phone", human.and_then(|e| e.phone.clone()).into()),
        (
            "password_set",
            SqlValue::Bool(human.map(|e| e.password_hash.is_some())),
        ),
        (
            "password_change_required",
            SqlValue::Bool(human.map(|e| e.password_change_required)),
        ),
        ("description", machine.map(|e| e.description.clone()).into()),
        ("has_secret", SqlValue::Bool(machine.map(|_| false))),
        (
            "access_token_type",
            machine
                .map(|e| e.access_token_type.as_str().to_owned())
                .into(),
        ),
        ("created_at_ms", at.into()),
        ("changed_at_ms", at.into()),
        ("sequence", event.sequence.into()),
    ])
}

/// A change of the user row alone (and, for a metadata entry, of that entry).
struct RowUpdate {
    /// The columns the event sets (besides the change time and sequence every event sets).
    set: Vec<Column>,
    /// A metadata entry set with the change (key, value).
    metadata: Option<(String, String)>,
}

/// The change an event makes to the user row, for events that change nothing else but a metadata entry.
fn row_update(decoded: &UserEvent) -> Option<RowUpdate> {
    let set: Vec<Column> = match decoded {
        UserEvent::ProfileChanged(p) => vec![
            ("given_name", p.given_name.as_str().into()),
            ("family_name", p.family_name.as_str().into()),
            ("display_name", p.display_name.as_str().into()),
            ("preferred_language", p.preferred_language.as_str().into()),
        ],
        UserEvent::EmailChanged(e) => vec![
            ("email", e.email.as_str().into()),
            ("email_verified", false.into()),
        ],
        UserEvent::EmailVerified => vec![("email_verified", true.into())],
        UserEvent::PhoneChanged(e) => vec![("phone", e.phone.clone().into())],
        UserEvent::PhoneRemoved => vec![("phone", SqlValue::Text(None))],
        UserEvent::PasswordChanged(e) => vec![
            ("password_set", true.into()),
            ("password_change_required", e.change_required.into()),
        ],
        UserEvent::Locked => vec![("locked", true.into())],
        UserEvent::Unlocked => vec![("locked", false.into())],
        UserEvent::Deactivated => vec![("state", "inactive".into())],
        UserEvent::Reactivated => vec![("state", "active".into())],
        UserEvent::MachineChanged(e) => vec![
            ("display_name", e.name.as_str().into()),
            ("description", e.description.as_str().into()),
            ("access_token_type", e.access_token_type.as_str().into()),
        ],
        UserEvent::MachineSecretSet(_) => vec![("has_secret", true.into())],
        UserEvent::MachineSecretRemoved => vec![("has_secret", false.into())],
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
        | UserEvent::MembershipAdded(_) => Vec::new(),
        UserEvent::MetadataSet(e) => {
            return Some(RowUpdate {
                set: Vec::new(),
                metadata: Some((e.key.clone(), e.value.clone())),
            });
        }
        _ => return None,
    };
    Some(RowUpdate {
        set,
        metadata: None,
    })
}

/// Sets `column` in `row` to `value` (replacing an earlier value, or adding the column).
fn set_column(row: &mut Vec<Column>, column: &'static str, value: SqlValue) {
    match row.iter_mut().find(|(c, _)| *c == column) {
        Some((_, v)) => *v = value,
        None => row.push((column, value)),
    }
}

/// The changes a batch makes to one user, merged: one write per row however many events change it.
struct PendingUser {
    instance_id: String,
    id: String,
    /// Whether the batch creates the user: `row` is then the whole new row, later changes merged into it.
    created: bool,
    /// The new row, or the columns the batch's changes set on the existing row (the last value wins).
    row: Vec<Column>,
    changed_at: i64,
    sequence: i64,
    /// Metadata entries set: key, value and the sequence of the last event that set it.
    metadata: Vec<(String, String, i64)>,
}

/// The merged changes of a batch, written by [`Pending::flush`] with a few multi-row statements.
#[derive(Default)]
struct Pending {
    users: Vec<PendingUser>,
    index: HashMap<(String, String), usize>,
    /// The first event not written yet: a failed write is reported there.
    start: usize,
}

impl Pending {
    fn user(&mut self, event: &Event) -> Option<&mut PendingUser> {
        let key = (
            event.aggregate.instance_id.clone(),
            event.aggregate.aggregate_id.clone(),
        );
        let index = *self.index.get(&key)?;
        self.users.get_mut(index)
    }

    fn add(&mut self, index: usize, user: PendingUser) {
        if self.users.is_empty() {
            self.start = index;
        }
        self.index.insert(
            (user.instance_id.clone(), user.id.clone()),
            self.users.len(),
        );
        self.users.push(user);
    }

    /// Merges a creation into the batch; false when the user has pending changes already (a creation of an
    /// existing aggregate, applied on its own after a flush).
    fn create(&mut self, index: usize, event: &Event, row: Vec<Column>) -> bool {
        if self.user(event).is_some() {
            return false;
        }
        self.add(
            index,
            PendingUser {
                instance_id: event.aggregate.instance_id.clone(),
                id: event.aggregate.aggregate_id.clone(),
                created: true,
                row,
                changed_at: at_ms(event),
                sequence: event.sequence,
                metadata: Vec::new(),
            },
        );
        true
    }

    /// Merges a change of the user row (and a metadata entry) into the batch.
    fn change(&mut self, index: usize, event: &Event, update: RowUpdate) {
        if self.user(event).is_none() {
            self.add(
                index,
                PendingUser {
                    instance_id: event.aggregate.instance_id.clone(),
                    id: event.aggregate.aggregate_id.clone(),
                    created: false,
                    row: Vec::new(),
                    changed_at: 0,
                    sequence: 0,
                    metadata: Vec::new(),
                },
            );
        }
        let Some(user) = self.user(event) else {
            return;
        };
        for (column, value) in update.set {
            set_column(&mut user.row, column, value);
        }
        user.changed_at = at_ms(event);
        user.sequence = event.sequence;
        if user.created {
            set_column(&mut user.row, "changed_at_ms", user.changed_at.into());
            set_column(&mut user.row, "sequence", user.sequence.into());
        }
        if let Some((key, value)) = update.metadata {
            match user.metadata.iter_mut().find(|(k, _, _)| *k == key) {
                Some(entry) => {
                    entry.1 = value;
                    entry.2 = event.sequence;
                }
                None => user.metadata.push((key, value, event.sequence)),
            }
        }
    }

    /// Writes the merged changes: the metadata entries first (each only while the user row does not yet
    /// reflect the event that set it, judged on the row as it was before the batch), then the new rows, then
    /// one `UPDATE` per set of changed columns. A failure is reported at the first event merged.
    async fn flush(&mut self, tx: &mut ViewTx) -> Result<(), (usize, ProjectionError)> {
        let users = std::mem::take(&mut self.users);
        self.index.clear();
        let start = self.start;
        let failed = |error: sqlx::Error| (start, ProjectionError::Database(error));
        let mut metadata = Rows::default();
        let mut created = Rows::default();
        let mut updates: Vec<(Vec<&'static str>, Rows)> = Vec::new();
        for user in users {
            for (key, value, sequence) in user.metadata {
                metadata.push([
                    ("instance_id", user.instance_id.as_str().into()),
                    ("user_id", user.id.as_str().into()),
                    ("key", key.into()),
                    ("value", value.into()),
                    ("seq", sequence.into()),
                    ("created", user.created.into()),
                ]);
            }
            if user.created {
                created.push(user.row);
                continue;
            }
            let columns: Vec<&'static str> = user.row.iter().map(|(c, _)| *c).collect();
            let row = [
                ("instance_id", SqlValue::from(user.instance_id)),
                ("id", user.id.into()),
            ]
            .into_iter()
            .chain(user.row)
            .chain([
                ("changed_at_ms", user.changed_at.into()),
                ("sequence", user.sequence.into()),
            ]);
            match updates.iter_mut().find(|(c, _)| *c == columns) {
                Some((_, rows)) => rows.push(row),
                None => {
                    let mut rows = Rows::default();
                    rows.push(row);
                    updates.push((columns, rows));
                }
            }
        }
        if !metadata.is_empty() {
            let (source, params) = metadata.table(tx.backend()).map_err(failed)?;
            tx.execute(
                &format!(
                    "INSERT INTO user_metadata (instance_id, user_id, key, value) \
                     SELECT v.instance_id, v.user_id, v.key, v.value FROM {source} WHERE CASE WHEN v.created \
                         THEN NOT EXISTS (SELECT 1 FROM users u WHERE u.instance_id = v.instance_id \
                             AND u.id = v.user_id AND u.sequence >= v.seq) \
                         ELSE EXISTS (SELECT 1 FROM users u WHERE u.instance_id = v.instance_id \
                             AND u.id = v.user_id AND u.sequence < v.seq) END \
                     ON CONFLICT (instance_id, user_id, key) DO UPDATE SET value = excluded.value"
                ),
                &params,
            )
            .await
            .map_err(failed)?;
        }
        tx.insert_rows("users", &created, INSERT_CONFLICT)
            .await
            .map_err(failed)?;
        for (_, rows) in updates {
            tx.update_rows(
                "users",
                &["instance_id", "id"],
                &rows,
                "users.sequence < v.sequence",
            )
            .await
            .map_err(failed)?;
        }
        Ok(())
    }
}

/// Applies a batch with few statements: the creations and row changes (with metadata entries) of all its
/// events are merged per user and written together by [`Pending::flush`] (a bulk import, a replay, a busy
/// stream: one write per row, a handful of statements per batch). Any other event (a removal, keys, tokens)
/// first writes what was merged, then is applied on its own, so each user's changes keep their order.
async fn apply_batch(tx: &mut ViewTx, events: &[Event]) -> Result<(), (usize, ProjectionError)> {
    let mut pending = Pending::default();
    for (index, event) in events.iter().enumerate() {
        let decoded = match decode::<UserEvent>(event) {
            Ok(decoded) => decoded,
            Err(error) => {
                pending.flush(tx).await?;
                return Err((index, error));
            }
        };
        if let Some(row) = added_row(event, &decoded) {
            if pending.create(index, event, row) {
                continue;
            }
        } else if let Some(update) = row_update(&decoded) {
            pending.change(index, event, update);
            continue;
        }
        pending.flush(tx).await?;
        apply_decoded(tx, event, decoded)
            .await
            .map_err(|error| (index, error))?;
    }
    pending.flush(tx).await
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
        let mut rows = Rows::default();
        rows.push(row);
        tx.insert_rows("users", &rows, INSERT_CONFLICT).await?;
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
                let mut pending = Pending::default();
                pending.change(0, event, update);
                pending.flush(tx).await.map_err(|(_, error)| error)?;
            }
        }
    }
    Ok(())
}
