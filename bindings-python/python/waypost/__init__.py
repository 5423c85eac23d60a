"""waypost: a checkpoint store for event-stream consumers.

It remembers how far each projection, pipeline or worker got, so a restart resumes
exactly where it stopped, and it reports how far behind each one is. The classes follow
eventsource-py's checkpoint protocol; the work is done by waypost's Rust core.

>>> import asyncio, uuid, waypost
>>> async def main():
...     repo = waypost.InMemoryCheckpointRepository()
...     await repo.save_position("OrderProjection", 1000, uuid.uuid4(), "OrderPlaced")
...     return await repo.get_position("OrderProjection")
>>> asyncio.run(main())
1000
"""

try:
    from . import _waypost as _native  # noqa: F401  (loads the extension first)
except ImportError as _error:
    # The extension links the system's shared SQLite, the one Python's sqlite3 module
    # loads (one copy per process); say what to install when the system lacks it.
    if "libsqlite3" not in str(_error):
        raise
    raise ImportError(
        "waypost needs the system's SQLite library (libsqlite3.so.0), which Python's "
        "sqlite3 module also uses: install libsqlite3-0 (Debian, Ubuntu) or sqlite-libs "
        f"(Fedora, RHEL); the loader said: {_error}"
    ) from _error

from ._errors import (
    BackendError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
    UnsupportedError,
    LeaseLostError,
    WaypostError,
)
from ._checkpointer import Checkpointer
from ._manager import CheckpointManager, Claimed
from ._progress import HealthReport, HealthStatus, HealthVerdict, Progress, ProgressState
from ._protocol import CheckpointRepository
from ._waypost import (
    CheckpointData,
    ClaimLedger,
    Frontier,
    InMemoryCheckpointRepository,
    LagMetrics,
    MySQLCheckpointRepository,
    PostgreSQLCheckpointRepository,
    SQLiteCheckpointRepository,
    Transaction,
    __version__,
    open,
)

__all__ = [
    "BackendError",
    "CheckpointData",
    "CheckpointManager",
    "Checkpointer",
    "ClaimLedger",
    "Claimed",
    "CheckpointRepository",
    "ConflictError",
    "Frontier",
    "HealthReport",
    "HealthStatus",
    "HealthVerdict",
    "Progress",
    "ProgressState",
    "InMemoryCheckpointRepository",
    "InvalidArgumentError",
    "LagMetrics",
    "MySQLCheckpointRepository",
    "NotFoundError",
    "PostgreSQLCheckpointRepository",
    "SQLiteCheckpointRepository",
    "Transaction",
    "UnavailableError",
    "UnsupportedError",
    "LeaseLostError",
    "WaypostError",
    "__version__",
    "open",
]
