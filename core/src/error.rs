//! The one error type of waypost, and the small [`ErrorKind`] every binding maps from.

use std::fmt;

/// A boxed error kept as the cause of an [`Error`].
///
/// # Examples
/// ```
/// let cause: waypost::BoxError = "disk full".into();
/// assert_eq!(cause.to_string(), "disk full");
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of every fallible waypost call.
///
/// # Examples
/// ```
/// fn first_position(repo: &waypost::MemoryRepository) -> waypost::Result<i64> {
///     let _ = repo;
///     Ok(0)
/// }
/// assert_eq!(first_position(&waypost::MemoryRepository::new())?, 0);
/// # Ok::<(), waypost::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in waypost.
///
/// Match on [`Error::kind`] rather than on the variants: bindings and the conformance
/// cases look at the kind and nothing else, and new variants may be added.
///
/// # Examples
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use waypost::{CheckpointRepository, ErrorKind, MemoryRepository};
/// let repo = MemoryRepository::new();
/// match repo.save_position("orders", -1, uuid::Uuid::new_v4(), "OrderPlaced").await {
///     Err(e) if e.kind() == ErrorKind::InvalidArgument => println!("refused: {e}"),
///     other => panic!("{other:?}"),
/// }
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument or option was rejected before anything was written.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What was wrong with which argument.
        message: String,
    },
    /// A table, schema or record that the call needs does not exist.
    #[error("{message}")]
    NotFound {
        /// What is missing.
        message: String,
    },
    /// A guarded write lost against a concurrent writer; nothing was written.
    #[error("{message}")]
    Conflict {
        /// What changed concurrently.
        message: String,
    },
    /// The store could not be reached (refused, timed out, locked, closed). Retrying may help.
    #[error("{message}")]
    Unavailable {
        /// What could not be reached, with its address where there is one.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store answered with an error waypost did not expect.
    #[error("{message}")]
    Backend {
        /// What the store said.
        message: String,
        /// The driver's error.
        #[source]
        source: Option<BoxError>,
    },
    /// The repository does not offer this operation.
    #[error("unsupported: {message}")]
    Unsupported {
        /// Which operation on which repository.
        message: String,
    },
    /// A work claim is no longer current (another worker took the item over, or it was
    /// finished or released); nothing was written.
    #[error("lease lost: {message}")]
    LeaseLost {
        /// Which claim.
        message: String,
    },
}

/// The portable classification of an [`Error`]: the same word in Rust, Python and JS.
///
/// # Examples
/// ```
/// use waypost::ErrorKind;
/// let retry = |kind: ErrorKind| kind.is_retryable();
/// assert!(retry(ErrorKind::Unavailable) && !retry(ErrorKind::NotFound));
/// assert_eq!(ErrorKind::ALL.len(), 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidArgument`].
    InvalidArgument,
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::Unavailable`].
    Unavailable,
    /// See [`Error::Backend`].
    Backend,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::LeaseLost`].
    LeaseLost,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::Conflict,
        ErrorKind::Unavailable,
        ErrorKind::Backend,
        ErrorKind::Unsupported,
        ErrorKind::LeaseLost,
    ];

    /// The kind's name, as used by the bindings and the conformance cases (`"Conflict"`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(waypost::ErrorKind::InvalidArgument.as_str(), "InvalidArgument");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Backend => "Backend",
            ErrorKind::Unsupported => "Unsupported",
            ErrorKind::LeaseLost => "LeaseLost",
        }
    }

    /// Parses the name produced by [`ErrorKind::as_str`].
    ///
    /// # Examples
    /// ```
    /// use waypost::ErrorKind;
    /// assert_eq!(ErrorKind::from_name("LeaseLost"), Some(ErrorKind::LeaseLost));
    /// assert_eq!(ErrorKind::from_name("leaselost"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Whether the same call may succeed if simply tried again later.
    ///
    /// # Examples
    /// ```
    /// use waypost::ErrorKind;
    /// assert!(ErrorKind::Unavailable.is_retryable());
    /// assert!(!ErrorKind::InvalidArgument.is_retryable());
    /// ```
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Conflict)
    }
}

/// The kind's name: napi-rs takes it as an error's status, and so its JS `code`.
impl AsRef<str> for ErrorKind {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The portable kind of this error.
    ///
    /// # Examples
    /// ```
    /// use waypost::{CheckpointRepository, ErrorKind, MemoryRepository};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let repo = MemoryRepository::new();
    /// let err = repo.save_position("", 1, uuid::Uuid::new_v4(), "T").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    /// # });
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Backend { .. } => ErrorKind::Backend,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::LeaseLost { .. } => ErrorKind::LeaseLost,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument { message: message.into() }
    }

    #[cfg_attr(not(any(feature = "_sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound { message: message.into() }
    }

    #[cfg_attr(not(any(feature = "_sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn unavailable(message: impl Into<String>, source: impl Into<Option<BoxError>>) -> Self {
        Error::Unavailable { message: message.into(), source: source.into() }
    }

    pub(crate) fn backend(message: impl Into<String>, source: impl Into<Option<BoxError>>) -> Self {
        Error::Backend { message: message.into(), source: source.into() }
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Error::Unsupported { message: message.into() }
    }

    /// The same kind and message, for each of several callers failed by one cause (the
    /// source cannot be copied; waypost's messages already name it).
    #[cfg_attr(not(any(feature = "_sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::InvalidArgument { message } => Error::InvalidArgument { message: message.clone() },
            Error::NotFound { message } => Error::NotFound { message: message.clone() },
            Error::Conflict { message } => Error::Conflict { message: message.clone() },
            Error::Unavailable { message, .. } => Error::Unavailable { message: message.clone(), source: None },
            Error::Backend { message, .. } => Error::Backend { message: message.clone(), source: None },
            Error::Unsupported { message } => Error::Unsupported { message: message.clone() },
            Error::LeaseLost { message } => Error::LeaseLost { message: message.clone() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_name("Nope"), None);
    }

    #[test]
    fn messages_are_lowercase_without_final_period() {
        let err = Error::invalid("projection name is empty");
        assert_eq!(err.to_string(), "invalid argument: projection name is empty");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(!err.kind().is_retryable());
        assert!(Error::unavailable("x", None).kind().is_retryable());
    }
}
