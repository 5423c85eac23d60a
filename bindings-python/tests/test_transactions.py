"""Transactions from Python: ``async with repo.transaction() as tx:``. The rules are the
core's (conformance cases T01–T10); these tests cover what the binding adds: the
context manager, parameter and row conversions, errors and their classes, cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

import waypost


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A repository on each SQL backend, with the namespace prefix for its tables."""
    if request.param == "sqlite":
        repo: Any = waypost.SQLiteCheckpointRepository(tmp_path / "tx.db")
        ns = ""
    else:
        schema = request.getfixturevalue("schema")
        repo = waypost.PostgreSQLCheckpointRepository(request.getfixturevalue("postgres_url"), schema=schema)
        ns = f'"{schema}".'
    yield request.param, repo, ns
    await repo.close()


async def test_the_block_commits_both_or_rolls_back_both(sql_store: Any) -> None:
    _, repo, ns = sql_store
    async with repo.transaction() as tx:
        await tx.execute(f"CREATE TABLE {ns}totals (id BIGINT PRIMARY KEY, amount BIGINT NOT NULL)")
        assert await tx.execute(f"INSERT INTO {ns}totals VALUES ($1, $2)", [1, 10]) == 1
        await tx.save_position("Totals", 1, uuid.uuid4(), "OrderPlaced")
        assert await repo.get_position("Totals") is None, "not visible before the commit"
    assert await repo.get_position("Totals") == 1

    with pytest.raises(RuntimeError, match="handler failed"):
        async with repo.transaction() as tx:
            await tx.execute(f"INSERT INTO {ns}totals VALUES ($1, $2)", (2, 20))
            await tx.save_position("Totals", 2, uuid.uuid4(), "OrderPlaced")
            raise RuntimeError("handler failed")
    assert not tx.is_open
    assert await repo.get_position("Totals") == 1
    async with repo.transaction() as tx:
        rows = await tx.fetch_all(f"SELECT id, amount FROM {ns}totals ORDER BY id")
    assert rows == [{"id": 1, "amount": 10}]


async def test_parameters_and_rows_convert(sql_store: Any) -> None:
    backend, repo, ns = sql_store
    at = dt.datetime(2026, 11, 30, 5, 6, 7, 891011, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    event_id = uuid.uuid4()
    types = ("BOOLEAN", "BYTEA", "UUID", "TIMESTAMPTZ", "JSONB") if backend == "postgres" else ("BOOLEAN", "BLOB", "TEXT", "TEXT", "TEXT")
    big = 2**62 + 1
    async with repo.transaction() as tx:
        await tx.execute(
            f"CREATE TABLE {ns}typed (b {types[0]}, y {types[1]}, u {types[2]}, t {types[3]}, j {types[4]}, "
            "i BIGINT, f DOUBLE PRECISION, s TEXT, n TEXT)"
        )
        params = [True, b"\x00\x9f\xff", event_id, at, {"a": [1, 2], "b": None}, big, 0.5, "ü'\";--", None]
        await tx.execute(f"INSERT INTO {ns}typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", params)
        await tx.execute(f"INSERT INTO {ns}typed (b, y, s) VALUES ($1, $2, $3)", [False, bytearray(b"ab"), "x"])
        [row, second] = await tx.fetch_all(f"SELECT * FROM {ns}typed ORDER BY s DESC")
    assert list(row) == ["b", "y", "u", "t", "j", "i", "f", "s", "n"]
    assert row["y"] == b"\x00\x9f\xff" and second["y"] == b"ab"
    assert (row["i"], row["f"], row["s"], row["n"]) == (big, 0.5, "ü'\";--", None)
    if backend == "postgres":
        assert row["b"] is True and second["b"] is False
        assert row["u"] == event_id
        assert row["t"] == at and row["t"].tzinfo is not None
        assert row["j"] == {"a": [1, 2], "b": None}
    else:
        # SQLite keeps its storage classes: integers and text.
        assert (row["b"], second["b"]) == (1, 0)
        assert row["u"] == str(event_id)
        assert dt.datetime.fromisoformat(row["t"]) == at
        assert row["j"] == '{"a": [1, 2], "b": null}'


async def test_bad_parameters_are_typed_errors_naming_the_parameter(sql_store: Any) -> None:
    _, repo, ns = sql_store
    async with repo.transaction() as tx:
        await tx.execute(f"CREATE TABLE {ns}t (v TEXT)")
        with pytest.raises(TypeError, match=r"params\[1\]: unsupported type object"):
            await tx.execute(f"INSERT INTO {ns}t VALUES ($1)", ["fine", object()])
        with pytest.raises(TypeError, match="list or tuple"):
            await tx.execute(f"INSERT INTO {ns}t VALUES ($1)", "abc")  # type: ignore[arg-type]
        with pytest.raises(waypost.InvalidArgumentError, match=r"params\[0\]: .*naive datetime"):
            await tx.execute(f"INSERT INTO {ns}t VALUES ($1)", [dt.datetime(2026, 1, 1)])
        with pytest.raises(waypost.InvalidArgumentError, match=r"params\[0\]: .*integer out of the 64-bit range"):
            await tx.execute(f"INSERT INTO {ns}t VALUES ($1)", [2**63])
        with pytest.raises(TypeError):
            await tx.save_position("T", "1", uuid.uuid4(), "E")  # type: ignore[arg-type]
        # None of these reached the store: the transaction is still open.
        assert tx.is_open
        await tx.execute(f"INSERT INTO {ns}t VALUES ($1)", ["kept"])
    async with repo.transaction() as tx:
        assert await tx.fetch_all(f"SELECT v FROM {ns}t") == [{"v": "kept"}]


async def test_store_errors_have_their_classes_and_end_the_transaction(sql_store: Any) -> None:
    _, repo, ns = sql_store
    async with repo.transaction() as tx:
        await tx.execute(f"CREATE TABLE {ns}u (id BIGINT PRIMARY KEY)")
        await tx.execute(f"INSERT INTO {ns}u VALUES (1)")
    tx = repo.transaction()
    await tx.begin()
    await tx.save_position("U", 5, uuid.uuid4(), "E")
    with pytest.raises(waypost.ConflictError):
        await tx.execute(f"INSERT INTO {ns}u VALUES (1)")
    assert not tx.is_open
    with pytest.raises(waypost.InvalidArgumentError, match="ended"):
        await tx.commit()
    await tx.rollback()  # a no-op now
    with pytest.raises(waypost.NotFoundError):
        async with repo.transaction() as tx:
            await tx.fetch_all(f"SELECT * FROM {ns}missing")
    assert await repo.get_position("U") is None


async def test_cancelling_the_block_rolls_back(sql_store: Any) -> None:
    _, repo, ns = sql_store
    async with repo.transaction() as tx:
        await tx.execute(f"CREATE TABLE {ns}c (id BIGINT)")
    entered = asyncio.Event()

    async def handler() -> None:
        async with repo.transaction() as tx:
            await tx.execute(f"INSERT INTO {ns}c VALUES (1)")
            await tx.save_position("C", 1, uuid.uuid4(), "E")
            entered.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(handler())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await repo.get_position("C") is None
    async with repo.transaction() as tx:
        assert await tx.fetch_all(f"SELECT id FROM {ns}c") == []


async def test_memory_transactions_hold_checkpoint_writes_until_commit() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    async with repo.transaction() as tx:
        await tx.save_position("M", 1, uuid.uuid4(), "E")
        await tx.update_checkpoint("N", uuid.uuid4(), "E")
        with pytest.raises(waypost.UnsupportedError):
            await tx.execute("SELECT 1")
        assert await repo.get_all_checkpoints() == []
    assert [c.projection_name for c in await repo.get_all_checkpoints()] == ["M", "N"]
    with pytest.raises(KeyError):
        async with repo.transaction() as tx:
            await tx.save_position_token("M", "lsn:1", uuid.uuid4(), "E")
            raise KeyError("boom")
    assert await repo.get_position_token("M") is None


async def test_repr_and_use_before_begin(tmp_path: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "r.db")
    tx = repo.transaction()
    assert repr(tx) == "<waypost.Transaction not begun>"
    with pytest.raises(waypost.InvalidArgumentError, match="not begun"):
        await tx.execute("SELECT 1")
    async with tx:
        assert repr(tx) == "<waypost.Transaction open>"
        with pytest.raises(waypost.InvalidArgumentError, match="begun already"):
            await tx.begin()
    assert repr(tx) == "<waypost.Transaction ended>"
    memory_db = waypost.SQLiteCheckpointRepository(":memory:")
    with pytest.raises(waypost.UnsupportedError):
        async with memory_db.transaction():
            pass
    await memory_db.close()
    await repo.close()
