//! The provider's rows: authorization requests, grants, codes and tokens (see `migrations/*/0100_oidc.sql`).
//! Every statement names the instance; codes and tokens are found by the SHA-256 of their value.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicI64, Ordering},
    },
};

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use warden_spooler::{Backend, Db, DbRow, SqlValue, params};

use crate::OidcError;

fn storage(error: sqlx::Error) -> OidcError {
    tracing::warn!(%error, "oidc storage");
    OidcError::Storage(error.to_string())
}

fn json<T: DeserializeOwned>(row: &DbRow, column: &str) -> Result<T, OidcError> {
    row.json::<T>(column).map_err(storage)
}

/// A stored token row.
#[derive(Debug, Clone)]
pub(crate) struct TokenRow {
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) grant_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) data: Value,
    pub(crate) created_at_ms: i64,
    pub(crate) expires_at_ms: i64,
    pub(crate) used_at_ms: Option<i64>,
    pub(crate) revoked_at_ms: Option<i64>,
    /// Whether the token's grant exists and is not revoked, read with the token (`true` without a grant).
    pub(crate) grant_active: bool,
}

/// The provider's tables.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    db: Db,
    /// The writer of token rows, started on first use.
    token_writer: Arc<OnceLock<mpsc::UnboundedSender<PendingToken>>>,
    /// When this node last deleted expired authorization requests and codes (ms since the epoch).
    swept_at_ms: Arc<AtomicI64>,
    /// The authorization requests this node stored, as stored, with their expiry: the login pages read a
    /// request at every step, and a request never changes once stored. Completing one deletes the row
    /// (one statement, which only one caller wins), so a request completed on another node fails there.
    recent_requests: Arc<Mutex<RecentRequests>>,
}

/// (instance id, request id) → the request as stored, and when it expires (ms since the epoch).
type RecentRequests = HashMap<(String, String), (Value, i64)>;

/// At most this many requests are remembered; beyond, the memory starts over (reads go to the table).
const RECENT_REQUESTS: usize = 4_096;

/// How often a node deletes expired authorization requests and codes: with the next new request once
/// this much time has passed, not with every request.
const SWEEP_EVERY_MS: i64 = 10_000;

/// A token row waiting for the writer, and who waits for it to be stored.
struct PendingToken {
    values: Vec<SqlValue>,
    stored: oneshot::Sender<Result<(), OidcError>>,
}

/// Columns of a token row, in the order of [`PendingToken::values`].
const TOKEN_COLUMNS: usize = 10;
/// The most rows one statement inserts.
const MAX_TOKEN_BATCH: usize = 64;

/// Stores token rows as they come: one statement (and one commit) for all the rows that arrived while the
/// previous one was being written, so concurrent token requests share commits instead of each waiting for
/// its own. A row is answered only once its statement committed, so a token is never handed out before it is
/// durable. When a group fails, its rows are written one by one, so each answer is that row's own outcome.
async fn write_tokens(db: Db, mut pending: mpsc::UnboundedReceiver<PendingToken>) {
    while let Some(first) = pending.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_TOKEN_BATCH {
            match pending.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        if group.len() > 1 {
            let mut sql = String::from(
                "INSERT INTO oidc_tokens (instance_id, token_hash, kind, id, grant_id, client_id, user_id, data, \
                 created_at_ms, expires_at_ms) VALUES ",
            );
            let mut values = Vec::with_capacity(group.len() * TOKEN_COLUMNS);
            for (row, token) in group.iter().enumerate() {
                if row > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for column in 0..TOKEN_COLUMNS {
                    if column > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("${}", row * TOKEN_COLUMNS + column + 1));
                }
                sql.push(')');
                values.extend(token.values.iter().cloned());
            }
            if db.execute(&sql, &values).await.is_ok() {
                for token in group {
                    let _ = token.stored.send(Ok(()));
                }
                continue;
            }
        }
        for token in group {
            let stored = db
                .execute(INSERT_TOKEN, &token.values)
                .await
                .map(|_| ())
                .map_err(storage);
            let _ = token.stored.send(stored);
        }
    }
}

const INSERT_GRANT: &str = "INSERT INTO oidc_grants (instance_id, id, client_id, user_id, session_id, created_at_ms) \
                            VALUES ($1, $2, $3, $4, $5, $6)";

const INSERT_CODE: &str = "INSERT INTO oidc_codes (instance_id, code_hash, grant_id, data, expires_at_ms) \
                           VALUES ($1, $2, $3, $4, $5)";

const INSERT_TOKEN: &str = "INSERT INTO oidc_tokens (instance_id, token_hash, kind, id, grant_id, client_id, user_id, \
                            data, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

impl Rows {
    pub(crate) fn new(db: Db) -> Self {
        Self {
            db,
            token_writer: Arc::new(OnceLock::new()),
            swept_at_ms: Arc::new(AtomicI64::new(0)),
            recent_requests: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The database, for the provider's other tables (the ids of used client assertions).
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) async fn insert_auth_request<T: Serialize>(
        &self,
        instance_id: &str,
        id: &str,
        request: &T,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), OidcError> {
        let stored =
            serde_json::to_value(request).map_err(|e| OidcError::Storage(e.to_string()))?;
        self.db
            .execute(
                "INSERT INTO oidc_auth_requests (instance_id, id, request, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    instance_id.into(),
                    id.into(),
                    SqlValue::Json(Some(stored.clone())),
                    now_ms.into(),
                    expires_at_ms.into(),
                ],
            )
            .await
            .map_err(storage)?;
        {
            let mut recent = self.recent();
            if recent.len() >= RECENT_REQUESTS {
                recent.clear();
            }
            recent.insert(
                (instance_id.to_owned(), id.to_owned()),
                (stored, expires_at_ms),
            );
        }
        // Expired requests and codes go with a new request every few seconds: no sweeper task needed.
        let swept = self.swept_at_ms.load(Ordering::Relaxed);
        if now_ms - swept < SWEEP_EVERY_MS
            || self
                .swept_at_ms
                .compare_exchange(swept, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        self.db
            .execute(
                "DELETE FROM oidc_auth_requests WHERE expires_at_ms < $1",
                &params![now_ms - 60_000],
            )
            .await
            .map_err(storage)?;
        self.db
            .execute(
                "DELETE FROM oidc_codes WHERE expires_at_ms < $1",
                &params![now_ms - 3_600_000],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, RecentRequests> {
        self.recent_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) async fn auth_request<T: DeserializeOwned>(
        &self,
        instance_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<T>, OidcError> {
        let remembered = self
            .recent()
            .get(&(instance_id.to_owned(), id.to_owned()))
            .filter(|(_, expires_at_ms)| *expires_at_ms > now_ms)
            .map(|(request, _)| request.clone());
        if let Some(request) = remembered {
            return serde_json::from_value(request)
                .map(Some)
                .map_err(|e| OidcError::Storage(e.to_string()));
        }
        let row = self
            .db
            .fetch_optional(
                "SELECT request FROM oidc_auth_requests WHERE instance_id = $1 AND id = $2 AND expires_at_ms > $3",
                &params![instance_id, id, now_ms],
            )
            .await
            .map_err(storage)?;
        row.map(|row| json(&row, "request")).transpose()
    }

    /// Deletes the request and returns it if it had not expired; only the call that deleted it gets it (so
    /// only one completion wins).
    pub(crate) async fn take_auth_request<T: DeserializeOwned>(
        &self,
        instance_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<T>, OidcError> {
        self.recent()
            .remove(&(instance_id.to_owned(), id.to_owned()));
        let row = self
            .db
            .execute_returning(
                "DELETE FROM oidc_auth_requests WHERE instance_id = $1 AND id = $2 \
                 RETURNING request, expires_at_ms",
                &params![instance_id, id],
            )
            .await
            .map_err(storage)?;
        match row {
            Some(row) if row.get::<i64>("expires_at_ms").map_err(storage)? > now_ms => {
                json(&row, "request").map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Completes an authorization request: deletes it and stores a grant and the code issued under it, all
    /// or nothing, in one commit (on PostgreSQL one statement). `false` when the request was gone or had
    /// expired: another completion won, and nothing was stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn complete_auth_request<T: Serialize>(
        &self,
        instance_id: &str,
        request_id: &str,
        grant_id: &str,
        client_id: &str,
        user_id: &str,
        session_id: Option<&str>,
        now_ms: i64,
        code_hash: &str,
        data: &T,
        expires_at_ms: i64,
    ) -> Result<bool, OidcError> {
        self.recent()
            .remove(&(instance_id.to_owned(), request_id.to_owned()));
        let take = params![instance_id, request_id, now_ms];
        let grant = params![
            instance_id,
            grant_id,
            client_id,
            user_id,
            session_id,
            now_ms
        ];
        let data = SqlValue::json(data);
        if self.db.backend() == Backend::Postgres {
            // The request's key and the time ($1-$3), the grant's other columns ($4-$7), the code's ($8-$10).
            let values: Vec<SqlValue> = take
                .into_iter()
                .chain(grant.into_iter().skip(1).take(4))
                .chain([code_hash.into(), data, expires_at_ms.into()])
                .collect();
            let stored = self
                .db
                .execute(
                    "WITH taken AS (DELETE FROM oidc_auth_requests \
                                    WHERE instance_id = $1 AND id = $2 AND expires_at_ms > $3 RETURNING id), \
                     grant_row AS (INSERT INTO oidc_grants (instance_id, id, client_id, user_id, session_id, \
                                                            created_at_ms) \
                                   SELECT $1, $4, $5, $6, $7, $3 FROM taken) \
                     INSERT INTO oidc_codes (instance_id, code_hash, grant_id, data, expires_at_ms) \
                     SELECT $1, $8, $4, $9, $10 FROM taken",
                    &values,
                )
                .await
                .map_err(storage)?;
            return Ok(stored == 1);
        }
        let mut tx = self.db.begin().await.map_err(storage)?;
        let taken = tx
            .execute(
                "DELETE FROM oidc_auth_requests WHERE instance_id = $1 AND id = $2 AND expires_at_ms > $3",
                &take,
            )
            .await
            .map_err(storage)?;
        if taken == 0 {
            tx.rollback().await.map_err(storage)?;
            return Ok(false);
        }
        tx.execute(INSERT_GRANT, &grant).await.map_err(storage)?;
        let code = [
            instance_id.into(),
            code_hash.into(),
            grant_id.into(),
            data,
            expires_at_ms.into(),
        ];
        tx.execute(INSERT_CODE, &code).await.map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(true)
    }

    /// Whether the grant exists and is not revoked.
    pub(crate) async fn grant_active(
        &self,
        instance_id: &str,
        grant_id: &str,
    ) -> Result<bool, OidcError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT revoked_at_ms FROM oidc_grants WHERE instance_id = $1 AND id = $2",
                &params![instance_id, grant_id],
            )
            .await
            .map_err(storage)?;
        Ok(match row {
            Some(row) => row
                .get::<Option<i64>>("revoked_at_ms")
                .map_err(storage)?
                .is_none(),
            None => false,
        })
    }

    /// Revokes a grant and every token issued under it.
    pub(crate) async fn revoke_grant(
        &self,
        instance_id: &str,
        grant_id: &str,
        now_ms: i64,
    ) -> Result<(), OidcError> {
        self.db
            .execute(
                "UPDATE oidc_grants SET revoked_at_ms = $3 WHERE instance_id = $1 AND id = $2 AND revoked_at_ms IS NULL",
                &params![instance_id, grant_id, now_ms],
            )
            .await
            .map_err(storage)?;
        self.db
            .execute(
                "UPDATE oidc_tokens SET revoked_at_ms = $3 WHERE instance_id = $1 AND grant_id = $2 AND revoked_at_ms IS NULL",
                &params![instance_id, grant_id, now_ms],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// Marks a code used. `Ok(Some(data))` for the first use; `Err(grant_id)` when it was used before (the caller
    /// revokes the grant); `Ok(None)` when unknown or expired.
    pub(crate) async fn use_code<T: DeserializeOwned>(
        &self,
        instance_id: &str,
        code_hash: &str,
        now_ms: i64,
    ) -> Result<Result<Option<(String, T)>, String>, OidcError> {
        let first = self
            .db
            .execute_returning(
                "UPDATE oidc_codes SET used_at_ms = $3 WHERE instance_id = $1 AND code_hash = $2 \
                 AND used_at_ms IS NULL AND expires_at_ms > $3 RETURNING grant_id, data",
                &params![instance_id, code_hash, now_ms],
            )
            .await
            .map_err(storage)?;
        if let Some(row) = first {
            let grant_id: String = row.get("grant_id").map_err(storage)?;
            return Ok(Ok(Some((grant_id, json(&row, "data")?))));
        }
        let again = self
            .db
            .fetch_optional(
                "SELECT grant_id, used_at_ms FROM oidc_codes WHERE instance_id = $1 AND code_hash = $2",
                &params![instance_id, code_hash],
            )
            .await
            .map_err(storage)?;
        match again {
            Some(row)
                if row
                    .get::<Option<i64>>("used_at_ms")
                    .map_err(storage)?
                    .is_some() =>
            {
                Ok(Err(row.get("grant_id").map_err(storage)?))
            }
            _ => Ok(Ok(None)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_token<T: Serialize>(
        &self,
        instance_id: &str,
        token_hash: &str,
        kind: &str,
        id: &str,
        grant_id: Option<&str>,
        client_id: &str,
        user_id: &str,
        data: &T,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), OidcError> {
        let values = vec![
            instance_id.into(),
            token_hash.into(),
            kind.into(),
            id.into(),
            grant_id.into(),
            client_id.into(),
            user_id.into(),
            SqlValue::json(data),
            now_ms.into(),
            expires_at_ms.into(),
        ];
        let writer = self.token_writer.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_tokens(self.db.clone(), receiver));
            sender
        });
        let (stored, answer) = oneshot::channel();
        if let Err(refused) = writer.send(PendingToken { values, stored }) {
            // The writer is gone (its runtime stopped): write the row here.
            self.db
                .execute(INSERT_TOKEN, &refused.0.values)
                .await
                .map_err(storage)?;
            return Ok(());
        }
        answer
            .await
            .map_err(|_| OidcError::Unavailable("the token writer stopped".into()))?
    }

    pub(crate) async fn token(
        &self,
        instance_id: &str,
        token_hash: &str,
    ) -> Result<Option<TokenRow>, OidcError> {
        let row = self
            .db
            .fetch_optional(
                // The grant comes in the same round trip: every use of a token checks it.
                "SELECT t.kind, t.id, t.grant_id, t.client_id, t.user_id, t.data, t.created_at_ms, t.expires_at_ms, \
                 t.used_at_ms, t.revoked_at_ms, g.id AS found_grant_id, g.revoked_at_ms AS grant_revoked_at_ms \
                 FROM oidc_tokens t LEFT JOIN oidc_grants g ON g.instance_id = t.instance_id AND g.id = t.grant_id \
                 WHERE t.instance_id = $1 AND t.token_hash = $2",
                &params![instance_id, token_hash],
            )
            .await
            .map_err(storage)?;
        let Some(row) = row else { return Ok(None) };
        let grant_id: Option<String> = row.get("grant_id").map_err(storage)?;
        let grant_active = grant_id.is_none()
            || (row
                .get::<Option<String>>("found_grant_id")
                .map_err(storage)?
                .is_some()
                && row
                    .get::<Option<i64>>("grant_revoked_at_ms")
                    .map_err(storage)?
                    .is_none());
        Ok(Some(TokenRow {
            kind: row.get("kind").map_err(storage)?,
            id: row.get("id").map_err(storage)?,
            grant_id,
            client_id: row.get("client_id").map_err(storage)?,
            user_id: row.get("user_id").map_err(storage)?,
            data: json(&row, "data")?,
            created_at_ms: row.get("created_at_ms").map_err(storage)?,
            expires_at_ms: row.get("expires_at_ms").map_err(storage)?,
            used_at_ms: row.get("used_at_ms").map_err(storage)?,
            revoked_at_ms: row.get("revoked_at_ms").map_err(storage)?,
            grant_active,
        }))
    }

    /// Marks a refresh token used; true when this call did (a second presentation is a reuse).
    pub(crate) async fn use_token(
        &self,
        instance_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<bool, OidcError> {
        let n = self
            .db
            .execute(
                "UPDATE oidc_tokens SET used_at_ms = $3 WHERE instance_id = $1 AND token_hash = $2 AND used_at_ms IS NULL",
                &params![instance_id, token_hash, now_ms],
            )
            .await
            .map_err(storage)?;
        Ok(n == 1)
    }

    pub(crate) async fn revoke_token(
        &self,
        instance_id: &str,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<(), OidcError> {
        self.db
            .execute(
                "UPDATE oidc_tokens SET revoked_at_ms = $3 WHERE instance_id = $1 AND token_hash = $2 AND revoked_at_ms IS NULL",
                &params![instance_id, token_hash, now_ms],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }
}
