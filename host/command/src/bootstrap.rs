//! First start: the default instance, a first organization and an administrator with a token.
//!
//! [`bootstrap`] is idempotent and safe when several nodes start at once. The instance, the organization and
//! the administrator have ids derived from the instance id, so concurrent starts create each of them at most
//! once (a second creation conflicts on the expected sequence 0 and finds the first one). The administrator's
//! `IAM_OWNER` membership is added last: an instance with an `IAM_OWNER` is complete and a start finding one
//! does nothing, while a start interrupted before that point is resumed by the next start.

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
    /// The name of the first organization.
    pub org_name: String,
    /// The login name of the administrator (a machine user).
    pub admin_login_name: String,
    /// The administrator's display name.
    pub admin_name: String,
    /// When the administrator's token expires, in ms since the Unix epoch.
    pub admin_token_expires_at_unix_ms: i64,
}

impl Default for FirstInstance {
    fn default() -> Self {
        Self {
            instance_id: default_instance_id(),
            name: "Warden".to_owned(),
            domains: vec!["localhost".to_owned()],
            default_language: "en".to_owned(),
            policies: PolicySet::default(),
            org_name: "Warden".to_owned(),
            admin_login_name: "warden-admin".to_owned(),
            admin_name: "Warden administrator".to_owned(),
            admin_token_expires_at_unix_ms: NEVER_EXPIRES_UNIX_MS,
        }
    }
}

/// What [`bootstrap`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapReport {
    /// The default instance.
    pub instance_id: String,
    /// The first organization.
    pub org_id: String,
    /// The administrator (a machine user with `IAM_OWNER` on the instance).
    pub admin_user_id: String,
    /// Whether this start set anything up (false: the instance was complete already).
    pub set_up: bool,
    /// Where the administrator's token was written (mode 0600), when this start issued one.
    pub admin_token_path: Option<PathBuf>,
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
    let org_id = derived_id(&format!("warden/{instance_id}/first-org"));
    let admin_user_id = derived_id(&format!("warden/{instance_id}/admin"));
    let mut report = BootstrapReport {
        instance_id: instance_id.clone(),
        org_id: org_id.clone(),
        admin_user_id: admin_user_id.clone(),
        set_up: false,
        admin_token_path: None,
    };
    let step =
        |step: &'static str| move |source: CommandError| BootstrapError::Command { step, source };

    let instance = commands
        .load::<Instance>(&instance_id, &instance_id)
        .await
        .map_err(step("reading the instance"))?;
    if instance.state.members.count_with(Role::IamOwner) > 0 {
        return Ok(report);
    }
    report.set_up = true;
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

    if !commands
        .load::<Organization>(&instance_id, &org_id)
        .await
        .map_err(step("reading the first organization"))?
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
            "creating the first organization",
        )
        .await?;
    }

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
    let path = token_file.path();
    let token = issued.token;
    tokio::task::spawn_blocking(move || token_file.write(token.expose()))
        .await
        .map_err(std::io::Error::other)
        .and_then(|written| written)
        .map_err(|source| BootstrapError::Io {
            path: path.clone(),
            source,
        })?;
    report.admin_token_path = Some(path);

    match system
        .add_instance_member(&admin_user_id, &[Role::IamOwner])
        .await
    {
        Ok(_) => {}
        Err(CommandError::Refused(e)) if e.code == "member.already_exists" => {}
        Err(e) => return Err(step("making the administrator IAM_OWNER")(e)),
    }
    tracing::info!(instance_id, admin_user_id, "administrator created");
    Ok(report)
}

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
