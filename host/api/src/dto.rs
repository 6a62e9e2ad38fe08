//! Bodies shared by many endpoints: what a write answers, member roles, and the reply type.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_command::Details;
use warden_domain::authz::Role;

use crate::{error::ApiError, time};

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

/// A management role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RoleName {
    /// Everything in the instance.
    IamOwner,
    /// Reads everything in the instance.
    IamOwnerViewer,
    /// Manages every organization of the instance.
    IamOrgManager,
    /// Manages every user of the instance.
    IamUserManager,
    /// Everything in one organization.
    OrgOwner,
    /// Reads one organization.
    OrgOwnerViewer,
    /// Manages the users and user grants of one organization.
    OrgUserManager,
    /// Creates projects in one organization.
    OrgProjectCreator,
    /// Everything in one project.
    ProjectOwner,
    /// Reads one project.
    ProjectOwnerViewer,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::IamOwner => Role::IamOwner,
            RoleName::IamOwnerViewer => Role::IamOwnerViewer,
            RoleName::IamOrgManager => Role::IamOrgManager,
            RoleName::IamUserManager => Role::IamUserManager,
            RoleName::OrgOwner => Role::OrgOwner,
            RoleName::OrgOwnerViewer => Role::OrgOwnerViewer,
            RoleName::OrgUserManager => Role::OrgUserManager,
            RoleName::OrgProjectCreator => Role::OrgProjectCreator,
            RoleName::ProjectOwner => Role::ProjectOwner,
            RoleName::ProjectOwnerViewer => Role::ProjectOwnerViewer,
        }
    }
}

/// Converts role names of a request.
pub(crate) fn roles(names: &[RoleName]) -> Vec<Role> {
    names.iter().copied().map(Role::from).collect()
}

/// Makes a user a member with roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMemberRequest {
    /// The user to make a member.
    pub(crate) user_id: String,
    /// The roles, all of the membership's kind (instance, organization or project roles).
    pub(crate) roles: Vec<RoleName>,
}

/// Replaces a member's roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberRolesRequest {
    /// The complete new set of roles.
    pub(crate) roles: Vec<RoleName>,
}

/// A name.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameRequest {
    /// The name (at most 200 characters).
    pub(crate) name: String,
}

/// A domain name.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainRequest {
    /// The domain, e.g. `example.com`.
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
