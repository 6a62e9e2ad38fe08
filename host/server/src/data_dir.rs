//! The data directory: created and opened once at start as a capability ([`cap_std::fs::Dir`]), so every file
//! the server keeps there is named relative to it and no name can reach outside it; and, when it holds the
//! embedded database, locked for the life of the process so that a second process cannot open it too.

use std::{
    io::{self, Read, Seek, Write},
    path::{Path, PathBuf},
};

use cap_std::{
    ambient_authority,
    fs::{Dir, OpenOptions},
};

/// The lock file in the data directory; it holds the process id of the holder.
pub const LOCK_FILE: &str = "warden.lock";

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
}
