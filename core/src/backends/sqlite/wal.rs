//! The WAL file under a repository's connections, watched so that a write that may not
//! be durable fails instead of returning.
//!
//! Two copies of SQLite in one process (the app's better-sqlite3 beside waypost's, or a
//! statically linked `sqlite3` module) cannot see each other's POSIX locks, which belong
//! to the process. When the other copy closes its last connection it believes it is the
//! last one on the file: it checkpoints and deletes the `-wal` and `-shm` files while
//! waypost's connections still have the old ones open, and writes into the unlinked
//! WAL are lost. While any connection of one SQLite is open, that SQLite never deletes
//! or replaces the WAL, and neither does another process (it sees the locks), so a WAL
//! path that no longer names the file recorded at open means exactly this. Every write
//! checks it before it starts and after it commits.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The identity of the WAL file as the repository opened it.
#[derive(Debug)]
pub(super) struct WalFile {
    path: PathBuf,
    /// Device and inode; `None` where the platform has no inodes or the file is absent
    /// (`:memory:`), and then nothing is checked.
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_path: &Path) -> Option<(u64, u64)> {
    None
}

impl WalFile {
    /// Records the WAL of `database` (call once a connection has read the file, which
    /// opens or creates the WAL).
    pub(crate) fn record(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        let path = PathBuf::from(path);
        let id = identity(&path);
        WalFile { path, id }
    }

    /// `Unavailable` when the WAL on disk is no longer the one the connections write into.
    pub(crate) fn check(&self) -> Result<()> {
        match self.id {
            Some(id) if identity(&self.path) != Some(id) => Err(Error::unavailable(
                format!(
                    "the sqlite WAL file {} was deleted or replaced under this repository's connections, so a \
                     write here may not be durable: another copy of SQLite in this process (the application's \
                     own driver) closed the database; open a new repository, and write the application's rows \
                     through waypost's transaction() or a driver that shares waypost's SQLite",
                    self.path.display()
                ),
                None,
            )),
            _ => Ok(()),
        }
    }

    /// Runs the write `f` between two checks: nothing is written when the WAL is already
    /// gone, and a write that landed in a deleted WAL is reported instead of acknowledged.
    pub(crate) fn guard<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        self.check()?;
        let out = f()?;
        self.check()?;
        Ok(out)
    }
}
