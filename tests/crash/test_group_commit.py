"""No acknowledged write is lost under SIGKILL while writes share commits: group_writer.py
saves from 8 concurrent tasks through one repository and prints each position once its
save returned; it is killed at 20 random moments and restarted from the stored positions.
After each kill another process (this one, which never loads waypost's SQLite) reads the
store: every name holds at least its last acknowledged position, never less, and at most
two more (a save that returned just before the kill but was not printed yet, and the next
one, committed while the kill arrived).

A SIGKILL leaves the operating system's page cache alone, so this proves that no write is
acknowledged before its commit, not what an fsync survives (that is synchronous=FULL's)."""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from killing import run_then_kill

WRITER = Path(__file__).with_name("group_writer.py")
KILLS = 20


def kill_after_acks(args: list[str], acks: int) -> dict[str, int]:
    """Runs the writer, SIGKILLs it after `acks` acknowledgements, and returns the last
    position acknowledged for each name (the lines already in the pipe included)."""
    last: dict[str, int] = {}

    def take(line: bytes) -> None:
        if line.endswith(b"\n"):
            name, position = line.decode().split()
            assert int(position) > last.get(name, 0), f"{name} acknowledged {position} twice or backwards"
            last[name] = int(position)

    run_then_kill(WRITER, args, acks, take)
    return last


def check_rounds(args: list[str], stored: Callable[[], dict[str, int]]) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    acknowledged: dict[str, int] = {}
    for kill in range(KILLS):
        for name, position in kill_after_acks(args, rng.randint(20, 400)).items():
            acknowledged[name] = position
        now = stored()
        for name, position in acknowledged.items():
            assert position <= now.get(name, 0) <= position + 2, (
                f"seed {seed}, kill {kill}: {name} holds {now.get(name)} after {position} was acknowledged"
            )
    assert len(acknowledged) == 8, acknowledged


def test_sqlite_group_commit_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "group.db"

    def stored() -> dict[str, int]:
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("SELECT projection_name, global_position FROM projection_checkpoints")
            return dict(rows.fetchall())
        finally:
            conn.close()

    check_rounds([f"sqlite:{path}"], stored)


async def test_postgres_writes_lose_no_acknowledged_write(postgres_url: str, schema: str) -> None:
    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch(f'SELECT projection_name, global_position FROM "{schema}".projection_checkpoints')
            return {r[0]: r[1] for r in rows}
        finally:
            await conn.close()

    import asyncio

    loop = asyncio.get_running_loop()

    def stored() -> dict[str, int]:
        return asyncio.run_coroutine_threadsafe(read(), loop).result()

    await loop.run_in_executor(None, check_rounds, [postgres_url, schema], stored)
