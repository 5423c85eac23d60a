"""The exceptions waypost raises: one class per error kind, all under WaypostError.

The Rust core classifies every error by kind; these are those kinds in Python. Where a
standard exception means the same, the class is also that exception, so existing
``except ValueError`` / ``except ConnectionError`` blocks keep working.
"""


class WaypostError(Exception):
    """Base class of every waypost error."""

    code = "Backend"


class InvalidArgumentError(WaypostError, ValueError):
    """An argument or option was rejected before anything was written."""

    code = "InvalidArgument"


class NotFoundError(WaypostError, LookupError):
    """A table, schema or column the call needs does not exist."""

    code = "NotFound"


class ConflictError(WaypostError):
    """A concurrent writer won; nothing was written. Retrying may succeed."""

    code = "Conflict"


class UnavailableError(WaypostError, ConnectionError):
    """The store could not be reached (refused, timed out, locked, closed)."""

    code = "Unavailable"


class BackendError(WaypostError):
    """The store answered with an error waypost did not expect."""

    code = "Backend"


class UnsupportedError(WaypostError, NotImplementedError):
    """The repository does not offer this operation."""

    code = "Unsupported"


class LeaseLostError(WaypostError):
    """A work claim is no longer current (another worker took the item over, or it was
    finished or released); nothing was written."""

    code = "LeaseLost"


__all__ = [
    "WaypostError",
    "InvalidArgumentError",
    "NotFoundError",
    "ConflictError",
    "UnavailableError",
    "BackendError",
    "UnsupportedError",
    "LeaseLostError",
]
