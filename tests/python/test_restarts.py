"""Server faults from Python: a PostgreSQL cluster of this module's own
(``tests/support/pg-throwaway.sh``) restarted twice under a writing loop, a transaction in
flight across a restart, and a stopped server.

Every call returns or raises ``waypost.UnavailableError``; the same repository object
recovers by itself; no acknowledged write is lost (another process, ``psql``, reads the
result); a stopped server fails typed within ``connect_timeout``. The restarts are driven
by the test and synchronised on the number of acknowledged writes, never on sleeps.
Without initdb/pg_ctl these tests are skipped, and under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import waypost

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "pg-throwaway.sh"
CONNECT_TIMEOUT = 2.0
MARGIN = 5.0  # slack on a call that must fail: a bound on a failure, not a timing test
NAME = "RestartLoop"
FIRST_RESTART_AT, SECOND_RESTART_AT, AFTER_SECOND = 50, 150, 200
MAX_ATTEMPTS = 100_000


@dataclass
class Cluster:
    dir: str
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    async def control(self, action: str, mode: str | None = None) -> None:
        """``pg-throwaway.sh ACTION DIR [MODE]`` without blocking the event loop's writer."""
        args = [str(SCRIPT), action, self.dir, *([mode] if mode else [])]
        proc = await asyncio.create_subprocess_exec(
            "bash", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        assert proc.returncode == 0, f"pg-throwaway.sh {action}: {err.decode()}"

    def psql(self, sql: str) -> str:
        """What the server holds, read by another process on a connection of its own."""
        done = subprocess.run(
            ["psql", "-X", "-w", "-v", "ON_ERROR_STOP=1", self.url, "-Atc", sql],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture(scope="module")
def cluster(pg_throwaway: Callable[[str, str], tuple[str, int]]) -> Cluster:
    return Cluster(*pg_throwaway("create", "server-fault tests"))


def _repository(url: str) -> Any:
    return waypost.PostgreSQLCheckpointRepository(url, events_table=None, connect_timeout=CONNECT_TIMEOUT)


@dataclass
class Tally:
    acknowledged: int = 0
    last_acknowledged: int = 0
    attempted: int = 0
    unavailable: int = 0
    wrong: list[str] = field(default_factory=list)  # other errors, calls that never ended


async def _write_loop(
    repo: Any, t: Tally, reached: dict[int, asyncio.Event], stop_at: list[int], deadline: float
) -> None:
    """Saves positions 1, 2, 3, … until ``stop_at[0]`` acknowledged writes (set by the
    test), the deadline or MAX_ATTEMPTS; sets ``reached[k]`` once k writes are acknowledged."""
    while t.acknowledged < stop_at[0] and time.monotonic() < deadline and t.attempted < MAX_ATTEMPTS:
        t.attempted += 1
        n = t.attempted
        try:
            await asyncio.wait_for(repo.save_position(NAME, n, uuid.uuid4(), "Tick"), CONNECT_TIMEOUT + MARGIN)
        except waypost.UnavailableError as e:
            assert e.code == "Unavailable"
            t.unavailable += 1
        except TimeoutError:
            t.wrong.append(f"save_position({n}) neither returned nor raised within {CONNECT_TIMEOUT + MARGIN} s")
        except Exception as e:  # noqa: BLE001 - every other error is what the test reports
            t.wrong.append(f"save_position({n}): {e!r}")
        else:
            t.acknowledged += 1
            t.last_acknowledged = n
            for threshold, event in reached.items():
                if t.acknowledged >= threshold:
                    event.set()
        if len(t.wrong) >= 5:
            break


async def test_two_restarts_under_a_writing_loop_lose_no_acknowledged_write(cluster: Cluster) -> None:
    started = time.monotonic()
    deadline = started + 45
    repo = _repository(cluster.url)
    t = Tally()
    reached = {FIRST_RESTART_AT: asyncio.Event(), SECOND_RESTART_AT: asyncio.Event()}
    stop_at = [2**62]
    writer = asyncio.create_task(_write_loop(repo, t, reached, stop_at, deadline))
    restarts = 0
    try:
        for threshold, mode in ((FIRST_RESTART_AT, "fast"), (SECOND_RESTART_AT, "immediate")):
            waiter = asyncio.create_task(reached[threshold].wait())
            await asyncio.wait({waiter, writer}, timeout=max(0.0, deadline - time.monotonic()),
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            assert reached[threshold].is_set(), f"the writer never reached {threshold} acknowledged writes: {t}"
            await cluster.control("restart", mode)  # the writer goes on meanwhile
            restarts += 1
        after_second = t.acknowledged
        stop_at[0] = after_second + AFTER_SECOND
        await asyncio.wait_for(writer, max(0.0, deadline - time.monotonic()) + CONNECT_TIMEOUT + MARGIN)
    finally:
        writer.cancel()

    assert t.wrong == [], f"calls that were not UnavailableError: {t.wrong}"
    assert t.acknowledged == after_second + AFTER_SECOND, (
        f"the same repository did not recover ({t}; {after_second} acknowledged at the second restart)"
    )
    assert t.unavailable > 0, "no call failed across two restarts: the restarts did not reach the writer"
    assert t.last_acknowledged == t.attempted  # the loop ends on an acknowledged write

    row = cluster.psql(
        f"SELECT global_position, events_processed FROM public.projection_checkpoints WHERE projection_name = '{NAME}'"
    )
    position, processed = (int(v) for v in row.split("|"))
    assert t.last_acknowledged <= position <= t.attempted, (position, t)
    # Each applied save adds 1; a save that raised may or may not have been applied.
    assert t.acknowledged <= processed <= t.acknowledged + t.unavailable, (processed, t)
    lost = max(0, t.acknowledged - processed)
    fresh = _repository(cluster.url)
    assert await fresh.get_position(NAME) == position
    await fresh.close()
    await repo.close()
    print(
        f"\nrestarts: python {restarts} restarts, {t.acknowledged} acknowledged, {t.unavailable} unavailable, "
        f"{lost} lost (stored position {position}, events_processed {processed}, {time.monotonic() - started:.1f} s)"
    )


async def test_a_transaction_across_a_restart_fails_typed_and_the_next_one_works(cluster: Cluster) -> None:
    cluster.psql("CREATE TABLE IF NOT EXISTS tx_probe (id BIGINT PRIMARY KEY)")
    cluster.psql("TRUNCATE tx_probe")
    repo = _repository(cluster.url)
    name = "TxProbe"
    # A statement after the restart.
    tx = repo.transaction()
    await tx.begin()
    await tx.execute("INSERT INTO tx_probe VALUES ($1)", [1])
    await tx.save_position(name, 1, uuid.uuid4(), "Tick")
    await cluster.control("restart", "fast")
    with pytest.raises(waypost.UnavailableError) as raised:
        await tx.save_position(name, 2, uuid.uuid4(), "Tick")
    assert raised.value.code == "Unavailable"
    assert not tx.is_open
    async with repo.transaction() as tx:  # the next one works
        await tx.execute("INSERT INTO tx_probe VALUES ($1)", [2])
        await tx.save_position(name, 2, uuid.uuid4(), "Tick")
    # The commit after the restart (the block's own commit).
    with pytest.raises(waypost.UnavailableError):
        async with repo.transaction() as tx:
            await tx.execute("INSERT INTO tx_probe VALUES ($1)", [3])
            await tx.save_position(name, 3, uuid.uuid4(), "Tick")
            await cluster.control("restart", "fast")
    async with repo.transaction() as tx:
        await tx.execute("INSERT INTO tx_probe VALUES ($1)", [4])
        await tx.save_position(name, 4, uuid.uuid4(), "Tick")
    # Only the committed transactions are there, read model and checkpoint alike.
    assert cluster.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM tx_probe") == "2,4"
    assert cluster.psql(
        f"SELECT global_position || '|' || events_processed FROM public.projection_checkpoints "
        f"WHERE projection_name = '{name}'"
    ) == "4|2"
    await repo.save_position(name, 5, uuid.uuid4(), "Tick")  # plain calls go on too
    await repo.close()
    print("\nrestarts: python transaction across a restart: 2 raised UnavailableError, the next ones committed")


async def test_a_stopped_server_fails_typed_within_connect_timeout(cluster: Cluster) -> None:
    repo = _repository(cluster.url)
    await repo.save_position("Stopped", 1, uuid.uuid4(), "Tick")  # a pooled connection to break
    await cluster.control("stop", "fast")
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", cluster.port), timeout=5).close()
        fresh = _repository(cluster.url)
        slowest = 0.0
        for label, r in (("same repository", repo), ("same repository again", repo), ("fresh repository", fresh)):
            t0 = time.monotonic()
            with pytest.raises(waypost.UnavailableError) as raised:
                await asyncio.wait_for(r.get_position("Stopped"), CONNECT_TIMEOUT + 2 * MARGIN)
            elapsed = time.monotonic() - t0
            assert raised.value.code == "Unavailable"
            assert f"127.0.0.1:{cluster.port}" in str(raised.value), (label, str(raised.value))
            assert elapsed <= CONNECT_TIMEOUT + MARGIN, f"{label}: raised after {elapsed:.2f} s"
            slowest = max(slowest, elapsed)
        await fresh.close()
        await repo.close()
    finally:
        await cluster.control("start")  # leave the module's cluster as it was
    print(f"\nrestarts: python stopped server: UnavailableError within {slowest:.2f} s (connect_timeout {CONNECT_TIMEOUT} s)")
