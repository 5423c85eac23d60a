"""waypost.sync as its users call it: from many threads at once, from inside a running
event loop's thread (where ``asyncio.run()`` fails), in a forked child, with the claim
block's three endings, and with every write visible to another process while the
repository is still open. The shared cases run through it in tests/python/test_conformance.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

import waypost
import waypost.sync

NOW = dt.datetime.now(dt.timezone.utc)


def _read_position(path: Path, name: str) -> int | None:
    """The stored position as another process reads it (Python's own sqlite3)."""
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "r = c.execute('SELECT global_position FROM projection_checkpoints WHERE projection_name = ?', "
        "(sys.argv[2],)).fetchone(); print(r[0] if r else None)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path), name], capture_output=True, text=True, check=True)
    return None if out.stdout.strip() == "None" else int(out.stdout)


def test_plain_calls_from_many_threads_are_durable_at_once(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with waypost.sync.SQLiteCheckpointRepository(path, events_table=None) as repo:
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                for position in range(1, 51):
                    repo.save_position(f"w{n}", position, uuid.uuid4(), "Tick")
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [repo.get_position(f"w{n}") for n in range(8)] == [50] * 8
        assert _read_position(path, "w7") == 50, "another process sees it while the repository is open"
        assert [c.events_processed for c in repo.get_all_checkpoints()] == [50] * 8


async def test_plain_calls_work_inside_a_running_event_loop(tmp_path: Path) -> None:
    """Where ``asyncio.run()`` would raise: the call blocks this loop until it returns."""
    with pytest.raises(RuntimeError):
        asyncio.run(waypost.InMemoryCheckpointRepository().get_position("x"))  # type: ignore[arg-type]
    with waypost.sync.SQLiteCheckpointRepository(tmp_path / "c.db", events_table=None) as repo:
        repo.save_position("InLoop", 3, uuid.uuid4(), "T")
        with repo.transaction() as tx:
            tx.save_position("InLoop", 4, uuid.uuid4(), "T")
            tx.execute("CREATE TABLE read_model (id INTEGER PRIMARY KEY)")
            tx.execute("INSERT INTO read_model (id) VALUES ($1)", [1])
        assert repo.get_position("InLoop") == 4
        with pytest.raises(ZeroDivisionError), repo.transaction() as tx:
            tx.save_position("InLoop", 5, uuid.uuid4(), "T")
            1 / 0
        assert repo.get_position("InLoop") == 4, "the raising block rolled back"
        assert repo.aio is not None and "waypost.sync" in repr(repo)


def test_errors_and_records_are_the_asyncio_apis() -> None:
    with waypost.sync.open("memory:") as repo:
        with pytest.raises(waypost.InvalidArgumentError):
            repo.save_position("", 1, uuid.uuid4(), "T")
        with pytest.raises(waypost.InvalidArgumentError):
            repo.save_position("p", -1, uuid.uuid4(), "T")
        with pytest.raises(TypeError):
            repo.save_position("p", "1", uuid.uuid4(), "T")  # type: ignore[arg-type]
        repo.update_checkpoint("p", uuid.uuid4(), "T")
        [data] = repo.get_all_checkpoints()
        assert isinstance(data, waypost.CheckpointData) and data.events_processed == 1
    with pytest.raises(waypost.UnavailableError):
        repo.get_position("p")


def test_a_call_from_waypost_own_loop_raises_instead_of_deadlocking() -> None:
    repo = waypost.sync.InMemoryCheckpointRepository()
    repo.get_position("warm")  # the loop exists
    outcome: list[BaseException | int | None] = []
    done = threading.Event()

    def on_the_loop() -> None:
        try:
            outcome.append(repo.get_position("x"))
        except BaseException as e:
            outcome.append(e)
        done.set()

    waypost.sync._LOOP.get().call_soon_threadsafe(on_the_loop)
    assert done.wait(30)
    assert isinstance(outcome[0], RuntimeError), outcome


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_gets_a_loop_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    repo = waypost.sync.SQLiteCheckpointRepository(path, events_table=None)
    repo.save_position("Parent", 1, uuid.uuid4(), "T")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            with waypost.sync.SQLiteCheckpointRepository(path, events_table=None) as child:
                child.save_position("Child", 2, uuid.uuid4(), "T")
                code = 0 if child.get_position("Parent") == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert repo.get_position("Child") == 2
    repo.save_position("Parent", 3, uuid.uuid4(), "T")
    assert _read_position(path, "Parent") == 3
    repo.close()


def test_claim_blocks_complete_fail_and_release(tmp_path: Path) -> None:
    repo = waypost.sync.SQLiteCheckpointRepository(tmp_path / "c.db", events_table=None)
    with waypost.sync.CheckpointManager.start(repo, worker_id="w1", max_retries=3) as manager:
        assert manager.mode == "store" and manager.get_worker_id() == "w1"
        with manager.claim("s3://b/done.csv", "csv", NOW) as c:
            assert c
            c.total_rows = c.persisted_rows = 2
        assert manager.is_processed("s3://b/done.csv")
        with pytest.raises(ValueError), manager.claim("s3://b/bad.csv", "csv", NOW) as c:
            raise ValueError("row 7")
        with pytest.raises(KeyboardInterrupt), manager.claim("s3://b/stopped.csv", "csv", NOW) as c:
            raise KeyboardInterrupt
        # As in the asyncio API, a released item counts as processing until claimed again.
        assert manager.get_stats() == {"total": 3, "processing": 1, "completed": 1, "failed": 1}
    other = waypost.sync.CheckpointManager(repo, worker_id="w2")
    assert other.claim_file("s3://b/stopped.csv", "csv", NOW), "released, not failed: claimable at once"
    assert not other.claim_file("s3://b/done.csv", "csv", NOW)
    other.close()
    ledger = waypost.ClaimLedger(repo.aio)
    record = waypost.sync._run(lambda: ledger.get("s3://b/bad.csv"))
    assert record is not None and record["error_message"] == "ValueError: row 7"
    repo.close()


def test_checkpointer_saves_by_strategy_and_at_close(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with waypost.sync.SQLiteCheckpointRepository(path, events_table=None) as repo:
        with waypost.sync.Checkpointer(repo, "Orders", every=10) as checkpoints:
            for position in range(1, 26):
                checkpoints.record(position, uuid.uuid4(), "OrderPlaced")
            assert repo.get_position("Orders") == 20 and checkpoints.unsaved() == 5
        assert repo.get_position("Orders") == 25, "close saved the last position"
        assert _read_position(path, "Orders") == 25
        assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
