//! Commands on applications: OIDC and API clients of a project.

use warden_domain::{
    CommandContext, Decision, DomainError,
    application::{
        AddApiApp, AddOidcApp, ApiConfig, Application, ApplicationEvent, ChangeApiConfig,
        ChangeOidcConfig, DeactivateApp, OidcConfig, ReactivateApp, RegenerateAppSecret, RemoveApp,
        RenameApp,
    },
    command::Command,
    project::Project,
};

use super::{Resource, payload};
use crate::{
    CallerCommands, CommandError, Details, SecretString, new_id,
    pipeline::{Decided, decide},
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

/// A command creating an application in a project.
trait ProjectId {
    /// The project the application belongs to.
    fn project_id(&self) -> &str;
}

impl ProjectId for AddOidcApp {
    fn project_id(&self) -> &str {
        &self.project_id
    }
}

impl ProjectId for AddApiApp {
    fn project_id(&self) -> &str {
        &self.project_id
    }
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
        let details = self
            .add_app(id, &command, |app, project, ctx| {
                app.add_oidc(&command, project, ctx)
            })
            .await?;
        Ok(AppCreated {
            details,
            client_id: command.client_id,
            client_secret: secret.map(|(secret, _)| secret),
        })
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
        let details = self
            .add_app(&new_id(), &command, |app, project, ctx| {
                app.add_api(&command, project, ctx)
            })
            .await?;
        Ok(AppCreated {
            details,
            client_id: command.client_id,
            client_secret: secret.map(|(secret, _)| secret),
        })
    }

    /// Adds the application `id` with `command`, which `add` decides with the project's state (expected
    /// unchanged by the push).
    async fn add_app<C: Command<Aggregate = Application> + ProjectId>(
        &self,
        id: &str,
        command: &C,
        add: impl Fn(
            &Application,
            &Project,
            &CommandContext,
        ) -> Result<Decision<ApplicationEvent>, DomainError>,
    ) -> Result<Details, CommandError> {
        let project_id = command.project_id();
        let mut run = self.run(C::TYPE, || payload(command));
        let (details, ()) = decide!(run, {
            let project = run.read::<Project>(project_id).await?;
            if let Some(target) = project.state.authz_target(project_id) {
                run.authorize_or_hide(C::PERMISSION, &target, || {
                    add(&Application::default(), &Project::default(), run.ctx()).err()
                })
                .await?;
            }
            let new = run.new_target::<Application>(id).await?;
            let decision = add(&new.state, &project.state, run.ctx())?;
            let org_id = Some(project.state.org_id.clone());
            Ok(Decided::new(new, decision, org_id))
        });
        Ok(details)
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
        self.change_app_config(
            app_id,
            &command,
            config.auth_method.uses_secret(),
            |app, hash, ctx| app.change_oidc_config(config, hash, ctx),
        )
        .await
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
        self.change_app_config(
            app_id,
            &command,
            config.auth_method.uses_secret(),
            |app, hash, ctx| app.change_api_config(config, hash, ctx),
        )
        .await
    }

    /// Changes the configuration of the application `app_id` with `command`, which `change` decides with
    /// the hash of a newly generated client secret when the new configuration `uses_secret` and none is
    /// stored. Whether a secret is issued depends on the state the decision sees: generated per attempt.
    async fn change_app_config<C: Command<Aggregate = Application>>(
        &self,
        app_id: &str,
        command: &C,
        uses_secret: bool,
        change: impl Fn(
            &Application,
            Option<&str>,
            &CommandContext,
        ) -> Result<Decision<ApplicationEvent>, DomainError>,
    ) -> Result<(Details, Option<SecretString>), CommandError> {
        let mut run = self.run(C::TYPE, || payload(command));
        Ok(decide!(run, {
            let app = run.target::<Application>(app_id).await?;
            if let Some(target) = app.state.authz_target(app_id) {
                run.authorize_or_hide(C::PERMISSION, &target, || {
                    change(&Application::default(), None, run.ctx()).err()
                })
                .await?;
            }
            let secret = secret_if(uses_secret && app.state.client_secret_hash.is_none())?;
            let hash = secret.as_ref().map(|(_, hash)| hash.as_str());
            let decision = change(&app.state, hash, run.ctx())?;
            let org = app.state.owner_org(app_id);
            Ok(Decided::new(app, decision, org).with(secret.map(|(secret, _)| secret)))
        }))
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
