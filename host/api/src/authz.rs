//! The authorization of the endpoints beyond a command's own check: reads, lists and the organizations a
//! list is restricted to, answering 404 rather than 403 for what the caller may not even see.

use warden_command::{Caller, CommandError, Identity};
use warden_domain::{
    ErrorKind,
    authz::{Permission, Target},
};

use crate::{ApiState, error::ApiError, view::found};

/// Checks that the caller holds `permission` on `target` (403 otherwise).
pub(crate) async fn authorize(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    target: &Target,
) -> Result<(), ApiError> {
    api.commands
        .for_caller(caller)
        .authorize(permission, target)
        .await
        .map_err(ApiError::from)
}

/// Checks that the caller holds `permission` on `target`: 403 when the caller may see the resource but not
/// do this, else the same 404 as for a `resource` that does not exist, so ids of other tenants cannot be
/// probed.
pub(crate) async fn authorize_visible(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    target: &Target,
    resource: &'static str,
) -> Result<(), ApiError> {
    let commands = api.commands.for_caller(caller);
    match commands.authorize(permission, target).await {
        Ok(()) => Ok(()),
        Err(CommandError::Refused(e)) if e.kind == ErrorKind::PermissionDenied => {
            if commands.may_see(permission, target).await? {
                Err(CommandError::Refused(e).into())
            } else {
                found(None::<()>, resource)
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The resource the query side found (`view`), if the caller holds `permission` on its `target`: 404
/// `<resource>.not_found` when there is none or the caller may not see it, 403 when it may see it but lacks
/// `permission`.
pub(crate) async fn readable<V>(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    resource: &'static str,
    view: Option<V>,
    target: impl FnOnce(&V) -> Target,
) -> Result<V, ApiError> {
    let view = found(view, resource)?;
    authorize_visible(api, caller, permission, &target(&view), resource).await?;
    Ok(view)
}

/// Whether the caller holds `permission` on `target`.
async fn holds(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    target: &Target,
) -> Result<bool, ApiError> {
    match api
        .commands
        .for_caller(caller)
        .authorize(permission, target)
        .await
    {
        Ok(()) => Ok(true),
        Err(CommandError::Refused(e)) if e.kind == ErrorKind::PermissionDenied => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The organization a list of org-owned resources is restricted to: the one asked for (the caller needs
/// `permission` on it); without one, every organization for a caller holding `permission` instance-wide
/// (`None`), else the caller's own organization (which it then needs `permission` on).
pub(crate) async fn org_scope(
    api: &ApiState,
    caller: &Caller,
    permission: Permission,
    requested: Option<String>,
) -> Result<Option<String>, ApiError> {
    if let Some(org_id) = requested {
        authorize_visible(
            api,
            caller,
            permission,
            &Target::Org {
                org_id: org_id.clone(),
            },
            "org",
        )
        .await?;
        return Ok(Some(org_id));
    }
    if holds(api, caller, permission, &Target::Instance).await? {
        return Ok(None);
    }
    match &caller.identity {
        Identity::System => Ok(None),
        Identity::User { org_id, .. } => {
            authorize(
                api,
                caller,
                permission,
                &Target::Org {
                    org_id: org_id.clone(),
                },
            )
            .await?;
            Ok(Some(org_id.clone()))
        }
    }
}
