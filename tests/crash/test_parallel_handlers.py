"""No event is ever skipped when handlers finish out of order: parallel_handlers.py hands
a stream's events to 8 tasks, prints each event once it is handled and acknowledges it to
an out-of-order Checkpointer. It is SIGKILLed at 20 random moments and restarts from the
stored checkpoint. After each kill another process reads the checkpoint: every event at
or below it (the filtered ones aside) was handled by some run before it, and the
checkpoint never moved backwards. Events above it may be handled again (replay, never loss)."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from killing import run_then_kill

HANDLER = Path(__file__).with_name("parallel_handlers.py")
KILLS = 20


def kill_after(args: list[str], lines: int, handled: set[int]) -> None:
    """Runs the handlers, SIGKILLs them after `lines` handled events, and adds every
    event they handled (the lines already in the pipe included) to `handled`."""

    def take(line: bytes) -> None:
        if line.endswith(b"\n"):
            handled.add(int(line.split()[1]))

    run_then_kill(HANDLER, args, lines, take)


def check_rounds(args: list[str], stored: Callable[[], int]) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    handled: set[int] = set()
    last = 0
    for kill in range(KILLS):
        kill_after(args, rng.randint(10, 300), handled)
        now = stored()
        assert now >= last, f"seed {seed}, kill {kill}: the checkpoint moved back from {last} to {now}"
        skipped = [p for p in range(1, now + 1) if p % 7 and p not in handled]
        assert not skipped, f"seed {seed}, kill {kill}: checkpoint {now} passed unhandled events {skipped[:10]}"
        last = now
    assert last > 0, f"seed {seed}: no checkpoint was ever saved"


def test_sqlite_parallel_handlers_never_skip_an_event(tmp_path: Path) -> None:
    path = tmp_path / "parallel.db"

    def stored() -> int:
        conn = sqlite3.connect(path)
        try:
            row = conn.execute("SELECT global_position FROM projection_checkpoints WHERE projection_name = 'parallel'")
            found = row.fetchone()
            return found[0] if found else 0
        finally:
            conn.close()

    check_rounds([f"sqlite:{path}"], stored)


async def test_postgres_parallel_handlers_never_skip_an_event(postgres_url: str, schema: str) -> None:
    async def read() -> int:
        conn = await asyncpg.connect(postgres_url)
        try:
            table = f'"{schema}".projection_checkpoints'
            found = await conn.fetchval(f"SELECT global_position FROM {table} WHERE projection_name = 'parallel'")
            return found or 0
        except asyncpg.UndefinedTableError:
            return 0
        finally:
            await conn.close()

    loop = asyncio.get_running_loop()

    def stored() -> int:
        return asyncio.run_coroutine_threadsafe(read(), loop).result()

    await loop.run_in_executor(None, check_rounds, [postgres_url, schema], stored)
