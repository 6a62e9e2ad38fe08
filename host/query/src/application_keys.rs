//! The public keys of applications (`application_keys`), for `private_key_jwt`: public halves only.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::{
    QueryError,
    list::{Field, ListSpec, Paging},
    projections::APPLICATIONS,
    service::{Consistency, Queries},
};

/// A public key registered on an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AppKeyView {
    /// The key id (the `kid` of the client's assertions).
    pub key_id: String,
    /// `pem` or `jwk`.
    pub format: String,
    /// The public key.
    pub public_key: String,
    /// Expiry, ms since the Unix epoch.
    pub expires_at_ms: i64,
    /// Added, ms since the Unix epoch.
    pub created_at_ms: i64,
}

/// An application's keys, oldest first (the query is the application id).
static APP_KEY_LIST: ListSpec<str, AppKeyView> = ListSpec::new(
    "application_keys",
    "key_id, format, public_key, expires_at_ms, created_at_ms",
    &[Field::eq("app_id", |app_id| Some(app_id.into()))],
    None,
    &["created_at_ms", "key_id"],
    Paging::Unpaged,
);

impl Queries {
    /// An application's public keys, oldest first, as fresh as `consistency` asks.
    #[instrument(skip(self), err)]
    pub async fn application_keys(
        &self,
        instance_id: &str,
        app_id: &str,
        consistency: Consistency,
    ) -> Result<Vec<AppKeyView>, QueryError> {
        self.settle(
            APPLICATIONS,
            consistency,
            instance_id,
            &[("application", app_id)],
        )
        .await?;
        self.list_all(&APP_KEY_LIST, instance_id, app_id).await
    }
}
