# Type stubs for the native module waypost._waypost, written by hand and checked
# against the built module by `python -m mypy.stubtest waypost._waypost` in `make test`.

import datetime
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, TypeAlias, final
from uuid import UUID

from typing_extensions import Self, disjoint_base

from ._progress import HealthReport, Progress

_SslMode: TypeAlias = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]
__version__: str
MAX_MESSAGE_CHARS: int
__all__ = [
    "MAX_MESSAGE_CHARS",
    "CheckpointData",
    "ClaimLedger",
    "Frontier",
    "InMemoryCheckpointRepository",
    "LagMetrics",
    "MySQLCheckpointRepository",
    "PostgreSQLCheckpointRepository",
    "SQLiteCheckpointRepository",
    "Transaction",
    "_CheckpointManager",
    "_Checkpointer",
    "_Repository",
    "__version__",
    "_after_fork_in_child",
    "_shutdown",
    "open",
]

@final
class CheckpointData:
    """One projection's stored checkpoint."""

    def __new__(
        cls,
        projection_name: str,
        last_event_id: UUID | str | None = None,
        last_event_type: str | None = None,
        last_processed_at: datetime.datetime | None = None,
        events_processed: int = 0,
        global_position: int | None = None,
        position_token: str | None = None,
    ) -> CheckpointData: ...
    @property
    def projection_name(self) -> str: ...
    @property
    def last_event_id(self) -> UUID | None: ...
    @property
    def last_event_type(self) -> str | None: ...
    @property
    def last_processed_at(self) -> datetime.datetime | None: ...
    @property
    def events_processed(self) -> int: ...
    @property
    def global_position(self) -> int | None: ...
    @property
    def position_token(self) -> str | None: ...
    def _asdict(self) -> dict[str, Any]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Frontier:
    """Where a consumer whose events are handled in parallel may safely checkpoint."""

    def __new__(cls, start: int | None = None) -> Frontier: ...
    def begin(self, position: int) -> None: ...
    def ack(self, position: int) -> None: ...
    @property
    def start(self) -> int | None: ...
    @property
    def committed(self) -> int | None: ...
    @property
    def in_flight(self) -> int: ...

@final
class LagMetrics:
    """How far behind a projection is."""

    def __new__(
        cls,
        projection_name: str,
        last_event_id: str | None = None,
        latest_event_id: str | None = None,
        lag_seconds: float = 0.0,
        events_processed: int = 0,
        last_processed_at: str | None = None,
        stream_head: int | None = None,
        events_behind: int | None = None,
    ) -> LagMetrics: ...
    @property
    def projection_name(self) -> str: ...
    @property
    def last_event_id(self) -> str | None: ...
    @property
    def latest_event_id(self) -> str | None: ...
    @property
    def lag_seconds(self) -> float: ...
    @property
    def events_processed(self) -> int: ...
    @property
    def last_processed_at(self) -> str | None: ...
    @property
    def stream_head(self) -> int | None: ...
    @property
    def events_behind(self) -> int | None: ...
    def _asdict(self) -> dict[str, Any]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@disjoint_base
class _Repository:
    """The checkpoint protocol shared by every repository class."""

    async def checkpoint_statement(
        self,
        kind: str,
        name: str,
        event_id: UUID | str,
        event_type: str,
        *,
        position: int | None = None,
        token: str | None = None,
    ) -> tuple[str, list[Any]]: ...
    def transaction(self) -> Transaction: ...
    async def stream_head(self) -> int | None: ...
    async def get_progress(self, projection_name: str, *, stall_after: float = 60.0) -> Progress: ...
    async def get_all_progress(self, *, stall_after: float = 60.0) -> list[Progress]: ...
    async def get_health(
        self,
        projection_name: str | None = None,
        *,
        stall_after: float = 60.0,
        degraded_events_behind: int = 1000,
        unhealthy_events_behind: int = 10000,
        degraded_stall: float = 60.0,
        unhealthy_stall: float = 300.0,
    ) -> HealthReport: ...
    async def get_checkpoint(self, projection_name: str) -> UUID | None: ...
    async def update_checkpoint(self, projection_name: str, event_id: UUID | str, event_type: str) -> None: ...
    async def get_position(self, subscription_id: str) -> int | None: ...
    async def save_position(
        self, subscription_id: str, position: int, event_id: UUID | str, event_type: str
    ) -> None: ...
    async def get_position_token(self, subscription_id: str) -> str | None: ...
    async def save_position_token(
        self, subscription_id: str, token: str, event_id: UUID | str, event_type: str
    ) -> None: ...
    async def get_lag_metrics(
        self, projection_name: str, event_types: Sequence[str] | None = None
    ) -> LagMetrics | None: ...
    async def reset_checkpoint(self, projection_name: str) -> None: ...
    async def get_all_checkpoints(self) -> list[CheckpointData]: ...
    async def _core_get_all_checkpoints(self) -> int: ...
    async def create_events_table(self) -> None: ...
    async def create_lag_index(self) -> None: ...
    async def append_events(
        self, events: Sequence[tuple[UUID | str, str, datetime.datetime | None]]
    ) -> None: ...
    async def close(self) -> None: ...
    async def aclose(self) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        *_exc: type[BaseException] | BaseException | TracebackType | None,
    ) -> bool: ...

_SqlParam: TypeAlias = (
    None | bool | int | float | str | bytes | bytearray | UUID | datetime.datetime | dict[str, Any] | list[Any]
)

@final
class Transaction:
    """The read-model statements and checkpoint writes made through it commit together.

    ``async with repo.transaction() as tx:`` begins on entry, commits when the block ends
    normally and rolls back when it raises. Placeholders are ``$1, $2, …``.
    """

    async def begin(self) -> None: ...
    async def execute(self, sql: str, params: Sequence[_SqlParam] | None = None) -> int: ...
    async def fetch_all(self, sql: str, params: Sequence[_SqlParam] | None = None) -> list[dict[str, Any]]: ...
    async def save_position(
        self, subscription_id: str, position: int, event_id: UUID | str, event_type: str
    ) -> None: ...
    async def update_checkpoint(self, projection_name: str, event_id: UUID | str, event_type: str) -> None: ...
    async def save_position_token(
        self, subscription_id: str, token: str, event_id: UUID | str, event_type: str
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    @property
    def is_open(self) -> bool: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> bool: ...

@final
class InMemoryCheckpointRepository(_Repository):
    """Checkpoints in process memory; every call completes at once."""

    def __new__(cls) -> InMemoryCheckpointRepository: ...

@final
class SQLiteCheckpointRepository(_Repository):
    """Checkpoints in an SQLite file (WAL, synchronous=FULL), opened at construction."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        table: str = "projection_checkpoints",
        events_table: str | None = "events",
        event_id_column: str = "event_id",
        event_type_column: str = "event_type",
        timestamp_column: str = "timestamp",
        position_column: str | None = "global_position",
        create_schema: bool = True,
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
    ) -> SQLiteCheckpointRepository: ...

@final
class PostgreSQLCheckpointRepository(_Repository):
    """Checkpoints in PostgreSQL; connects lazily on the first call. TLS as libpq's
    ``sslmode`` (``prefer`` by default), ``sslrootcert``, ``sslcert`` and ``sslkey``, in
    the DSN or as keywords (a keyword wins)."""

    def __new__(
        cls,
        dsn: Any,
        *,
        schema: str = "public",
        table: str = "projection_checkpoints",
        events_table: str | None = "events",
        events_schema: str | None = None,
        event_id_column: str = "event_id",
        event_type_column: str = "event_type",
        timestamp_column: str = "timestamp",
        position_column: str | None = "global_position",
        create_schema: bool = True,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
        sslmode: _SslMode | None = None,
        sslrootcert: str | os.PathLike[str] | None = None,
        sslcert: str | os.PathLike[str] | None = None,
        sslkey: str | os.PathLike[str] | None = None,
    ) -> PostgreSQLCheckpointRepository: ...

@final
class MySQLCheckpointRepository(_Repository):
    """Checkpoints in MySQL 8 or MariaDB 10.6+, in the database the URL names; connects lazily
    on the first call."""

    def __new__(
        cls,
        url: str,
        *,
        table: str = "projection_checkpoints",
        events_table: str | None = "events",
        events_schema: str | None = None,
        event_id_column: str = "event_id",
        event_type_column: str = "event_type",
        timestamp_column: str = "timestamp",
        position_column: str | None = "global_position",
        create_schema: bool = True,
        pool_size: int = 10,
        connect_timeout: float = 5.0,
    ) -> MySQLCheckpointRepository: ...

def open(url: str, **options: Any) -> _Repository: ...
def _shutdown() -> None: ...
def _after_fork_in_child() -> None: ...

@disjoint_base
class _CheckpointManager:
    """Per-item work claims for one worker over a repository's store."""

    def __new__(
        cls,
        store: _Repository,
        *,
        worker_id: str | None = None,
        max_retries: int = 3,
        lease_ms: int = 300000,
        fallback_to_memory: bool = False,
        table: str = 'work_claims',
    ) -> Self: ...
    async def _start(self) -> None: ...
    async def claim_file(self, url: str, file_type: str, timestamp: datetime.datetime) -> bool: ...
    async def complete_file(
        self, url: str, *, total_rows: int = 0, filtered_rows: int = 0, persisted_rows: int = 0, duration_ms: int = 0
    ) -> None: ...
    async def fail_file(self, url: str, message: str) -> None: ...
    async def release_file(self, url: str) -> None: ...
    async def lease_lost(self, url: str) -> None:
        """Waits while this worker holds ``url``; raises ``LeaseLostError`` when the claim is lost."""
    async def is_processed(self, url: str) -> bool: ...
    async def get_stats(self) -> dict[str, int]: ...
    def get_worker_id(self) -> str: ...
    @property
    def mode(self) -> str: ...
    async def close(self) -> None: ...

@final
class ClaimLedger:
    """The claims ledger itself; claims and records are dicts."""

    def __new__(cls, store: _Repository, *, table: str = ..., max_retries: int = ...) -> Self: ...
    async def claim(
        self, key: str, item_type: str, item_timestamp: datetime.datetime, worker_id: str, lease_ms: int
    ) -> dict[str, Any] | None: ...
    async def heartbeat(self, claim: dict[str, Any], lease_ms: int) -> dict[str, Any]: ...
    async def complete(
        self,
        claim: dict[str, Any],
        *,
        records_total: int = 0,
        records_filtered: int = 0,
        records_persisted: int = 0,
        processing_time_ms: int = 0,
    ) -> None: ...
    async def fail(self, claim: dict[str, Any], message: str) -> None: ...
    async def release(self, claim: dict[str, Any]) -> None: ...
    async def is_processed(self, key: str) -> bool: ...
    async def get(self, key: str) -> dict[str, Any] | None: ...
    async def stats(self) -> dict[str, int]: ...
    async def list(self, status: str | None = None, limit: int = ...) -> list[dict[str, Any]]: ...

@disjoint_base
class _Checkpointer:
    """Saves one projection's position by a strategy."""

    def __new__(
        cls,
        store: _Repository,
        projection_name: str,
        *,
        every: int | None = None,
        interval: float | None = None,
        out_of_order: bool = False,
    ) -> Self: ...
    async def record(self, position: int, event_id: UUID | str, event_type: str) -> None: ...
    def begin(self, position: int) -> None: ...
    async def ack(self, position: int, event_id: UUID | str, event_type: str) -> None: ...
    @property
    def in_flight(self) -> int: ...
    async def flush(self) -> None: ...
    async def _close_task(self) -> None: ...
    async def saves(self) -> int: ...
    async def unsaved(self) -> int: ...
