"""The process test_group_commit.py kills: 8 tasks save positions to names of their own
through one repository, so that their writes share commits, and print each position once
its save has returned (the acknowledgement the test holds the store to).

    python tests/crash/group_writer.py URL [SCHEMA]
"""

from __future__ import annotations

import asyncio
import sys
import uuid

import waypost

WRITERS = 8


async def writer(repo: waypost.Repository, name: str) -> None:
    position = (await repo.get_position(name) or 0) + 1
    while True:
        await repo.save_position(name, position, uuid.UUID(int=position), "OrderPlaced")
        sys.stdout.write(f"{name} {position}\n")
        sys.stdout.flush()
        position += 1


async def main(url: str, schema: str | None) -> None:
    repo = waypost.open(url) if schema is None else waypost.open(url, schema=schema)
    await asyncio.gather(*(writer(repo, f"writer-{t}") for t in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
