"""One process that leaves waypost busy at exit, run many times by ``make
python-exit-check``: every run must exit 0, with no crash while the interpreter tears
down. ``exit_probe.py N DIR`` varies what is in flight by N and keeps its SQLite files
in DIR.

Each run opens every store it can reach (memory, an SQLite file, and PostgreSQL and MySQL
when WAYPOST_TEST_POSTGRES_URL / WAYPOST_TEST_MYSQL_URL name them), writes and reads,
holds a work claim with its heartbeat running, keeps a checkpointer with unsaved events,
and leaves calls in flight on every store, none of them closed. Then it exits one of three
ways: by returning from ``asyncio.run`` (which cancels the calls), by ``sys.exit`` inside
the loop, or with a thread still calling ``waypost.sync`` when the main thread ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import tempfile
import threading
import uuid

import waypost
import waypost.sync

RUN = int(sys.argv[1]) if len(sys.argv) > 1 else 0
TABLE = f"exit_probe_{os.getpid()}_{RUN}"
DIR = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="waypost-exit-")


def stores() -> list[waypost.CheckpointRepository]:
    found: list[waypost.CheckpointRepository] = [
        waypost.InMemoryCheckpointRepository(),
        waypost.SQLiteCheckpointRepository(os.path.join(DIR, "probe.db")),
    ]
    if url := os.environ.get("WAYPOST_TEST_POSTGRES_URL"):
        found.append(waypost.PostgreSQLCheckpointRepository(url, table=TABLE, events_table=None))
    if url := os.environ.get("WAYPOST_TEST_MYSQL_URL"):
        found.append(waypost.MySQLCheckpointRepository(url, table=TABLE, events_table=None))
    return found


def sync_caller(stop: threading.Event) -> None:
    repo = waypost.sync.SQLiteCheckpointRepository(os.path.join(DIR, "sync.db"))
    position = 0
    while not stop.is_set():
        position += 1
        repo.save_position("SyncProjection", position, uuid.uuid4(), "Tick")


async def main() -> None:
    repos = stores()
    for position, repo in enumerate(repos, start=1):
        await repo.save_position("ExitProbe", position, uuid.uuid4(), "Probed")
        assert await repo.get_position("ExitProbe") == position
        await repo.get_all_checkpoints()
    for repo in repos[2:]:
        # The server keeps nothing of the run: the table goes now, the pools stay open.
        async with repo.transaction() as tx:
            await tx.execute(f"DROP TABLE {TABLE}")
    manager = waypost.CheckpointManager(repos[1], worker_id=f"probe-{RUN}", lease_ms=30_000)
    assert await manager.claim_file("file:///probe.csv", "csv", dt.datetime.now(dt.timezone.utc))
    checkpointer = waypost.Checkpointer(repos[0], "Unsaved", every=1000)
    await checkpointer.record(1, uuid.uuid4(), "Pending")
    in_flight = [asyncio.ensure_future(repo.get_position("ExitProbe")) for repo in repos]
    in_flight.append(asyncio.ensure_future(asyncio.sleep(0)))
    if RUN % 3 == 1:
        sys.exit(0)
    if RUN % 3 == 2:
        stop = threading.Event()
        thread = threading.Thread(target=sync_caller, args=(stop,), daemon=True)
        thread.start()
        await asyncio.sleep(0.05)


asyncio.run(main())
