"""The core's warnings reach Python's ``logging`` (logger ``waypost``, the warning's code
as ``record.waypost_code``), from the thread they occur on."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import uuid
from pathlib import Path

import pytest

import waypost


async def test_a_checkpointer_dropped_unsaved_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    repo = waypost.InMemoryCheckpointRepository()
    checkpoints = waypost.Checkpointer(repo, "orders", every=100)
    for position in range(1, 4):
        await checkpoints.record(position, uuid.uuid4(), "OrderPlaced")
    with caplog.at_level(logging.WARNING, logger="waypost"):
        del checkpoints
        gc.collect()
    records = [r for r in caplog.records if r.name == "waypost"]
    assert [r.waypost_code for r in records] == ["checkpointer_unsaved"]  # type: ignore[attr-defined]
    assert "3 event(s) will be handled again" in records[0].getMessage()
    assert "projection=orders" in records[0].getMessage()
    assert records[0].levelno == logging.WARNING


async def test_the_claims_fallback_logs_beside_its_runtime_warning(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "gone.db")
    await repo.close()  # every call is now Unavailable, as for a dropped server
    manager = waypost.CheckpointManager(repo, worker_id="w", fallback_to_memory=True)
    with caplog.at_level(logging.WARNING, logger="waypost"), pytest.warns(RuntimeWarning, match="memory"):
        assert await manager.claim_file("a.csv", "csv", dt.datetime.now(dt.timezone.utc))
    codes = [getattr(r, "waypost_code", None) for r in caplog.records if r.name == "waypost"]
    assert codes == ["claims_fallback"], caplog.records
    await manager.close()


def test_repositories_and_managers_never_closed_warn(tmp_path: Path) -> None:
    """As CPython's own files and sockets: ResourceWarning at collection, not for the
    in-memory repository (it holds nothing), not after close()."""
    import asyncio

    async def leave_open() -> None:
        repo = waypost.SQLiteCheckpointRepository(tmp_path / "open.db")
        manager = waypost.CheckpointManager(repo, worker_id="w")
        await manager.claim_file("a.csv", "csv", dt.datetime.now(dt.timezone.utc))
        memory = waypost.InMemoryCheckpointRepository()
        await memory.save_position("p", 1, uuid.uuid4(), "T")
        closed = waypost.SQLiteCheckpointRepository(tmp_path / "closed.db")
        await closed.close()
        del repo, manager, memory, closed

    with pytest.warns(ResourceWarning) as caught:
        asyncio.run(leave_open())
        gc.collect()
    texts = sorted(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))
    assert len(texts) == 2, texts
    assert texts[0].startswith("unclosed waypost.CheckpointManager(worker_id=\"w\")")
    assert texts[1].startswith("unclosed waypost.SQLiteCheckpointRepository(") and "open.db" in texts[1]
