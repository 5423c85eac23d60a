"""Run by dist-check.sh in a fresh virtualenv: the installed waypost saves and reads a
position on an SQLite file, through the asyncio API and waypost.sync."""

import asyncio
import sys
import uuid

import waypost
import waypost.sync

path = sys.argv[1]
assert "site-packages" in waypost.__file__, f"waypost imported from {waypost.__file__}"


async def main() -> int:
    repo = waypost.SQLiteCheckpointRepository(path)
    await repo.save_position("OrderProjection", 1000, uuid.uuid4(), "OrderPlaced")
    position = await repo.get_position("OrderProjection")
    await repo.close()
    return position


position = asyncio.run(main())
with waypost.sync.SQLiteCheckpointRepository(path) as repo:
    assert repo.get_position("OrderProjection") == position
print(f"python: waypost {waypost.__version__} from {waypost.__file__}: saved position {position}")
