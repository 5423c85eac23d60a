"""The shared claims cases (tests/conformance/claims), run through the Python binding's
``ClaimLedger`` against memory, SQLite and PostgreSQL. The runner mirrors
``run_claims_case`` in core/src/conformance.rs: same operations, same JSON forms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import waypost
from test_conformance import check_step, load_cases

CASES_DIR = Path(__file__).resolve().parents[1] / "conformance" / "claims"
DEFAULT_TIMESTAMP = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


CASES = load_cases(CASES_DIR)


def text(value: Any) -> Any:
    """Expands ``{"repeat": s, "times": n}``."""
    if isinstance(value, dict) and "repeat" in value:
        return value["repeat"] * value["times"]
    return value


def to_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


async def perform(ledger: waypost.ClaimLedger, step: dict[str, Any], saved: dict[str, Any]) -> Any:
    op, args = step["op"], step.get("args", {})
    if op == "claim":
        at = dt.datetime.fromisoformat(args["timestamp"]) if "timestamp" in args else DEFAULT_TIMESTAMP
        claim = await ledger.claim(text(args["key"]), text(args["type"]), at, text(args["worker"]), args["lease_ms"])
        if claim is not None and "save_as" in step:
            saved[step["save_as"]] = claim
        return to_json(claim)
    if op == "heartbeat":
        renewed = await ledger.heartbeat(saved[args["claim"]], args["lease_ms"])
        saved[args["claim"]] = renewed
        return to_json(renewed)
    if op == "complete":
        return await ledger.complete(saved[args["claim"]], **args.get("stats", {}))
    if op == "fail":
        return await ledger.fail(saved[args["claim"]], text(args["message"]))
    if op == "release":
        return await ledger.release(saved[args["claim"]])
    if op in ("is_processed", "get"):
        return to_json(await getattr(ledger, op)(text(args["key"])))
    if op == "stats":
        return await ledger.stats()
    if op == "list":
        return to_json(await ledger.list(args.get("status"), args.get("limit", 100)))
    raise AssertionError(f"unknown op {op}")


async def check(case: dict[str, Any], repo: Any) -> None:
    spec = case.get("claims", {})
    options = {k: spec[k] for k in ("table", "max_retries") if k in spec}
    try:
        ledger = waypost.ClaimLedger(repo, **options)
    except waypost.WaypostError as error:
        assert spec.get("open_error") == error.code, f"{case['id']}: opening failed: {error}"
        await repo.close()
        return
    assert "open_error" not in spec, f"{case['id']}: opening should fail with {spec['open_error']}"
    started = dt.datetime.now(dt.timezone.utc)
    saved: dict[str, Any] = {}
    try:
        for index, step in enumerate(case.get("steps", []), start=1):
            where = f"{case['id']} step {index} ({step['op']})"
            await check_step(where, step, lambda: perform(ledger, step, saved), started)
    finally:
        await repo.close()


def params() -> list[Any]:
    return [pytest.param(case, id=case["id"]) for case in CASES]


def test_every_claims_case_file_loads() -> None:
    assert len(CASES) >= 19
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", params())
async def test_memory(case: dict[str, Any]) -> None:
    await check(case, waypost.InMemoryCheckpointRepository())


@pytest.mark.parametrize("case", params())
async def test_sqlite(case: dict[str, Any], tmp_path: Path) -> None:
    await check(case, waypost.SQLiteCheckpointRepository(tmp_path / "claims.db"))


@pytest.mark.parametrize("case", params())
async def test_postgres(case: dict[str, Any], postgres_url: str, schema: str) -> None:
    await check(case, waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema))


@pytest.mark.parametrize("case", params())
async def test_mysql(case: dict[str, Any], mysql_database_url: str) -> None:
    await check(case, waypost.MySQLCheckpointRepository(mysql_database_url))
