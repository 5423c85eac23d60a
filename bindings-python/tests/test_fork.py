"""Fork: gunicorn ``--preload``, Celery prefork and ``multiprocessing`` (fork) start
children from a parent that already used waypost. A child builds a runtime of its own
and uses the repositories it opens; a repository inherited from the parent refuses with
``UnsupportedError`` naming the fork; the parent's repositories go on unaffected, and
what each process wrote is seen by another process."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import waypost

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork exists on POSIX only")

FORK = multiprocessing.get_context("fork")


def in_child(target: Callable[..., None], *args: Any) -> None:
    """Runs ``target`` in a forked child; fails with what it raised."""
    errors = FORK.Queue()

    def run() -> None:
        try:
            target(*args)
        except BaseException as e:  # report anything, then exit non-zero
            errors.put(f"{type(e).__name__}: {e}")
            raise SystemExit(1) from None
        errors.put(None)

    child = FORK.Process(target=run)
    child.start()
    error = errors.get(timeout=60)
    child.join(60)
    assert error is None, error
    assert child.exitcode == 0


def stored_position(path: Path, name: str) -> int | None:
    c = sqlite3.connect(path)
    row = c.execute("SELECT global_position FROM projection_checkpoints WHERE projection_name = ?", (name,)).fetchone()
    c.close()
    return None if row is None else int(row[0])


def opener(kind: str, where: str, schema: str) -> Callable[[], waypost.CheckpointRepository]:
    if kind == "sqlite":
        return lambda: waypost.SQLiteCheckpointRepository(where)
    if kind == "mysql":
        return lambda: waypost.MySQLCheckpointRepository(where)
    return lambda: waypost.PostgreSQLCheckpointRepository(where, schema=schema)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def open_repo(request: pytest.FixtureRequest, tmp_path: Path, schema: str) -> Callable[[], waypost.CheckpointRepository]:
    if request.param == "sqlite":
        return opener("sqlite", str(tmp_path / "fork.db"), schema)
    if request.param == "mysql":
        return opener("mysql", request.getfixturevalue("mysql_database_url"), schema)
    return opener("postgres", request.getfixturevalue("postgres_url"), schema)


def test_a_child_uses_its_own_repositories_and_refuses_inherited_ones(
    open_repo: Callable[[], waypost.CheckpointRepository],
) -> None:
    parent = open_repo()
    asyncio.run(parent.save_position("parent", 1, uuid.uuid4(), "T"))

    def child() -> None:
        async def main() -> None:
            with pytest.raises(waypost.UnsupportedError, match="forked"):
                await parent.get_position("parent")
            with pytest.raises(waypost.UnsupportedError, match="forked"):
                await parent.save_position("parent", 99, uuid.uuid4(), "T")
            own = open_repo()
            await own.save_position("child", 7, uuid.uuid4(), "T")
            assert await own.get_position("parent") == 1
            await own.close()
            # Closing the inherited one closes nothing of the parent's.
            await parent.close()

        asyncio.run(main())

    in_child(child)

    async def after() -> None:
        # The parent's repository (its pool, its SQLite thread) is as it was.
        await parent.save_position("parent", 2, uuid.uuid4(), "T")
        assert await parent.get_position("parent") == 2
        assert await parent.get_position("child") == 7
        await parent.close()
        # And a third repository, as another process would, sees both writes.
        fresh = open_repo()
        assert await fresh.get_position("parent") == 2
        assert await fresh.get_position("child") == 7
        await fresh.close()

    asyncio.run(after())


def test_preloaded_parent_forks_workers_that_each_write(tmp_path: Path) -> None:
    """gunicorn --preload: the parent imports and uses waypost, then forks workers, each
    of which opens its own repository on the same file; the parent keeps writing."""
    path = tmp_path / "preload.db"
    parent = waypost.SQLiteCheckpointRepository(path)
    asyncio.run(parent.save_position("parent", 1, uuid.uuid4(), "T"))

    def worker(n: int) -> None:
        async def main() -> None:
            repo = waypost.SQLiteCheckpointRepository(path)
            for k in range(1, 21):
                await repo.save_position(f"worker-{n}", k, uuid.uuid4(), "T")
            await repo.close()

        asyncio.run(main())

    children = [FORK.Process(target=worker, args=(n,)) for n in range(3)]
    for c in children:
        c.start()
    for k in range(2, 22):
        asyncio.run(parent.save_position("parent", k, uuid.uuid4(), "T"))
    for c in children:
        c.join(60)
        assert c.exitcode == 0
    assert stored_position(path, "parent") == 21
    for n in range(3):
        assert stored_position(path, f"worker-{n}") == 20
    asyncio.run(parent.close())


def write_once(path: Path, name: str, position: int) -> None:
    async def main() -> None:
        async with waypost.SQLiteCheckpointRepository(path) as repo:
            await repo.save_position(name, position, uuid.uuid4(), "T")

    asyncio.run(main())


def test_a_child_forked_from_a_child_works_too(tmp_path: Path) -> None:
    path = tmp_path / "nested.db"
    write_once(path, "root", 1)

    def grandchild() -> None:
        write_once(path, "grandchild", 3)

    def child() -> None:
        write_once(path, "child", 2)
        in_child(grandchild)

    in_child(child)
    assert [stored_position(path, n) for n in ("root", "child", "grandchild")] == [1, 2, 3]
