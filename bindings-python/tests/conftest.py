"""Fixtures of the binding tests: a fresh repository on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import waypost


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A repository on each backend in turn (PostgreSQL in a schema of its own)."""
    if request.param == "memory":
        repo: Any = waypost.InMemoryCheckpointRepository()
    elif request.param == "sqlite":
        repo = waypost.SQLiteCheckpointRepository(tmp_path / "store.db")
    else:
        url = request.getfixturevalue("postgres_url")
        repo = waypost.PostgreSQLCheckpointRepository(url, schema=request.getfixturevalue("schema"))
    yield repo
    await repo.close()
