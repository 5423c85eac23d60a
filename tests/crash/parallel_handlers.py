"""The process test_parallel_handlers.py kills: events 1, 2, 3, … of a synthetic stream
are handed to 8 handler tasks that finish in a random order; every seventh event is
filtered out (never begun). A handler prints ``handled P`` once its work is done, then
acknowledges P to an out-of-order Checkpointer (``every=3``), which saves only the
frontier. It restarts from the stored checkpoint.

    python tests/crash/parallel_handlers.py URL [SCHEMA]
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid

import waypost

HANDLERS = 8
NAME = "parallel"


async def main(url: str, schema: str | None) -> None:
    repo = waypost.open(url) if schema is None else waypost.open(url, schema=schema)
    start = await repo.get_position(NAME) or 0
    checkpoints = waypost.Checkpointer(repo, NAME, every=3, out_of_order=True)
    queue: asyncio.Queue[int] = asyncio.Queue(maxsize=HANDLERS * 4)
    rng = random.Random()

    async def handler() -> None:
        while True:
            position = await queue.get()
            # Work of uneven length, longer than a save: the handlers finish out of order.
            await asyncio.sleep(rng.uniform(0, 0.004))
            sys.stdout.write(f"handled {position}\n")
            sys.stdout.flush()
            await checkpoints.ack(position, uuid.UUID(int=position), "OrderPlaced")

    handlers = [asyncio.ensure_future(handler()) for _ in range(HANDLERS)]
    position = start
    while True:
        position += 1
        if position % 7 == 0:
            continue  # filtered out: never begun, never holds the frontier back
        checkpoints.begin(position)
        await queue.put(position)
        if any(h.done() for h in handlers):
            break
    for h in handlers:
        h.result()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
