"""Objects never closed: repositories, managers, checkpointers and open transactions of
every backend, collected from another thread or still alive at interpreter exit. The
process must exit 0 without a panic (each runs in a child interpreter of its own)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import asyncio, datetime as dt, gc, sys, threading, uuid
    import waypost

    def opener(kind):
        if kind == "memory":
            return waypost.InMemoryCheckpointRepository()
        if kind == "sqlite":
            return waypost.SQLiteCheckpointRepository(sys.argv[2])
        if kind == "mysql":
            return waypost.MySQLCheckpointRepository(sys.argv[2])
        return waypost.PostgreSQLCheckpointRepository(sys.argv[2], schema=sys.argv[3])

    async def leave(kind):
        repo = opener(kind)
        await repo.save_position("p", 1, uuid.uuid4(), "T")
        manager = waypost.CheckpointManager(repo, worker_id="w")
        await manager.claim_file(f"{uuid.uuid4()}.csv", "csv", dt.datetime.now(dt.timezone.utc))
        checkpoints = waypost.Checkpointer(repo, "unsaved", every=100)
        await checkpoints.record(1, uuid.uuid4(), "T")
        objects = [repo, manager, checkpoints]
        if kind != "memory":
            tx = repo.transaction()
            await tx.__aenter__()
            await tx.save_position("tx", 1, uuid.uuid4(), "T")
            objects.append(tx)
        return objects

    for round in range(5):
        objects = asyncio.run(leave(sys.argv[1]))
        # Collected on another thread, with no event loop and no runtime context there.
        t = threading.Thread(target=lambda: (objects.clear(), gc.collect()))
        t.start()
        t.join()
    # And some left alive for interpreter exit.
    kept = asyncio.run(leave(sys.argv[1]))
    print("done")
    """
)


def run(*args: str) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "done"
    assert "panicked" not in out.stderr and "Tokio context" not in out.stderr, out.stderr[-2000:]


def test_memory_objects_collected_unclosed() -> None:
    run("memory")


def test_sqlite_objects_collected_unclosed(tmp_path: Path) -> None:
    run("sqlite", str(tmp_path / "unclosed.db"))


def test_postgres_objects_collected_unclosed(postgres_url: str, schema: str) -> None:
    run("postgres", postgres_url, schema)


def test_mysql_objects_collected_unclosed(mysql_database_url: str) -> None:
    run("mysql", mysql_database_url)
