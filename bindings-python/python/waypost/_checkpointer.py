"""Checkpointer: how often a projection saves its position."""

from __future__ import annotations

import asyncio

from ._closing import ClosesOnExit
from ._waypost import _Checkpointer

#: How long a cancelled ``close()`` keeps waiting for its final save before it gives up
#: waiting (the save itself runs on and is bounded by the store's own timeouts).
DRAIN_SECONDS = 10.0


class Checkpointer(ClosesOnExit, _Checkpointer):
    """Saves one projection's position by a strategy, with one write covering every event
    since the previous save.

    ``Checkpointer(repo, name)`` saves after every event; ``every=100`` after every 100;
    ``interval=1.0`` once a second (also when no new event arrives); both: whichever
    comes first. An error of a background save is raised by the next ``record``,
    ``flush`` or ``close``. ``close()`` always saves the last recorded position, also
    when the task awaiting it is cancelled (or Ctrl+C arrives): the save runs on and
    ``close`` waits up to ``DRAIN_SECONDS`` for it before letting the cancellation through.

    ``out_of_order=True`` is for handlers that run in parallel and finish in any order:
    ``begin(position)`` each event in stream order, ``await ack(position, event_id,
    event_type)`` when its handler is done. Only the frontier is saved (the highest
    acknowledged position below which every begun one is acknowledged, see
    ``waypost.Frontier``), so a crash never leaves the checkpoint past an unfinished event;
    ``in_flight`` counts begun events not acknowledged yet. ``record`` is refused there.

    >>> import asyncio, uuid, waypost
    >>> async def main():
    ...     repo = waypost.InMemoryCheckpointRepository()
    ...     async with waypost.Checkpointer(repo, "orders", every=100) as checkpoints:
    ...         for position in range(1, 251):
    ...             await checkpoints.record(position, uuid.uuid4(), "OrderPlaced")
    ...     return await repo.get_position("orders")
    >>> asyncio.run(main())
    250
    """

    async def close(self) -> None:
        """Stops the tick and saves the last recorded position."""
        task = asyncio.ensure_future(self._close_task())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # The save goes on; wait for it (bounded) before letting the cancellation through.
            try:
                await asyncio.wait_for(asyncio.shield(task), DRAIN_SECONDS)
            except BaseException:
                pass
            raise
