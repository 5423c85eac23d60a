"""Several workers share a folder of CSV files through waypost's CheckpointManager on
one SQLite file; one worker is killed (SIGKILL) while holding a file, and the others
take its file over once its lease runs out. Every file ends up processed exactly once.

    python examples/python/file_worker.py            # the whole demo, in a temporary folder
    python examples/python/file_worker.py work --db D --folder F --worker W [--die-after N]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import waypost

FILES = 12
LEASE_MS = 1000  # short, so the demo does not wait long for the dead worker's lease


async def work(db: Path, folder: Path, worker: str, die_after: int | None) -> None:
    repo = waypost.SQLiteCheckpointRepository(db)
    files = sorted(folder.glob("*.csv"))
    async with waypost.CheckpointManager(repo, worker_id=worker, lease_ms=LEASE_MS) as manager:
        claimed = 0
        while True:
            for path in files:
                url = path.as_uri()
                if await manager.is_processed(url):
                    continue
                modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc)
                # --8<-- [start:claim]
                async with manager.claim(url, "csv", modified) as c:
                    if not c:
                        continue  # done, or held by another worker
                    claimed += 1
                    if claimed == die_after:
                        print(f"{worker} dies holding {path.name}", flush=True)
                        os.kill(os.getpid(), signal.SIGKILL)
                    rows = path.read_text().splitlines()[1:]
                    c.total_rows = len(rows)
                    c.persisted_rows = sum(1 for r in rows if r.strip())
                    print(f"{worker} completed {path.name} ({c.total_rows} rows)", flush=True)
                # --8<-- [end:claim]
            stats = await manager.get_stats()
            if stats["completed"] + stats["failed"] == len(files):
                break
            # Some file is held by another worker (maybe a dead one): look again once
            # its lease may have run out.
            await asyncio.sleep(LEASE_MS / 2000)
    await repo.close()


async def demo() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder, db = Path(tmp) / "inbox", Path(tmp) / "claims.db"
        folder.mkdir()
        for i in range(FILES):
            lines = ["id,amount"] + [f"{n},{n * 10}" for n in range(5 + i)]
            (folder / f"orders-{i:02}.csv").write_text("\n".join(lines) + "\n")
        started = time.monotonic()

        async def start(worker: str, *extra: str) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, __file__, "work", "--db", str(db), "--folder", str(folder), "--worker", worker,
                *extra, stdout=asyncio.subprocess.PIPE,
            )

        # w2 goes first and is killed holding its second file; then w1 and w3 share the rest.
        doomed = await start("w2", "--die-after", "2")
        outputs = {"w2": (await doomed.communicate())[0].decode()}
        if doomed.returncode != -signal.SIGKILL:
            print(f"w2 exited {doomed.returncode}, expected to be killed")
            return 1
        survivors = {w: await start(w) for w in ("w1", "w3")}
        for w, p in survivors.items():
            outputs[w] = (await p.communicate())[0].decode()
            if p.returncode != 0:
                print(f"{w} exited {p.returncode}")
                return 1
        lines = [line for out in outputs.values() for line in out.splitlines()]
        print("\n".join(lines))
        done = collections.Counter(line.split()[2] for line in lines if " completed " in line)
        dead = [line.split()[-1] for line in lines if " dies holding " in line]
        names = sorted(p.name for p in folder.glob("*.csv"))
        if sorted(done) != names or set(done.values()) != {1}:
            print(f"FAILED: completions {dict(done)}")
            return 1
        repo = waypost.SQLiteCheckpointRepository(db)
        stats = await waypost.CheckpointManager(repo).get_stats()
        await repo.close()
        print(f"\n{len(names)} files, each completed once in {time.monotonic() - started:.1f} s; "
              f"{dead[0]} was taken over from the killed worker; ledger: {stats}")
        return 0 if stats["completed"] == FILES else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="demo", choices=["demo", "work"])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--worker")
    parser.add_argument("--die-after", type=int)
    args = parser.parse_args()
    if args.mode == "work":
        asyncio.run(work(args.db, args.folder, args.worker, args.die_after))
        return 0
    return asyncio.run(demo())


if __name__ == "__main__":
    sys.exit(main())
