"""waypost without ``await``: the same classes, names, keywords, records and errors as the
asyncio API, as plain calls, for Django views, Celery tasks, scripts and notebooks.

>>> import uuid, waypost.sync
>>> with waypost.sync.InMemoryCheckpointRepository() as repo:
...     repo.save_position("OrderProjection", 1000, uuid.uuid4(), "OrderPlaced")
...     repo.get_position("OrderProjection")
1000

Each call runs the asyncio API's call on an event loop of waypost's own (one daemon thread
per process, started at the first call, started again in a forked child) and waits for it
with the GIL released. So a call works from any thread, also from inside a running event
loop's thread (Jupyter, an async framework's sync hook), where ``asyncio.run()`` fails;
there it blocks that loop until it returns, as any plain call does. Ctrl+C while a call
waits raises ``KeyboardInterrupt`` at once; the call itself completes or fails whole, as
a cancelled ``await`` does. Calls made from inside waypost's own loop (from a callback
it runs) raise ``RuntimeError`` instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

import waypost

from ._manager import Claimed, _ClaimBlock
from ._progress import HealthReport, Progress
from ._waypost import CheckpointData, LagMetrics, _Repository

__all__ = [
    "CheckpointManager",
    "Checkpointer",
    "InMemoryCheckpointRepository",
    "MySQLCheckpointRepository",
    "PostgreSQLCheckpointRepository",
    "Repository",
    "SQLiteCheckpointRepository",
    "Transaction",
    "open",
]

T = TypeVar("T")


class _Loop:
    """The process's waypost loop thread, made at the first call and again after a fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="waypost-sync", daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    def on_it(self) -> bool:
        return threading.current_thread() is self._thread


_LOOP = _Loop()


def _run(call: Callable[[], Awaitable[T]]) -> T:
    """Runs ``call()`` on waypost's loop and waits for its result with the GIL released."""
    if _LOOP.on_it():
        raise RuntimeError("waypost.sync was called from waypost's own loop thread; use the asyncio API there")

    async def main() -> T:
        return await call()

    future = asyncio.run_coroutine_threadsafe(main(), _LOOP.get())
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise


class _Closes:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Transaction:
    """``with repo.transaction() as tx:``: the statements and checkpoint writes made through
    ``tx`` commit together when the block ends, and roll back together when it raises."""

    def __init__(self, aio: waypost.Transaction) -> None:
        self._aio = aio

    def begin(self) -> None:
        _run(self._aio.begin)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        return _run(lambda: self._aio.execute(sql, params))

    def fetch_all(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        return _run(lambda: self._aio.fetch_all(sql, params))

    def save_position(self, subscription_id: str, position: int, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.save_position(subscription_id, position, event_id, event_type))

    def update_checkpoint(self, projection_name: str, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.update_checkpoint(projection_name, event_id, event_type))

    def save_position_token(self, subscription_id: str, token: str, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.save_position_token(subscription_id, token, event_id, event_type))

    def commit(self) -> None:
        _run(self._aio.commit)

    def rollback(self) -> None:
        _run(self._aio.rollback)

    @property
    def is_open(self) -> bool:
        return self._aio.is_open

    def __enter__(self) -> Transaction:
        self.begin()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _run(lambda: self._aio.__aexit__(exc_type, exc, tb))

    def __repr__(self) -> str:
        return repr(self._aio).replace("waypost.", "waypost.sync.", 1)


class Repository(_Closes):
    """The checkpoint protocol as plain calls over one asyncio repository (``aio``)."""

    def __init__(self, aio: _Repository) -> None:
        self._aio = aio

    @property
    def aio(self) -> _Repository:
        """The asyncio repository underneath (the same store, the same connections)."""
        return self._aio

    def get_checkpoint(self, projection_name: str) -> UUID | None:
        return _run(lambda: self._aio.get_checkpoint(projection_name))

    def update_checkpoint(self, projection_name: str, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.update_checkpoint(projection_name, event_id, event_type))

    def get_position(self, subscription_id: str) -> int | None:
        return _run(lambda: self._aio.get_position(subscription_id))

    def save_position(self, subscription_id: str, position: int, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.save_position(subscription_id, position, event_id, event_type))

    def get_position_token(self, subscription_id: str) -> str | None:
        return _run(lambda: self._aio.get_position_token(subscription_id))

    def save_position_token(self, subscription_id: str, token: str, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.save_position_token(subscription_id, token, event_id, event_type))

    def get_lag_metrics(self, projection_name: str, event_types: Sequence[str] | None = None) -> LagMetrics | None:
        return _run(lambda: self._aio.get_lag_metrics(projection_name, event_types))

    def reset_checkpoint(self, projection_name: str) -> None:
        _run(lambda: self._aio.reset_checkpoint(projection_name))

    def get_all_checkpoints(self) -> list[CheckpointData]:
        return _run(self._aio.get_all_checkpoints)

    def checkpoint_statement(
        self, kind: str, name: str, event_id: UUID | str, event_type: str, **options: Any
    ) -> tuple[str, list[Any]]:
        return _run(lambda: self._aio.checkpoint_statement(kind, name, event_id, event_type, **options))

    def transaction(self) -> Transaction:
        return Transaction(self._aio.transaction())

    def stream_head(self) -> int | None:
        return _run(self._aio.stream_head)

    def create_events_table(self) -> None:
        _run(self._aio.create_events_table)

    def create_lag_index(self) -> None:
        _run(self._aio.create_lag_index)

    def append_events(self, events: Sequence[tuple[UUID | str, str, dt.datetime | None]]) -> None:
        _run(lambda: self._aio.append_events(events))

    def get_progress(self, projection_name: str, **options: Any) -> Progress:
        return _run(lambda: self._aio.get_progress(projection_name, **options))

    def get_all_progress(self, **options: Any) -> list[Progress]:
        return _run(lambda: self._aio.get_all_progress(**options))

    def get_health(self, projection_name: str | None = None, **options: Any) -> HealthReport:
        return _run(lambda: self._aio.get_health(projection_name, **options))

    def close(self) -> None:
        _run(self._aio.close)

    def __enter__(self) -> Repository:
        return self

    def __repr__(self) -> str:
        return repr(self._aio).replace("<waypost ", "<waypost.sync ", 1)


class InMemoryCheckpointRepository(Repository):
    """:class:`waypost.InMemoryCheckpointRepository`, as plain calls."""

    def __init__(self) -> None:
        super().__init__(waypost.InMemoryCheckpointRepository())


class SQLiteCheckpointRepository(Repository):
    """:class:`waypost.SQLiteCheckpointRepository` (the same keywords), as plain calls."""

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        super().__init__(waypost.SQLiteCheckpointRepository(path, **options))


class PostgreSQLCheckpointRepository(Repository):
    """:class:`waypost.PostgreSQLCheckpointRepository` (the same keywords), as plain calls."""

    def __init__(self, dsn: Any, **options: Any) -> None:
        super().__init__(waypost.PostgreSQLCheckpointRepository(dsn, **options))


class MySQLCheckpointRepository(Repository):
    """:class:`waypost.MySQLCheckpointRepository` (the same keywords), as plain calls."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(waypost.MySQLCheckpointRepository(url, **options))


def open(url: str, **options: Any) -> Repository:  # noqa: A001 - the asyncio API's name
    """:func:`waypost.open`, as plain calls."""
    return Repository(waypost.open(url, **options))


class Checkpointer(_Closes):
    """:class:`waypost.Checkpointer` (the same keywords), as plain calls; ``close()`` saves
    the last recorded position."""

    def __init__(self, store: Repository, projection_name: str, **options: Any) -> None:
        self._aio = waypost.Checkpointer(store.aio, projection_name, **options)

    def record(self, position: int, event_id: UUID | str, event_type: str) -> None:
        _run(lambda: self._aio.record(position, event_id, event_type))

    def flush(self) -> None:
        _run(self._aio.flush)

    def saves(self) -> int:
        return _run(self._aio.saves)

    def unsaved(self) -> int:
        return _run(self._aio.unsaved)

    def close(self) -> None:
        _run(self._aio.close)

    def __enter__(self) -> Checkpointer:
        return self


class _SyncClaim:
    def __init__(self, block: _ClaimBlock) -> None:
        self._block = block

    def __enter__(self) -> Claimed:
        return _run(self._block.__aenter__)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return _run(lambda: self._block.__aexit__(exc_type, exc, tb))


class CheckpointManager(_Closes):
    """:class:`waypost.CheckpointManager` (the same keywords), as plain calls. ``with
    manager.claim(url, type, timestamp) as c:`` completes the item when the block ends,
    fails it when it raises an ``Exception``, and releases it when it is interrupted
    (``KeyboardInterrupt``, ``SystemExit``); a claim lost in the background makes the
    block end with ``LeaseLostError``."""

    def __init__(self, store: Repository, **options: Any) -> None:
        self._aio = waypost.CheckpointManager(store.aio, **options)

    @classmethod
    def start(cls, store: Repository, **options: Any) -> CheckpointManager:
        """A manager that has reached its store (``CheckpointManager.start``)."""
        manager = cls(store, **options)
        _run(manager._aio._start)
        return manager

    def claim(self, url: str, file_type: str, timestamp: dt.datetime) -> _SyncClaim:
        return _SyncClaim(self._aio.claim(url, file_type, timestamp))

    def claim_file(self, url: str, file_type: str, timestamp: dt.datetime) -> bool:
        return _run(lambda: self._aio.claim_file(url, file_type, timestamp))

    def complete_file(self, url: str, **stats: int) -> None:
        _run(lambda: self._aio.complete_file(url, **stats))

    def fail_file(self, url: str, message: str) -> None:
        _run(lambda: self._aio.fail_file(url, message))

    def release_file(self, url: str) -> None:
        _run(lambda: self._aio.release_file(url))

    def is_processed(self, url: str) -> bool:
        return _run(lambda: self._aio.is_processed(url))

    def get_stats(self) -> dict[str, int]:
        return _run(self._aio.get_stats)

    def get_worker_id(self) -> str:
        return self._aio.get_worker_id()

    @property
    def mode(self) -> str:
        return self._aio.mode

    def close(self) -> None:
        _run(self._aio.close)

    def __enter__(self) -> CheckpointManager:
        return self

    def __repr__(self) -> str:
        return repr(self._aio).replace("waypost.", "waypost.sync.", 1)
