//! The provider's rows: authorization requests, grants, codes and tokens (see `migrations/*/0100_oidc.sql`).
//! Every statement names the instance; codes and tokens are found by the SHA-256 of their value.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use warden_spooler::{Db, DbRow, SqlValue, params};

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
}

/// The provider's tables.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    db: Db,
}

impl Rows {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }

    pub(crate) async fn insert_auth_request<T: Serialize>(
        &self,
        instance_id: &str,
        id: &str,
        request: &T,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), OidcError> {
        self.db
            .execute(
                "INSERT INTO oidc_auth_requests (instance_id, id, request, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    instance_id.into(),
                    id.into(),
                    SqlValue::json(request),
                    now_ms.into(),
                    expires_at_ms.into(),
                ],
            )
            .await
            .map_err(storage)?;
        // Expired requests and codes go with the next new request: no sweeper needed.
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

    pub(crate) async fn auth_request<T: DeserializeOwned>(
        &self,
        instance_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<T>, OidcError> {
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

    /// Deletes the request; true when this call deleted it (so only one completion wins).
    pub(crate) async fn take_auth_request(
        &self,
        instance_id: &str,
        id: &str,
    ) -> Result<bool, OidcError> {
        let n = self
            .db
            .execute(
                "DELETE FROM oidc_auth_requests WHERE instance_id = $1 AND id = $2",
                &params![instance_id, id],
            )
            .await
            .map_err(storage)?;
        Ok(n == 1)
    }

    pub(crate) async fn insert_grant(
        &self,
        instance_id: &str,
        id: &str,
        client_id: &str,
        user_id: &str,
        session_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), OidcError> {
        self.db
            .execute(
                "INSERT INTO oidc_grants (instance_id, id, client_id, user_id, session_id, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &params![instance_id, id, client_id, user_id, session_id, now_ms],
            )
            .await
            .map_err(storage)?;
        Ok(())
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

    pub(crate) async fn insert_code<T: Serialize>(
        &self,
        instance_id: &str,
        code_hash: &str,
        grant_id: &str,
        data: &T,
        expires_at_ms: i64,
    ) -> Result<(), OidcError> {
        self.db
            .execute(
                "INSERT INTO oidc_codes (instance_id, code_hash, grant_id, data, expires_at_ms) VALUES ($1, $2, $3, $4, $5)",
                &[
                    instance_id.into(),
                    code_hash.into(),
                    grant_id.into(),
                    SqlValue::json(data),
                    expires_at_ms.into(),
                ],
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
        self.db
            .execute(
                "INSERT INTO oidc_tokens (instance_id, token_hash, kind, id, grant_id, client_id, user_id, data, \
                 created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
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
                ],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    pub(crate) async fn token(
        &self,
        instance_id: &str,
        token_hash: &str,
    ) -> Result<Option<TokenRow>, OidcError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT kind, id, grant_id, client_id, user_id, data, created_at_ms, expires_at_ms, used_at_ms, \
                 revoked_at_ms FROM oidc_tokens WHERE instance_id = $1 AND token_hash = $2",
                &params![instance_id, token_hash],
            )
            .await
            .map_err(storage)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenRow {
            kind: row.get("kind").map_err(storage)?,
            id: row.get("id").map_err(storage)?,
            grant_id: row.get("grant_id").map_err(storage)?,
            client_id: row.get("client_id").map_err(storage)?,
            user_id: row.get("user_id").map_err(storage)?,
            data: json(&row, "data")?,
            created_at_ms: row.get("created_at_ms").map_err(storage)?,
            expires_at_ms: row.get("expires_at_ms").map_err(storage)?,
            used_at_ms: row.get("used_at_ms").map_err(storage)?,
            revoked_at_ms: row.get("revoked_at_ms").map_err(storage)?,
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
