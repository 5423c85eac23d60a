"""TLS to PostgreSQL from Python, against a server of the test's own with ``ssl=on`` and a
CA made for it (``tests/support/pg-throwaway.sh create-tls``): the ``sslmode``,
``sslrootcert``, ``sslcert`` and ``sslkey`` keywords and DSN parameters, read back from
``pg_stat_ssl`` on the repository's own connection. A password never appears in an error
or a ``repr``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import waypost

PASSWORD = "pw-never-shown-4711"


@pytest.fixture(scope="module")
def tls_server(pg_throwaway: Callable[[str, str], tuple[str, int]]) -> tuple[Path, int]:
    directory, port = pg_throwaway("create-tls", "PostgreSQL TLS tests")
    return Path(directory) / "tls", port


def _url(port: int, host: str = "127.0.0.1", user: str = "postgres", query: str = "") -> str:
    return f"postgres://{user}:{PASSWORD}@{host}:{port}/postgres{query}"


async def _session(url: str, **options: Any) -> tuple[bool, str]:
    """Whether the repository's connection is encrypted, and its user, after a write."""
    async with waypost.PostgreSQLCheckpointRepository(url, events_table=None, connect_timeout=3.0, **options) as repo:
        await repo.save_position("Tls", 7, uuid.uuid4(), "Tick")
        assert await repo.get_position("Tls") == 7
        async with repo.transaction() as tx:
            [row] = await tx.fetch_all(
                "SELECT ssl, current_user::text AS who FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
        return row["ssl"], row["who"]


async def _refused(url: str, **options: Any) -> waypost.WaypostError:
    repo = waypost.PostgreSQLCheckpointRepository(url, events_table=None, connect_timeout=3.0, **options)
    try:
        assert PASSWORD not in repr(repo)
        with pytest.raises(waypost.WaypostError) as caught:
            await repo.get_position("Tls")
        assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
        return caught.value
    finally:
        await repo.close()


async def test_modes_encrypt_as_libpq_says(tls_server: tuple[Path, int]) -> None:
    _, port = tls_server
    assert (await _session(_url(port)))[0], "prefer, the default, encrypts when offered"
    assert (await _session(_url(port), sslmode="require"))[0]
    assert not (await _session(_url(port), sslmode="disable"))[0]
    assert (await _session(_url(port, query="?sslmode=require")))[0]
    assert not (await _session(_url(port, query="?sslmode=require"), sslmode="disable"))[0], "a keyword wins"


async def test_verification_accepts_the_right_ca_and_host_only(tls_server: tuple[Path, int]) -> None:
    tls, port = tls_server
    assert (await _session(_url(port, "localhost"), sslmode="verify-full", sslrootcert=tls / "ca.pem"))[0]
    assert (await _session(_url(port, "localhost", query=f"?sslmode=verify-full&sslrootcert={tls / 'ca.pem'}")))[0]
    assert (await _session(_url(port), sslmode="verify-ca", sslrootcert=str(tls / "ca.pem")))[0]

    wrong_host = await _refused(_url(port), sslmode="verify-full", sslrootcert=tls / "ca.pem")
    assert isinstance(wrong_host, waypost.UnavailableError)
    assert "certificate not valid for name" in str(wrong_host)
    wrong_ca = await _refused(_url(port, "localhost"), sslmode="verify-full", sslrootcert=tls / "other-ca.pem")
    assert isinstance(wrong_ca, waypost.UnavailableError)
    assert "UnknownIssuer" in str(wrong_ca)


async def test_client_certificates(tls_server: tuple[Path, int]) -> None:
    tls, port = tls_server
    without = await _refused(_url(port, user="waypost_cert"), sslmode="require")
    assert "certificate" in str(without)
    session = await _session(
        _url(port, user="waypost_cert"), sslmode="require", sslcert=tls / "client.pem", sslkey=tls / "client.key"
    )
    assert session == (True, "waypost_cert")


async def test_bad_tls_settings_are_refused_at_construction(tmp_path: Path) -> None:
    url = _url(1)
    with pytest.raises(waypost.InvalidArgumentError, match="sslmode must be one of"):
        waypost.PostgreSQLCheckpointRepository(url, sslmode="on")  # type: ignore[arg-type]
    with pytest.raises(waypost.InvalidArgumentError, match="sslrootcert"):
        waypost.PostgreSQLCheckpointRepository(url, sslrootcert=tmp_path / "missing.pem")
    with pytest.raises(waypost.InvalidArgumentError, match="go together"):
        waypost.PostgreSQLCheckpointRepository(url, sslcert=tmp_path / "client.pem")
    with pytest.raises(waypost.InvalidArgumentError, match="allow"):
        waypost.PostgreSQLCheckpointRepository(url + "?sslmode=allow")
    with pytest.raises(TypeError):
        waypost.PostgreSQLCheckpointRepository(url, sslmode=1)  # type: ignore[arg-type]
    repo = waypost.open(url + "?sslmode=verify-full")
    assert PASSWORD not in repr(repo)
    await repo.close()
