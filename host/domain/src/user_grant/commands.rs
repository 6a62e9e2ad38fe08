//! The user grant's commands as typed values ([`crate::command::Command`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AddUserGrant, UserGrant};
use crate::command::command;

command!(AddUserGrant: UserGrant, "user_grant.add", UserGrantWrite);

/// `user_grant.change`: replaces the roles of a user grant, decided with the project's state
/// ([`UserGrant::change_roles`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeUserGrant {
    /// The role keys from now on (may be empty).
    pub role_keys: Vec<String>,
}

command!(ChangeUserGrant: UserGrant, "user_grant.change", UserGrantWrite);

/// `user_grant.deactivate`: deactivates a user grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeactivateUserGrant {}

command!(DeactivateUserGrant: UserGrant, "user_grant.deactivate", UserGrantWrite, |self, grant, ctx| {
    grant.deactivate(ctx)
});

/// `user_grant.reactivate`: reactivates a user grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReactivateUserGrant {}

command!(ReactivateUserGrant: UserGrant, "user_grant.reactivate", UserGrantWrite, |self, grant, ctx| {
    grant.reactivate(ctx)
});

/// `user_grant.remove`: removes a user grant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveUserGrant {}

command!(RemoveUserGrant: UserGrant, "user_grant.remove", UserGrantWrite, |self, grant, ctx| {
    grant.remove(ctx)
});

/// `user_grant.role.drop`: takes a removed project role out of a user grant; nothing happens when the grant
/// does not hold it or is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DropUserGrantRole {
    /// The removed role's key.
    pub role_key: String,
}

command!(DropUserGrantRole: UserGrant, "user_grant.role.drop", UserGrantWrite, |self, grant, ctx| {
    grant.drop_role(&self.role_key, ctx)
});
