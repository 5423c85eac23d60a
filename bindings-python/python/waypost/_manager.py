"""CheckpointManager: per-item work claims for file and queue workers.

Each item (a file URL, a message id) is processed by exactly one live worker, retried a
bounded number of times, and never stuck because a worker died: claims carry leases that
the manager renews in the background, and fencing epochs so that a worker that comes back
late cannot overwrite the one that took over. The rules live in waypost's core; see
``waypost.CheckpointManager.claim_file``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from types import TracebackType
from typing import Any

from ._closing import ClosesOnExit
from ._errors import LeaseLostError
from ._waypost import MAX_MESSAGE_CHARS, _CheckpointManager


class Claimed:
    """What ``async with manager.claim(...)`` gives: whether the item is this worker's,
    and the figures to report when the block finishes."""

    __slots__ = ("url", "claimed", "total_rows", "filtered_rows", "persisted_rows")

    def __init__(self, url: str, claimed: bool) -> None:
        self.url = url
        self.claimed = claimed
        self.total_rows = 0
        self.filtered_rows = 0
        self.persisted_rows = 0

    def __bool__(self) -> bool:
        return self.claimed

    def __repr__(self) -> str:
        return f"Claimed(url={self.url!r}, claimed={self.claimed})"


class _ClaimBlock:
    def __init__(self, manager: CheckpointManager, url: str, file_type: str, timestamp: dt.datetime) -> None:
        self._manager = manager
        self._args = (url, file_type, timestamp)
        self._claimed: Claimed | None = None
        self._started = 0.0
        self._watcher: asyncio.Task[None] | None = None
        self._lost: LeaseLostError | None = None

    async def __aenter__(self) -> Claimed:
        import time

        url = self._args[0]
        self._claimed = Claimed(url, await self._manager.claim_file(*self._args))
        self._started = time.monotonic()
        if self._claimed.claimed:
            self._watcher = asyncio.ensure_future(self._watch(url, asyncio.current_task()))
        return self._claimed

    async def _watch(self, url: str, body: asyncio.Task[object] | None) -> None:
        # A claim lost in the background cancels the block at once: what it would write
        # for the item is refused anyway, and another worker may have it by now.
        try:
            await self._manager.lease_lost(url)
        except LeaseLostError as lost:
            self._lost = lost
            if body is not None:
                body.cancel(str(lost))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        import time

        if self._watcher is not None:
            self._watcher.cancel()
        c = self._claimed
        if c is None or not c.claimed:
            return False
        if self._lost is not None:
            # The cancellation was ours: the block ends with the loss instead.
            task = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and task is not None and hasattr(task, "uncancel"):
                task.uncancel()
            raise self._lost from exc
        if exc is None:
            await self._manager.complete_file(
                c.url,
                total_rows=c.total_rows,
                filtered_rows=c.filtered_rows,
                persisted_rows=c.persisted_rows,
                duration_ms=int((time.monotonic() - self._started) * 1000),
            )
        elif isinstance(exc, Exception):
            await self._manager.fail_file(c.url, f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE_CHARS])
        else:
            # Interrupted, not failed (CancelledError, KeyboardInterrupt, SystemExit): the
            # item goes back without spending an attempt. Shielded, so that a second
            # cancellation while the release is under way cannot leave the item held.
            await asyncio.shield(self._manager.release_file(c.url))
        return False


class CheckpointManager(ClosesOnExit, _CheckpointManager):
    """Per-item work claims for one worker over a repository's store.

    >>> import asyncio, datetime as dt, waypost
    >>> async def main():
    ...     manager = waypost.CheckpointManager(waypost.InMemoryCheckpointRepository(), worker_id="w1")
    ...     async with manager.claim("s3://bucket/a.csv", "csv", dt.datetime.now(dt.timezone.utc)) as c:
    ...         if c:
    ...             c.total_rows = c.persisted_rows = 3
    ...     done = await manager.is_processed("s3://bucket/a.csv")
    ...     await manager.close()
    ...     return done
    >>> asyncio.run(main())
    True
    """

    @classmethod
    async def start(cls, store: Any, **options: Any) -> CheckpointManager:
        """A manager that has reached its store: ``await CheckpointManager.start(repo, …)``
        (the constructor's keywords) raises at once when the store cannot be reached, or
        falls back to memory, saying so, with ``fallback_to_memory=True``. The constructor
        waits for the first call instead; until the store has answered, ``mode`` is
        ``"pending"``."""
        manager = cls(store, **options)
        await manager._start()
        return manager

    def claim(self, url: str, file_type: str, timestamp: dt.datetime) -> _ClaimBlock:
        """``async with manager.claim(url, type, timestamp) as c:`` claims the item; if
        ``c.claimed`` (also ``bool(c)``), the block is this worker's to run. A block that
        finishes completes the item with ``c.total_rows`` … and its duration; one that
        raises an ``Exception`` fails it with the exception's text (and the exception
        propagates). One that is interrupted (the task cancelled, ``KeyboardInterrupt``,
        ``SystemExit``) releases the item without counting an attempt, so a worker pool
        stopped by SIGTERM spends none of its items' retries. A claim lost in the
        background (taken over, or its lease run out while the store was unreachable)
        cancels the block at once, which then raises ``LeaseLostError``."""
        return _ClaimBlock(self, url, file_type, timestamp)

