"""waypost beside eventsource-py 0.8.1 in one run: ops/s and the ratio for the checkpoint
protocol on memory, SQLite and PostgreSQL.

Run with `make bench-python` (it installs eventsource-py and its drivers into .venv and
finds PostgreSQL). eventsource-py gets its own DDL (read from its package) and its
documented set-up: an AsyncEngine on aiosqlite / asyncpg with default pool settings.
Both libraries read lag from the same events table of 1,000,000 events: first with
eventsource-py's own indexes only, then with waypost's lag index added, for a type filter
naming a common recent type, a rare old one and an absent one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
from eventsource.adapters.memory.checkpoints import InMemoryCheckpointRepository as EsMemory
from eventsource.adapters.sql.checkpoints import SQLCheckpointRepository
from eventsource.ports.positions import Position
from sqlalchemy.ext.asyncio import create_async_engine

import waypost

# WAYPOST_BENCH_SMOKE=1 (as `make test` runs it): every figure once, briefly, over small
# tables: a check that the bench runs, whose figures mean nothing.
SMOKE = os.environ.get("WAYPOST_BENCH_SMOKE", "0") not in ("", "0")
SECONDS = 0.02 if SMOKE else float(os.environ.get("BENCH_SECONDS", "1.0"))
EVENTS = 20_000 if SMOKE else 1_000_000
ROWS = 1_000 if SMOKE else 10_000
STORE = "bench"


async def rate(op: Callable[[int], Awaitable[Any]], seconds: float = SECONDS) -> float:
    """Sequential calls per second."""
    for i in range(20):  # warm-up: statements prepared, connections open
        await op(i)
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        await op(n)
        n += 1
    return n / elapsed


async def concurrent_rate(op: Callable[[int, int], Awaitable[Any]], tasks: int = 8) -> float:
    """Calls per second from `tasks` tasks at once, each on its own name."""
    for t in range(tasks):
        await op(t, 0)
    deadline = time.perf_counter() + SECONDS
    counts = [0] * tasks

    async def worker(t: int) -> None:
        while time.perf_counter() < deadline:
            await op(t, counts[t])
            counts[t] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(tasks)))
    return sum(counts) / (time.perf_counter() - start)


async def latency_ms(op: Callable[[], Awaitable[Any]], calls: int) -> float:
    await op()
    start = time.perf_counter()
    for _ in range(calls):
        await op()
    return (time.perf_counter() - start) * 1000 / calls


def row(what: str, ours: float, theirs: float, unit: str = "/s") -> None:
    if unit == "/s":
        print(f"{what:<66} {ours:>12,.0f} {theirs:>12,.0f} {ours / theirs:>8.2f}x")
    else:
        print(f"{what:<66} {ours:>10.2f}ms {theirs:>10.2f}ms {theirs / ours:>8.2f}x")


def header(title: str) -> None:
    print(f"\n== {title} ==")
    print(f"{'operation':<66} {'waypost':>12} {'eventsource':>12} {'speed-up':>9}")


ROUNDS = 1 if SMOKE else 2


async def best_of(ours: Callable[[], Awaitable[float]], theirs: Callable[[], Awaitable[float]]) -> tuple[float, float]:
    """Best rate of each over ROUNDS alternating runs: neither side always runs first
    on a freshly grown file, and a noisy second (fsync times swing here) counts less."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(ROUNDS):
        a.append(await ours())
        b.append(await theirs())
    return max(a), max(b)


async def protocol(label: str, ours: Any, theirs: Any) -> tuple[float, float]:
    """save_position, update_checkpoint, get_position, and 8 concurrent tasks; returns
    waypost's save_position rate from one task and from 8."""
    event_id = uuid.uuid4()
    one, theirs_one = await best_of(
        lambda: rate(lambda n: ours.save_position("p", n, event_id, "OrderPlaced")),
        lambda: rate(lambda n: theirs.save_position("p", Position(STORE, (n,)), event_id, "OrderPlaced")),
    )
    row("save_position", one, theirs_one)
    row(
        "update_checkpoint",
        *await best_of(
            lambda: rate(lambda n: ours.update_checkpoint("u", event_id, "OrderPlaced")),
            lambda: rate(lambda n: theirs.update_checkpoint("u", event_id, "OrderPlaced")),
        ),
    )
    row(
        "get_position",
        *await best_of(
            lambda: rate(lambda n: ours.get_position("p")),
            lambda: rate(lambda n: theirs.get_position("p")),
        ),
    )
    row(
        "get_checkpoint",
        *await best_of(
            lambda: rate(lambda n: ours.get_checkpoint("u")),
            lambda: rate(lambda n: theirs.get_checkpoint("u")),
        ),
    )
    eight, theirs_eight = await best_of(
        lambda: concurrent_rate(lambda t, n: ours.save_position(f"t{t}", n, event_id, "OrderPlaced")),
        lambda: concurrent_rate(
            lambda t, n: theirs.save_position(f"t{t}", Position(STORE, (n,)), event_id, "OrderPlaced")
        ),
    )
    row("save_position, 8 concurrent tasks", eight, theirs_eight)
    # Group commit: 8 writers share commits, so they write more than one writer alone.
    print(f"{'  (waypost: 8 concurrent tasks against one task)':<66} {eight:>12,.0f} {one:>12,.0f} {eight / one:>8.2f}x")
    return one, eight


UPSERT_PGBENCH = (
    "INSERT INTO {schema}.wp_checkpoints AS c (projection_name, last_event_id, last_event_type, last_processed_at, "
    "events_processed, created_at, updated_at, global_position) VALUES ('pgbench-' || :client_id, "
    "gen_random_uuid(), 'OrderPlaced', now(), 1, now(), now(), :n) ON CONFLICT (projection_name) DO UPDATE SET "
    "last_event_id = EXCLUDED.last_event_id, last_event_type = EXCLUDED.last_event_type, "
    "last_processed_at = EXCLUDED.last_processed_at, events_processed = c.events_processed + 1, "
    "updated_at = EXCLUDED.updated_at, global_position = EXCLUDED.global_position"
)


def pgbench(url: str, schema: str, clients: int) -> float | str:
    """Transactions per second of pgbench running waypost's UPSERT from `clients`
    connections, each on its own name; or why it did not run."""
    if shutil.which("pgbench") is None:
        return "pgbench is not installed"
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write("\\set n random(1, 1000000000)\n" + UPSERT_PGBENCH.format(schema=schema) + ";\n")
        script.flush()
        seconds = str(max(1, round(SECONDS * ROUNDS)))
        args = ["-n", "-M", "prepared", "-T", seconds, "-c", str(clients), "-j", str(min(2, clients)), "-f", script.name]
        done = subprocess.run(["pgbench", *args, url], capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    return f"pgbench printed no tps: {done.stderr.strip()}"


def against_pgbench(url: str, schema: str, one: float, eight: float) -> None:
    print(f"{'  writers, against pgbench running the same UPSERT':<66} {'waypost':>12} {'pgbench':>12} {'ratio':>9}")
    for clients, ours in ((1, one), (8, eight)):
        theirs = pgbench(url, schema, clients)
        label = "  save_position, one task" if clients == 1 else "  save_position, 8 concurrent tasks"
        if isinstance(theirs, str):
            print(f"{label + ' (pgbench not run)':<66} {ours:>12,.0f} {theirs}")
        else:
            row(f"{label} vs pgbench -c {clients}", ours, theirs)


LIST_SQL = (
    "SELECT projection_name, last_event_id, last_event_type, last_processed_at, events_processed, "
    "global_position, position_token FROM wp_checkpoints ORDER BY projection_name"
)


async def queries(ours: Any, theirs: Any, raw_fetch: Callable[[], Awaitable[Any]], driver: str) -> None:
    # Alternating rounds (the median of each side's), so that every side meets the file,
    # the caches and the collector in the same states: the first calls after the rows were
    # written ran at twice the later ones' time, whichever side came first.
    sides = {
        "waypost": ours.get_all_checkpoints,
        "eventsource": theirs.get_all_checkpoints,
        "driver": raw_fetch,
        "core": ours._core_get_all_checkpoints,
    }
    times: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(1 if SMOKE else 5):
        for side, op in sides.items():
            times[side].append(await latency_ms(op, 4))
    t = {side: statistics.median(values) for side, values in times.items()}
    row(f"get_all_checkpoints ({ROWS:,} rows)", t["waypost"], t["eventsource"], unit="ms")
    # The floor under both: the driver alone fetching the same rows, without records.
    print(f"{'  (' + driver + ' alone, same rows: waypost / driver)':<66} {t['waypost']:>10.2f}ms "
          f"{t['driver']:>10.2f}ms {t['driver'] / t['waypost']:>8.2f}x")
    # What the binding adds: the same call with the core's records, no Python objects.
    print(f"{'  binding vs the core call alone (binding / core, goal <= 1.30)':<66} "
          f"{t['waypost']:>10.2f}ms {t['core']:>10.2f}ms {t['waypost'] / t['core']:>8.2f}x")


async def lag(ours: Any, theirs: Any, indexes: str) -> None:
    for label, types in (("no filter", None), ("common, recent", ["OrderShipped"]),
                         ("rare, old", ["RareOld"]), ("absent", ["NeverWritten"])):
        row(
            f"get_lag_metrics, {EVENTS:,} events, {label}, {indexes}",
            await latency_ms(lambda: ours.get_lag_metrics("lagging", types), 20),
            await latency_ms(lambda: theirs.get_lag_metrics("lagging", types), 5),
            unit="ms",
        )


def ddl(name: str) -> str:
    return resources.files("eventsource.migrations").joinpath(name).read_text()


def tables_and_indexes(name: str) -> list[str]:
    """The CREATE TABLE / CREATE INDEX / ALTER TABLE statements of an eventsource-py
    schema file (its functions and triggers are left out: some need PostgreSQL 16)."""
    lines = [line for line in ddl(name).splitlines() if not line.strip().startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";")]
    return [s for s in statements if s.upper().startswith(("CREATE TABLE", "CREATE INDEX", "ALTER TABLE"))]


EVENT_TYPE_SQL = "CASE WHEN {i} < 1000 AND {i} % 10 = 0 THEN 'RareOld' WHEN {i} % 3 = 0 THEN 'OrderShipped' ELSE 'OrderPlaced' END"


async def memory() -> None:
    header("memory (waypost InMemoryCheckpointRepository vs eventsource-py InMemoryCheckpointRepository)")
    ours, theirs = waypost.InMemoryCheckpointRepository(), EsMemory(enable_tracing=False)
    await protocol("memory", ours, theirs)
    event_id = uuid.uuid4()
    filled = 0
    for rows in sorted({1_000, ROWS}):
        for i in range(filled, rows):
            await ours.save_position(f"projection-{i:05}", i, event_id, "T")
            await theirs.save_position(f"projection-{i:05}", Position(STORE, (i,)), event_id, "T")
        filled = rows
        row(
            f"get_all_checkpoints ({rows:,} rows)",
            await latency_ms(ours.get_all_checkpoints, 50),
            await latency_ms(theirs.get_all_checkpoints, 50),
            unit="ms",
        )


def sqlite_setup(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(ddl("schemas/sqlite_all.sql"))
    conn.executescript(ddl("additive/sqlite/checkpoints_position_token.sql"))
    event_type = lambda i: "RareOld" if i < 1000 and i % 10 == 0 else ("OrderShipped" if i % 3 == 0 else "OrderPlaced")
    start = time.time() - EVENTS
    conn.executemany(
        "INSERT INTO events (event_id, aggregate_id, aggregate_type, event_type, version, timestamp, payload) "
        "VALUES (?, ?, 'Order', ?, 1, ?, '{}')",
        (
            (str(uuid.uuid4()), str(uuid.uuid4()), event_type(i),
             time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(start + i)))
            for i in range(EVENTS)
        ),
    )
    conn.commit()
    conn.close()


def fill_sqlite_rows(path: Path, table: str) -> None:
    conn = sqlite3.connect(path)
    conn.executemany(
        f"INSERT INTO {table} (projection_name, last_event_id, last_event_type, last_processed_at, "
        "events_processed, global_position, created_at, updated_at) VALUES (?, ?, 'T', ?, 1, ?, ?, ?)",
        ((f"projection-{i:05}", str(uuid.uuid4()), "2026-11-25T12:00:00+00:00", i,
          "2026-11-25T12:00:00+00:00", "2026-11-25T12:00:00+00:00") for i in range(ROWS)),
    )
    conn.commit()
    conn.close()


async def sqlite(directory: Path) -> None:
    path = directory / "bench.db"
    sqlite_setup(path)
    ours = waypost.SQLiteCheckpointRepository(path, table="wp_checkpoints")
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    theirs = SQLCheckpointRepository(engine, enable_tracing=False)
    header("SQLite (waypost: WAL, synchronous=FULL; eventsource-py: aiosqlite defaults)")
    await protocol("sqlite", ours, theirs)
    fill_sqlite_rows(path, "wp_checkpoints")
    fill_sqlite_rows(path, "projection_checkpoints")
    await ours.save_position("lagging", 500_000, uuid.uuid4(), "OrderPlaced")
    await theirs.save_position("lagging", Position(STORE, (500_000,)), uuid.uuid4(), "OrderPlaced")
    raw = sqlite3.connect(path)

    async def raw_fetch() -> list[Any]:
        return raw.execute(LIST_SQL).fetchall()

    await queries(ours, theirs, raw_fetch, "sqlite3")
    await lag(ours, theirs, "eventsource's indexes")
    await ours.create_lag_index()
    await lag(ours, theirs, "+ waypost's lag index")
    raw.close()
    await ours.close()
    await engine.dispose()


async def postgres(url: str) -> None:
    schema = f"wp_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
    for name in ("schemas/checkpoints.sql", "additive/checkpoints_position_token.sql", "schemas/events.sql"):
        for statement in tables_and_indexes(name):
            await admin.execute(statement)
    await admin.execute(
        "INSERT INTO events (event_id, aggregate_id, aggregate_type, event_type, version, timestamp, payload) "
        f"SELECT gen_random_uuid(), gen_random_uuid(), 'Order', {EVENT_TYPE_SQL.format(i='i')}, 1, "
        f"now() - make_interval(secs => {EVENTS} - i), '{{}}' FROM generate_series(0, {EVENTS - 1}) AS i"
    )
    try:
        ours = waypost.PostgreSQLCheckpointRepository(url, schema=schema, table="wp_checkpoints")
        engine = create_async_engine(
            url.replace("postgres://", "postgresql+asyncpg://", 1).replace("postgresql://", "postgresql+asyncpg://", 1),
            connect_args={"server_settings": {"search_path": schema}},
        )
        theirs = SQLCheckpointRepository(engine, enable_tracing=False)
        header("PostgreSQL (waypost: sqlx; eventsource-py: SQLAlchemy + asyncpg defaults)")
        one, eight = await protocol("postgres", ours, theirs)
        against_pgbench(url, schema, one, eight)
        for table in ("wp_checkpoints", "projection_checkpoints"):
            await admin.execute(
                f"INSERT INTO {table} (projection_name, last_event_id, last_event_type, last_processed_at, "
                "events_processed, global_position, created_at, updated_at) "
                f"SELECT 'projection-' || lpad(i::text, 5, '0'), gen_random_uuid(), 'T', now(), 1, i, now(), now() "
                f"FROM generate_series(1, {ROWS}) AS i"
            )
        for statement in ("VACUUM ANALYZE events", "ANALYZE wp_checkpoints", "ANALYZE projection_checkpoints"):
            await admin.execute(statement)
        await ours.save_position("lagging", 500_000, uuid.uuid4(), "OrderPlaced")
        await theirs.save_position("lagging", Position(STORE, (500_000,)), uuid.uuid4(), "OrderPlaced")
        await queries(ours, theirs, lambda: admin.fetch(LIST_SQL), "asyncpg")
        await lag(ours, theirs, "eventsource's indexes")
        await ours.create_lag_index()
        await admin.execute("ANALYZE events")
        await lag(ours, theirs, "+ waypost's lag index")
        await ours.close()
        await engine.dispose()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


async def main() -> None:
    print(f"waypost {waypost.__version__} vs eventsource-py 0.8.1, Python {sys.version.split()[0]}")
    await memory()
    with tempfile.TemporaryDirectory() as directory:
        await sqlite(Path(directory))
    url = os.environ.get("WAYPOST_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    try:
        probe = await asyncpg.connect(url, timeout=5)
        await probe.close()
    except (OSError, asyncpg.PostgresError) as error:
        print(f"\nPostgreSQL not measured: {error}")
        return
    await postgres(url)


if __name__ == "__main__":
    asyncio.run(main())
