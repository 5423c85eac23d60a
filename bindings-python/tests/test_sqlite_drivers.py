"""waypost beside the application's own SQLite driver, on one file, in one process.

Two copies of SQLite in one process lose writes: each keeps its own table of POSIX locks,
so when the other copy closes its last connection it checkpoints and deletes the WAL
under waypost's connections. The extension links the same shared libsqlite3 that
CPython's ``sqlite3`` module loads (and so aiosqlite and SQLAlchemy), so there is one
copy. Every acknowledged write is checked from *another process* while the repository
is still open, after ``close()``, and after SIGKILL.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite
import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

import waypost

WRITES = 60


def read_elsewhere(path: Path) -> tuple[int | None, int, str]:
    """The checkpoint, the app's row count and integrity_check, read by a child process."""
    script = textwrap.dedent(
        """
        import sqlite3, sys
        c = sqlite3.connect(sys.argv[1])
        pos = c.execute("SELECT global_position FROM projection_checkpoints WHERE projection_name = 'p'").fetchone()
        rows = c.execute("SELECT count(*) FROM app_rows").fetchone()[0]
        ok = c.execute("PRAGMA integrity_check").fetchone()[0]
        print(pos[0] if pos else None, rows, ok)
        """
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    pos, rows, ok = out.stdout.split()
    return (None if pos == "None" else int(pos)), int(rows), ok


def with_sqlite3(path: Path, n: int) -> None:
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE IF NOT EXISTS app_rows (n INTEGER PRIMARY KEY)")
    c.execute("INSERT INTO app_rows VALUES (?)", (n,))
    c.commit()
    c.close()


async def with_aiosqlite(path: Path, n: int) -> None:
    async with aiosqlite.connect(path) as c:
        await c.execute("CREATE TABLE IF NOT EXISTS app_rows (n INTEGER PRIMARY KEY)")
        await c.execute("INSERT INTO app_rows VALUES (?)", (n,))
        await c.commit()


def with_sqlalchemy(path: Path, n: int) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE IF NOT EXISTS app_rows (n INTEGER PRIMARY KEY)")
        c.exec_driver_sql("INSERT INTO app_rows VALUES (?)", (n,))
    engine.dispose()


async def with_sqlalchemy_async(path: Path, n: int) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as c:
        await c.exec_driver_sql("CREATE TABLE IF NOT EXISTS app_rows (n INTEGER PRIMARY KEY)")
        await c.exec_driver_sql("INSERT INTO app_rows VALUES (?)", (n,))
    await engine.dispose()


async def as_async(f: Callable[[Path, int], object], path: Path, n: int) -> None:
    out = f(path, n)
    if isinstance(out, Awaitable):
        await out


DRIVERS = {
    "sqlite3": with_sqlite3,
    "aiosqlite": with_aiosqlite,
    "sqlalchemy": with_sqlalchemy,
    "sqlalchemy-aiosqlite": with_sqlalchemy_async,
}


def test_one_sqlite_in_the_process() -> None:
    """The extension and CPython's _sqlite3 map the same library file, and no other."""
    import _sqlite3  # noqa: F401  (loads the module's library)

    with open("/proc/self/maps") as f:
        mapped = {line.split()[-1] for line in f if "sqlite" in line.split()[-1]}
    libraries = {m for m in mapped if "libsqlite3" in m}
    assert len(libraries) == 1, mapped
    extension = waypost._waypost.__file__
    with open(extension, "rb") as f:
        # A bundled copy carries SQLite's own version banner; the linked one does not.
        assert b"SQLite format 3" not in f.read(), "the extension carries a copy of SQLite of its own"


@pytest.mark.parametrize("driver", DRIVERS)
async def test_acknowledged_writes_survive_the_apps_driver(tmp_path: Path, driver: str) -> None:
    path = tmp_path / "app.db"
    repo = waypost.SQLiteCheckpointRepository(path)
    for n in range(1, WRITES + 1):
        await repo.save_position("p", n, uuid.uuid4(), "E")
        if n % 5 == 0:
            # The app's driver opens, writes and closes its connection again and again.
            await as_async(DRIVERS[driver], path, n)
        if n in (5, 30):
            assert read_elsewhere(path) == (n, n // 5, "ok")
    assert read_elsewhere(path) == (WRITES, WRITES // 5, "ok")
    await repo.close()
    assert read_elsewhere(path) == (WRITES, WRITES // 5, "ok")
    reopened = waypost.SQLiteCheckpointRepository(path)
    assert await reopened.get_position("p") == WRITES
    await reopened.close()


@pytest.mark.parametrize("driver", ["sqlite3", "sqlalchemy"])
def test_acknowledged_writes_survive_sigkill(tmp_path: Path, driver: str) -> None:
    """A process writes through both, prints each acknowledged position, and is killed
    while the repository is open; the file holds the last acknowledged one."""
    path = tmp_path / "app.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys, uuid
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import waypost
        from test_sqlite_drivers import DRIVERS, as_async

        async def main():
            repo = waypost.SQLiteCheckpointRepository(sys.argv[1])
            for n in range(1, {WRITES} + 1):
                await repo.save_position("p", n, uuid.uuid4(), "E")
                if n % 5 == 0:
                    await as_async(DRIVERS[{driver!r}], sys.argv[1], n)
                print(n, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert out.returncode == -signal.SIGKILL, out.stderr
    acknowledged = int(out.stdout.split()[-1])
    assert acknowledged == WRITES
    assert read_elsewhere(path) == (WRITES, WRITES // 5, "ok")


async def test_a_driver_connection_held_open_beside_waypost(tmp_path: Path) -> None:
    """The app keeps one connection open for the whole run and closes it midway."""
    path = tmp_path / "app.db"
    repo = waypost.SQLiteCheckpointRepository(path)
    app = sqlite3.connect(path, isolation_level=None)
    app.execute("CREATE TABLE app_rows (n INTEGER PRIMARY KEY)")
    for n in range(1, WRITES + 1):
        await repo.save_position("p", n, uuid.uuid4(), "E")
        if n % 5 == 0:
            app.execute("INSERT INTO app_rows VALUES (?)", (n,))
        if n == 30:
            app.close()
            app = sqlite3.connect(path, isolation_level=None)
    app.close()
    assert read_elsewhere(path) == (WRITES, WRITES // 5, "ok")
    await repo.close()

