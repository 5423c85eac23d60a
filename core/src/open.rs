//! `open(url)`: one entry point for every backend.

use std::sync::Arc;

use crate::backends::memory::MemoryRepository;
use crate::error::{Error, Result};
use crate::repository::CheckpointRepository;

/// Opens a repository from a URL:
///
/// | URL | repository |
/// |---|---|
/// | `memory:` | [`MemoryRepository`] |
/// | `sqlite:PATH`, `sqlite://PATH` (`sqlite:///abs/path.db` is absolute) | [`SqliteRepository`](crate::SqliteRepository) with default options |
/// | `postgres://…`, `postgresql://…` | [`PostgresRepository`](crate::PostgresRepository) with default options |
/// | `mysql://…`, `mariadb://…` | `MysqlRepository` (feature `mysql`) with default options |
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let repo = waypost::open("memory:").await?;
/// repo.save_position("orders", 7, uuid::Uuid::new_v4(), "OrderPlaced").await?;
/// assert_eq!(repo.get_position("orders").await?, Some(7));
/// # Ok::<(), waypost::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// `InvalidArgument` for an unknown scheme, an empty path, or a backend this build was
/// compiled without; the backend's own errors when opening.
pub async fn open(url: &str) -> Result<Arc<dyn CheckpointRepository>> {
    match parse_url(url)? {
        Target::Memory => Ok(Arc::new(MemoryRepository::new())),
        #[cfg(feature = "_sqlite")]
        Target::Sqlite(path) => {
            Ok(Arc::new(crate::SqliteRepository::open(path, crate::SqliteOptions::default()).await?))
        }
        #[cfg(feature = "postgres")]
        Target::Postgres(url) => {
            Ok(Arc::new(crate::PostgresRepository::connect(url, crate::PostgresOptions::default()).await?))
        }
        #[cfg(feature = "mysql")]
        Target::Mysql(url) => Ok(Arc::new(crate::MysqlRepository::connect(url, crate::MysqlOptions::default()).await?)),
        #[allow(unreachable_patterns)]
        _ => Err(Error::invalid(format!("{} support is not compiled into this build of waypost", scheme(url)))),
    }
}

/// What a repository URL points at, as [`parse_url`] reads it.
///
/// # Examples
/// ```
/// use waypost::{parse_url, Target};
/// assert_eq!(parse_url("sqlite:checkpoints.db")?, Target::Sqlite("checkpoints.db"));
/// assert_eq!(parse_url("memory:")?, Target::Memory);
/// # Ok::<(), waypost::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target<'a> {
    /// `memory:`
    Memory,
    /// `sqlite:PATH` or `sqlite://PATH`: the path.
    Sqlite(&'a str),
    /// `postgres://…` or `postgresql://…`: the whole URL.
    Postgres(&'a str),
    /// `mysql://…` or `mariadb://…`: the whole URL.
    Mysql(&'a str),
}

fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or(url)
}

/// Reads a repository URL without opening anything (bindings use it to pick a class).
///
/// # Errors
/// `InvalidArgument` for an unknown scheme, an empty SQLite path, or query parameters.
///
/// # Examples
/// ```
/// use waypost::{parse_url, Target};
/// assert!(matches!(parse_url("mariadb://app@db/app")?, Target::Mysql(_)));
/// assert!(parse_url("redis://localhost").is_err());
/// assert!(parse_url("sqlite:a.db?mode=ro").is_err(), "options, not query parameters");
/// # Ok::<(), waypost::Error>(())
/// ```
pub fn parse_url(url: &str) -> Result<Target<'_>> {
    if url == "memory:" || url == "memory://" {
        return Ok(Target::Memory);
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(Error::invalid(format!("sqlite url {url:?} has no path")));
        }
        if path.contains('?') {
            return Err(Error::invalid(format!("sqlite url {url:?} has query parameters; pass options instead")));
        }
        return Ok(Target::Sqlite(path));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(url));
    }
    if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        return Ok(Target::Mysql(url));
    }
    Err(Error::invalid(format!(
        "unsupported repository url {:?}: expected memory:, sqlite:PATH, postgres:// or mysql://",
        scheme(url)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        assert_eq!(parse_url("memory:").unwrap(), Target::Memory);
        assert_eq!(parse_url("sqlite:data/x.db").unwrap(), Target::Sqlite("data/x.db"));
        assert_eq!(parse_url("sqlite://x.db").unwrap(), Target::Sqlite("x.db"));
        assert_eq!(parse_url("sqlite:///tmp/x.db").unwrap(), Target::Sqlite("/tmp/x.db"));
        assert_eq!(parse_url("postgresql://u@h/db").unwrap(), Target::Postgres("postgresql://u@h/db"));
        assert_eq!(parse_url("mysql://u@h/db").unwrap(), Target::Mysql("mysql://u@h/db"));
        assert_eq!(parse_url("mariadb://u@h/db").unwrap(), Target::Mysql("mariadb://u@h/db"));
        for bad in ["", "sqlite:", "sqlite://", "redis://h/db", "sqlite:x.db?mode=ro", "memory"] {
            assert_eq!(parse_url(bad).unwrap_err().kind(), crate::ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
