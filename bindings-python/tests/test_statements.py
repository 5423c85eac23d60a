"""Statement mode: the checkpoint UPSERT run by the caller's own driver (asyncpg, sqlite3)
inside the caller's transaction commits and rolls back with their read-model write."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest

import waypost


async def test_asyncpg_commits_and_rolls_back_with_the_read_model(postgres_url: str, schema: str) -> None:
    repo = waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema)
    # Asking for the statement creates the checkpoint table (and here the schema) first.
    sql, params = await repo.checkpoint_statement("save_position", "Totals", uuid.uuid4(), "OrderPlaced", position=1)
    assert "$6" in sql and isinstance(params[1], uuid.UUID)
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f'CREATE TABLE "{schema}".totals (position BIGINT PRIMARY KEY, amount BIGINT NOT NULL)')
    async with conn.transaction():
        await conn.execute(f'INSERT INTO "{schema}".totals VALUES (1, 10)')
        await conn.execute(sql, *params)
    sql, params = await repo.checkpoint_statement("save_position", "Totals", uuid.uuid4(), "OrderPlaced", position=2)
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            await conn.execute(f'INSERT INTO "{schema}".totals VALUES (2, 20)')
            await conn.execute(sql, *params)
            raise RuntimeError("the handler failed")
    assert await repo.get_position("Totals") == 1
    assert [tuple(r) for r in await conn.fetch(f'SELECT * FROM "{schema}".totals')] == [(1, 10)]
    await conn.close()
    await repo.close()


async def test_sqlite3_commits_and_rolls_back_with_the_read_model(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    repo = waypost.SQLiteCheckpointRepository(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=5)
    conn.execute("CREATE TABLE totals (position INTEGER PRIMARY KEY, amount INTEGER NOT NULL)")
    for position, fail in ((1, False), (2, True)):
        sql, params = await repo.checkpoint_statement("update_checkpoint", "Totals", uuid.uuid4(), "OrderPlaced")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO totals VALUES (?, ?)", (position, position * 10))
        conn.execute(sql, params)
        conn.execute("ROLLBACK" if fail else "COMMIT")
    [record] = await repo.get_all_checkpoints()
    assert record.events_processed == 1
    assert conn.execute("SELECT * FROM totals").fetchall() == [(1, 10)]
    conn.close()
    await repo.close()


async def test_psycopg_raw_cursor_commits_and_rolls_back_with_the_read_model(postgres_url: str, schema: str) -> None:
    import psycopg

    repo = waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema)
    await repo.get_position("Totals")  # creates the schema and table
    # A raw cursor takes PostgreSQL's own $1 placeholders, as the statement has them.
    async with await psycopg.AsyncConnection.connect(postgres_url, cursor_factory=psycopg.AsyncRawCursor) as conn:
        await conn.execute(f'CREATE TABLE "{schema}".totals (position BIGINT PRIMARY KEY)')
        await conn.commit()
        for position, fail in ((1, False), (2, True)):
            sql, params = await repo.checkpoint_statement(
                "save_position", "Totals", uuid.uuid4(), "OrderPlaced", position=position
            )
            try:
                async with conn.transaction():
                    await conn.execute(f'INSERT INTO "{schema}".totals VALUES ($1)', [position])
                    await conn.execute(sql, params)
                    if fail:
                        raise RuntimeError("the handler failed")
            except RuntimeError:
                pass
        cur = await conn.execute(f'SELECT position FROM "{schema}".totals')
        assert await cur.fetchall() == [(1,)]
    assert await repo.get_position("Totals") == 1
    await repo.close()


async def test_sqlalchemy_exec_driver_sql_commits_with_the_read_model(postgres_url: str, schema: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    repo = waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema)
    sql, params = await repo.checkpoint_statement("save_position", "Totals", uuid.uuid4(), "OrderPlaced", position=5)
    engine = create_async_engine(postgres_url.replace("postgres://", "postgresql+asyncpg://", 1))
    try:
        async with engine.begin() as conn:  # commits at the end of the block
            await conn.exec_driver_sql(f'CREATE TABLE "{schema}".totals (position BIGINT)')
            await conn.exec_driver_sql(f'INSERT INTO "{schema}".totals VALUES ($1)', (5,))
            await conn.exec_driver_sql(sql, tuple(params))
        assert await repo.get_position("Totals") == 5
        sql, params = await repo.checkpoint_statement("save_position", "Totals", uuid.uuid4(), "OrderPlaced", position=6)
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql, tuple(params))
            await conn.rollback()
        assert await repo.get_position("Totals") == 5
    finally:
        await engine.dispose()
        await repo.close()


async def test_bad_kinds_and_memory_are_refused() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    with pytest.raises(waypost.UnsupportedError):
        await repo.checkpoint_statement("update_checkpoint", "x", uuid.uuid4(), "T")
    with pytest.raises(waypost.InvalidArgumentError):
        await repo.checkpoint_statement("save_position", "x", uuid.uuid4(), "T")  # no position
    with pytest.raises(waypost.InvalidArgumentError):
        await repo.checkpoint_statement("delete_everything", "x", uuid.uuid4(), "T")
