//! Commands on machine users (service accounts): keys, client secret and personal access tokens.

use warden_domain::{
    command::Command,
    org::Organization,
    user::{
        AddMachine, AddMachineKey, AddPersonalAccessToken, ChangeMachine, KeyFormat,
        MachineKeyAdded, RemoveMachineKey, RemoveMachineSecret, RemovePersonalAccessToken,
        SetMachineSecret, User,
    },
};

use super::{org_target, payload};
use crate::{
    CallerCommands, CommandError, Details, SecretString, new_id,
    pipeline::{Decided, decide},
    secret::{format_token, generate_secret, hash_secret},
};

/// Input of [`CallerCommands::add_machine_user`]: the domain's command itself.
pub type NewMachineUser = AddMachine;

/// Input of [`CallerCommands::add_machine_key`] and [`CallerCommands::add_app_key`]: a public key to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPublicKey {
    /// The encoding of `public_key`.
    pub format: KeyFormat,
    /// The public key; the private key stays with the client.
    pub public_key: String,
    /// When the key stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

/// Input of [`CallerCommands::add_machine_key`].
pub type NewMachineKey = NewPublicKey;

impl NewPublicKey {
    /// The key under a new key id, as the domain's commands take it.
    pub(crate) fn with_new_id(&self) -> MachineKeyAdded {
        MachineKeyAdded {
            key_id: new_id(),
            format: self.format,
            public_key: self.public_key.clone(),
            expires_at_unix_ms: self.expires_at_unix_ms,
        }
    }
}

/// A key added to a machine user or an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAdded {
    /// What the command produced.
    pub details: Details,
    /// The new key's id (the JWT `kid`).
    pub key_id: String,
}

/// A generated client secret, to be shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretIssued {
    /// What the command produced.
    pub details: Details,
    /// The plaintext secret; only its hash is stored.
    pub secret: SecretString,
}

/// A generated personal access token, to be shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIssued {
    /// What the command produced.
    pub details: Details,
    /// The token's id.
    pub token_id: String,
    /// The token (`wdn_pat_<user id>_<token id>_<secret>`); only its hash is stored.
    pub token: SecretString,
    /// When the token stops being accepted, in ms since the Unix epoch.
    pub expires_at_unix_ms: i64,
}

impl CallerCommands<'_> {
    /// Creates a machine user with a new id.
    pub async fn add_machine_user(&self, user: &NewMachineUser) -> Result<Details, CommandError> {
        let id = new_id();
        self.add_machine_user_with_id(&id, user).await
    }

    /// Creates a machine user with the given id (first-start bootstrap uses a fixed one).
    pub(crate) async fn add_machine_user_with_id(
        &self,
        id: &str,
        user: &NewMachineUser,
    ) -> Result<Details, CommandError> {
        let target = org_target(&user.org_id);
        let command = user;
        let mut run = self.run(AddMachine::TYPE, || payload(command));
        // Decided with the organization's state, which the push expects unchanged.
        let (details, ()) = decide!(run, {
            run.authorize_or_hide(AddMachine::PERMISSION, &target, || {
                User::default()
                    .add_machine(command, &Organization::default(), run.ctx())
                    .err()
            })
            .await?;
            let org = run.read::<Organization>(&user.org_id).await?;
            let new = run.new_target::<User>(id).await?;
            let decision = new.state.add_machine(command, &org.state, run.ctx())?;
            Ok(Decided::new(new, decision, Some(user.org_id.clone())))
        });
        Ok(details)
    }

    /// Changes a machine user's name and description, and the kind of its access tokens when given.
    pub async fn change_machine_user(
        &self,
        user_id: &str,
        name: &str,
        description: &str,
        access_token_type: Option<warden_domain::application::AccessTokenType>,
    ) -> Result<Details, CommandError> {
        let command = ChangeMachine {
            name: name.to_owned(),
            description: description.to_owned(),
            access_token_type,
        };
        self.execute(user_id, &command).await
    }

    /// Adds a public key to a machine user, under a new key id.
    pub async fn add_machine_key(
        &self,
        user_id: &str,
        key: &NewMachineKey,
    ) -> Result<KeyAdded, CommandError> {
        let command = AddMachineKey {
            key: key.with_new_id(),
        };
        let details = self.execute(user_id, &command).await?;
        Ok(KeyAdded {
            details,
            key_id: command.key.key_id,
        })
    }

    /// Removes a machine user's key.
    pub async fn remove_machine_key(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> Result<Details, CommandError> {
        let command = RemoveMachineKey {
            key_id: key_id.to_owned(),
        };
        self.execute(user_id, &command).await
    }

    /// Generates a new client secret for a machine user, replacing any previous one.
    pub async fn set_machine_secret(&self, user_id: &str) -> Result<SecretIssued, CommandError> {
        let secret = generate_secret()?;
        let command = SetMachineSecret {
            secret_hash: hash_secret(secret.expose()),
        };
        let details = self.execute(user_id, &command).await?;
        Ok(SecretIssued { details, secret })
    }

    /// Removes a machine user's client secret.
    pub async fn remove_machine_secret(&self, user_id: &str) -> Result<Details, CommandError> {
        self.execute(user_id, &RemoveMachineSecret {}).await
    }

    /// Issues a personal access token to a machine user.
    pub async fn add_personal_access_token(
        &self,
        user_id: &str,
        expires_at_unix_ms: i64,
    ) -> Result<TokenIssued, CommandError> {
        let token_id = new_id();
        let token = format_token(user_id, &token_id, &generate_secret()?);
        let command = AddPersonalAccessToken {
            token_id: token_id.clone(),
            token_hash: hash_secret(token.expose()),
            expires_at_unix_ms,
        };
        let details = self.execute(user_id, &command).await?;
        Ok(TokenIssued {
            details,
            token_id,
            token,
            expires_at_unix_ms,
        })
    }

    /// Revokes a personal access token.
    pub async fn remove_personal_access_token(
        &self,
        user_id: &str,
        token_id: &str,
    ) -> Result<Details, CommandError> {
        let command = RemovePersonalAccessToken {
            token_id: token_id.to_owned(),
        };
        self.execute(user_id, &command).await
    }
}
