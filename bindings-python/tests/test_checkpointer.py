"""Checkpointer from Python: saves when the strategy says, one write covering the events
since the last, the final save on close, also when the closing task is cancelled."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

import waypost


async def processed(repo: Any, name: str) -> int:
    return next(c.events_processed for c in await repo.get_all_checkpoints() if c.projection_name == name)


async def test_every_three(store: Any) -> None:
    c = waypost.Checkpointer(store, "every3", every=3)
    for p in (1, 2):
        await c.record(p, uuid.uuid4(), "T")
    assert await store.get_position("every3") is None
    await c.record(3, uuid.uuid4(), "T")
    assert await store.get_position("every3") == 3
    for p in range(4, 8):
        await c.record(p, str(uuid.uuid4()), "T")
    assert (await store.get_position("every3"), await c.saves(), await c.unsaved()) == (6, 2, 1)
    await c.close()
    assert await store.get_position("every3") == 7
    assert await processed(store, "every3") == 7
    with pytest.raises(waypost.InvalidArgumentError):
        await c.record(8, uuid.uuid4(), "T")


async def test_parallel_handlers_out_of_order(store: Any) -> None:
    c = waypost.Checkpointer(store, "parallel", every=2, out_of_order=True)
    done: set[int] = set()

    async def handle(position: int) -> None:
        await asyncio.sleep(0)  # the handlers finish in the order they were started
        done.add(position)
        await c.ack(position, uuid.uuid4(), "T")
        stored = await store.get_position("parallel") or 0
        first_unfinished = min(set(range(1, 41)) - done, default=41)
        assert stored < first_unfinished, f"stored {stored} passed {first_unfinished}, still being handled"

    tasks = []
    for position in range(1, 41):
        c.begin(position)
    for position in sorted(range(1, 41), key=lambda p: p * 7919 % 41):  # a fixed shuffle
        tasks.append(asyncio.ensure_future(handle(position)))
    await asyncio.gather(*tasks)
    assert (await store.get_position("parallel"), c.in_flight) == (40, 0)
    assert await processed(store, "parallel") == 40
    with pytest.raises(waypost.InvalidArgumentError):
        c.begin(40)
    with pytest.raises(waypost.InvalidArgumentError):
        await c.ack(7, uuid.uuid4(), "T")
    with pytest.raises(waypost.InvalidArgumentError):
        await c.record(41, uuid.uuid4(), "T")
    c.begin(42)
    c.begin(43)
    await c.ack(43, uuid.uuid4(), "T")
    await c.close()
    assert (await store.get_position("parallel"), c.in_flight) == (40, 1), "42 never finished"
    ordered = waypost.Checkpointer(store, "ordered")
    with pytest.raises(waypost.InvalidArgumentError):
        ordered.begin(1)
    await ordered.close()


async def test_every_event_is_the_default() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    async with waypost.Checkpointer(repo, "each") as c:
        for p in range(5):
            await c.record(p, uuid.uuid4(), "T")
            assert await repo.get_position("each") == p
    assert await c.saves() == 5


async def test_a_long_interval_saves_only_on_close() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    c = waypost.Checkpointer(repo, "hourly", interval=3600.0)
    for p in range(1, 101):
        await c.record(p, uuid.uuid4(), "T")
    assert await repo.get_position("hourly") is None
    await c.close()
    assert (await repo.get_position("hourly"), await processed(repo, "hourly")) == (100, 100)


async def test_cancelling_close_still_saves(store: Any) -> None:
    c = waypost.Checkpointer(store, "cancelled", every=1000)
    for p in range(1, 11):
        await c.record(p, uuid.uuid4(), "T")
    closing = asyncio.ensure_future(c.close())
    await asyncio.sleep(0)  # close has started
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    # close() waited for its save before letting the cancellation through.
    assert await store.get_position("cancelled") == 10
    assert await processed(store, "cancelled") == 10


async def test_bad_input_is_refused() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    for bad in ({"every": 0}, {"interval": 0.0}, {"interval": -1.0}):
        with pytest.raises(waypost.InvalidArgumentError):
            waypost.Checkpointer(repo, "x", **bad)
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.Checkpointer(repo, "")
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.Checkpointer(repo, "x", every=-1)
    c = waypost.Checkpointer(repo, "x", every=2)
    with pytest.raises(waypost.InvalidArgumentError):
        await c.record(-1, uuid.uuid4(), "T")
    with pytest.raises(TypeError):
        await c.record("1", uuid.uuid4(), "T")  # type: ignore[arg-type]
    assert await c.unsaved() == 0
    await c.close()
