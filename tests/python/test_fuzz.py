"""Hostile-input property tests of the Python binding on memory, SQLite and PostgreSQL.

Every public method of the repository protocol, and the constructors and ``open`` with
bad options, get hypothesis-generated input: wrong types, NaN and infinities, huge ints,
negative positions, empty/255/256/10,000-character names, NUL characters, lone surrogates
(``'\\ud800'``), malformed UUIDs and tokens, SQL-looking names, event types and
identifiers. The property, per call:

- valid input succeeds and reads back exactly (every getter and the whole listing agree
  with a model of the store kept by the test);
- anything else raises ``waypost.InvalidArgumentError`` (a bad value) or ``TypeError``
  (a wrong type) — never a panic, never another exception. The argument conversion
  itself refuses two bad values with Python's own errors before waypost sees them, as
  ``str.encode`` and C integer conversions do everywhere: ``UnicodeEncodeError`` for a
  string with a lone surrogate (it has no UTF-8 form) and ``OverflowError`` for an
  integer option outside its range; both are accepted as typed rejections of a bad value;
- a rejected call leaves the store as it was: ``get_all_checkpoints()`` (and, on SQLite,
  the raw rows read with the ``sqlite3`` module) compare equal before and after.

Seeded and bounded: ``WAYPOST_FUZZ_CASES`` (default 150) examples per method and backend,
``WAYPOST_FUZZ_SEED`` (default 20261201). Violations are collected (the shortest input of
each kind kept) and listed when a backend's test ends; the last test prints the counts
and writes them to ``.demo/fuzz-counts-python.txt``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import waypost

# The rejections that count as typed: waypost's for a bad value, TypeError for a wrong
# type, and the conversion's own UnicodeEncodeError / OverflowError (module docstring).
TYPED = (waypost.InvalidArgumentError, TypeError, UnicodeEncodeError, OverflowError)

CASES = int(os.environ.get("WAYPOST_FUZZ_CASES") or 150)
SEED = int(os.environ.get("WAYPOST_FUZZ_SEED") or 20261201)
ROOT = Path(__file__).resolve().parents[2]

# backend -> counts; violation kind -> [shortest input, what happened, how often]
COUNTS: dict[str, dict[str, int]] = {}
VIOLATIONS: dict[str, dict[str, list[Any]]] = {}


def fuzz_settings(label: str) -> Callable[[Any], Any]:
    """hypothesis settings and a seed of the label's own (deterministic per run)."""
    offset = sum(ord(c) * (i + 1) for i, c in enumerate(label))

    def apply(f: Any) -> Any:
        f = settings(
            max_examples=CASES,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=["generate"],
        )(f)
        return seed(SEED + offset)(f)

    return apply


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:40]}…({len(text)} chars)"


class Tally:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.counts = COUNTS.setdefault(backend, {"inputs": 0, "rejected": 0, "crashes": 0})
        self.violations = VIOLATIONS.setdefault(backend, {})

    def violation(self, kind: str, call: str, what: str) -> None:
        entry = self.violations.setdefault(kind, [call, what, 0])
        entry[2] += 1
        if len(call) < len(entry[0]):
            entry[0], entry[1] = call, what

    def assert_clean(self) -> None:
        if self.violations:
            listed = "\n".join(
                f"- {kind} ({n}x)\n    input: {call}\n    got: {what}" for kind, (call, what, n) in self.violations.items()
            )
            pytest.fail(f"python {self.backend}: {len(self.violations)} kinds of violation\n{listed}", pytrace=False)


# --------------------------------------------------------------------------------------
# Generators: each yields (value, verdict) with verdict "ok", "invalid" (InvalidArgument),
# "type" (TypeError) or "any" (ok or InvalidArgument).

VALID_POOL = [
    "orders",
    "OrderProjection",
    'x"; DROP TABLE t; --',
    "'; DELETE FROM projection_checkpoints; --",
    "Robert'); DROP TABLE students;--",
    "projection_checkpoints",
    "a b  c",
    " ",
    "$1",
    "?1",
    "%s%n",
    "\\x00",
    "ünïcödé",
    "名前",
    "emoji 🎉",
    "tab\there\nnewline",
    "\ufeffbom",
    "\uffff",
    "a" * 255,
    "é" * 255,
    "🎉" * 255,
]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
WRONG_TYPES = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.binary(max_size=8),
    st.just(["orders"]),
    st.just(uuid.uuid4()),
    st.just(b"orders"),
)


def name_verdict(value: str) -> str:
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "invalid"
    return "ok" if value and "\0" not in value and len(value) <= 255 else "invalid"


def token_verdict(value: str) -> str:
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "invalid"
    return "ok" if value and "\0" not in value and len(value) <= 4096 else "invalid"


def texts(verdict: Callable[[str], str], pool: list[str], long: list[str]) -> st.SearchStrategy[tuple[Any, str]]:
    strings = st.one_of(
        st.sampled_from(pool),
        st.sampled_from(pool),
        st.sampled_from(pool),
        st.just(""),
        st.sampled_from(long),
        st.builds(lambda a, b: a + "\0" + b, st.text(max_size=4), st.text(max_size=4)),
        st.builds(lambda a, s, b: a + s + b, st.text(max_size=6), st.sampled_from(SURROGATES), st.text(max_size=6)),
        st.text(min_size=1, max_size=24),
        st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=300),
    )
    return st.one_of(
        strings.map(lambda s: (s, verdict(s))),
        WRONG_TYPES.map(lambda v: (v, "type")),
    )


NAMES = texts(name_verdict, VALID_POOL, ["a" * 256, "é" * 256, "🎉" * 256, "x" * 10_000])
TOKENS = texts(
    token_verdict,
    ["0/16B3748", "cursor:eyJpZCI6NDJ9", 'x"; DROP TABLE t; --', "t" * 4096, "é" * 4096],
    ["t" * 4097, "é" * 4097, "t" * 10_000],
)

POSITIONS = st.one_of(
    st.integers(0, 1_000_000).map(lambda p: (p, "ok")),
    st.sampled_from([0, 1, 2**53 - 1, 2**53 + 1, 2**63 - 1]).map(lambda p: (p, "ok")),
    st.sampled_from([-1, -(2**53) - 1, -(2**63), 2**63, 2**64, 2**200, -(2**200)]).map(lambda p: (p, "invalid")),
    st.integers().map(lambda p: (p, "ok" if 0 <= p <= 2**63 - 1 else "invalid")),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([math.nan, math.inf, -math.inf, 1.0, True, False, "1", None, b"1", [1]]),
    ).map(lambda p: (p, "type")),
)


def uuid_text(u: uuid.UUID, form: int) -> str:
    return [str(u), str(u).upper(), u.hex, "{" + str(u) + "}", u.urn][form]


EVENT_IDS = st.one_of(
    st.uuids().map(lambda u: (u, "ok", u)),
    st.builds(lambda u, f: (uuid_text(u, f), "ok", u), st.uuids(), st.integers(0, 4)),
    st.builds(
        lambda u, how: (
            [
                "",
                str(u)[1:],
                str(u) + "0",
                str(u).replace("-", "", 1),
                str(u)[:5] + "g" + str(u)[6:],
                str(u) + "\0",
                'x"; DROP TABLE t; --',
                "0" * 10_000,
                str(u)[:8] + "\ud800" + str(u)[9:],
            ][how],
            "invalid",
            None,
        ),
        st.uuids(),
        st.integers(0, 8),
    ),
    st.text(max_size=40).map(lambda s: (s, "any", None)),
    st.one_of(st.none(), st.integers(), st.binary(max_size=16), st.floats()).map(lambda v: (v, "type", None)),
)

EVENT_TYPE_LISTS = st.one_of(
    st.just((None, "ok")),
    st.just(([], "ok")),
    st.lists(NAMES, min_size=1, max_size=3).map(lambda items: ([v for v, _ in items], combine(*(k for _, k in items)))),
    st.lists(NAMES, min_size=1, max_size=3).map(lambda items: (tuple(v for v, _ in items), combine(*(k for _, k in items)))),
    st.one_of(st.text(max_size=5), st.integers(), st.floats(), st.just(b"OrderPlaced")).map(lambda v: (v, "type")),
)


def combine(*verdicts: str) -> str:
    """The verdict of a call: a wrong type raises TypeError, or InvalidArgument when a
    value converted first is bad; else any bad value is InvalidArgument."""
    if "type" in verdicts:
        return "type"
    if "invalid" in verdicts:
        return "invalid"
    return "any" if "any" in verdicts else "ok"


# --------------------------------------------------------------------------------------
# The calls, the model and the checks

NAME_KW = {
    "get_checkpoint": "projection_name",
    "update_checkpoint": "projection_name",
    "get_lag_metrics": "projection_name",
    "reset_checkpoint": "projection_name",
    "get_position": "subscription_id",
    "save_position": "subscription_id",
    "get_position_token": "subscription_id",
    "save_position_token": "subscription_id",
}


def calls(method: str) -> st.SearchStrategy[tuple[dict[str, Any], str, Any]]:
    """(keyword arguments, verdict, parsed event id) for one call of `method`."""
    if method == "save_position":
        return st.builds(
            lambda n, p, i, t: ({"subscription_id": n[0], "position": p[0], "event_id": i[0], "event_type": t[0]}, combine(n[1], p[1], i[1], t[1]), i[2]),
            NAMES, POSITIONS, EVENT_IDS, NAMES,
        )
    if method == "update_checkpoint":
        return st.builds(
            lambda n, i, t: ({"projection_name": n[0], "event_id": i[0], "event_type": t[0]}, combine(n[1], i[1], t[1]), i[2]),
            NAMES, EVENT_IDS, NAMES,
        )
    if method == "save_position_token":
        return st.builds(
            lambda n, k, i, t: ({"subscription_id": n[0], "token": k[0], "event_id": i[0], "event_type": t[0]}, combine(n[1], k[1], i[1], t[1]), i[2]),
            NAMES, TOKENS, EVENT_IDS, NAMES,
        )
    if method == "get_lag_metrics":
        return st.builds(
            lambda n, t: ({"projection_name": n[0], "event_types": t[0]}, combine(n[1], t[1]), None), NAMES, EVENT_TYPE_LISTS
        )
    if method == "get_all_checkpoints":
        return st.just(({}, "ok", None))
    return NAMES.map(lambda n: ({NAME_KW[method]: n[0]}, n[1], None))


METHODS = [
    "save_position",
    "update_checkpoint",
    "save_position_token",
    "get_checkpoint",
    "get_position",
    "get_position_token",
    "get_lag_metrics",
    "get_all_checkpoints",
    "reset_checkpoint",
]


def raw_rows(path: Path | None) -> list[tuple[Any, ...]] | None:
    if path is None:
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM projection_checkpoints ORDER BY projection_name").fetchall()
    finally:
        conn.close()


class Store:
    def __init__(self, backend: str, repo: Any, sqlite_path: Path | None = None) -> None:
        self.backend, self.repo, self.sqlite_path = backend, repo, sqlite_path
        self.model: dict[str, dict[str, Any]] = {}
        self.head = 0
        self.tally = Tally(backend)


def compare(all_: list[waypost.CheckpointData], model: dict[str, dict[str, Any]]) -> str | None:
    names = [c.projection_name for c in all_]
    expected = sorted(model, key=lambda n: n.encode())
    if names != expected:
        return f"names {short(names)}, expected {short(expected)}"
    for c in all_:
        e = model[c.projection_name]
        got = (c.last_event_id, c.last_event_type, c.global_position, c.position_token, c.events_processed)
        want = (e["id"], e["type"], e["position"], e["token"], e["count"])
        if got != want or c.last_processed_at is None or c.last_processed_at.tzinfo is None:
            return f"record {short(c.projection_name)}: got {short(got)}, expected {short(want)}"
    return None


def check_success(store: Store, method: str, kwargs: dict[str, Any], parsed: Any, result: Any,
                  window: tuple[dt.datetime, dt.datetime], all_: list[waypost.CheckpointData]) -> str | None:
    model = store.model
    name = kwargs.get(NAME_KW.get(method, ""), None)
    prev = model.get(name) if isinstance(name, str) else None
    if method in ("save_position", "update_checkpoint", "save_position_token"):
        if result is not None:
            return f"returned {short(result)}"
        event_id = parsed if parsed is not None else uuid.UUID(str(kwargs["event_id"]))
        model[name] = {
            "id": event_id,
            "type": kwargs["event_type"],
            "position": kwargs["position"] if method == "save_position" else (prev or {}).get("position"),
            "token": kwargs["token"] if method == "save_position_token" else (prev or {}).get("token"),
            "count": (prev or {}).get("count", 0) + 1,
        }
        at = next((c.last_processed_at for c in all_ if c.projection_name == name), None)
        if at is None or not (window[0] - dt.timedelta(seconds=1) <= at <= window[1] + dt.timedelta(seconds=1)):
            return f"last_processed_at {at} is not the time of the call"
    elif method == "reset_checkpoint":
        model.pop(name, None)
    elif method == "get_checkpoint":
        want = None if prev is None else prev["id"]
        if result != want or (result is not None and not isinstance(result, uuid.UUID)):
            return f"read {result!r}, expected {want!r}"
    elif method == "get_position":
        want = None if prev is None else prev["position"]
        if result != want or (result is not None and type(result) is not int):
            return f"read {result!r}, expected {want!r}"
    elif method == "get_position_token":
        want = None if prev is None else prev["token"]
        if result != want:
            return f"read {short(result)}, expected {short(want)}"
    elif method == "get_lag_metrics":
        if (result is None) != (prev is None):
            return f"lag {result!r}, expected a record: {prev is not None}"
        if result is not None and prev is not None:
            behind = None if prev["position"] is None else max(0, store.head - prev["position"])
            ok = (
                result.projection_name == name
                and result.events_processed == prev["count"]
                and result.last_event_id == str(prev["id"])
                and result.stream_head == store.head
                and result.events_behind == behind
                and math.isfinite(result.lag_seconds)
                and result.lag_seconds >= 0
            )
            if not ok:
                return f"lag {result!r} does not match {prev!r} (head {store.head})"
    elif method == "get_all_checkpoints":
        if result != all_:
            return "two listings in a row differ"
    return compare(all_, model)


def resync(store: Store, all_: list[waypost.CheckpointData]) -> None:
    store.model = {
        c.projection_name: {
            "id": c.last_event_id, "type": c.last_event_type, "position": c.global_position,
            "token": c.position_token, "count": c.events_processed,
        }
        for c in all_
    }


async def check_call(store: Store, method: str, kwargs: dict[str, Any], verdict: str, parsed: Any) -> None:
    tally, repo = store.tally, store.repo
    tally.counts["inputs"] += 1
    label = f"{store.backend} {method}"
    call = f"{method}({', '.join(f'{k}={short(v)}' for k, v in kwargs.items())})"
    before = await repo.get_all_checkpoints()
    raw_before = raw_rows(store.sqlite_path)
    started = dt.datetime.now(dt.timezone.utc)
    error: BaseException | None = None
    result: Any = None
    try:
        result = await getattr(repo, method)(**kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # a pyo3 PanicException is a BaseException
        error = e
    ended = dt.datetime.now(dt.timezone.utc)
    after = await repo.get_all_checkpoints()
    if error is None:
        if verdict in ("invalid", "type"):
            tally.violation(f"{label}: accepted input that must raise ({verdict})", call, short(result))
        what = check_success(store, method, kwargs, parsed, result, (started, ended), after)
        if what is not None and verdict not in ("invalid", "type"):
            tally.violation(f"{label}: no exact round trip", call, what)
        if what is not None:
            resync(store, after)
        return
    tally.counts["rejected"] += 1
    if not isinstance(error, Exception):
        tally.counts["crashes"] += 1
        tally.violation(f"{label}: {type(error).__name__} (a crash)", call, str(error)[:200])
    elif not isinstance(error, TYPED):
        tally.violation(f"{label}: untyped {type(error).__name__}", call, str(error)[:200])
    elif verdict == "ok":
        tally.violation(f"{label}: rejected valid input", call, f"{type(error).__name__}: {error}"[:200])
    elif isinstance(error, TypeError) and verdict != "type":
        tally.violation(f"{label}: TypeError for a bad value (expected InvalidArgumentError)", call, str(error)[:200])
    if after != before:
        tally.violation(f"{label}: rejected call changed the store", call, f"{type(error).__name__}: {error}"[:200])
    if raw_rows(store.sqlite_path) != raw_before:
        tally.violation(f"{label}: rejected call changed the raw rows", call, f"{type(error).__name__}: {error}"[:200])


def fuzz_store(backend: str, make: Callable[[], tuple[Any, Path | None]]) -> None:
    loop = asyncio.new_event_loop()
    try:
        repo, path = make()
        store = Store(backend, repo, path)

        async def setup() -> None:
            await repo.create_events_table()
            await repo.append_events([(uuid.uuid4(), t, None) for t in ("OrderPlaced", 'x"; DROP TABLE t; --', "OrderShipped")])

        loop.run_until_complete(setup())
        store.head = 3
        for method in METHODS:

            @fuzz_settings(f"{backend} {method}")
            @given(calls(method))
            def run(case: tuple[dict[str, Any], str, Any]) -> None:
                kwargs, verdict, parsed = case
                loop.run_until_complete(check_call(store, method, kwargs, verdict, parsed))

            run()
        loop.run_until_complete(repo.close())
    finally:
        loop.close()
    store.tally.assert_clean()


def test_fuzz_memory() -> None:
    fuzz_store("memory", lambda: (waypost.InMemoryCheckpointRepository(), None))


def test_fuzz_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "fuzz.db"
    fuzz_store("sqlite", lambda: (waypost.SQLiteCheckpointRepository(path), path))


def test_fuzz_postgres(postgres_url: str, schema: str) -> None:
    fuzz_store("postgres", lambda: (waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema, pool_size=2), None))


def test_fuzz_mysql(mysql_database_url: str) -> None:
    fuzz_store("mysql", lambda: (waypost.MySQLCheckpointRepository(mysql_database_url, pool_size=2), None))


# --------------------------------------------------------------------------------------
# Constructors and open() with bad options

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
BAD_IDENTS = ["", "1abc", 'x"; DROP TABLE t; --', 't"', "it's", "a b", "a.b", "public.events", "é", "a\0b", "; --",
              "$1", "[t]", "`t`", "a" + "b" * 63, "x" * 10_000, "t\ud800"]


def ident_verdict(value: Any) -> str:
    if not isinstance(value, str):
        return "type"
    return "ok" if IDENT.match(value) and len(value.encode("utf-8", "replace")) <= 63 else "invalid"


IDENTS = st.one_of(
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,20}\Z"),
    st.just("a" * 63),
    st.sampled_from(BAD_IDENTS),
    st.sampled_from(BAD_IDENTS),
    st.text(max_size=12),
).map(lambda s: (s, ident_verdict(s)))
IDENT_OR_WRONG = st.one_of(IDENTS, IDENTS, IDENTS, st.one_of(st.integers(), st.just(b"t"), st.just(["t"])).map(lambda v: (v, "type")))
OPTIONAL_IDENT = st.one_of(st.just((None, "ok")), IDENT_OR_WRONG)
SECONDS = st.one_of(
    st.floats(0, 1e6).map(lambda s: (s, "ok")),
    st.integers(0, 10**6).map(lambda s: (s, "ok")),
    st.sampled_from([-1.0, -1e-9, math.nan, math.inf, -math.inf, 1e300, -(10**30)]).map(lambda s: (s, "invalid")),
    st.sampled_from(["5", None, b"5", [5]]).map(lambda s: (s, "type")),
)


def open_counts(backend: str) -> Tally:
    return Tally(backend)


async def open_round_trip(repo: Any) -> str | None:
    event_id = uuid.uuid4()
    await repo.save_position('x"; DROP TABLE t; --', 42, event_id, "T")
    got = (await repo.get_position('x"; DROP TABLE t; --'), [c.last_event_id for c in await repo.get_all_checkpoints()])
    await repo.close()
    return None if got == (42, [event_id]) else f"read back {got!r}"


def check_open(tally: Tally, label: str, call: str, verdict: str, opener: Callable[[], Any],
               untouched: Callable[[], bool], loop: asyncio.AbstractEventLoop) -> None:
    tally.counts["inputs"] += 1
    try:
        repo = opener()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:
        tally.counts["rejected"] += 1
        if not isinstance(error, Exception):
            tally.counts["crashes"] += 1
            tally.violation(f"{label}: {type(error).__name__} (a crash)", call, str(error)[:200])
        elif not isinstance(error, TYPED):
            tally.violation(f"{label}: untyped {type(error).__name__}", call, str(error)[:200])
        elif verdict == "ok":
            tally.violation(f"{label}: rejected valid options", call, f"{type(error).__name__}: {error}"[:200])
        elif isinstance(error, TypeError) and verdict != "type":
            tally.violation(f"{label}: TypeError for a bad value (expected InvalidArgumentError)", call, str(error)[:200])
        if not untouched():
            tally.violation(f"{label}: rejected options touched the store", call, str(error)[:200])
        return
    if verdict in ("invalid", "type"):
        try:
            first = loop.run_until_complete(repo.get_all_checkpoints())
            what = f"first call returned {short(first)}"
        except Exception as e:
            what = f"first call raised {type(e).__name__}: {str(e)[:120]}"
        loop.run_until_complete(repo.close())
        tally.violation(f"{label}: accepted options that must raise ({verdict})", call, what)
        return
    what = loop.run_until_complete(open_round_trip(repo))
    if what is not None:
        tally.violation(f"{label}: opened store does not round-trip", call, what)


def test_fuzz_open_sqlite(tmp_path: Path) -> None:
    tally = Tally("sqlite-open")
    loop = asyncio.new_event_loop()
    counter = iter(range(10**9))
    options = st.fixed_dictionaries(
        {},
        optional={
            "table": IDENT_OR_WRONG,
            "events_table": OPTIONAL_IDENT,
            "event_id_column": IDENT_OR_WRONG,
            "event_type_column": IDENT_OR_WRONG,
            "timestamp_column": IDENT_OR_WRONG,
            "position_column": OPTIONAL_IDENT,
            "busy_timeout": SECONDS,
            "synchronous": st.one_of(
                st.sampled_from(["FULL", "NORMAL", "full", "Normal"]).map(lambda s: (s, "ok")),
                st.sampled_from(["", "OFF", "x\"; PRAGMA", "FULL\0", "\ud800"]).map(lambda s: (s, "invalid")),
                st.sampled_from([1, None, True]).map(lambda s: (s, "type")),
            ),
            "create_schema": st.sampled_from([(True, "ok"), (False, "ok"), ("yes", "type"), (None, "type")]),
        },
    )
    columns = ("event_id_column", "event_type_column", "timestamp_column", "position_column")

    @fuzz_settings("sqlite open")
    @given(options)
    def run(opts: dict[str, tuple[Any, str]]) -> None:
        kwargs = {k: v for k, (v, _) in opts.items()}
        verdicts = [v for k, (_, v) in opts.items() if not (k in columns and opts.get("events_table", ("events", "ok"))[0] is None and v == "invalid")]
        if kwargs.get("create_schema") is False:
            kwargs["create_schema"] = True  # without the table nothing round-trips; False is tried by the parser only
        path = tmp_path / f"open-{next(counter)}.db"
        verdict = combine(*verdicts)
        check_open(tally, "sqlite open", f"SQLiteCheckpointRepository(path, **{short(kwargs)})", verdict,
                   lambda: waypost.SQLiteCheckpointRepository(path, **kwargs), lambda: not path.exists(), loop)

    try:
        run()
    finally:
        loop.close()
    tally.assert_clean()


def test_fuzz_open_postgres(postgres_url: str, schema: str) -> None:
    tally = Tally("postgres-open")
    loop = asyncio.new_event_loop()
    dsns = st.one_of(
        st.just((postgres_url, "ok")),
        st.just((postgres_url, "ok")),
        st.just((postgres_url, "ok")),
        st.sampled_from(["postgres://[::1/db", "postgres://u@h:99999/db", "postgres://u@h:notaport/db", "postgres://\ud800@h/db"]).map(lambda d: (d, "invalid")),
        st.sampled_from([5, None, b"postgres://x", 1.5]).map(lambda d: (d, "type")),
    )
    options = st.fixed_dictionaries(
        {"schema": st.one_of(st.just((schema, "ok")), IDENT_OR_WRONG.filter(lambda s: s[1] != "ok"))},
        optional={
            "table": IDENT_OR_WRONG,
            "events_table": OPTIONAL_IDENT,
            "events_schema": st.one_of(st.just((None, "ok")), st.just((schema, "ok")), IDENT_OR_WRONG.filter(lambda s: s[1] != "ok")),
            "event_id_column": IDENT_OR_WRONG,
            "position_column": OPTIONAL_IDENT,
            "pool_size": st.one_of(
                st.integers(1, 4).map(lambda n: (n, "ok")),
                st.sampled_from([0, -1, 2**32, 2**64, -(2**70)]).map(lambda n: (n, "invalid")),
                st.sampled_from([1.5, math.nan, "2", None]).map(lambda n: (n, "type")),
            ),
            "connect_timeout": SECONDS.filter(lambda s: s[1] != "ok" or s[0] >= 1),
        },
    )

    def schemas() -> set[str]:
        import subprocess

        out = subprocess.run(
            ["psql", "-X", "-w", postgres_url, "-Atqc", "SELECT nspname FROM pg_namespace"],
            capture_output=True, text=True, timeout=30, check=True,
        )
        return set(out.stdout.splitlines())

    # Every schema a case could create legitimately is the scratch one: any other new
    # schema after the run came from options that had to be rejected.
    before = schemas()

    @fuzz_settings("postgres open")
    @given(dsns, options)
    def run(dsn: tuple[Any, str], opts: dict[str, tuple[Any, str]]) -> None:
        kwargs = {k: v for k, (v, _) in opts.items()}
        verdict = combine(dsn[1], *(v for _, v in opts.values()))
        check_open(tally, "postgres open", f"PostgreSQLCheckpointRepository({short(dsn[0])}, **{short(kwargs)})", verdict,
                   lambda: waypost.PostgreSQLCheckpointRepository(dsn[0], **kwargs), lambda: True, loop)

    try:
        run()
    finally:
        loop.close()
    created = schemas() - before - {schema}
    if created:
        tally.violation("postgres open: rejected options created schemas", "(the whole run)", short(sorted(created)))
    tally.assert_clean()


def test_fuzz_open_mysql(mysql_database_url: str, mysql_sql: Callable[[str], str]) -> None:
    tally = Tally("mysql-open")
    loop = asyncio.new_event_loop()
    urls = st.one_of(
        st.just((mysql_database_url, "ok")),
        st.just((mysql_database_url, "ok")),
        st.just((mysql_database_url, "ok")),
        st.sampled_from(["mysql://[::1/db", "mysql://u@h:99999/db", "mysql://u@h:notaport/db", "mysql://localhost",
                         "mysql://localhost/", "mysql://\ud800@h/db"]).map(lambda u: (u, "invalid")),
        st.sampled_from([5, None, b"mysql://x", 1.5]).map(lambda u: (u, "type")),
    )
    database = mysql_database_url.rsplit("/", 1)[1]
    options = st.fixed_dictionaries(
        {},
        optional={
            "table": IDENT_OR_WRONG,
            "events_table": OPTIONAL_IDENT,
            "events_schema": st.one_of(st.just((None, "ok")), st.just((database, "ok")), IDENT_OR_WRONG.filter(lambda s: s[1] != "ok")),
            "event_id_column": IDENT_OR_WRONG,
            "position_column": OPTIONAL_IDENT,
            "pool_size": st.one_of(
                st.integers(1, 4).map(lambda n: (n, "ok")),
                st.sampled_from([0, -1, 2**32, 2**64, -(2**70)]).map(lambda n: (n, "invalid")),
                st.sampled_from([1.5, math.nan, "2", None]).map(lambda n: (n, "type")),
            ),
            "connect_timeout": SECONDS.filter(lambda s: s[1] != "ok" or s[0] >= 1),
        },
    )

    def databases() -> set[str]:
        return set(mysql_sql("SHOW DATABASES").split())

    # waypost never creates a MySQL database: any new one came from options that had to
    # be rejected.
    before = databases()

    @fuzz_settings("mysql open")
    @given(urls, options)
    def run(url: tuple[Any, str], opts: dict[str, tuple[Any, str]]) -> None:
        kwargs = {k: v for k, (v, _) in opts.items()}
        verdict = combine(url[1], *(v for _, v in opts.values()))
        check_open(tally, "mysql open", f"MySQLCheckpointRepository({short(url[0])}, **{short(kwargs)})", verdict,
                   lambda: waypost.MySQLCheckpointRepository(url[0], **kwargs), lambda: True, loop)

    try:
        run()
    finally:
        loop.close()
    created = databases() - before
    if created:
        tally.violation("mysql open: rejected options created databases", "(the whole run)", short(sorted(created)))
    tally.assert_clean()


def test_fuzz_open_url(tmp_path: Path) -> None:
    tally = Tally("open-url")
    loop = asyncio.new_event_loop()
    urls = st.one_of(
        st.sampled_from(["memory:", "memory://"]).map(lambda u: (u, "ok")),
        st.from_regex(r"\A[a-z0-9_]{1,12}\Z").map(lambda f: (f"sqlite:{tmp_path}/{f}.db", "ok")),
        st.sampled_from(["sqlite:", "sqlite://", "sqlite:x.db?mode=ro", "memory", "redis://h/db", "", "MEMORY:",
                         'x"; DROP TABLE t; --', "postgres:/", "\0", "memory:\ud800", "\ud800"]).map(lambda u: (u, "invalid")),
        st.text(max_size=20).filter(lambda s: not s.startswith(("memory", "sqlite", "postgres", "mysql", "mariadb"))).map(lambda u: (u, "invalid")),
        st.sampled_from([None, 5, b"memory:", ["memory:"], tmp_path]).map(lambda u: (u, "type")),
    )

    @fuzz_settings("open url")
    @given(urls)
    def run(case: tuple[Any, str]) -> None:
        url, verdict = case
        check_open(tally, "open(url)", f"open({short(url)})", verdict, lambda: waypost.open(url), lambda: True, loop)

    try:
        run()
    finally:
        loop.close()
    tally.assert_clean()


def test_fuzz_report(capsys: pytest.CaptureFixture[str]) -> None:
    """The counts of this run, printed past pytest's capture and kept in .demo."""
    lines = [
        f"fuzz: python {backend} {c['inputs']} inputs, {c['rejected']} rejected, {c['crashes']} crashes, "
        f"{len(VIOLATIONS.get(backend, {}))} violations"
        for backend, c in COUNTS.items()
    ]
    (ROOT / ".demo").mkdir(exist_ok=True)
    (ROOT / ".demo" / "fuzz-counts-python.txt").write_text("".join(line + "\n" for line in lines))
    with capsys.disabled():  # shown with or without -s
        print()
        for line in lines:
            print(line)
    assert COUNTS, "no fuzz test ran before the report"
