//! The build lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::db::{check_is_file, IndexError};

/// The exclusive right to build into one database, held for the life of
/// the build. It is an `flock` on `<db>.lock`, so it disappears with the
/// process however that process ends: no stale lock after a SIGKILL.
pub struct BuildLock {
    _file: File,
}

fn lock_path(db: &Path) -> PathBuf {
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    PathBuf::from(path)
}

impl BuildLock {
    /// Whether a build holds the lock now. Only probes: takes a shared lock
    /// for an instant and writes nothing, so it never gets in a build's way.
    pub fn is_held(db: &Path) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(file) = File::open(lock_path(db)) else {
            return false;
        };
        // SAFETY: flock on a descriptor we own; released when it closes.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
    }

    pub(crate) fn acquire(db: &Path) -> Result<BuildLock, IndexError> {
        check_is_file(db)?;
        let path = lock_path(db);
        let io_err = |source| IndexError::Io {
            path: path.clone(),
            source,
        };
        // The lock is taken before the database is opened (and its
        // directory created), so a first build must create the directory.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(IndexError::Locked {
                path: db.to_path_buf(),
                pid: pid.trim().to_string(),
            });
        }
        file.set_len(0).map_err(io_err)?;
        write!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(BuildLock { _file: file })
    }
}
