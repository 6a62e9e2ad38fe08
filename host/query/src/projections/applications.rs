//! The `applications` projection: OIDC and API applications with their configuration (never secret hashes),
//! and their public keys (`application_keys`).

use warden_domain::application::{ApiConfig, ApplicationEvent, OidcConfig};
use warden_eventstore::Event;
use warden_spooler::{BoxFuture, Projection, ProjectionError, SqlValue, ViewTx, params};

use super::{APPLICATIONS, at_ms, decode, tables};

/// Keeps `applications` and `application_keys` up to date.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplicationsProjection;

impl Projection for ApplicationsProjection {
    fn name(&self) -> &str {
        APPLICATIONS
    }

    fn aggregate_types(&self) -> Vec<String> {
        vec!["application".to_owned()]
    }

    fn tables(&self) -> Vec<String> {
        tables(&["applications", "application_keys"])
    }

    fn apply<'a>(
        &'a self,
        tx: &'a mut ViewTx,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(apply(tx, event))
    }
}

/// The columns derived from an OIDC configuration: app type, auth method, redirect URIs, config.
fn oidc_columns(config: &OidcConfig) -> Vec<SqlValue> {
    vec![
        SqlValue::from(config.app_type.as_str()),
        SqlValue::from(config.auth_method.as_str()),
        SqlValue::json(&config.redirect_uris),
        SqlValue::json(config),
    ]
}

/// The columns derived from an API configuration: app type, auth method, redirect URIs, config.
fn api_columns(config: &ApiConfig) -> Vec<SqlValue> {
    vec![
        SqlValue::Text(None),
        SqlValue::from(config.auth_method.as_str()),
        SqlValue::json(&Vec::<String>::new()),
        SqlValue::json(config),
    ]
}

const INSERT: &str = "INSERT INTO applications (instance_id, id, project_id, org_id, name, name_lower, kind, state, \
     client_id, has_secret, created_at_ms, changed_at_ms, sequence, app_type, auth_method, redirect_uris, config) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT (instance_id, id) DO NOTHING";

/// Records a change of the application's keys on its row (`sequence` tells readers the row is current).
const TOUCH: &str =
    "UPDATE applications SET changed_at_ms = $3, sequence = $4 WHERE instance_id = $1 AND id = $2";

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    let at = at_ms(event);
    let touch = |set: &str| {
        format!(
            "UPDATE applications SET {set}, changed_at_ms = $3, sequence = $4 WHERE instance_id = $1 AND id = $2"
        )
    };
    let base = Vec::from(params![instance, id, at, event.sequence]);
    match decode::<ApplicationEvent>(event)? {
        ApplicationEvent::OidcAdded(e) => {
            let mut params = Vec::from(params![
                instance,
                id,
                e.project_id,
                e.org_id,
                e.name.as_str(),
                e.name.to_lowercase(),
                "oidc",
                e.client_id,
                e.client_secret_hash.is_some(),
                at,
                event.sequence
            ]);
            params.extend(oidc_columns(&e.config));
            tx.execute(INSERT, &params).await?;
        }
        ApplicationEvent::ApiAdded(e) => {
            let mut params = Vec::from(params![
                instance,
                id,
                e.project_id,
                e.org_id,
                e.name.as_str(),
                e.name.to_lowercase(),
                "api",
                e.client_id,
                e.client_secret_hash.is_some(),
                at,
                event.sequence
            ]);
            params.extend(api_columns(&e.config));
            tx.execute(INSERT, &params).await?;
        }
        ApplicationEvent::OidcConfigChanged(config) => {
            let mut params = base;
            params.extend(oidc_columns(&config));
            let sql = touch("app_type = $5, auth_method = $6, redirect_uris = $7, config = $8");
            tx.execute(&sql, &params).await?;
        }
        ApplicationEvent::ApiConfigChanged(config) => {
            let mut params = base;
            params.extend(api_columns(&config));
            let sql = touch("app_type = $5, auth_method = $6, redirect_uris = $7, config = $8");
            tx.execute(&sql, &params).await?;
        }
        ApplicationEvent::Renamed(e) => {
            let mut params = base;
            params.extend(params![e.name.as_str(), e.name.to_lowercase()]);
            tx.execute(&touch("name = $5, name_lower = $6"), &params)
                .await?;
        }
        ApplicationEvent::SecretSet(_) => {
            tx.execute(&touch("has_secret = TRUE"), &base).await?;
        }
        ApplicationEvent::SecretRemoved => {
            tx.execute(&touch("has_secret = FALSE"), &base).await?;
        }
        ApplicationEvent::Deactivated => {
            tx.execute(&touch("state = 'inactive'"), &base).await?;
        }
        ApplicationEvent::Reactivated => {
            tx.execute(&touch("state = 'active'"), &base).await?;
        }
        ApplicationEvent::Removed => {
            tx.execute(
                "DELETE FROM application_keys WHERE instance_id = $1 AND app_id = $2",
                &params![instance, id],
            )
            .await?;
            tx.execute(
                "DELETE FROM applications WHERE instance_id = $1 AND id = $2",
                &params![instance, id],
            )
            .await?;
        }
        ApplicationEvent::KeyAdded(e) => {
            tx.execute(
                "INSERT INTO application_keys (instance_id, app_id, key_id, format, public_key, expires_at_ms, \
                 created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (instance_id, app_id, key_id) DO NOTHING",
                &params![
                    instance,
                    id,
                    e.key_id,
                    e.format.as_str(),
                    e.public_key,
                    e.expires_at_unix_ms,
                    at
                ],
            )
            .await?;
            tx.execute(TOUCH, &base).await?;
        }
        ApplicationEvent::KeyRemoved(e) => {
            tx.execute(
                "DELETE FROM application_keys WHERE instance_id = $1 AND app_id = $2 AND key_id = $3",
                &params![instance, id, e.key_id],
            )
            .await?;
            tx.execute(TOUCH, &base).await?;
        }
    }
    Ok(())
}
