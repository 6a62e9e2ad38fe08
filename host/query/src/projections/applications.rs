//! The `applications` projection: OIDC and API applications with their configuration (never secret hashes),
//! and their public keys (`application_keys`).

use warden_domain::application::{ApiConfig, AppAdded, ApplicationEvent, OidcConfig};
use warden_eventstore::Event;
use warden_spooler::{ProjectionError, SqlValue, ViewTx, params};

use super::{APPLICATIONS, Table, at_ms, decode};

builtin_projection! {
    /// Keeps `applications` and `application_keys` up to date.
    ApplicationsProjection {
        name: APPLICATIONS,
        aggregate_types: ["application"],
        tables: ["applications", "application_keys"],
        apply: apply,
    }
}

/// The rows of the view.
const TABLE: Table = Table("applications");

/// The columns derived from an application's configuration: app type, auth method, redirect URIs, config.
type ConfigColumns = [(&'static str, SqlValue); 4];

/// The columns derived from an OIDC configuration.
fn oidc_columns(config: &OidcConfig) -> ConfigColumns {
    [
        ("app_type", config.app_type.as_str().into()),
        ("auth_method", config.auth_method.as_str().into()),
        ("redirect_uris", SqlValue::json(&config.redirect_uris)),
        ("config", SqlValue::json(config)),
    ]
}

/// The columns derived from an API configuration.
fn api_columns(config: &ApiConfig) -> ConfigColumns {
    [
        ("app_type", SqlValue::Text(None)),
        ("auth_method", config.auth_method.as_str().into()),
        ("redirect_uris", SqlValue::json(&Vec::<String>::new())),
        ("config", SqlValue::json(config)),
    ]
}

/// Inserts the row of an application of `kind` added by `event`, with the columns derived from its
/// configuration.
async fn insert<C>(
    tx: &mut ViewTx,
    event: &Event,
    kind: &str,
    app: &AppAdded<C>,
    config: ConfigColumns,
) -> Result<(), ProjectionError> {
    let columns = [
        ("project_id", app.project_id.as_str().into()),
        ("org_id", app.org_id.as_str().into()),
        ("name", app.name.as_str().into()),
        ("name_lower", app.name.to_lowercase().into()),
        ("kind", kind.into()),
        ("client_id", app.client_id.as_str().into()),
        ("has_secret", app.client_secret_hash.is_some().into()),
    ];
    TABLE
        .insert(tx, event, columns.into_iter().chain(config))
        .await
}

/// Sets the columns derived from an application's configuration.
async fn set_config(
    tx: &mut ViewTx,
    event: &Event,
    config: ConfigColumns,
) -> Result<(), ProjectionError> {
    let set: Vec<String> = (config.iter().zip(5..))
        .map(|((column, _), n)| format!("{column} = ${n}"))
        .collect();
    let values = config.map(|(_, value)| value);
    TABLE.update(tx, event, &set.join(", "), &values).await
}

async fn apply(tx: &mut ViewTx, event: &Event) -> Result<(), ProjectionError> {
    let instance = event.aggregate.instance_id.as_str();
    let id = event.aggregate.aggregate_id.as_str();
    match decode::<ApplicationEvent>(event)? {
        ApplicationEvent::OidcAdded(e) => {
            insert(tx, event, "oidc", &e, oidc_columns(&e.config)).await?;
        }
        ApplicationEvent::ApiAdded(e) => {
            insert(tx, event, "api", &e, api_columns(&e.config)).await?
        }
        ApplicationEvent::OidcConfigChanged(config) => {
            set_config(tx, event, oidc_columns(&config)).await?;
        }
        ApplicationEvent::ApiConfigChanged(config) => {
            set_config(tx, event, api_columns(&config)).await?;
        }
        ApplicationEvent::Renamed(e) => TABLE.rename(tx, event, &e.name).await?,
        ApplicationEvent::SecretSet(_) => TABLE.update(tx, event, "has_secret = TRUE", &[]).await?,
        ApplicationEvent::SecretRemoved => {
            TABLE.update(tx, event, "has_secret = FALSE", &[]).await?
        }
        ApplicationEvent::Deactivated => TABLE.set_state(tx, event, false).await?,
        ApplicationEvent::Reactivated => TABLE.set_state(tx, event, true).await?,
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
                    at_ms(event)
                ],
            )
            .await?;
            // `sequence` tells readers the row is current.
            TABLE.update(tx, event, "", &[]).await?;
        }
        ApplicationEvent::KeyRemoved(e) => {
            tx.execute(
                "DELETE FROM application_keys WHERE instance_id = $1 AND app_id = $2 AND key_id = $3",
                &params![instance, id, e.key_id],
            )
            .await?;
            TABLE.update(tx, event, "", &[]).await?;
        }
    }
    Ok(())
}
