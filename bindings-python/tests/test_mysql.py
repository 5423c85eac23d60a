"""MySQL/MariaDB from Python beyond the shared cases: a write that returned is visible to
another process while the repository is still open, `open(url)` picks the class, and a
server that is gone fails typed."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from urllib.parse import unquote, urlsplit

import pytest

import waypost


def _client_read(url: str, sql: str) -> str:
    parts = urlsplit(url)
    command = ["mariadb", "--protocol=TCP", "-h", parts.hostname or "127.0.0.1", "-P", str(parts.port or 3306)]
    command += ["-u", unquote(parts.username or "root"), "-N", "-B", unquote(parts.path.lstrip("/")), "-e", sql]
    env = {"MYSQL_PWD": unquote(parts.password or "")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env, check=True)
    return done.stdout.strip()


async def test_a_returned_write_is_visible_to_another_process(mysql_database_url: str) -> None:
    repo = waypost.open(mysql_database_url)
    assert isinstance(repo, waypost.MySQLCheckpointRepository)
    try:
        event_id = uuid.uuid4()
        for position in range(1, 21):
            await repo.save_position("orders", position, event_id, "OrderPlaced")
        seen = _client_read(
            mysql_database_url,
            "SELECT global_position, events_processed, last_event_id FROM projection_checkpoints",
        )
        assert seen.split("\t") == ["20", "20", str(event_id)]
    finally:
        await repo.close()


async def test_names_keep_their_bytes(mysql_database_url: str) -> None:
    repo = waypost.MySQLCheckpointRepository(mysql_database_url)
    try:
        names = ["a", "a ", "A", "é", "e\u0301", "z"]
        for i, name in enumerate(names):
            await repo.save_position(name, i, uuid.uuid4(), "T")
        stored = [c.projection_name for c in await repo.get_all_checkpoints()]
        assert stored == sorted(names, key=lambda n: n.encode())
        assert [await repo.get_position(n) for n in names] == list(range(len(names)))
    finally:
        await repo.close()


async def test_a_server_that_is_gone_is_unavailable() -> None:
    repo = waypost.MySQLCheckpointRepository("mysql://root@127.0.0.1:1/test", connect_timeout=1.0)
    try:
        with pytest.raises(waypost.UnavailableError):
            await asyncio.wait_for(repo.get_position("orders"), 10)
    finally:
        await repo.close()
