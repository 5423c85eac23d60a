"""Shared pytest fixtures: PostgreSQL and MySQL/MariaDB for the Python suites.

The PostgreSQL server comes from WAYPOST_TEST_POSTGRES_URL, else 127.0.0.1:5432, and the
MySQL one from WAYPOST_TEST_MYSQL_URL, else root@127.0.0.1:3306 (``make test`` starts a
throwaway server of either kind when neither exists). Each run gets a database of its own
on each, dropped at the end; each test a PostgreSQL schema of its own inside it, or a
MySQL database of its own (a MySQL schema is a database). Without a server its tests are
skipped, and under CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

LOCAL = "postgres://postgres@127.0.0.1:5432/postgres"
MYSQL_LOCAL = "mysql://root@127.0.0.1:3306/test"


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


def _mysql_client() -> str | None:
    return shutil.which("mariadb") or shutil.which("mysql")


def _mysql(url: str, sql: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sql`` over TCP on the server of ``url``, in ``database`` if given (the URL's
    own database is not used); the password travels in MYSQL_PWD, option files are not read."""
    parts = urlsplit(url)
    env = {k: v for k, v in os.environ.items() if k != "MYSQL_PWD"}
    if parts.password is not None:
        env["MYSQL_PWD"] = unquote(parts.password)
    command = [
        _mysql_client() or "mariadb",
        "--no-defaults",
        "--protocol=TCP",
        "--connect-timeout=5",
        "-h",
        parts.hostname or "localhost",
        "-P",
        str(parts.port or 3306),
        "-u",
        unquote(parts.username or "root"),
        *(["-D", database] if database else []),
        "-N",
        "-B",
        "-e",
        sql,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env, check=False)


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A MySQL/MariaDB database of this test run's own."""
    url = os.environ.get("WAYPOST_TEST_MYSQL_URL") or MYSQL_LOCAL
    problem = None
    if _mysql_client() is None:
        problem = "neither the mariadb nor the mysql client is installed"
    else:
        probe = _mysql(url, "select 1", unquote(urlsplit(url).path.lstrip("/")) or None)
        if probe.returncode != 0:
            problem = f"no MySQL/MariaDB server answers ({probe.stderr.strip()[:200]})"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(f"MySQL tests skipped: {problem}; set WAYPOST_TEST_MYSQL_URL")
    database = f"waypost_py_{uuid.uuid4().hex[:12]}"
    created = _mysql(url, f"CREATE DATABASE {database}")
    assert created.returncode == 0, created.stderr
    try:
        yield _with_database(url, database)
    finally:
        _mysql(url, f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture
def mysql_database_url(mysql_url: str) -> Iterator[str]:
    """A fresh MySQL/MariaDB database of this test's own, on the run's server (in MySQL a
    schema is a database), dropped afterwards."""
    database = f"wp_{uuid.uuid4().hex[:12]}"
    created = _mysql(mysql_url, f"CREATE DATABASE {database}")
    assert created.returncode == 0, created.stderr
    try:
        yield _with_database(mysql_url, database)
    finally:
        _mysql(mysql_url, f"DROP DATABASE IF EXISTS {database}")
