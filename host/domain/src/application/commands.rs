//! The application's commands as typed values ([`crate::command::Command`]). The permission is checked on
//! the application's project.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AddApiApp, AddOidcApp, ApiConfig, Application, OidcConfig};
use crate::command::command;

command!(AddOidcApp: Application, "application.oidc.add", AppWrite);
command!(AddApiApp: Application, "application.api.add", AppWrite);

/// `application.oidc.config.change`: replaces an OIDC application's configuration; a client secret is
/// issued when the new authentication method needs one and the application has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeOidcConfig {
    /// The configuration from now on.
    pub config: OidcConfig,
}

command!(ChangeOidcConfig: Application, "application.oidc.config.change", AppWrite);

/// `application.api.config.change`: replaces an API application's configuration; a client secret is issued
/// when the new authentication method needs one and the application has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeApiConfig {
    /// The configuration from now on.
    pub config: ApiConfig,
}

command!(ChangeApiConfig: Application, "application.api.config.change", AppWrite);

/// `application.rename`: renames an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RenameApp {
    /// The new name.
    pub name: String,
}

command!(RenameApp: Application, "application.rename", AppWrite, |self, app, ctx| {
    app.rename(&self.name, ctx)
});

/// `application.secret.regenerate`: replaces an application's client secret. Validators see nothing of it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RegenerateAppSecret {
    /// The hash of the new secret, which is generated outside and shown once.
    #[serde(skip)]
    pub client_secret_hash: String,
}

impl std::fmt::Debug for RegenerateAppSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegenerateAppSecret")
            .finish_non_exhaustive()
    }
}

command!(RegenerateAppSecret: Application, "application.secret.regenerate", AppWrite, |self, app, ctx| {
    app.regenerate_secret(&self.client_secret_hash, ctx)
});

/// `application.deactivate`: deactivates an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeactivateApp {}

command!(DeactivateApp: Application, "application.deactivate", AppWrite, |self, app, ctx| {
    app.deactivate(ctx)
});

/// `application.reactivate`: reactivates an application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReactivateApp {}

command!(ReactivateApp: Application, "application.reactivate", AppWrite, |self, app, ctx| {
    app.reactivate(ctx)
});

/// `application.remove`: removes an application; its client id is free again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RemoveApp {}

command!(RemoveApp: Application, "application.remove", AppWrite, |self, app, ctx| app.remove(ctx));
