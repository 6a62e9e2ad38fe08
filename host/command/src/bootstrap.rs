//! First start: the default instance, its system organization and an administrator with a token; and the
//! operator's way back in when every administrator token is lost ([`recover`]).
//!
//! [`bootstrap`] is idempotent and safe when several nodes start at once. The instance id is derived from a
//! fixed label, so every node finds the same instance; the ids of everything else are random per
//! installation. The instance records which organization is its system organization (once: a concurrent
//! start loses on the instance's expected sequence and adopts the recorded one); the administrator's id is
//! derived from that random organization id, so concurrent starts create the organization and the
//! administrator at most once (a second creation conflicts on the expected sequence 0 and finds the first
//! one). The administrator's `IAM_OWNER` membership marks the setup done, and nobody holds that role before
//! it: an instance with an `IAM_OWNER` is complete but for the console's parts (its human administrator,
//! project and application), which every start completes, while a start interrupted before that point is
//! resumed by the next start.
//!
//! The system organization holds the instance's administrators. Organization roles in it authorize nothing
//! and cannot be given, and it cannot be deactivated or removed: only instance roles manage it and its
//! users, so no tenant's owner can reach the administrator's credentials.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use sha2::{Digest, Sha256};
use warden_domain::{
    authz::Role,
    instance::{Instance, SetupInstance},
    org::Organization,
    policy::PolicySet,
    user::User,
};

use crate::{BootstrapError, Caller, CommandError, Commands, NewMachineUser};

/// The file in the data directory that receives the administrator's personal access token.
pub const ADMIN_TOKEN_FILE: &str = "admin.pat";

/// The file in the data directory that receives the human administrator's one-time initial password.
pub const ADMIN_PASSWORD_FILE: &str = "admin.password";

/// The name of the project, in the system organization, that holds Warden's own applications.
pub const WARDEN_PROJECT_NAME: &str = "Warden";

/// The name of the management console's OIDC application.
pub const CONSOLE_APP_NAME: &str = "Console";

/// 9999-12-31T23:59:59Z in ms since the Unix epoch: the expiry of tokens that do not expire.
pub const NEVER_EXPIRES_UNIX_MS: i64 = 253_402_300_799_000;

/// Settings of the instance created at first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstInstance {
    /// The instance id (default: [`default_instance_id`]).
    pub instance_id: String,
    /// The instance's display name.
    pub name: String,
    /// Domains routing to the instance; the first becomes primary.
    pub domains: Vec<String>,
    /// The language used where a user has none.
    pub default_language: String,
    /// The default policies.
    pub policies: PolicySet,
    /// The name of the system organization, which holds the administrators.
    pub org_name: String,
    /// The login name of the administrator (a machine user).
    pub admin_login_name: String,
    /// The administrator's display name.
    pub admin_name: String,
    /// When the administrator's token expires, in ms since the Unix epoch.
    pub admin_token_expires_at_unix_ms: i64,
    /// The login name of the human administrator (an `IAM_OWNER` who signs in to the console).
    pub human_admin_login_name: String,
    /// The external URL Warden is reached at (no trailing slash). When set, the management console is
    /// registered as an OIDC application of the "Warden" project with redirect URIs under it, and they are
    /// brought up to date when the URL changes.
    pub console_base_url: Option<String>,
}

impl Default for FirstInstance {
    fn default() -> Self {
        Self {
            instance_id: default_instance_id(),
            name: "Warden".to_owned(),
            domains: vec!["localhost".to_owned()],
            default_language: "en".to_owned(),
            policies: PolicySet::default(),
            org_name: "Warden system".to_owned(),
            admin_login_name: "warden-admin".to_owned(),
            admin_name: "Warden administrator".to_owned(),
            admin_token_expires_at_unix_ms: NEVER_EXPIRES_UNIX_MS,
            human_admin_login_name: "admin".to_owned(),
            console_base_url: None,
        }
    }
}

/// What [`bootstrap`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapReport {
    /// The default instance.
    pub instance_id: String,
    /// The system organization (holding the administrators; managed by instance roles only).
    pub org_id: String,
    /// The administrator (a machine user with `IAM_OWNER` on the instance).
    pub admin_user_id: String,
    /// Whether this start set anything up (false: the instance was complete already).
    pub set_up: bool,
    /// Where the administrator's token was written (mode 0600), when this start issued one.
    pub admin_token_path: Option<PathBuf>,
    /// Where the human administrator's one-time password was written (mode 0600), when this start created
    /// that administrator.
    pub admin_password_path: Option<PathBuf>,
    /// The client id of the management console's OIDC application, when it is registered.
    pub console_client_id: Option<String>,
}

/// A stable id derived from `label`: a UUID v8 made of the first bytes of its SHA-256.
fn derived_id(label: &str) -> String {
    let digest = Sha256::digest(label.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

/// The id of the default instance: the same in every installation and on every node.
pub fn default_instance_id() -> String {
    derived_id("warden/default-instance")
}

/// Where [`bootstrap_with`] keeps the administrator's token, e.g. a file in a directory the caller opened.
pub trait AdminTokenFile: Send + Sync + 'static {
    /// Where the token goes, for the log and error messages.
    fn path(&self) -> PathBuf;

    /// Stores `token` (one line), readable and writable by the owner only, replacing an earlier file
    /// atomically. Runs on a blocking thread.
    fn write(&self, token: &str) -> std::io::Result<()>;

    /// Where the human administrator's initial password goes ([`ADMIN_PASSWORD_FILE`] beside the token).
    fn password_path(&self) -> PathBuf;

    /// Stores the human administrator's initial password like [`write`](Self::write) stores the token.
    fn write_password(&self, password: &str) -> std::io::Result<()>;
}

/// The error of a failed command, named by the step of the setup that issued it (for `map_err`).
fn step(step: &'static str) -> impl FnOnce(CommandError) -> BootstrapError {
    move |source| BootstrapError::Command { step, source }
}

/// [`ADMIN_TOKEN_FILE`] in a directory given by path, created if missing.
#[derive(Debug)]
struct InDirectory(PathBuf);

impl AdminTokenFile for InDirectory {
    fn path(&self) -> PathBuf {
        self.0.join(ADMIN_TOKEN_FILE)
    }

    fn write(&self, token: &str) -> std::io::Result<()> {
        write_private(&self.0, &self.path(), token)
    }

    fn password_path(&self) -> PathBuf {
        self.0.join(ADMIN_PASSWORD_FILE)
    }

    fn write_password(&self, password: &str) -> std::io::Result<()> {
        write_private(&self.0, &self.password_path(), password)
    }
}

/// The id of the administrator created at first start, derived from the (random) system organization id.
fn first_admin_id(system_org_id: &str) -> String {
    derived_id(&format!("warden/{system_org_id}/admin"))
}

/// Sets up the default instance on first start and writes the administrator's token to
/// `<data_dir>/admin.pat` (mode 0600); does nothing when the instance is complete.
pub async fn bootstrap(
    commands: &Commands,
    data_dir: &Path,
    settings: &FirstInstance,
) -> Result<BootstrapReport, BootstrapError> {
    bootstrap_with(
        commands,
        Arc::new(InDirectory(data_dir.to_owned())),
        settings,
    )
    .await
}

/// [`bootstrap`], keeping the administrator's token in `token_file`.
pub async fn bootstrap_with(
    commands: &Commands,
    token_file: Arc<dyn AdminTokenFile>,
    settings: &FirstInstance,
) -> Result<BootstrapReport, BootstrapError> {
    let instance_id = settings.instance_id.clone();
    let instance = commands
        .load::<Instance>(&instance_id, &instance_id)
        .await
        .map_err(step("reading the instance"))?;
    if let Some(org_id) = &instance.state.system_org_id
        && instance.state.members.count_with(Role::IamOwner) > 0
    {
        let admin_user_id = first_admin_id(org_id);
        let mut report = BootstrapReport {
            instance_id: instance_id.clone(),
            org_id: org_id.clone(),
            admin_user_id,
            set_up: false,
            admin_token_path: None,
            admin_password_path: None,
            console_client_id: None,
        };
        ensure_console(commands, token_file, settings, &mut report).await?;
        return Ok(report);
    }
    if instance.state.members.count_with(Role::IamOwner) > 0 {
        // Set up before the system organization existed: its administrators are where they were.
        let admin_user_id = instance
            .state
            .owners()
            .next()
            .map(str::to_owned)
            .unwrap_or_default();
        return Ok(BootstrapReport {
            instance_id: instance_id.clone(),
            org_id: String::new(),
            admin_user_id,
            set_up: false,
            admin_token_path: None,
            admin_password_path: None,
            console_client_id: None,
        });
    }
    let caller = Caller::system(&instance_id);
    let system = commands.for_caller(&caller);

    if !instance.state.exists() {
        let setup = SetupInstance {
            name: settings.name.clone(),
            domains: settings.domains.clone(),
            default_language: settings.default_language.clone(),
            policies: settings.policies.clone(),
        };
        let created = system.setup_instance(&setup).await;
        ensure_exists::<Instance>(
            commands,
            Instance::exists,
            &instance_id,
            &instance_id,
            created,
            "setting up the instance",
        )
        .await?;
        tracing::info!(instance_id, "default instance created");
    }

    let org_id = system_org(commands, &instance_id).await?;
    let admin_user_id = first_admin_id(&org_id);
    let mut report = BootstrapReport {
        instance_id: instance_id.clone(),
        org_id: org_id.clone(),
        admin_user_id: admin_user_id.clone(),
        set_up: true,
        admin_token_path: None,
        admin_password_path: None,
        console_client_id: None,
    };

    if !commands
        .load::<Organization>(&instance_id, &org_id)
        .await
        .map_err(step("reading the system organization"))?
        .state
        .exists()
    {
        let created = system.add_org_with_id(&org_id, &settings.org_name).await;
        ensure_exists::<Organization>(
            commands,
            Organization::exists,
            &instance_id,
            &org_id,
            created,
            "creating the system organization",
        )
        .await?;
    }

    // The administrator and the console's parts (the human administrator, whose password takes an Argon2id
    // hash, the Warden project and the console's application) are independent: set up at once. The human
    // administrator becomes IAM_OWNER only after the machine administrator did: a start that finds an
    // IAM_OWNER takes the instance as set up but for the console, so the machine administrator must be
    // complete (its token written) before anyone else holds the role.
    let machine_admin = async {
        if !commands
            .load::<User>(&instance_id, &admin_user_id)
            .await
            .map_err(step("reading the administrator"))?
            .state
            .exists()
        {
            let admin = NewMachineUser {
                org_id: org_id.clone(),
                login_name: settings.admin_login_name.clone(),
                name: settings.admin_name.clone(),
                description: "Created at first start; its token is in admin.pat".to_owned(),
                access_token_type: warden_domain::application::AccessTokenType::Jwt,
            };
            let created = system
                .add_machine_user_with_id(&admin_user_id, &admin)
                .await;
            ensure_exists::<User>(
                commands,
                User::exists,
                &instance_id,
                &admin_user_id,
                created,
                "creating the administrator",
            )
            .await?;
        }

        let issued = system
            .add_personal_access_token(&admin_user_id, settings.admin_token_expires_at_unix_ms)
            .await
            .map_err(step("issuing the administrator's token"))?;
        let path = store_token(token_file.clone(), issued.token).await?;

        match system
            .add_instance_member(&admin_user_id, &[Role::IamOwner])
            .await
        {
            Ok(_) => {}
            Err(CommandError::Refused(e)) if e.code == "member.already_exists" => {}
            Err(e) => return Err(step("making the administrator IAM_OWNER")(e)),
        }
        tracing::info!(instance_id, admin_user_id, "administrator created");
        Ok(path)
    };
    let console_parts = async {
        let Some(base_url) = &settings.console_base_url else {
            return Ok((None, None));
        };
        let password_path = ensure_human_admin(
            commands,
            token_file.clone(),
            settings,
            &instance_id,
            &org_id,
        )
        .await?;
        let client_id = ensure_console_app(commands, base_url, &instance_id, &org_id).await?;
        Ok::<_, BootstrapError>((password_path, Some(client_id)))
    };
    let (admin_token_path, console_parts) = tokio::join!(machine_admin, console_parts);
    report.admin_token_path = Some(admin_token_path?);
    (report.admin_password_path, report.console_client_id) = console_parts?;
    ensure_console(commands, token_file, settings, &mut report).await?;
    Ok(report)
}

/// The id of the human administrator created at first start.
fn human_admin_id(system_org_id: &str) -> String {
    derived_id(&format!("warden/{system_org_id}/human-admin"))
}

/// The ids of Warden's own project, of the console's application and of its client id.
fn console_ids(system_org_id: &str) -> (String, String, String) {
    (
        derived_id(&format!("warden/{system_org_id}/project")),
        derived_id(&format!("warden/{system_org_id}/console-app")),
        derived_id(&format!("warden/{system_org_id}/console-client")),
    )
}

/// The console's OIDC configuration under `base_url`: a public browser client (code + PKCE, no secret)
/// returning to `/console/callback`, with JWT access tokens.
pub fn console_oidc_config(base_url: &str) -> warden_domain::application::OidcConfig {
    use warden_domain::application::{
        AccessTokenType, OidcAppType, OidcAuthMethod, OidcConfig, OidcGrantType, OidcResponseType,
    };
    let base = base_url.trim_end_matches('/');
    OidcConfig {
        app_type: OidcAppType::UserAgent,
        redirect_uris: vec![format!("{base}/console/callback")],
        post_logout_redirect_uris: vec![format!("{base}/console/")],
        response_types: vec![OidcResponseType::Code],
        grant_types: vec![OidcGrantType::AuthorizationCode],
        auth_method: OidcAuthMethod::None,
        require_pkce: true,
        access_token_type: AccessTokenType::Jwt,
        // Plain http is what a local start serves; the app follows the configured URL.
        dev_mode: base.starts_with("http://"),
        id_token_signed_response_alg: None,
        access_token_signed_response_alg: None,
    }
}

/// A random initial password that passes the default complexity policy: 24 characters with an upper- and
/// lower-case letter, a digit and a symbol, about 130 bits of entropy.
fn initial_password() -> Result<crate::SecretString, BootstrapError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 22];
    getrandom::getrandom(&mut bytes).map_err(|e| BootstrapError::Io {
        path: PathBuf::from(ADMIN_PASSWORD_FILE),
        source: std::io::Error::other(e),
    })?;
    let mut password = String::from("Wd");
    for byte in bytes {
        password.push(char::from(ALPHABET[usize::from(byte) % ALPHABET.len()]));
    }
    password.insert(12, '-');
    password.push('7');
    Ok(crate::SecretString::new(password))
}

/// Registers what the management console needs, when a base URL is configured: the human administrator
/// (`IAM_OWNER`, created once, with a one-time password written beside the token), the "Warden" project in
/// the system organization and the console's OIDC application, whose URIs follow the base URL. Idempotent.
async fn ensure_console(
    commands: &Commands,
    token_file: Arc<dyn AdminTokenFile>,
    settings: &FirstInstance,
    report: &mut BootstrapReport,
) -> Result<(), BootstrapError> {
    let Some(base_url) = &settings.console_base_url else {
        return Ok(());
    };
    let instance_id = report.instance_id.clone();
    let org_id = report.org_id.clone();
    if let Some(path) =
        ensure_human_admin(commands, token_file, settings, &instance_id, &org_id).await?
    {
        report.admin_password_path = Some(path);
    }
    let human_id = human_admin_id(&org_id);
    let instance = commands
        .load::<Instance>(&instance_id, &instance_id)
        .await
        .map_err(step("reading the instance"))?;
    if instance.state.members.roles_of(&human_id).is_none() {
        let caller = Caller::system(&instance_id);
        match commands
            .for_caller(&caller)
            .add_instance_member(&human_id, &[Role::IamOwner])
            .await
        {
            Ok(_) => {}
            Err(CommandError::Refused(e)) if e.code == "member.already_exists" => {}
            Err(e) => return Err(step("making the human administrator IAM_OWNER")(e)),
        }
    }
    report.console_client_id =
        Some(ensure_console_app(commands, base_url, &instance_id, &org_id).await?);
    Ok(())
}

/// Creates the human administrator (no role yet) with a one-time password written to the token file's
/// folder, unless it exists; answers the password file's path when this call created the administrator.
async fn ensure_human_admin(
    commands: &Commands,
    token_file: Arc<dyn AdminTokenFile>,
    settings: &FirstInstance,
    instance_id: &str,
    org_id: &str,
) -> Result<Option<PathBuf>, BootstrapError> {
    let human_id = human_admin_id(org_id);
    let human = commands
        .load::<User>(instance_id, &human_id)
        .await
        .map_err(step("reading the human administrator"))?;
    if human.state.exists() {
        return Ok(None);
    }
    let password = initial_password()?;
    // The file first: a start interrupted after it writes a new one, never a user nobody can log in as.
    let written = password.clone();
    let path = write_blocking(token_file.password_path(), move || {
        token_file.write_password(written.expose())
    })
    .await?;
    let user = crate::NewHumanUser {
        org_id: org_id.to_owned(),
        login_name: settings.human_admin_login_name.clone(),
        profile: warden_domain::user::Profile {
            given_name: "Warden".to_owned(),
            family_name: "Administrator".to_owned(),
            display_name: "Warden administrator".to_owned(),
            preferred_language: settings.default_language.clone(),
        },
        email: "admin@warden.localhost".to_owned(),
        email_verified: true,
        phone: None,
        password: Some(password),
        password_change_required: true,
    };
    let caller = Caller::system(instance_id);
    let created = commands
        .for_caller(&caller)
        .add_human_user_with_id(&human_id, &user)
        .await;
    ensure_exists::<User>(
        commands,
        User::exists,
        instance_id,
        &human_id,
        created,
        "creating the human administrator",
    )
    .await?;
    Ok(Some(path))
}

/// Registers the Warden project and the console's application under `base_url` (or brings its URIs to it);
/// answers the console's client id.
async fn ensure_console_app(
    commands: &Commands,
    base_url: &str,
    instance_id: &str,
    org_id: &str,
) -> Result<String, BootstrapError> {
    let caller = Caller::system(instance_id);
    let system = commands.for_caller(&caller);
    let (project_id, app_id, client_id) = console_ids(org_id);
    let project = commands
        .load::<warden_domain::project::Project>(instance_id, &project_id)
        .await
        .map_err(step("reading the Warden project"))?;
    if !project.state.exists() {
        let created = system
            .add_project_with_id(&project_id, org_id, WARDEN_PROJECT_NAME)
            .await;
        ensure_exists::<warden_domain::project::Project>(
            commands,
            warden_domain::project::Project::exists,
            instance_id,
            &project_id,
            created,
            "creating the Warden project",
        )
        .await?;
    }
    let wanted = console_oidc_config(base_url);
    let app = commands
        .load::<warden_domain::application::Application>(instance_id, &app_id)
        .await
        .map_err(step("reading the console application"))?;
    match &app.state.config {
        None => {
            let new = crate::NewOidcApp {
                project_id: project_id.clone(),
                name: CONSOLE_APP_NAME.to_owned(),
                config: wanted,
            };
            let created = system
                .add_oidc_app_with_id(&app_id, &client_id, &new)
                .await
                .map(|created| created.details);
            ensure_exists::<warden_domain::application::Application>(
                commands,
                |app| app.config.is_some(),
                instance_id,
                &app_id,
                created,
                "registering the console application",
            )
            .await?;
            tracing::info!(client_id, "console application registered");
        }
        Some(warden_domain::application::AppConfig::Oidc(config))
            if config.redirect_uris != wanted.redirect_uris
                || config.post_logout_redirect_uris != wanted.post_logout_redirect_uris
                || config.dev_mode != wanted.dev_mode =>
        {
            let mut changed = config.clone();
            changed.redirect_uris = wanted.redirect_uris;
            changed.post_logout_redirect_uris = wanted.post_logout_redirect_uris;
            changed.dev_mode = wanted.dev_mode;
            system
                .change_oidc_config(&app_id, &changed)
                .await
                .map_err(step("updating the console application's URIs"))?;
            tracing::info!(
                client_id,
                base_url,
                "console application follows the external URL"
            );
        }
        Some(_) => {}
    }
    Ok(client_id)
}

/// The instance's system organization id, choosing a random one if the instance has none yet. Concurrent
/// starts agree: only the first choice is stored, the others read it back.
async fn system_org(commands: &Commands, instance_id: &str) -> Result<String, BootstrapError> {
    let caller = Caller::system(instance_id);
    let chosen = commands
        .for_caller(&caller)
        .set_system_org(&crate::new_id())
        .await;
    let instance = commands
        .load::<Instance>(instance_id, instance_id)
        .await
        .map_err(|source| BootstrapError::Command {
            step: "reading the instance",
            source,
        })?;
    match (instance.state.system_org_id.clone(), chosen) {
        (Some(org_id), _) => Ok(org_id),
        (None, Err(source)) => Err(BootstrapError::Command {
            step: "choosing the system organization",
            source,
        }),
        (None, Ok(_)) => Err(BootstrapError::Command {
            step: "choosing the system organization",
            source: CommandError::Contended {
                aggregate_type: <Instance as warden_domain::Aggregate>::TYPE.to_owned(),
                aggregate_id: instance_id.to_owned(),
            },
        }),
    }
}

/// What [`recover`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverReport {
    /// The administrator that received the new token.
    pub admin_user_id: String,
    /// Whether that administrator was created by this recovery.
    pub created: bool,
    /// Where the token was written (mode 0600).
    pub admin_token_path: PathBuf,
}

/// The machine user [`recover`] uses: login name of the recovery administrator.
pub const RECOVERY_ADMIN_LOGIN_NAME: &str = "warden-recovery-admin";

/// Gives the operator of a server a new administrator token when every one is lost: makes sure a machine
/// user of the system organization is an `IAM_OWNER` (the first administrator if it still is one and is
/// usable, else a recovery administrator, created if missing, reactivated and unlocked as needed), issues it
/// a new personal access token and writes it to `<data_dir>/admin.pat` (mode 0600). Every change is an
/// event recorded with the creator `system:recover`. Needs direct access to the database, not the API.
pub async fn recover(
    commands: &Commands,
    data_dir: &Path,
    instance_id: &str,
) -> Result<RecoverReport, BootstrapError> {
    recover_with(
        commands,
        Arc::new(InDirectory(data_dir.to_owned())),
        instance_id,
    )
    .await
}

/// [`recover`], keeping the new token in `token_file`.
pub async fn recover_with(
    commands: &Commands,
    token_file: Arc<dyn AdminTokenFile>,
    instance_id: &str,
) -> Result<RecoverReport, BootstrapError> {
    let caller = Caller::system(instance_id);
    let system = || commands.for_caller(&caller).as_actor(RECOVER_ACTOR);
    let instance = commands
        .load::<Instance>(instance_id, instance_id)
        .await
        .map_err(step("reading the instance"))?;
    if !instance.state.exists() {
        return Err(BootstrapError::Command {
            step: "reading the instance",
            source: CommandError::Refused(warden_domain::DomainError::not_found(
                "instance.not_found",
                "the instance is not set up: start Warden once first",
            )),
        });
    }
    let org_id = system_org(commands, instance_id).await?;
    if !commands
        .load::<Organization>(instance_id, &org_id)
        .await
        .map_err(step("reading the system organization"))?
        .state
        .exists()
    {
        let created = system().add_org_with_id(&org_id, "Warden system").await;
        ensure_exists::<Organization>(
            commands,
            Organization::exists,
            instance_id,
            &org_id,
            created,
            "creating the system organization",
        )
        .await?;
    }
    let first = first_admin_id(&org_id);
    let first_model = commands
        .load::<User>(instance_id, &first)
        .await
        .map_err(step("reading the administrator"))?;
    let usable = |u: &User| u.machine().is_some() && u.exists();
    let (admin_user_id, created) = if usable(&first_model.state) {
        (first, false)
    } else {
        let recovery = derived_id(&format!("warden/{org_id}/recovery-admin"));
        let model = commands
            .load::<User>(instance_id, &recovery)
            .await
            .map_err(step("reading the recovery administrator"))?;
        if usable(&model.state) {
            (recovery, false)
        } else {
            let admin = NewMachineUser {
                org_id: org_id.clone(),
                login_name: RECOVERY_ADMIN_LOGIN_NAME.to_owned(),
                name: "Warden recovery administrator".to_owned(),
                description: "Created by `warden admin recover`".to_owned(),
                access_token_type: warden_domain::application::AccessTokenType::Jwt,
            };
            system()
                .add_machine_user_with_id(&recovery, &admin)
                .await
                .map_err(step("creating the recovery administrator"))?;
            (recovery, true)
        }
    };
    let user = commands
        .load::<User>(instance_id, &admin_user_id)
        .await
        .map_err(step("reading the administrator"))?;
    if user.state.lifecycle == warden_domain::Lifecycle::Inactive {
        system()
            .reactivate_user(&admin_user_id)
            .await
            .map_err(step("reactivating the administrator"))?;
    }
    if user.state.locked {
        system()
            .unlock_user(&admin_user_id)
            .await
            .map_err(step("unlocking the administrator"))?;
    }
    let instance = commands
        .load::<Instance>(instance_id, instance_id)
        .await
        .map_err(step("reading the instance"))?;
    match instance.state.members.roles_of(&admin_user_id) {
        Some(roles) if roles.contains(&Role::IamOwner) => {}
        Some(roles) => {
            let mut roles = roles.to_vec();
            roles.push(Role::IamOwner);
            system()
                .change_instance_member(&admin_user_id, &roles)
                .await
                .map_err(step("making the administrator IAM_OWNER"))?;
        }
        None => {
            system()
                .add_instance_member(&admin_user_id, &[Role::IamOwner])
                .await
                .map_err(step("making the administrator IAM_OWNER"))?;
        }
    }
    let issued = system()
        .add_personal_access_token(&admin_user_id, NEVER_EXPIRES_UNIX_MS)
        .await
        .map_err(step("issuing the administrator's token"))?;
    let path = store_token(token_file, issued.token).await?;
    tracing::info!(instance_id, admin_user_id, "administrator token recovered");
    Ok(RecoverReport {
        admin_user_id,
        created,
        admin_token_path: path,
    })
}

/// Writes an administrator token to `token_file` on a blocking thread; returns where it went.
async fn store_token(
    token_file: Arc<dyn AdminTokenFile>,
    token: crate::SecretString,
) -> Result<PathBuf, BootstrapError> {
    write_blocking(token_file.path(), move || token_file.write(token.expose())).await
}

/// Runs `write` (writing the file at `path`) on a blocking thread; returns `path`, or an error naming it.
async fn write_blocking(
    path: PathBuf,
    write: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> Result<PathBuf, BootstrapError> {
    match tokio::task::spawn_blocking(write)
        .await
        .map_err(std::io::Error::other)
        .and_then(|written| written)
    {
        Ok(()) => Ok(path),
        Err(source) => Err(BootstrapError::Io { path, source }),
    }
}

/// The creator recorded on the events of [`recover`].
pub const RECOVER_ACTOR: &str = "system:recover";

/// Accepts a failed creation when the aggregate exists anyway (another node created it concurrently).
async fn ensure_exists<A: warden_domain::Aggregate>(
    commands: &Commands,
    exists: fn(&A) -> bool,
    instance_id: &str,
    id: &str,
    created: Result<crate::Details, CommandError>,
    step: &'static str,
) -> Result<(), BootstrapError> {
    let Err(source) = created else {
        return Ok(());
    };
    match commands.load::<A>(instance_id, id).await {
        Ok(model) if exists(&model.state) => Ok(()),
        _ => Err(BootstrapError::Command { step, source }),
    }
}

/// Writes `secret` to `path` in `dir`, readable and writable by the owner only, replacing the file
/// atomically.
fn write_private(dir: &Path, path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut suffix = [0u8; 8];
    getrandom::getrandom(&mut suffix).map_err(std::io::Error::other)?;
    let temporary = dir.join(format!(".{ADMIN_TOKEN_FILE}.{}", hex::encode(suffix)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(secret.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&temporary);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids() {
        assert_eq!(default_instance_id(), default_instance_id());
        let id = derived_id("x");
        assert_eq!(
            uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
            Ok(8)
        );
        assert_ne!(derived_id("x"), derived_id("y"));
    }
}
