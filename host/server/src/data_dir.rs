//! The data directory: created and opened once at start as a capability ([`cap_std::fs::Dir`]), so every file
//! the server keeps there is named relative to it and no name can reach outside it; and, when it holds the
//! embedded database, locked for the life of the process so that a second process cannot open it too.

use std::{
    io::{self, Read, Seek, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use cap_std::{
    ambient_authority,
    fs::{Dir, OpenOptions},
};
use warden_command::{ADMIN_PASSWORD_FILE, ADMIN_TOKEN_FILE, AdminTokenFile};

/// The lock file in the data directory; it holds the process id of the holder.
pub const LOCK_FILE: &str = "warden.lock";

/// The file in the data directory holding the master key when none is configured (64 hex digits, mode 0600).
pub const MASTER_KEY_FILE: &str = "master.key";

/// The directory, inside the data directory, where compiled plugins are cached.
pub const PLUGIN_CACHE_DIR: &str = "plugin-cache";

/// What can go wrong opening or locking the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory cannot be created, opened or restricted.
    #[error("cannot {action} data directory {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The data directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Another process holds the data directory.
    #[error(
        "the data directory {} is in use by another warden process ({holder}); stop that process first, \
         or give this one its own data directory (--data-dir)",
        path.display()
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
        /// Who holds it, e.g. `pid 1234`.
        holder: String,
    },
    /// The master key file exists but does not hold a key.
    #[error("{}: {message}", path.display())]
    BadMasterKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The data directory, opened once.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    dir: Dir,
    /// The locked lock file, held (and so locked) until the process ends.
    lock: Option<std::fs::File>,
}

impl DataDir {
    /// Creates `path` (and its parents) if missing, restricts it to the owner (it holds the database and
    /// secrets), and opens it.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let fail = |action: &'static str| {
            move |source| DataDirError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        // The one use of the ambient file system: the directory the operator configured.
        Dir::create_ambient_dir_all(path, ambient_authority()).map_err(fail("create"))?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(fail("open"))?;
        #[cfg(unix)]
        {
            use cap_std::fs::PermissionsExt;
            dir.set_permissions(".", cap_std::fs::Permissions::from_mode(0o700))
                .map_err(fail("restrict"))?;
        }
        Ok(Self {
            path: path.to_owned(),
            dir,
            lock: None,
        })
    }

    /// The directory as configured.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory as a capability: files are opened relative to it and cannot leave it.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Takes the exclusive lock on the directory (an advisory lock on [`LOCK_FILE`], released by the
    /// operating system when the process ends, however it ends) and writes this process's id into the file.
    /// Fails at once with [`DataDirError::Locked`], naming the holder, when another process holds it.
    pub fn lock(&mut self) -> Result<(), DataDirError> {
        if self.lock.is_some() {
            return Ok(());
        }
        let fail = |source| DataDirError::Io {
            action: "lock",
            path: self.path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = self
            .dir
            .open_with(LOCK_FILE, &options)
            .map_err(fail)?
            .into_std();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut contents = String::new();
                // The holder writes its id right after locking; an empty file means it is about to.
                let _ = file.read_to_string(&mut contents);
                let holder = match contents.trim().parse::<u32>() {
                    Ok(pid) => format!("pid {pid}"),
                    Err(_) => "pid unknown".to_owned(),
                };
                return Err(DataDirError::Locked {
                    path: self.path.clone(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(fail(error)),
        }
        file.set_len(0).map_err(fail)?;
        file.rewind().map_err(fail)?;
        writeln!(file, "{}", std::process::id()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        self.lock = Some(file);
        Ok(())
    }

    /// Whether this process holds the directory's lock.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// Creates the subdirectory `name` (owner only) if missing and returns its path, for components that
    /// take a path rather than a directory handle.
    pub fn subdirectory(&self, name: &str) -> Result<PathBuf, DataDirError> {
        let fail = |source| DataDirError::Io {
            action: "create a directory in",
            path: self.path.clone(),
            source,
        };
        self.dir.create_dir_all(name).map_err(fail)?;
        #[cfg(unix)]
        {
            use cap_std::fs::PermissionsExt;
            self.dir
                .set_permissions(name, cap_std::fs::Permissions::from_mode(0o700))
                .map_err(fail)?;
        }
        Ok(self.path.join(name))
    }

    /// The master key sealing the signing keys: `configured` when given, else the key in [`MASTER_KEY_FILE`],
    /// generated there (readable by the owner only) at first start. Nodes sharing one PostgreSQL database must
    /// be configured with the same key.
    pub fn master_key(
        &self,
        configured: Option<&str>,
    ) -> Result<warden_oidc::MasterKey, DataDirError> {
        let path = self.path.join(MASTER_KEY_FILE);
        let bad = |message: String| DataDirError::BadMasterKey {
            path: path.clone(),
            message,
        };
        if let Some(text) = configured {
            return warden_oidc::MasterKey::parse(text).map_err(|e| bad(e.to_string()));
        }
        let io = |action: &'static str| {
            let path = self.path.clone();
            move |source| DataDirError::Io {
                action,
                path,
                source,
            }
        };
        match self.dir.read_to_string(MASTER_KEY_FILE) {
            Ok(text) => warden_oidc::MasterKey::parse(&text).map_err(|e| bad(e.to_string())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let key = warden_oidc::MasterKey::generate().map_err(|e| bad(e.to_string()))?;
                write_private(
                    &self.dir,
                    MASTER_KEY_FILE,
                    format!("{}\n", key.to_hex()).as_bytes(),
                )
                .map_err(io("write the master key into"))?;
                tracing::info!(path = %path.display(), "first start: generated the master key");
                Ok(key)
            }
            Err(error) => Err(io("read the master key from")(error)),
        }
    }

    /// Where the administrator's token goes at first start: [`ADMIN_TOKEN_FILE`], written through this
    /// directory.
    pub fn admin_token_file(&self) -> Result<Arc<dyn AdminTokenFile>, DataDirError> {
        let dir = self.dir.try_clone().map_err(|source| DataDirError::Io {
            action: "open",
            path: self.path.clone(),
            source,
        })?;
        Ok(Arc::new(AdminToken {
            dir,
            path: self.path.join(ADMIN_TOKEN_FILE),
        }))
    }
}

/// [`ADMIN_TOKEN_FILE`] in the data directory.
#[derive(Debug)]
struct AdminToken {
    dir: Dir,
    path: PathBuf,
}

impl AdminTokenFile for AdminToken {
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn write(&self, token: &str) -> io::Result<()> {
        write_private(&self.dir, ADMIN_TOKEN_FILE, format!("{token}\n").as_bytes())
    }

    fn password_path(&self) -> PathBuf {
        self.path.with_file_name(ADMIN_PASSWORD_FILE)
    }

    fn write_password(&self, password: &str) -> io::Result<()> {
        write_private(
            &self.dir,
            ADMIN_PASSWORD_FILE,
            format!("{password}\n").as_bytes(),
        )
    }
}

/// Writes `contents` to `name` in `dir`, readable and writable by the owner only, replacing the file
/// atomically (a temporary file renamed over it).
fn write_private(dir: &Dir, name: &str, contents: &[u8]) -> io::Result<()> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let temporary = format!(".{name}.{}-{nanos}", std::process::id());
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use cap_std::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = dir.open_with(&temporary, &options).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    match written.and_then(|()| dir.rename(&temporary, dir, name)) {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = dir.remove_file(&temporary);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holders_pid() {
        let temp = tempfile::tempdir().expect("temp dir");
        let path = temp.path().join("nested").join("data");
        let mut first = DataDir::open(&path).expect("open");
        first.lock().expect("lock");
        let mut second = DataDir::open(&path).expect("open again");
        let error = second.lock().expect_err("a second lock is refused");
        let message = error.to_string();
        assert!(
            message.contains(&path.display().to_string())
                && message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        second.lock().expect("free once the holder is gone");
    }

    #[test]
    fn the_master_key_is_generated_once_private_and_kept() {
        let temp = tempfile::tempdir().expect("temp dir");
        let data = DataDir::open(&temp.path().join("data")).expect("open");
        let first = data.master_key(None).expect("generated");
        let file = temp.path().join("data").join(MASTER_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = data.master_key(None).expect("read back");
        assert_eq!(
            first.to_hex(),
            again.to_hex(),
            "the same key at the next start"
        );
        let configured = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(
            data.master_key(Some(configured))
                .expect("configured")
                .to_hex(),
            configured
        );
        std::fs::write(&file, "not a key").expect("overwrite");
        let error = data
            .master_key(None)
            .expect_err("a bad file stops the start");
        assert!(error.to_string().contains(MASTER_KEY_FILE), "{error}");
    }

    #[test]
    fn files_are_written_inside_the_directory_only() {
        let temp = tempfile::tempdir().expect("temp dir");
        let data = DataDir::open(&temp.path().join("data")).expect("open");
        let token = data.admin_token_file().expect("token file");
        assert_eq!(
            token.path(),
            temp.path().join("data").join(ADMIN_TOKEN_FILE)
        );
        token.write("secret").expect("write");
        assert_eq!(
            std::fs::read_to_string(temp.path().join("data").join(ADMIN_TOKEN_FILE)).expect("read"),
            "secret\n"
        );
        // Names that would leave the directory are refused by the capability, whatever they say.
        for name in ["../outside", "/tmp/outside", "a/../../outside"] {
            assert!(write_private(data.dir(), name, b"x").is_err(), "{name}");
            assert!(data.subdirectory(name).is_err(), "{name}");
        }
        assert!(!temp.path().join("outside").exists());
        let cache = data.subdirectory(PLUGIN_CACHE_DIR).expect("cache dir");
        assert!(cache.is_dir() && cache.starts_with(data.path()));
    }
}
