"""Shared pytest fixtures: PostgreSQL and MySQL/MariaDB for the Python suites.

The servers are found once, by tests/support/with-postgres.sh and with-mysql.sh: their
WAYPOST_TEST_POSTGRES_URL / WAYPOST_TEST_MYSQL_URL under ``make test`` (which starts a
throwaway server when there is none), else what ``--url`` finds. Each run gets a database of its own
on each, dropped at the end; each test a PostgreSQL schema of its own inside it, or a
MySQL database of its own (a MySQL schema is a database). Without a server its tests are
skipped, and under CI=true they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

SUPPORT = Path(__file__).resolve().parent / "tests" / "support"


def _server(script: str, variable: str) -> str:
    """The URL of the variable the script set, else what ``script --url`` finds; without
    a server the test is skipped, and under CI=true it fails."""
    if os.environ.get(variable):
        return os.environ[variable]
    found = subprocess.run([str(SUPPORT / script), "--url"], capture_output=True, text=True, check=False)
    if found.returncode == 0:
        return found.stdout.strip()
    problem = found.stderr.strip()[:300]
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {script} found no server: {problem}")
    pytest.skip(f"tests that need {variable} skipped: {problem}")


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
def pg_throwaway() -> Iterator[Callable[[str, str], tuple[str, int]]]:
    """``make(action, what)``: a PostgreSQL cluster of the test's own, made by
    ``tests/support/pg-throwaway.sh ACTION`` (``create`` or ``create-tls``), as ``(dir,
    port)``, destroyed at the end of the run. When none can be made here, ``what`` is
    skipped, and under CI=true it fails instead."""
    script = str(SUPPORT / "pg-throwaway.sh")
    made: list[str] = []

    def make(action: str, what: str) -> tuple[str, int]:
        check = subprocess.run(["bash", script, "check"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true but no throwaway PostgreSQL cluster can be made: {check.stdout.strip()}")
            pytest.skip(f"{what} skipped: {check.stdout.strip()}")
        created = subprocess.run(["bash", script, action], capture_output=True, text=True, timeout=120, check=False)
        assert created.returncode == 0, created.stderr
        directory, port = created.stdout.split()
        made.append(directory)
        return directory, int(port)

    try:
        yield make
    finally:
        for directory in made:
            subprocess.run(["bash", script, "destroy", directory], capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test run's own."""
    url = _server("with-postgres.sh", "WAYPOST_TEST_POSTGRES_URL")
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
    url = _server("with-mysql.sh", "WAYPOST_TEST_MYSQL_URL")
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


@pytest.fixture
def mysql_sql(mysql_url: str) -> Callable[[str], str]:
    """Runs one SQL statement on the run's MySQL/MariaDB server with the command-line client
    (another process); returns its output."""

    def run(sql: str) -> str:
        done = _mysql(mysql_url, sql)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return run
