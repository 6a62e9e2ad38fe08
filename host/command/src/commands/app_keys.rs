//! Public keys of applications, for `private_key_jwt` client authentication.

use warden_domain::application::{AddAppKey, RemoveAppKey};

use super::machine::{KeyAdded, NewPublicKey};
use crate::{CallerCommands, CommandError, Details};

impl CallerCommands<'_> {
    /// Registers a public key on an application, under a new key id (the `kid` its assertions name).
    pub async fn add_app_key(
        &self,
        app_id: &str,
        key: &NewPublicKey,
    ) -> Result<KeyAdded, CommandError> {
        let command = AddAppKey {
            key: key.with_new_id(),
        };
        let details = self.execute(app_id, &command).await?;
        Ok(KeyAdded {
            details,
            key_id: command.key.key_id,
        })
    }

    /// Removes an application's public key; assertions it signed are refused from then on.
    pub async fn remove_app_key(
        &self,
        app_id: &str,
        key_id: &str,
    ) -> Result<Details, CommandError> {
        let command = RemoveAppKey {
            key_id: key_id.to_owned(),
        };
        self.execute(app_id, &command).await
    }
}
