"""Exactly once on SQLite: a projection writes its read model and its checkpoint in one
transaction of its own sqlite3 connection (waypost's statement mode), is killed with
SIGKILL at 20 moments and restarted each time; at the end the read model holds every
event exactly once and the checkpoint is at the last event.

    python examples/python/exactly_once.py                 # the whole demo, in a temporary folder
    python examples/python/exactly_once.py work --db PATH  # one projection run
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path

import waypost

EVENTS = 2_000
KILLS = 20
NAME = "OrderTotals"


def event(position: int) -> tuple[uuid.UUID, int]:
    """The event stream: a fixed id and amount per position."""
    return uuid.UUID(int=position), position % 97


async def work(db: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(db)
    conn = sqlite3.connect(db, isolation_level=None, timeout=10)
    conn.execute("CREATE TABLE IF NOT EXISTS order_totals (position INTEGER NOT NULL, amount INTEGER NOT NULL)")
    start = (await repo.get_position(NAME) or 0) + 1
    print(f"resume {start}", flush=True)
    for position in range(start, EVENTS + 1):
        event_id, amount = event(position)
        # --8<-- [start:exactly-once]
        sql, params = await repo.checkpoint_statement(
            "save_position", NAME, event_id, "OrderPlaced", position=position
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO order_totals (position, amount) VALUES (?, ?)", (position, amount))
        conn.execute(sql, params)  # the checkpoint commits with the read model, or neither does
        conn.execute("COMMIT")
        # --8<-- [end:exactly-once]
        print(f"committed {position}", flush=True)
    print("done", flush=True)
    conn.close()
    await repo.close()


async def run_once(db: Path, kill_after: int | None) -> tuple[bool, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "work", "--db", str(db), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    committed, done = 0, False
    while line := await proc.stdout.readline():
        text = line.decode().strip()
        if text.startswith("committed "):
            committed += 1
            if committed == kill_after:
                proc.send_signal(signal.SIGKILL)
        done = done or text == "done"
    await proc.wait()
    return done, proc.returncode or 0


async def demo() -> int:
    rng = random.Random(20261125)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "projection.db"
        for kill in range(KILLS):
            done, code = await run_once(db, rng.randint(1, 80))
            if done or code != -signal.SIGKILL:
                print(f"run {kill + 1} was not killed mid-way (done={done}, exit {code})")
                return 1
        done, code = await run_once(db, None)
        if not done or code != 0:
            print(f"the final run failed (exit {code})")
            return 1
        conn = sqlite3.connect(db)
        rows = conn.execute("SELECT count(*), count(DISTINCT position), min(position), max(position) FROM order_totals").fetchone()
        conn.close()
        repo = waypost.SQLiteCheckpointRepository(db)
        position = await repo.get_position(NAME)
        [record] = await repo.get_all_checkpoints()
        await repo.close()
        print(f"{KILLS} kills; read model rows {rows[0]:,} (distinct {rows[1]:,}, {rows[2]}..{rows[3]}); "
              f"checkpoint at {position}, {record.events_processed:,} events counted")
        ok = rows == (EVENTS, EVENTS, 1, EVENTS) and position == EVENTS and record.events_processed == EVENTS
        print("every event exactly once" if ok else "FAILED: an event was lost or applied twice")
        return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="demo", choices=["demo", "work"])
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    if args.mode == "work":
        asyncio.run(work(args.db))
        return 0
    return asyncio.run(demo())


if __name__ == "__main__":
    sys.exit(main())
