//! The process a repository was opened in. A forked child inherits the parent's memory,
//! but not its threads (the SQLite thread, the pool's tasks) nor, in any useful way,
//! its connections: a socket or file shared with the parent would interleave both
//! processes' traffic. A repository used in another process than its own refuses, and
//! dropping it there leaves the parent's connections and files untouched.

use crate::error::{Error, Result};

/// The id of the process that opened a repository.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin(u32);

impl Origin {
    pub(crate) fn here() -> Self {
        Origin(std::process::id())
    }

    /// Whether this is a process forked from the one that opened the repository.
    pub(crate) fn forked(self) -> bool {
        std::process::id() != self.0
    }

    /// `Unsupported`, naming the fork, in a forked child.
    pub(crate) fn check(self) -> Result<()> {
        if self.forked() {
            return Err(Error::unsupported(format!(
                "this repository was opened in process {} and this is process {}, forked from it: its \
                 connections belong to the parent; open a new repository in this process",
                self.0,
                std::process::id()
            )));
        }
        Ok(())
    }
}
