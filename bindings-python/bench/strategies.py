"""Events per second of a projection loop from Python, saving its checkpoint after every
event, every 100 events, or once a second, on SQLite and PostgreSQL: how many checkpoint
writes each strategy makes and what that does to throughput.

Run with `make bench-python` (release build; PostgreSQL found by with-postgres.sh).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import waypost

EVENTS = int(os.environ.get("BENCH_EVENTS", "3000"))
STRATEGIES: list[tuple[str, dict[str, Any]]] = [
    ("every_event", {}),
    ("every(100)", {"every": 100}),
    ("interval(1s)", {"interval": 1.0}),
]


async def projection_loop(repo: Any, name: str, options: dict[str, Any]) -> tuple[float, int]:
    """Handles EVENTS events (a trivial read model in a dict) and records each."""
    read_model: dict[int, str] = {}
    ids = [uuid.uuid4() for _ in range(EVENTS)]
    checkpoints = waypost.Checkpointer(repo, name, **options)
    start = time.perf_counter()
    for position, event_id in enumerate(ids, start=1):
        read_model[position] = "OrderPlaced"
        await checkpoints.record(position, event_id, "OrderPlaced")
    await checkpoints.close()
    elapsed = time.perf_counter() - start
    assert await repo.get_position(name) == EVENTS
    return EVENTS / elapsed, await checkpoints.saves()


async def measure(label: str, repo: Any) -> None:
    print(f"\n== {label}: a projection loop of {EVENTS:,} events ==")
    print(f"{'strategy':<16} {'events/s':>12} {'writes':>8} {'fewer writes':>13} {'faster':>8}")
    base_rate = base_writes = 0.0
    for name, options in STRATEGIES:
        rate, writes = await projection_loop(repo, f"bench-{name}", options)
        if not base_rate:
            base_rate, base_writes = rate, writes
        print(f"{name:<16} {rate:>12,.0f} {writes:>8,} {base_writes / writes:>12.0f}x {rate / base_rate:>7.1f}x")


async def main() -> None:
    print(f"waypost {waypost.__version__}, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as directory:
        repo = waypost.SQLiteCheckpointRepository(Path(directory) / "strategies.db")
        await measure("SQLite (WAL, synchronous=FULL)", repo)
        await repo.close()
    url = os.environ.get("WAYPOST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    schema = f"wp_strategies_{uuid.uuid4().hex[:8]}"
    repo = waypost.PostgreSQLCheckpointRepository(url, schema=schema, connect_timeout=5.0)
    try:
        await measure("PostgreSQL", repo)
    except waypost.UnavailableError as error:
        print(f"\nPostgreSQL not measured: {error}")
    finally:
        await repo.close()
        try:
            import asyncpg

            conn = await asyncpg.connect(url)
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            await conn.close()
        except Exception as error:  # the schema is a scratch one; say so and go on
            print(f"(could not drop scratch schema {schema}: {error})")


if __name__ == "__main__":
    asyncio.run(main())
