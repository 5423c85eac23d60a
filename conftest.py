"""Shared pytest fixtures: PostgreSQL for the Python suites.

The server comes from WAYPOST_TEST_POSTGRES_URL, else 127.0.0.1:5432 (``make test``
starts a throwaway cluster when neither exists). Each run gets a database of its own,
dropped at the end, and each test a schema of its own inside it. Without a server the
PostgreSQL tests are skipped, and under CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

LOCAL = "postgres://postgres@127.0.0.1:5432/postgres"


def _psql(url: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-w", "-v", "ON_ERROR_STOP=1", url, "-Atqc", sql],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
        check=False,
    )


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own."""
    url = os.environ.get("WAYPOST_TEST_POSTGRES_URL") or LOCAL
    problem = None
    if shutil.which("psql") is None:
        problem = "psql is not installed"
    else:
        probe = _psql(url, "select 1")
        if probe.returncode != 0:
            problem = f"no PostgreSQL server answers ({probe.stderr.strip()[:200]})"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(f"PostgreSQL tests skipped: {problem}; set WAYPOST_TEST_POSTGRES_URL")
    database = f"waypost_py_{uuid.uuid4().hex[:12]}"
    created = _psql(url, f"CREATE DATABASE {database}")
    assert created.returncode == 0, created.stderr
    try:
        yield _with_database(url, database)
    finally:
        _psql(url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture
def schema() -> str:
    """A fresh schema name (the repository creates it)."""
    return f"wp_{uuid.uuid4().hex[:12]}"
