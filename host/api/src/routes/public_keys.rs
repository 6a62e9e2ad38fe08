//! What the key routes of machine users (`/api/v1/users/{user_id}/keys`) and applications
//! (`/api/v1/apps/{app_id}/keys`) share: the upload body (a PEM or JWK public key with an optional expiry),
//! the answer to an upload, and the listed key.

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::{CallerCommands, KeyAdded, NewPublicKey};
use warden_domain::public_key::KeyFormat;
use warden_query::{AppKeyView, MachineKeyView};

use crate::{
    ApiError,
    bodies::{Reply, WriteDetails, reply},
    routes::change::Outcome,
    schema, time,
};

/// 9999-12-31T23:59:59Z: the expiry of keys and tokens sent without one.
pub(crate) const NEVER_EXPIRES_UNIX_MS: i64 = 253_402_300_799_000;

/// An expiry as sent (RFC 3339) in ms since the Unix epoch; none: never.
pub(crate) fn expiry(expires_at: Option<&str>) -> Result<i64, ApiError> {
    expires_at.map_or(Ok(NEVER_EXPIRES_UNIX_MS), |v| {
        time::parse_millis("expires_at", v)
    })
}

/// The encoding of a public key.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeyFormatName {
    /// A PEM `PUBLIC KEY` block.
    #[default]
    Pem,
    /// A JSON Web Key.
    Jwk,
}

/// A public key to register; the private key stays with the client, which signs JWTs with it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    { "properties": { "format": { "const": "pem" }, "public_key": { "pattern": schema::PEM_PUBLIC_KEY } } },
    {
        "required": ["format"],
        "properties": { "format": { "const": "jwk" }, "public_key": { "pattern": schema::JWK_PUBLIC_KEY } },
    },
]))]
pub(crate) struct AddKeyRequest {
    /// The encoding of `public_key` (default `pem`).
    #[serde(default)]
    format: KeyFormatName,
    /// The public key; the private key stays with the client.
    #[schemars(length(max = schema::PUBLIC_KEY_LEN))]
    public_key: String,
    /// When the key stops being accepted (RFC 3339, UTC; default: never).
    #[serde(default)]
    #[schemars(schema_with = "schema::optional_timestamp")]
    expires_at: Option<String>,
}

impl AddKeyRequest {
    /// The key as the commands take it; a bad `expires_at` is refused naming the field.
    fn key(&self) -> Result<NewPublicKey, ApiError> {
        Ok(NewPublicKey {
            format: match self.format {
                KeyFormatName::Pem => KeyFormat::Pem,
                KeyFormatName::Jwk => KeyFormat::Jwk,
            },
            public_key: self.public_key.clone(),
            expires_at_unix_ms: expiry(self.expires_at.as_deref())?,
        })
    }
}

/// A key registered.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub(crate) struct KeyCreated {
    /// What the write produced (of the key's owner).
    #[serde(flatten)]
    details: WriteDetails,
    /// The key id: the `kid` that JWTs signed with the private key must carry.
    key_id: String,
}

/// Whose key an upload adds.
pub(crate) enum KeyOwner<'a> {
    /// A machine user, by id.
    Machine(&'a str),
    /// An application, by id.
    App(&'a str),
}

/// Registers the uploaded key on `owner`; a bad `expires_at` is refused before the command runs.
pub(crate) fn add_key<'a>(
    commands: &'a CallerCommands<'a>,
    owner: KeyOwner<'a>,
    body: &'a AddKeyRequest,
) -> Outcome<'a, KeyAdded, ApiError> {
    Box::pin(async move {
        let key = body.key()?;
        let added = match owner {
            KeyOwner::Machine(user_id) => commands.add_machine_key(user_id, &key).await?,
            KeyOwner::App(app_id) => commands.add_app_key(app_id, &key).await?,
        };
        Ok(added)
    })
}

/// The answer to an upload: 201 with the key's id.
pub(crate) fn key_created(added: KeyAdded) -> Reply<KeyCreated> {
    reply(
        StatusCode::CREATED,
        added.details.sequence,
        KeyCreated {
            details: added.details.into(),
            key_id: added.key_id,
        },
    )
}

/// A registered public key (never any private material: none is stored).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicKeyBody {
    /// The key id (the JWT `kid`).
    pub key_id: String,
    /// `pem` or `jwk`.
    pub format: String,
    /// The public key.
    pub public_key: String,
    /// Expiry (RFC 3339, UTC).
    pub expires_at: String,
    /// Added (RFC 3339, UTC).
    pub created_at: String,
}

/// The listed keys of both owners, as one body.
macro_rules! key_body_from {
    ($($view:ty),*) => {$(
        impl From<$view> for PublicKeyBody {
            fn from(v: $view) -> Self {
                Self {
                    key_id: v.key_id,
                    format: v.format,
                    public_key: v.public_key,
                    expires_at: time::format_millis(v.expires_at_ms),
                    created_at: time::format_millis(v.created_at_ms),
                }
            }
        }
    )*};
}

key_body_from!(MachineKeyView, AppKeyView);
