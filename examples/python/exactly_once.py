"""Exactly once under SIGKILL: a projection writes its read model and its checkpoint in one
waypost transaction, is killed with SIGKILL at 20 random moments and restarted each time;
at the end the read model holds every event exactly once and the checkpoint is at the
last event.

    python examples/python/exactly_once.py                        # 2,000 events on a temporary SQLite file
    python examples/python/exactly_once.py --url postgres://… --schema demo --events 10000
    python examples/python/exactly_once.py work --url URL         # one projection run (what gets killed)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import waypost

NAME = "OrderTotals"


def event(position: int) -> tuple[uuid.UUID, int]:
    """The event stream: a fixed id and amount per position."""
    return uuid.UUID(int=position), position % 97


def open_store(url: str, schema: str | None) -> tuple[Any, str]:
    """The repository, and the prefix that puts the read model beside its checkpoints."""
    if schema is None:
        return waypost.open(url), ""
    return waypost.open(url, schema=schema), f'"{schema}".'


async def work(url: str, schema: str | None, events: int) -> None:
    repo, ns = open_store(url, schema)
    async with repo.transaction() as tx:
        # No key on position: an event applied twice would show as a second row.
        await tx.execute(f"CREATE TABLE IF NOT EXISTS {ns}order_totals (position BIGINT NOT NULL, amount BIGINT NOT NULL)")
    start = (await repo.get_position(NAME) or 0) + 1
    print(f"resume {start}", flush=True)
    for position in range(start, events + 1):
        event_id, amount = event(position)
        # --8<-- [start:exactly-once]
        async with repo.transaction() as tx:
            await tx.execute(
                f"INSERT INTO {ns}order_totals (position, amount) VALUES ($1, $2)", [position, amount]
            )
            await tx.save_position(NAME, position, event_id, "OrderPlaced")
        # Both rows are committed together, or neither is: a crash anywhere above
        # leaves the read model and the checkpoint in step.
        # --8<-- [end:exactly-once]
        print(f"committed {position}", flush=True)
    print("done", flush=True)
    await repo.close()


async def run_once(args: list[str], kill_at: int | None) -> tuple[bool, int]:
    """One projection process; SIGKILL once it reports committing position `kill_at`."""
    proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "work", *args, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    done = False
    while line := await proc.stdout.readline():
        text = line.decode().strip()
        if kill_at is not None and text.startswith("committed ") and int(text.split()[1]) >= kill_at:
            proc.send_signal(signal.SIGKILL)
            kill_at = None
        done = done or text == "done"
    await proc.wait()
    return done, proc.returncode or 0


def kill_points(events: int, kills: int, seed: int) -> list[int]:
    """One random moment in each of `kills` equal stretches of the stream."""
    rng = random.Random(seed)
    stretch = events // (kills + 1)
    return [k * stretch + rng.randint(stretch // 10, stretch * 9 // 10) for k in range(kills)]


async def demo(url: str, schema: str | None, events: int, kills: int, seed: int) -> int:
    args = ["--url", url, "--events", str(events)] + (["--schema", schema] if schema else [])
    for number, point in enumerate(kill_points(events, kills, seed), start=1):
        done, code = await run_once(args, point)
        if done or code != -signal.SIGKILL:
            print(f"run {number} was not killed mid-way (done={done}, exit {code})")
            return 1
    done, code = await run_once(args, None)
    if not done or code != 0:
        print(f"the final run failed (exit {code})")
        return 1
    repo, ns = open_store(url, schema)
    async with repo.transaction() as tx:
        [rows] = await tx.fetch_all(
            f"SELECT count(*) AS n, count(DISTINCT position) AS d, min(position) AS lo, max(position) AS hi, "
            f"CAST(sum(amount) AS BIGINT) AS total FROM {ns}order_totals"
        )
    position = await repo.get_position(NAME)
    [record] = await repo.get_all_checkpoints()
    await repo.close()
    expected_total = sum(event(p)[1] for p in range(1, events + 1))
    print(
        f"{kills} kills; read model rows {rows['n']:,} (distinct {rows['d']:,}, {rows['lo']}..{rows['hi']}, "
        f"total {rows['total']:,}); checkpoint at {position}, {record.events_processed:,} events counted"
    )
    ok = (
        (rows["n"], rows["d"], rows["lo"], rows["hi"]) == (events, events, 1, events)
        and int(rows["total"]) == expected_total
        and position == events
        and record.events_processed == events
    )
    print("every event exactly once" if ok else "FAILED: an event was lost or applied twice")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="demo", choices=["demo", "work"])
    parser.add_argument("--url", help="sqlite:PATH or postgres://… (default: a temporary SQLite file)")
    parser.add_argument("--schema", help="PostgreSQL schema for the checkpoints and the read model")
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261130)
    args = parser.parse_args()
    if args.mode == "work":
        asyncio.run(work(args.url, args.schema, args.events))
        return 0
    if args.url:
        return asyncio.run(demo(args.url, args.schema, args.events, args.kills, args.seed))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:{Path(tmp) / 'projection.db'}"
        return asyncio.run(demo(url, None, args.events, args.kills, args.seed))


if __name__ == "__main__":
    sys.exit(main())
