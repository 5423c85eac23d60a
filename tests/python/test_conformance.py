"""The shared conformance cases (tests/conformance/cases), run through the Python
binding against memory, SQLite and PostgreSQL.

The runner mirrors core/src/conformance.rs: same operations, same JSON forms of the
records, same matchers. Names go in as the keyword arguments of the tutorial's
protocol (``projection_name=`` / ``subscription_id=``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import waypost
import waypost.sync

CASES_DIR = Path(__file__).resolve().parents[1] / "conformance" / "cases"
NAME_KEYWORD = {
    "get_checkpoint": "projection_name",
    "update_checkpoint": "projection_name",
    "get_lag_metrics": "projection_name",
    "reset_checkpoint": "projection_name",
    "get_position": "subscription_id",
    "save_position": "subscription_id",
    "get_position_token": "subscription_id",
    "save_position_token": "subscription_id",
}


def load_cases(directory: Path = CASES_DIR) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for file in sorted(directory.glob("*.json")):
        data = json.loads(file.read_text())
        cases.extend(data if isinstance(data, list) else [data])
    return cases


CASES = load_cases()


def isoformat(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def data_json(c: waypost.CheckpointData) -> dict[str, Any]:
    return {
        "projection_name": c.projection_name,
        "last_event_id": None if c.last_event_id is None else str(c.last_event_id),
        "last_event_type": c.last_event_type,
        "last_processed_at": isoformat(c.last_processed_at),
        "events_processed": c.events_processed,
        "global_position": c.global_position,
        "position_token": c.position_token,
    }


def to_json(value: Any) -> Any:
    if isinstance(value, waypost.CheckpointData):
        return data_json(value)
    if isinstance(value, waypost.LagMetrics):
        return value._asdict()
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is not None and type(value).__name__ == "UUID":
        return str(value)
    return value


def matches(expected: Any, actual: Any, started: dt.datetime, path: str = "result") -> str | None:
    """None when `actual` matches `expected`, else where it differs."""
    if expected == "$any":
        return None if actual is not None else path
    if expected == "$recent":
        if not isinstance(actual, str):
            return path
        t = dt.datetime.fromisoformat(actual)
        now = dt.datetime.now(dt.timezone.utc)
        ok = started - dt.timedelta(seconds=1) <= t <= now + dt.timedelta(seconds=1)
        return None if ok else path
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return path
        for key, value in expected.items():
            where = matches(value, actual.get(key), started, f"{path}.{key}")
            if where:
                return where
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return f"{path}.len()"
        for i, (e, a) in enumerate(zip(expected, actual)):
            where = matches(e, a, started, f"{path}[{i}]")
            if where:
                return where
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool) and expected == actual
        return None if ok else path
    return None if expected == actual else path


async def event_time(repo: Any, at: Any) -> dt.datetime | None:
    if at is None or at == "now":
        return None
    if isinstance(at, str):
        return dt.datetime.fromisoformat(at)
    name, offset = at["after_checkpoint"], at["offset_us"]
    base = next(c for c in await repo.get_all_checkpoints() if c.projection_name == name)
    assert base.last_processed_at is not None
    return base.last_processed_at + dt.timedelta(microseconds=offset)


async def perform(repo: Any, step: dict[str, Any]) -> Any:
    op, args = step["op"], dict(step.get("args", {}))
    if op in NAME_KEYWORD:
        args[NAME_KEYWORD[op]] = args.pop("name")
    if op in ("progress", "health"):
        name = args.pop("name")
        # The cases' names for times end in _s (seconds); the methods take seconds.
        options = {k.removesuffix("_s"): v for k, v in args.items()}
        if op == "progress":
            return to_json(await repo.get_progress(name, **options))
        return to_json(await repo.get_health(name, **options))
    if op == "append_events":
        events = [(e["event_id"], e["event_type"], await event_time(repo, e.get("at"))) for e in args["events"]]
        return await repo.append_events(events)
    return to_json(await getattr(repo, op)(**args))


TX_NAME_KEYWORD = {
    "tx_save_position": "subscription_id",
    "tx_update_checkpoint": "projection_name",
    "tx_save_position_token": "subscription_id",
}


async def perform_tx(repo: Any, state: dict[str, Any], step: dict[str, Any], namespace: str) -> Any:
    """The transaction steps: one current ``repo.transaction()`` per case."""
    op, args = step["op"], dict(step.get("args", {}))
    if op == "begin":
        state["tx"] = repo.transaction()
        return await state["tx"].begin()
    tx = state["tx"]
    if op in ("commit", "rollback"):
        return await getattr(tx, op)()
    if op in TX_NAME_KEYWORD:
        args[TX_NAME_KEYWORD[op]] = args.pop("name")
    if "sql" in args:
        args["sql"] = args["sql"].replace("{ns}", namespace)
    return to_json(await getattr(tx, op.removeprefix("tx_"))(**args))


def perform_frontier(state: dict[str, Any], step: dict[str, Any]) -> Any:
    """The frontier steps: one current ``waypost.Frontier`` per case."""
    op, args = step["op"], step.get("args", {})
    if op == "frontier_new":
        state["frontier"] = waypost.Frontier(args.get("start"))
        return None
    frontier = state["frontier"]
    if op == "frontier_state":
        return {"committed": frontier.committed, "in_flight": frontier.in_flight, "start": frontier.start}
    return getattr(frontier, op.removeprefix("frontier_"))(args["position"])


async def run_case(case: dict[str, Any], repo: Any, namespace: str = "") -> None:
    started = dt.datetime.now(dt.timezone.utc)
    state: dict[str, Any] = {}
    for index, step in enumerate(case.get("steps", []), start=1):
        where = f"{case['id']} step {index} ({step['op']})"
        copies = step.get("concurrently", 1)

        async def once() -> Any:
            if step["op"].startswith("frontier_"):
                return perform_frontier(state, step)
            if step["op"] in ("begin", "commit", "rollback") or step["op"].startswith("tx_"):
                return await perform_tx(repo, state, step, namespace)
            if copies > 1:
                return (await asyncio.gather(*(perform(repo, step) for _ in range(copies))))[-1]
            return await perform(repo, step)

        await check_step(where, step, once, started)


async def check_step(where: str, step: dict[str, Any], run: Any, started: dt.datetime) -> None:
    """Runs a step and checks its outcome against its ``expect`` or ``error``."""
    try:
        actual = await run()
    except waypost.WaypostError as error:
        assert "error" in step, f"{where}: unexpected {type(error).__name__}: {error}"
        assert error.code == step["error"], f"{where}: expected {step['error']}, got {error.code}: {error}"
        return
    assert "error" not in step, f"{where}: expected a {step['error']} error, got {actual!r}"
    if "expect" in step:
        differs = matches(step["expect"], actual, started)
        assert differs is None, f"{where}: at {differs}: expected {step['expect']!r}, got {actual!r}"


def options_for(case: dict[str, Any]) -> dict[str, Any]:
    spec = case.get("repository", {})
    options: dict[str, Any] = {}
    if "table" in spec:
        options["table"] = spec["table"]
    if "events_table" in spec:
        events = spec["events_table"]
        if events is None:
            options["events_table"] = None
        else:
            options["events_table"] = events.get("table", "events")
            for key in ("event_id_column", "event_type_column", "timestamp_column", "position_column"):
                if key in events:
                    options[key] = events[key]
    return options


def cases_for(backend: str) -> list[Any]:
    return [
        pytest.param(case, id=case["id"])
        for case in CASES
        if backend in case.get("backends", [backend])
    ]


async def check(case: dict[str, Any], open_repo: Any, namespace: str = "") -> None:
    expected_error = case.get("repository", {}).get("open_error")
    try:
        repo = open_repo(**options_for(case))
    except waypost.WaypostError as error:
        assert expected_error == error.code, f"{case['id']}: opening failed: {error}"
        return
    assert expected_error is None, f"{case['id']}: opening should fail with {expected_error}"
    try:
        await run_case(case, repo, namespace)
    finally:
        await repo.close()


def test_every_case_file_loads() -> None:
    assert len(CASES) >= 30
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", cases_for("memory"))
async def test_memory(case: dict[str, Any]) -> None:
    await check(case, lambda **_: waypost.InMemoryCheckpointRepository())


@pytest.mark.parametrize("case", cases_for("sqlite"))
async def test_sqlite(case: dict[str, Any], tmp_path: Path) -> None:
    await check(case, lambda **o: waypost.SQLiteCheckpointRepository(tmp_path / "case.db", **o))


@pytest.mark.parametrize("case", cases_for("postgres"))
async def test_postgres(case: dict[str, Any], postgres_url: str, schema: str) -> None:
    await check(
        case, lambda **o: waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema, **o), f'"{schema}".'
    )


@pytest.mark.parametrize("case", cases_for("mysql"))
async def test_mysql(case: dict[str, Any], mysql_database_url: str) -> None:
    await check(case, lambda **o: waypost.MySQLCheckpointRepository(mysql_database_url, **o))


class _Threaded:
    """The asyncio face the runner awaits, over a ``waypost.sync`` object: every call runs
    the plain call on a worker thread (``asyncio.to_thread``), so the cases also show the
    sync API from threads other than the one that made the object, concurrently where a
    case runs a step several times at once."""

    def __init__(self, target: Any) -> None:
        self._target = target

    def transaction(self) -> _Threaded:
        return _Threaded(self._target.transaction())

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._target, name)

        async def run(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(call, *args, **kwargs)

        return run


@pytest.mark.parametrize("case", cases_for("memory"))
async def test_sync_memory(case: dict[str, Any]) -> None:
    await check(case, lambda **_: _Threaded(waypost.sync.InMemoryCheckpointRepository()))


@pytest.mark.parametrize("case", cases_for("sqlite"))
async def test_sync_sqlite(case: dict[str, Any], tmp_path: Path) -> None:
    await check(case, lambda **o: _Threaded(waypost.sync.SQLiteCheckpointRepository(tmp_path / "case.db", **o)))


@pytest.mark.parametrize("case", cases_for("postgres"))
async def test_sync_postgres(case: dict[str, Any], postgres_url: str, schema: str) -> None:
    await check(
        case,
        lambda **o: _Threaded(waypost.sync.PostgreSQLCheckpointRepository(postgres_url, schema=schema, **o)),
        f'"{schema}".',
    )


@pytest.mark.parametrize("case", cases_for("mysql"))
async def test_sync_mysql(case: dict[str, Any], mysql_database_url: str) -> None:
    await check(case, lambda **o: _Threaded(waypost.sync.MySQLCheckpointRepository(mysql_database_url, **o)))
