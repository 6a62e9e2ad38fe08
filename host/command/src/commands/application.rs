//! Commands on applications: OIDC and API clients of a project.

use warden_domain::{
    application::{
        AddApiApp, AddOidcApp, ApiConfig, Application, ChangeApiConfig, ChangeOidcConfig,
        DeactivateApp, OidcConfig, ReactivateApp, RegenerateAppSecret, RemoveApp, RenameApp,
    },
    command::Command,
    project::Project,
};

use super::{Resource, payload};
use crate::{
    CallerCommands, CommandError, Details, SecretString, new_id,
    pipeline::attempt,
    secret::{generate_secret, hash_secret},
};

/// Input of [`CallerCommands::add_oidc_app`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOidcApp {
    /// The project the app belongs to.
    pub project_id: String,
    /// The display name.
    pub name: String,
    /// The OIDC configuration.
    pub config: OidcConfig,
}

/// Input of [`CallerCommands::add_api_app`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiApp {
    /// The project the app belongs to.
    pub project_id: String,
    /// The display name.
    pub name: String,
    /// The API configuration.
    pub config: ApiConfig,
}

/// An application added to a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCreated {
    /// What the command produced.
    pub details: Details,
    /// The generated client id.
    pub client_id: String,
    /// The generated client secret, shown once, when the auth method uses one.
    pub client_secret: Option<SecretString>,
}

/// A fresh secret and its stored hash, when `needed`.
fn secret_if(needed: bool) -> Result<Option<(SecretString, String)>, CommandError> {
    if !needed {
        return Ok(None);
    }
    let secret = generate_secret()?;
    let hash = hash_secret(secret.expose());
    Ok(Some((secret, hash)))
}

impl CallerCommands<'_> {
    /// Adds an OIDC application with a new id and client id to a project; generates the client secret when
    /// the auth method uses one.
    pub async fn add_oidc_app(&self, app: &NewOidcApp) -> Result<AppCreated, CommandError> {
        self.add_oidc_app_with_id(&new_id(), &new_id(), app).await
    }

    /// Adds an OIDC application with the given id and client id (e.g. ones derived at first start).
    pub async fn add_oidc_app_with_id(
        &self,
        id: &str,
        client_id: &str,
        app: &NewOidcApp,
    ) -> Result<AppCreated, CommandError> {
        let secret = secret_if(app.config.auth_method.uses_secret())?;
        let command = AddOidcApp {
            project_id: app.project_id.clone(),
            name: app.name.clone(),
            client_id: client_id.to_owned(),
            config: app.config.clone(),
            client_secret_hash: secret.as_ref().map(|(_, hash)| hash.clone()),
        };
        let mut run = self.run(AddOidcApp::TYPE, || payload(&command));
        // Decided with the project's state, which the push expects unchanged.
        loop {
            let project = attempt!(run, run.read::<Project>(&app.project_id).await);
            if let Some(target) = project.state.authz_target(&app.project_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(AddOidcApp::PERMISSION, &target, || {
                        Application::default()
                            .add_oidc(&command, &Project::default(), run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let new = attempt!(run, run.new_target::<Application>(id).await);
            let decision = attempt!(run, new.state.add_oidc(&command, &project.state, run.ctx()));
            if let Some(details) = run
                .commit(&new, decision, Some(&project.state.org_id))
                .await?
            {
                return Ok(AppCreated {
                    details,
                    client_id: command.client_id,
                    client_secret: secret.map(|(secret, _)| secret),
                });
            }
        }
    }

    /// Adds an API application with a new id and client id to a project; generates the client secret when
    /// the auth method uses one.
    pub async fn add_api_app(&self, app: &NewApiApp) -> Result<AppCreated, CommandError> {
        let secret = secret_if(app.config.auth_method.uses_secret())?;
        let command = AddApiApp {
            project_id: app.project_id.clone(),
            name: app.name.clone(),
            client_id: new_id(),
            config: app.config.clone(),
            client_secret_hash: secret.as_ref().map(|(_, hash)| hash.clone()),
        };
        let mut run = self.run(AddApiApp::TYPE, || payload(&command));
        // Decided with the project's state, which the push expects unchanged.
        let id = new_id();
        loop {
            let project = attempt!(run, run.read::<Project>(&app.project_id).await);
            if let Some(target) = project.state.authz_target(&app.project_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(AddApiApp::PERMISSION, &target, || {
                        Application::default()
                            .add_api(&command, &Project::default(), run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let new = attempt!(run, run.new_target::<Application>(&id).await);
            let decision = attempt!(run, new.state.add_api(&command, &project.state, run.ctx()));
            if let Some(details) = run
                .commit(&new, decision, Some(&project.state.org_id))
                .await?
            {
                return Ok(AppCreated {
                    details,
                    client_id: command.client_id,
                    client_secret: secret.map(|(secret, _)| secret),
                });
            }
        }
    }

    /// Replaces an OIDC application's configuration. Switching to an auth method with a client secret while
    /// none is stored generates one, returned once; switching away removes the stored one.
    pub async fn change_oidc_config(
        &self,
        app_id: &str,
        config: &OidcConfig,
    ) -> Result<(Details, Option<SecretString>), CommandError> {
        let command = ChangeOidcConfig {
            config: config.clone(),
        };
        let mut run = self.run(ChangeOidcConfig::TYPE, || payload(&command));
        // Whether a secret is issued depends on the state the decision sees: decided in this loop.
        loop {
            let app = attempt!(run, run.target::<Application>(app_id).await);
            if let Some(target) = app.state.authz_target(app_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(ChangeOidcConfig::PERMISSION, &target, || {
                        Application::default()
                            .change_oidc_config(config, None, run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let secret = secret_if(
                config.auth_method.uses_secret() && app.state.client_secret_hash.is_none(),
            )?;
            let hash = secret.as_ref().map(|(_, hash)| hash.as_str());
            let decision = attempt!(run, app.state.change_oidc_config(config, hash, run.ctx()));
            let org = app.state.owner_org(app_id);
            if let Some(details) = run.commit(&app, decision, org.as_deref()).await? {
                return Ok((details, secret.map(|(secret, _)| secret)));
            }
        }
    }

    /// Replaces an API application's configuration, with the secret rules of
    /// [`change_oidc_config`](Self::change_oidc_config).
    pub async fn change_api_config(
        &self,
        app_id: &str,
        config: &ApiConfig,
    ) -> Result<(Details, Option<SecretString>), CommandError> {
        let command = ChangeApiConfig {
            config: config.clone(),
        };
        let mut run = self.run(ChangeApiConfig::TYPE, || payload(&command));
        // Whether a secret is issued depends on the state the decision sees: decided in this loop.
        loop {
            let app = attempt!(run, run.target::<Application>(app_id).await);
            if let Some(target) = app.state.authz_target(app_id) {
                attempt!(
                    run,
                    run.authorize_or_hide(ChangeApiConfig::PERMISSION, &target, || {
                        Application::default()
                            .change_api_config(config, None, run.ctx())
                            .err()
                    })
                    .await
                );
            }
            let secret = secret_if(
                config.auth_method.uses_secret() && app.state.client_secret_hash.is_none(),
            )?;
            let hash = secret.as_ref().map(|(_, hash)| hash.as_str());
            let decision = attempt!(run, app.state.change_api_config(config, hash, run.ctx()));
            let org = app.state.owner_org(app_id);
            if let Some(details) = run.commit(&app, decision, org.as_deref()).await? {
                return Ok((details, secret.map(|(secret, _)| secret)));
            }
        }
    }

    /// Renames an application.
    pub async fn rename_app(&self, app_id: &str, name: &str) -> Result<Details, CommandError> {
        let command = RenameApp {
            name: name.to_owned(),
        };
        self.execute(app_id, &command).await
    }

    /// Replaces an application's client secret with a newly generated one, returned once.
    pub async fn regenerate_app_secret(
        &self,
        app_id: &str,
    ) -> Result<super::SecretIssued, CommandError> {
        let secret = generate_secret()?;
        let command = RegenerateAppSecret {
            client_secret_hash: hash_secret(secret.expose()),
        };
        let details = self.execute(app_id, &command).await?;
        Ok(super::SecretIssued { details, secret })
    }

    /// Deactivates an application.
    pub async fn deactivate_app(&self, app_id: &str) -> Result<Details, CommandError> {
        self.execute(app_id, &DeactivateApp {}).await
    }

    /// Reactivates an application.
    pub async fn reactivate_app(&self, app_id: &str) -> Result<Details, CommandError> {
        self.execute(app_id, &ReactivateApp {}).await
    }

    /// Removes an application; its client id is free again.
    pub async fn remove_app(&self, app_id: &str) -> Result<Details, CommandError> {
        self.execute(app_id, &RemoveApp {}).await
    }
}
