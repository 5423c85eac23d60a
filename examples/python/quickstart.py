"""The ten-line quickstart of the README and the package's README: resume from the saved
position, handle the events after it, save as you go. Run twice over one file and the
second run resumes where the first stopped.

Run: python examples/python/quickstart.py
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

import waypost


async def run(path: Path) -> int | None:
    # --8<-- [start:quickstart]
    async with waypost.SQLiteCheckpointRepository(path) as repo:
        start = await repo.get_position("orders") or 0  # None on the first run
        for position in range(start + 1, start + 4):  # the events after it
            # ... handle the event at `position` ...
            await repo.save_position("orders", position, uuid.uuid4(), "OrderPlaced")
        saved = await repo.get_position("orders")
    # --8<-- [end:quickstart]
    return saved


async def main() -> None:
    path = Path(tempfile.mkdtemp()) / "checkpoints.db"
    first, second = await run(path), await run(path)
    print(f"first run saved {first}, the second resumed after it and saved {second}")
    assert (first, second) == (3, 6), (first, second)


if __name__ == "__main__":
    asyncio.run(main())
