"""CheckpointManager from Python: claims by URL on every backend, the ``claim`` block,
typed errors and bad input, and the explicit fallback to memory."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

import waypost

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


async def test_claims_by_url(store: Any) -> None:
    a = waypost.CheckpointManager(store, worker_id="a")
    b = waypost.CheckpointManager(store, worker_id="b")
    assert await a.claim_file("s3://b/one.csv", "csv", NOW) is True
    assert await b.claim_file("s3://b/one.csv", "csv", NOW) is False
    with pytest.raises(waypost.LeaseLostError):
        await b.complete_file("s3://b/one.csv", total_rows=1)
    await a.complete_file("s3://b/one.csv", total_rows=5, filtered_rows=1, persisted_rows=4, duration_ms=12)
    assert await b.is_processed("s3://b/one.csv")
    with pytest.raises(waypost.LeaseLostError):
        await a.complete_file("s3://b/one.csv")

    assert await a.claim_file("s3://b/two.csv", "csv", NOW)
    await a.fail_file("s3://b/two.csv", "bad header")
    assert await b.claim_file("s3://b/two.csv", "csv", NOW), "a failed file is retried"
    await b.release_file("s3://b/two.csv")
    assert await a.get_stats() == {"total": 2, "processing": 1, "completed": 1, "failed": 0}
    assert a.mode == "store"
    await a.close()
    await b.close()


async def test_mode_is_pending_until_the_store_answered(tmp_path: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "m.db")
    lazy = waypost.CheckpointManager(repo, worker_id="w1")
    assert lazy.mode == "pending"
    assert lazy.get_worker_id() == "w1"
    started = await waypost.CheckpointManager.start(repo, worker_id="w2")
    assert started.mode == "store"
    assert not await lazy.is_processed("x")
    assert lazy.mode == "store"
    await lazy.close()
    await started.close()
    await repo.close()


async def test_start_fails_at_once_when_the_store_is_gone() -> None:
    gone = unreachable()
    with pytest.raises(waypost.UnavailableError):
        await waypost.CheckpointManager.start(gone)
    with pytest.warns(RuntimeWarning, match="memory"):
        fallback = await waypost.CheckpointManager.start(gone, fallback_to_memory=True)
    assert fallback.mode == "memory"
    await fallback.close()
    await gone.close()


async def test_the_claim_block_completes_or_fails(store: Any) -> None:
    async with waypost.CheckpointManager(store, worker_id="w") as manager:
        async with manager.claim("ok.csv", "csv", NOW) as c:
            assert c and c.claimed
            c.total_rows, c.persisted_rows = 3, 3
        assert await manager.is_processed("ok.csv")

        with pytest.raises(ZeroDivisionError):
            async with manager.claim("bad.csv", "csv", NOW) as c:
                assert c
                1 / 0
        assert not await manager.is_processed("bad.csv")
        assert await manager.get_stats() == {"total": 2, "processing": 0, "completed": 1, "failed": 1}

        ran = False
        async with manager.claim("ok.csv", "csv", NOW) as c:
            ran = True
            assert not c, "a completed file is not claimed again"
        assert ran


async def test_a_cancelled_claim_block_releases_without_spending_an_attempt(store: Any) -> None:
    manager = waypost.CheckpointManager(store, worker_id="stopping", max_retries=0)
    inside = asyncio.Event()

    async def work() -> None:
        async with manager.claim("held.csv", "csv", NOW) as c:
            assert c
            inside.set()
            await asyncio.Event().wait()  # until cancelled, as a SIGTERM'd pool is

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ledger = waypost.ClaimLedger(store)
    record = await ledger.get("held.csv")
    assert record is not None
    assert record["status"] != "failed" and record["error_message"] is None, record
    # With no retries at all, the item is still there to be claimed: no attempt was spent.
    other = waypost.CheckpointManager(store, worker_id="next", max_retries=0)
    assert await other.claim_file("held.csv", "csv", NOW)
    await other.complete_file("held.csv")
    await other.close()
    await manager.close()


async def test_keyboard_interrupt_in_a_claim_block_releases_the_item(store: Any) -> None:
    manager = waypost.CheckpointManager(store, worker_id="ctrl-c", max_retries=0)
    with pytest.raises(KeyboardInterrupt):
        async with manager.claim("ctrl-c.csv", "csv", NOW) as c:
            assert c
            raise KeyboardInterrupt
    other = waypost.CheckpointManager(store, worker_id="next", max_retries=0)
    assert await other.claim_file("ctrl-c.csv", "csv", NOW), "the interrupted item was released, not failed"
    await other.close()
    await manager.close()


async def take_over(store: Any, url: str, by: waypost.CheckpointManager) -> None:
    """Another worker takes the item: the holder's claim is released behind its back
    through a ledger of the same store, and claimed anew."""
    ledger = waypost.ClaimLedger(store)
    record = await ledger.get(url)
    assert record is not None
    await ledger.release(
        {
            "key": url,
            "worker_id": record["worker_id"],
            "epoch": record["epoch"],
            "attempt": record["retry_count"] + 1,
            "lease_expires_at": record["lease_expires_at"],
        }
    )
    assert await by.claim_file(url, "csv", NOW)


async def test_a_claim_lost_in_the_background_cancels_the_block(store: Any) -> None:
    holder = waypost.CheckpointManager(store, worker_id="holder", lease_ms=300)
    thief = waypost.CheckpointManager(store, worker_id="thief")
    inside = asyncio.Event()
    reached_the_end = False

    async def work() -> None:
        nonlocal reached_the_end
        async with holder.claim("taken.csv", "csv", NOW) as c:
            assert c
            inside.set()
            await asyncio.Event().wait()  # cancelled by the loss, not by the test
            reached_the_end = True

    task = asyncio.create_task(work())
    await inside.wait()
    await take_over(store, "taken.csv", thief)
    with pytest.raises(waypost.LeaseLostError, match="heartbeat"):
        await asyncio.wait_for(task, 30)
    assert not reached_the_end
    # The next call on the item says so too, and the new holder is untouched.
    with pytest.raises(waypost.LeaseLostError):
        await holder.complete_file("taken.csv")
    await thief.complete_file("taken.csv")
    assert await holder.is_processed("taken.csv")
    await holder.close()
    await thief.close()


async def test_lease_lost_returns_when_the_claim_ends(store: Any) -> None:
    m = waypost.CheckpointManager(store, worker_id="w")
    assert await m.lease_lost("never-claimed.csv") is None
    assert await m.claim_file("done.csv", "csv", NOW)
    watcher = asyncio.ensure_future(m.lease_lost("done.csv"))
    await m.complete_file("done.csv")
    assert await asyncio.wait_for(watcher, 30) is None
    await m.close()


async def test_a_file_failing_every_time_is_tried_max_retries_plus_one_times() -> None:
    manager = waypost.CheckpointManager(waypost.InMemoryCheckpointRepository(), max_retries=2)
    attempts = 0
    while await manager.claim_file("flaky.csv", "csv", NOW):
        attempts += 1
        await manager.fail_file("flaky.csv", f"attempt {attempts}")
    assert attempts == 3
    await manager.close()


async def test_bad_input_is_refused() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    for bad in ({"lease_ms": 0}, {"max_retries": 5000}, {"table": "bad table"}, {"worker_id": ""}):
        with pytest.raises(waypost.InvalidArgumentError):
            waypost.CheckpointManager(repo, **bad)
    with pytest.raises(TypeError):
        waypost.CheckpointManager(object())  # type: ignore[arg-type]
    manager = waypost.CheckpointManager(repo)
    with pytest.raises(waypost.InvalidArgumentError):
        await manager.claim_file("", "csv", NOW)
    with pytest.raises(waypost.InvalidArgumentError):
        await manager.claim_file("x" * 2049, "csv", NOW)
    with pytest.raises(TypeError, match="url"):
        await manager.claim_file(42, "csv", NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timestamp"):
        await manager.claim_file("a.csv", "csv", "yesterday")  # type: ignore[arg-type]
    assert await manager.claim_file("a.csv", "csv", NOW)
    with pytest.raises(waypost.InvalidArgumentError):
        await manager.complete_file("a.csv", total_rows=-1)
    await manager.complete_file("a.csv", total_rows=1)
    assert await manager.get_stats() == {"total": 1, "processing": 0, "completed": 1, "failed": 0}
    await manager.close()


def test_the_default_worker_id() -> None:
    manager = waypost.CheckpointManager(waypost.InMemoryCheckpointRepository())
    assert re.fullmatch(r"worker_\d{13}_[a-z0-9]{6}", manager.get_worker_id())
    assert "worker_" in repr(manager)


def unreachable() -> Any:
    return waypost.PostgreSQLCheckpointRepository("postgres://nobody@127.0.0.1:1/none", connect_timeout=2.0)


async def test_an_unreachable_store_raises_without_fallback() -> None:
    store = unreachable()
    manager = waypost.CheckpointManager(store)
    with pytest.raises(waypost.UnavailableError):
        await manager.claim_file("a.csv", "csv", NOW)
    await store.close()


async def test_fallback_to_memory_warns_once_and_shows() -> None:
    store = unreachable()
    manager = waypost.CheckpointManager(store, fallback_to_memory=True)
    with pytest.warns(RuntimeWarning, match="memory"):
        assert await manager.claim_file("a.csv", "csv", NOW)
    assert manager.mode == "memory"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        await manager.complete_file("a.csv")
    assert await manager.is_processed("a.csv")
    await manager.close()
    await store.close()
