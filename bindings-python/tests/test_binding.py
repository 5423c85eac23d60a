"""What the conformance cases cannot show: Python conversions, keyword names, exception
classes, repr, pickling, cancellation, the interpreter left free during I/O, and use
from several event loops."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import pickle
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import waypost

UTC = dt.timezone.utc


@pytest.fixture
async def sqlite_repo(tmp_path: Path) -> AsyncIterator[waypost.SQLiteCheckpointRepository]:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "binding.db")
    yield repo
    await repo.close()


async def test_event_ids_go_in_as_uuid_or_str_and_come_out_as_uuid() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    event_id = uuid.uuid4()
    await repo.update_checkpoint("p", event_id, "T")
    assert await repo.get_checkpoint("p") == event_id
    await repo.update_checkpoint("p", str(event_id).upper(), "T")
    got = await repo.get_checkpoint("p")
    assert isinstance(got, uuid.UUID) and got == event_id
    with pytest.raises(waypost.InvalidArgumentError):
        await repo.update_checkpoint("p", "not-a-uuid", "T")
    with pytest.raises(TypeError, match="event_id"):
        await repo.update_checkpoint("p", 42, "T")  # type: ignore[arg-type]


@pytest.mark.parametrize("made", [uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid1()])
async def test_event_ids_come_out_as_uuid_does_them_in_every_respect(made: uuid.UUID) -> None:
    repo = waypost.InMemoryCheckpointRepository()
    await repo.update_checkpoint("p", made, "T")
    [record] = await repo.get_all_checkpoints()
    for got in (await repo.get_checkpoint("p"), record.last_event_id):
        assert type(got) is uuid.UUID
        reference = uuid.UUID(int=made.int)
        assert (got, hash(got), str(got), repr(got), got.int, got.bytes) == (
            reference, hash(reference), str(reference), repr(reference), reference.int, reference.bytes
        )
        assert (got.version, got.variant, got.is_safe) == (reference.version, reference.variant, uuid.SafeUUID.unknown)
        assert pickle.loads(pickle.dumps(got)) == made
        assert {got: 1}[made] == 1
        assert (got <= uuid.UUID(int=2**128 - 1), got >= uuid.UUID(int=0)) == (True, True)
        with pytest.raises(TypeError):
            got.int = 5  # type: ignore[misc]


async def test_positions_are_ints_within_0_and_2_63_minus_1() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    await repo.save_position("p", 2**63 - 1, uuid.uuid4(), "T")
    assert await repo.get_position("p") == 2**63 - 1
    for bad in (-1, 2**63, 2**100, -(2**100)):
        with pytest.raises(waypost.InvalidArgumentError):
            await repo.save_position("p", bad, uuid.uuid4(), "T")
    for wrong in (1.5, "7", True, None):
        with pytest.raises(TypeError, match="position"):
            await repo.save_position("p", wrong, uuid.uuid4(), "T")  # type: ignore[arg-type]
    assert await repo.get_position("p") == 2**63 - 1


async def test_names_must_be_str_and_the_error_names_the_parameter() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    with pytest.raises(TypeError, match="projection_name"):
        await repo.get_checkpoint(7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subscription_id"):
        await repo.get_position(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="event_types"):
        await repo.get_lag_metrics("p", event_types="OrderPlaced")  # type: ignore[arg-type]


async def test_keyword_names_are_the_tutorials() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    event_id = uuid.uuid4()
    await repo.update_checkpoint(projection_name="a", event_id=event_id, event_type="T")
    await repo.save_position(subscription_id="b", position=3, event_id=event_id, event_type="T")
    await repo.save_position_token(subscription_id="b", token="tok", event_id=event_id, event_type="T")
    assert await repo.get_checkpoint(projection_name="a") == event_id
    assert await repo.get_position(subscription_id="b") == 3
    assert await repo.get_position_token(subscription_id="b") == "tok"
    metrics = await repo.get_lag_metrics(projection_name="b", event_types=None)
    assert metrics is not None and metrics.events_processed == 2
    await repo.reset_checkpoint(projection_name="a")
    with pytest.raises(TypeError):
        await repo.get_position(name="b")  # type: ignore[call-arg]


async def test_timestamps_are_aware_utc_datetimes(sqlite_repo: waypost.SQLiteCheckpointRepository) -> None:
    before = dt.datetime.now(UTC)
    await sqlite_repo.update_checkpoint("p", uuid.uuid4(), "T")
    [record] = await sqlite_repo.get_all_checkpoints()
    assert record.last_processed_at is not None
    assert record.last_processed_at.tzinfo is not None and record.last_processed_at.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= record.last_processed_at <= dt.datetime.now(UTC)
    lag = await sqlite_repo.get_lag_metrics("p", event_types=None) if False else None
    assert lag is None


def test_exception_classes_follow_the_error_kinds() -> None:
    assert issubclass(waypost.InvalidArgumentError, waypost.WaypostError)
    assert issubclass(waypost.InvalidArgumentError, ValueError)
    assert issubclass(waypost.UnavailableError, ConnectionError)
    assert issubclass(waypost.NotFoundError, LookupError)
    codes = {cls.code for cls in (waypost.InvalidArgumentError, waypost.NotFoundError, waypost.ConflictError,
                                  waypost.UnavailableError, waypost.BackendError, waypost.UnsupportedError,
                                  waypost.LeaseLostError)}
    assert codes == {"InvalidArgument", "NotFound", "Conflict", "Unavailable", "Backend", "Unsupported", "LeaseLost"}


async def test_an_unreachable_server_is_unavailable_with_a_cause() -> None:
    repo = waypost.PostgreSQLCheckpointRepository(
        "postgresql://user:secret-password@127.0.0.1:1/db", connect_timeout=1.0
    )
    assert "secret-password" not in repr(repo)
    with pytest.raises(waypost.UnavailableError) as caught:
        await repo.get_position("p")
    assert isinstance(caught.value, ConnectionError)
    assert "127.0.0.1:1" in str(caught.value)
    assert isinstance(caught.value.__cause__, waypost.WaypostError)
    await repo.close()


async def test_a_missing_events_table_is_not_found(tmp_path: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "x.db", events_table="nowhere")
    await repo.update_checkpoint("p", uuid.uuid4(), "T")
    with pytest.raises(waypost.NotFoundError, match="nowhere"):
        await repo.get_lag_metrics("p")
    await repo.close()


def test_bad_options_are_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.SQLiteCheckpointRepository(tmp_path / "x.db", table="bad name")
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.SQLiteCheckpointRepository(tmp_path / "x.db", synchronous="OFF")
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.SQLiteCheckpointRepository(tmp_path / "x.db", busy_timeout=-1.0)
    with pytest.raises(waypost.UnavailableError):
        waypost.SQLiteCheckpointRepository(tmp_path / "missing" / "dir" / "x.db")
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.PostgreSQLCheckpointRepository("postgresql://h/db", schema="x; DROP SCHEMA public")
    with pytest.raises(waypost.InvalidArgumentError):
        waypost.open("redis://h/db")
    with pytest.raises(waypost.InvalidArgumentError, match="names no database"):
        waypost.MySQLCheckpointRepository("mysql://root@127.0.0.1:1")
    with pytest.raises(TypeError):
        waypost.open("memory:", table="x")


def test_records_behave_like_the_tutorials_frozen_dataclasses() -> None:
    now = dt.datetime.now(UTC)
    event_id = uuid.uuid4()
    data = waypost.CheckpointData(
        projection_name="OrderProjection",
        last_event_id=event_id,
        last_event_type="OrderPlaced",
        last_processed_at=now,
        events_processed=1500,
        global_position=1500,
    )
    assert data.last_event_id == event_id and data.last_processed_at == now and data.position_token is None
    assert data == waypost.CheckpointData("OrderProjection", event_id, "OrderPlaced", now, 1500, 1500)
    assert data != waypost.CheckpointData("OrderProjection")
    assert hash(data) == hash(pickle.loads(pickle.dumps(data)))
    assert pickle.loads(pickle.dumps(data)) == data
    assert repr(data).startswith("CheckpointData(projection_name='OrderProjection', last_event_id=UUID(")
    assert data._asdict()["events_processed"] == 1500
    assert list(data._asdict()) == ["projection_name", "last_event_id", "last_event_type", "last_processed_at",
                                    "events_processed", "global_position", "position_token"]
    with pytest.raises(AttributeError):
        data.events_processed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        waypost.CheckpointData("p", last_processed_at=dt.datetime.now())  # naive: no tzinfo

    lag = waypost.LagMetrics(projection_name="p", lag_seconds=1.5, stream_head=20, events_behind=15)
    assert pickle.loads(pickle.dumps(lag)) == lag
    assert repr(lag) == (
        "LagMetrics(projection_name='p', last_event_id=None, latest_event_id=None, lag_seconds=1.5, "
        "events_processed=0, last_processed_at=None, stream_head=20, events_behind=15)"
    )


async def test_listed_records_stay_out_of_the_cycle_collector_and_behave(tmp_path: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "listed.db")
    event_id = uuid.uuid4()
    for i in range(3):
        await repo.save_position(f"p{i}", i, event_id, "T")
    listed = await repo.get_all_checkpoints()
    # A record holds no Python object, so it can never be in a cycle: the collector
    # need not walk it (a list of 10,000 it walked cost a sixth of the call's time).
    assert [gc.is_tracked(record) for record in listed] == [False, False, False]
    assert gc.is_tracked(listed)
    first = listed[0]
    assert first == pickle.loads(pickle.dumps(first)) and hash(first) == hash(pickle.loads(pickle.dumps(first)))
    assert (first.projection_name, first.global_position, first.last_event_id) == ("p0", 0, event_id)
    del listed
    gc.collect()
    assert first._asdict()["projection_name"] == "p0"
    await repo.close()


def test_every_class_satisfies_the_protocol(tmp_path: Path) -> None:
    repos: list[Any] = [
        waypost.InMemoryCheckpointRepository(),
        waypost.SQLiteCheckpointRepository(tmp_path / "p.db"),
        waypost.PostgreSQLCheckpointRepository("postgresql://postgres@127.0.0.1:1/postgres"),
        waypost.open("memory:"),
    ]
    repos += [waypost.open(f"sqlite:{tmp_path / 'o.db'}"), waypost.open("postgresql://h/db")]
    repos += [waypost.MySQLCheckpointRepository("mysql://root@127.0.0.1:1/db"), waypost.open("mysql://u:secret@h/db")]
    for repo in repos:
        assert isinstance(repo, waypost.CheckpointRepository)
    assert isinstance(repos[-4], waypost.SQLiteCheckpointRepository)
    assert isinstance(repos[-3], waypost.PostgreSQLCheckpointRepository)
    assert isinstance(repos[-1], waypost.MySQLCheckpointRepository)
    assert "secret" not in repr(repos[-1])
    for repo in repos:
        asyncio.run(repo.close())


def test_sqlalchemy_urls_and_engines_are_accepted() -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.ext.asyncio import create_async_engine

    url = sqlalchemy.engine.make_url("postgresql+asyncpg://postgres:pw@127.0.0.1:1/db")
    from_url = waypost.PostgreSQLCheckpointRepository(url)
    assert "pw" not in repr(from_url)
    engine = create_async_engine(url)
    repo = waypost.PostgreSQLCheckpointRepository(engine, connect_timeout=0.5)
    assert "127.0.0.1:1" in repr(repo)
    for r in (from_url, repo):
        asyncio.run(r.close())
    with pytest.raises(TypeError, match="dsn"):
        waypost.PostgreSQLCheckpointRepository(42)


async def cancel_after_first_step(call: Any) -> None:
    """Start `call` as a task, let it take its first step (the write is handed over), then
    cancel it. A fast store may already have answered; either way the task ends."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def test_a_cancelled_sqlite_write_happens_whole(sqlite_repo: waypost.SQLiteCheckpointRepository) -> None:
    await cancel_after_first_step(sqlite_repo.save_position("p", 1, uuid.uuid4(), "T"))
    await sqlite_repo.save_position("p", 2, uuid.uuid4(), "T")
    [record] = await sqlite_repo.get_all_checkpoints()
    assert (record.global_position, record.events_processed) == (2, 2)


async def test_cancelled_postgres_calls_leave_the_store_consistent(postgres_url: str, schema: str) -> None:
    repo = waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema)
    await repo.save_position("p", 0, uuid.uuid4(), "T")
    for k in range(1, 11):
        await cancel_after_first_step(repo.save_position("p", k, uuid.uuid4(), "T"))
    await repo.save_position("p", 100, uuid.uuid4(), "T")
    [record] = await repo.get_all_checkpoints()
    assert record.global_position == 100
    assert 2 <= record.events_processed <= 12
    await repo.close()


async def test_other_threads_run_while_a_call_waits(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    repo = waypost.SQLiteCheckpointRepository(path)
    locked, counted = threading.Event(), []

    def hold_the_lock_while_counting() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        n = 0
        while n < 200_000:  # pure Python: needs the interpreter
            n += 1
        counted.append(n)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold_the_lock_while_counting)
    thread.start()
    locked.wait()
    # The write waits for the lock the other thread holds; it can only finish if that
    # thread gets to run Python code meanwhile.
    await repo.save_position("p", 1, uuid.uuid4(), "T")
    thread.join()
    assert counted == [200_000]
    assert await repo.get_position("p") == 1
    await repo.close()


async def test_the_event_loop_runs_other_tasks_while_a_write_waits(tmp_path: Path) -> None:
    # A write may keep the loop for a few hundred microseconds at most; one that waits
    # longer yields, so another task gets to run while it waits.
    path = tmp_path / "waits.db"
    repo = waypost.SQLiteCheckpointRepository(path)
    await repo.get_position("p")
    locked, other_task_ran = threading.Event(), threading.Event()

    def hold_the_lock_until_the_other_task_ran() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        other_task_ran.wait(timeout=10)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold_the_lock_until_the_other_task_ran)
    thread.start()
    locked.wait()

    async def other_task() -> None:
        other_task_ran.set()

    write = asyncio.ensure_future(repo.save_position("p", 1, uuid.uuid4(), "T"))
    await asyncio.sleep(0)  # the write starts and finds the file locked
    await other_task()
    await write
    thread.join()
    assert other_task_ran.is_set()
    assert await repo.get_position("p") == 1
    await repo.close()


def test_one_repository_works_from_several_event_loops(tmp_path: Path, postgres_url: str, schema: str) -> None:
    repos = [
        waypost.InMemoryCheckpointRepository(),
        waypost.SQLiteCheckpointRepository(tmp_path / "loops.db"),
        waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema),
    ]
    for k in range(1, 4):
        for repo in repos:
            asyncio.run(repo.save_position("p", k, uuid.uuid4(), "T"))
    for repo in repos:
        assert asyncio.run(repo.get_position("p")) == 3
        asyncio.run(repo.close())


async def test_close_and_async_with(tmp_path: Path) -> None:
    async with waypost.SQLiteCheckpointRepository(tmp_path / "c.db") as repo:
        await repo.save_position("p", 1, uuid.uuid4(), "T")
    with pytest.raises(waypost.UnavailableError):
        await repo.get_position("p")
    other = waypost.InMemoryCheckpointRepository()
    await other.aclose()
    with pytest.raises(waypost.UnavailableError):
        await other.get_position("p")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_a_forked_child_gets_an_error_not_a_hang(tmp_path: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "fork.db")
    asyncio.run(repo.save_position("p", 1, uuid.uuid4(), "T"))
    pid = os.fork()
    if pid == 0:  # the child: the runtime's threads did not come along
        code = 1
        try:
            asyncio.run(repo.get_position("p"))
        except waypost.WaypostError as error:
            code = 0 if "forked" in str(error) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert asyncio.run(repo.get_position("p")) == 1  # the parent is unaffected
    asyncio.run(repo.close())


def test_version_is_the_crates() -> None:
    assert waypost.__version__.count(".") == 2


async def test_in_memory_records_are_kept_until_written_and_always_current() -> None:
    repo = waypost.InMemoryCheckpointRepository()
    for name in ("b", "d", "f"):
        await repo.save_position(name, 1, uuid.uuid4(), "T")
    first = await repo.get_all_checkpoints()
    again = await repo.get_all_checkpoints()
    assert again == first and all(a is b for a, b in zip(first, again)) and again is not first
    # A write, an insert before, between and after, and a reset: each shows at once;
    # the records not touched are the same objects.
    await repo.save_position("d", 2, uuid.uuid4(), "T")
    for name in ("a", "c", "g"):
        await repo.save_position(name, 7, uuid.uuid4(), "T")
    await repo.reset_checkpoint("f")
    now = await repo.get_all_checkpoints()
    assert [(r.projection_name, r.global_position) for r in now] == [("a", 7), ("b", 1), ("c", 7), ("d", 2), ("g", 7)]
    assert now[1] is first[0] and now[3] is not first[1]
    assert [r.events_processed for r in now] == [1, 1, 1, 2, 1]
    # Written inside a transaction.
    async with repo.transaction() as tx:
        await tx.save_position("b", 3, uuid.uuid4(), "T")
    assert [r.global_position for r in await repo.get_all_checkpoints()] == [7, 3, 7, 2, 7]
    await repo.close()
    with pytest.raises(waypost.UnavailableError):
        await repo.get_all_checkpoints()
