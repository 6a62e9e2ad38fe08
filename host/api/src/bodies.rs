//! Bodies several resources share: what a write answers (and the reply type), secrets shown once, a name, a
//! domain.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::Details;

use crate::{error::ApiError, schema, time};

/// What a write produced: the resource's id and where its latest event is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WriteDetails {
    /// The id of the resource written (for a sub-resource such as a role or member: of its parent).
    pub id: String,
    /// The resource's sequence after the write; its `ETag`, for `If-Match`.
    pub sequence: i64,
    /// The global position of the resource's latest event (for the audit trail).
    pub position: i64,
    /// When the resource last changed (RFC 3339, UTC).
    pub change_date: String,
}

impl From<Details> for WriteDetails {
    fn from(details: Details) -> Self {
        Self {
            id: details.id,
            sequence: details.sequence,
            position: details.position,
            change_date: time::format_micros(details.change_date),
        }
    }
}

/// A successful write: a status, an `ETag` of the resource's sequence, and a JSON body.
#[derive(Debug)]
pub(crate) struct Written<T> {
    status: StatusCode,
    sequence: i64,
    body: T,
}

impl<T: Serialize> IntoResponse for Written<T> {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", self.sequence)) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        response
    }
}

/// The result of a handler.
pub(crate) type Reply<T = WriteDetails> = Result<Written<T>, ApiError>;

/// 200 with the details of a change.
pub(crate) fn changed(details: Details) -> Reply {
    Ok(Written {
        status: StatusCode::OK,
        sequence: details.sequence,
        body: details.into(),
    })
}

/// 201 with the details of a creation.
pub(crate) fn created(details: Details) -> Reply {
    Ok(Written {
        status: StatusCode::CREATED,
        sequence: details.sequence,
        body: details.into(),
    })
}

/// `status` with a body holding the details and more.
pub(crate) fn reply<T>(status: StatusCode, sequence: i64, body: T) -> Reply<T> {
    Ok(Written {
        status,
        sequence,
        body,
    })
}

/// A name.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameRequest {
    /// The name (at most 200 characters).
    #[schemars(length(max = schema::NAME_LEN), regex(pattern = schema::TEXT))]
    pub(crate) name: String,
}

/// A domain name.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainRequest {
    /// The domain, e.g. `example.com`.
    #[schemars(length(max = schema::DOMAIN_LEN), regex(pattern = schema::DOMAIN))]
    pub(crate) domain: String,
}

/// A write that also returns a generated client secret, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SecretCreated {
    /// What the write produced.
    #[serde(flatten)]
    pub details: WriteDetails,
    /// The client secret; only its hash is stored, so it cannot be shown again.
    pub client_secret: String,
}

impl SecretCreated {
    /// The answer to a write that issued a client secret: 200 with the secret, shown this once.
    pub(crate) fn issued(issued: warden_command::SecretIssued) -> Reply<Self> {
        reply(
            StatusCode::OK,
            issued.details.sequence,
            Self {
                details: issued.details.into(),
                client_secret: issued.secret.into_inner(),
            },
        )
    }
}

/// A write that may have generated a client secret (shown this once).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MaybeSecret {
    /// What the write produced.
    #[serde(flatten)]
    pub details: WriteDetails,
    /// The new client secret, when the write generated one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}
