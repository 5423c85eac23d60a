"""waypost.eventsource through eventsource-py 0.8.1's own conformance suites
(``CheckpointRepositoryConformance``: ``ProjectionCheckpointsConformance`` and
``SubscriptionPositionsConformance``) on memory, SQLite, PostgreSQL and MySQL, and the
adapter's own edges: it passes eventsource's ``runtime_checkable`` protocols, a stored
token is the ``Position`` text in waypost's own row, and what is not a ``Position`` is
refused or reported, never guessed; and eventsource's own ``SubscriptionManager`` resuming
from a waypost SQLite file after a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from eventsource.adapters.memory import InMemoryEventBus, InMemoryEventStore
from eventsource.application.subscriptions import SubscriptionConfig, SubscriptionManager
from eventsource.domain.event import DomainEvent
from eventsource.domain.exceptions import PositionDecodeError
from eventsource.domain.stream_id import StreamId
from eventsource.ports.checkpoints import CheckpointRepository as EventsourceRepository
from eventsource.ports.handlers import EventSubscriber
from eventsource.ports.positions import ExpectedVersion, Position
from eventsource.testing.conformance_ports.checkpoints import CheckpointRepositoryConformance

import waypost
from waypost.eventsource import CheckpointRepository


class _Conformance(CheckpointRepositoryConformance):
    async def write_legacy_int_row(self, store: Any, subscription_id: str, value: int) -> None:
        """A row with an integer position and no token: waypost's own ``save_position``."""
        await store.repository.save_position(subscription_id, value, uuid.uuid4(), "Legacy")


class TestMemory(_Conformance):
    @pytest.fixture
    def store(self) -> CheckpointRepository:
        return CheckpointRepository(waypost.InMemoryCheckpointRepository())


class TestSQLite(_Conformance):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[CheckpointRepository]:
        async with CheckpointRepository(waypost.SQLiteCheckpointRepository(tmp_path / "c.db", events_table=None)) as s:
            yield s


class TestPostgreSQL(_Conformance):
    @pytest.fixture
    async def store(self, postgres_url: str, schema: str) -> AsyncIterator[CheckpointRepository]:
        repo = waypost.PostgreSQLCheckpointRepository(postgres_url, schema=schema, events_table=None)
        async with CheckpointRepository(repo) as s:
            yield s


class TestMySQL(_Conformance):
    @pytest.fixture
    async def store(self, mysql_database_url: str) -> AsyncIterator[CheckpointRepository]:
        async with CheckpointRepository(waypost.MySQLCheckpointRepository(mysql_database_url, events_table=None)) as s:
            yield s


async def test_the_adapter_is_eventsources_repository_and_shares_waypost_rows(tmp_path: Path) -> None:
    repo = waypost.SQLiteCheckpointRepository(tmp_path / "c.db", events_table=None)
    async with CheckpointRepository(repo) as adapter:
        assert isinstance(adapter, EventsourceRepository)
        position = Position(store_id="orders", key=(12, "b"))
        event_id = uuid.uuid4()
        await adapter.save_position("Orders", position, event_id, "OrderPlaced")
        assert await repo.get_position_token("Orders") == position.to_str()
        assert await repo.get_checkpoint("Orders") == event_id
        [data] = await adapter.get_all_checkpoints()
        assert (data.position, data.last_event_id, data.events_processed) == (position, event_id, 1)
        lag = await adapter.get_lag_metrics("Orders")
        assert lag is not None and lag.last_event_id == str(event_id)

        await repo.save_position_token("Foreign", "0/16B3748", uuid.uuid4(), "T")
        with pytest.raises(PositionDecodeError):
            await adapter.get_position("Foreign")
        with pytest.raises(TypeError, match="eventsource Position"):
            await adapter.save_position("Orders", 12, uuid.uuid4(), "T")  # type: ignore[arg-type]
        with pytest.raises(waypost.InvalidArgumentError):
            await adapter.save_position("", position, uuid.uuid4(), "T")
        assert await adapter.get_position("Orders") == position, "refused writes changed nothing"


def test_import_waypost_needs_no_eventsource() -> None:
    """A fresh interpreter that cannot import eventsource still imports waypost and
    waypost.eventsource; only making an adapter says what is missing."""
    code = (
        "import sys; sys.modules['eventsource'] = None\n"
        "import waypost, waypost.eventsource\n"
        "try:\n"
        "    waypost.eventsource.CheckpointRepository(waypost.InMemoryCheckpointRepository())\n"
        "except ImportError as e:\n"
        "    print('ImportError:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "needs eventsource-py 0.8" in done.stdout, done.stdout + done.stderr


class OrderPlaced(DomainEvent):
    aggregate_type: str = "Order"


class _Totals(EventSubscriber):
    """A projection that records which events it handled; done after ``want`` of them."""

    def __init__(self, want: int) -> None:
        self.want, self.seen, self.done = want, list[uuid.UUID](), asyncio.Event()

    def subscribed_to(self) -> list[type[DomainEvent]]:
        return [OrderPlaced]

    async def handle(self, event: DomainEvent) -> None:
        self.seen.append(event.event_id)
        if len(self.seen) >= self.want:
            self.done.set()


async def _append(store: InMemoryEventStore, n: int) -> list[uuid.UUID]:
    events = [OrderPlaced(aggregate_id=uuid.uuid4(), aggregate_version=1) for _ in range(n)]
    for event in events:
        await store.append(StreamId(event.aggregate_id, "Order"), [event], ExpectedVersion.any_())
    return [e.event_id for e in events]


async def _run(store: InMemoryEventStore, checkpoints: CheckpointRepository, want: int) -> list[uuid.UUID]:
    """eventsource's own SubscriptionManager over the adapter, until ``want`` events were
    handled, then stopped (it saves its final checkpoint as it stops)."""
    manager = SubscriptionManager(store, InMemoryEventBus(), checkpoints, shutdown_timeout=10.0)
    projection = _Totals(want)
    await manager.subscribe(projection, SubscriptionConfig(start_from="checkpoint"), name="Totals")
    await manager.start()
    try:
        await asyncio.wait_for(projection.done.wait(), 30)
    finally:
        await manager.stop()
    return projection.seen


async def test_eventsources_subscription_manager_resumes_from_waypost(tmp_path: Path) -> None:
    """A first manager catches up on 5 events and stops; a second one, on a new adapter
    over the same SQLite file, handles only the 2 appended since."""
    store = InMemoryEventStore()
    first = await _append(store, 5)
    path = tmp_path / "checkpoints.db"
    async with CheckpointRepository(waypost.SQLiteCheckpointRepository(path, events_table=None)) as checkpoints:
        assert await _run(store, checkpoints, 5) == first
        assert await checkpoints.get_position("Totals") == Position(store_id="memory", key=(5,))
    later = await _append(store, 2)
    async with CheckpointRepository(waypost.SQLiteCheckpointRepository(path, events_table=None)) as checkpoints:
        assert await _run(store, checkpoints, 2) == later
        assert await checkpoints.get_position("Totals") == Position(store_id="memory", key=(7,))
        assert await checkpoints.get_checkpoint("Totals") == later[-1]
