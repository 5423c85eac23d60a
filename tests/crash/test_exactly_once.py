"""Exactly once under SIGKILL, from Python: examples/python/exactly_once.py runs a
projection that writes its read model and checkpoint in one waypost transaction, kills it
at 20 random moments over 10,000 events and restarts it each time. This test then reads
the store itself: every event applied once, the checkpoint at the last event.

Run once by ``make test`` (not in the 20 exit-check runs: it takes tens of seconds)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "exactly_once.py"
EVENTS = 10_000
NAME = "OrderTotals"


def run_example(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--events", str(EVENTS), "--kills", "20", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 kills" in done.stdout, done.stdout
    return done.stdout


def test_sqlite_projection_applies_every_event_once(tmp_path: Path) -> None:
    path = tmp_path / "projection.db"
    run_example("--url", f"sqlite:{path}")
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT count(*), count(DISTINCT position), min(position), max(position) FROM order_totals")
    assert rows.fetchone() == (EVENTS, EVENTS, 1, EVENTS)
    checkpoint = conn.execute(
        "SELECT global_position, events_processed FROM projection_checkpoints WHERE projection_name = ?", (NAME,)
    )
    assert checkpoint.fetchone() == (EVENTS, EVENTS)
    conn.close()


async def test_postgres_projection_applies_every_event_once(postgres_url: str, schema: str) -> None:
    run_example("--url", postgres_url, "--schema", schema)
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetchrow(
            f'SELECT count(*), count(DISTINCT position), min(position), max(position) FROM "{schema}".order_totals'
        )
        assert tuple(rows) == (EVENTS, EVENTS, 1, EVENTS)
        checkpoint = await conn.fetchrow(
            f'SELECT global_position, events_processed FROM "{schema}".projection_checkpoints '
            "WHERE projection_name = $1",
            NAME,
        )
        assert tuple(checkpoint) == (EVENTS, EVENTS)
    finally:
        await conn.close()
