"""The checkpoint tutorial's flow on waypost alone: a projection over an in-process event
list processes three orders, stops, resumes from its checkpoint, handles a live order,
and reports lag and every checkpoint.

Run: python examples/python/tutorial_checkpoints.py  (memory; set WAYPOST_URL for a
store such as sqlite:checkpoints.db)
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field

import waypost


@dataclass(frozen=True)
class StoredEvent:
    global_position: int
    event_id: uuid.UUID
    event_type: str
    order_id: str


@dataclass
class EventLog:
    """A tiny event store: events in order, numbered from 1."""

    events: list[StoredEvent] = field(default_factory=list)

    def append(self, event_type: str, order_id: str) -> StoredEvent:
        event = StoredEvent(len(self.events) + 1, uuid.uuid4(), event_type, order_id)
        self.events.append(event)
        return event

    def read_after(self, position: int) -> list[StoredEvent]:
        return self.events[position:]


@dataclass
class OrderProjection:
    """A read model: the orders placed so far."""

    orders: list[str] = field(default_factory=list)

    async def handle(self, event: StoredEvent) -> None:
        self.orders.append(event.order_id)


# --8<-- [start:resume]
async def run_projection(
    log: EventLog, projection: OrderProjection, checkpoints: waypost.CheckpointRepository
) -> int:
    """Process every event after the checkpoint, saving the position after each."""
    last = await checkpoints.get_position("OrderProjection")
    start = 0 if last is None else last
    print(f"Resuming after position {start}" if last is not None else "Starting from the beginning")
    for event in log.read_after(start):
        await projection.handle(event)
        await checkpoints.save_position(
            subscription_id="OrderProjection",
            position=event.global_position,
            event_id=event.event_id,
            event_type=event.event_type,
        )
    return len(log.read_after(start))
# --8<-- [end:resume]


async def main() -> None:
    url = os.environ.get("WAYPOST_URL", "memory:")
    checkpoints = waypost.open(url)
    # Lag is measured against an events table; this example keeps its events in memory,
    # so the table stays empty and lag metrics are placeholders (as in the tutorial).
    await checkpoints.create_events_table()
    await checkpoints.reset_checkpoint("OrderProjection")
    log = EventLog()
    for order in ("order-1", "order-2", "order-3"):
        log.append("OrderPlaced", order)

    # First run: processes the three orders, then the process "stops".
    first = OrderProjection()
    print(f"Events processed: {await run_projection(log, first, checkpoints)}")
    print(f"Checkpoint position: {await checkpoints.get_position('OrderProjection')}")

    # Second run: a new process resumes from the checkpoint, so nothing is repeated...
    second = OrderProjection()
    print(f"Events processed: {await run_projection(log, second, checkpoints)}")

    # ...and a live order arrives and is handled.
    log.append("OrderPlaced", "order-4")
    print(f"Events processed: {await run_projection(log, second, checkpoints)}")
    final = await checkpoints.get_position("OrderProjection")
    print(f"Final position: {final}")
    assert final == 4 and second.orders == ["order-4"], (final, second.orders)

    metrics = await checkpoints.get_lag_metrics("OrderProjection", event_types=["OrderPlaced"])
    assert metrics is not None
    print(f"Lag: {metrics.lag_seconds} seconds, events processed: {metrics.events_processed}")
    for checkpoint in await checkpoints.get_all_checkpoints():
        print(
            f"{checkpoint.projection_name}: position {checkpoint.global_position}, "
            f"last event {checkpoint.last_event_type} at {checkpoint.last_processed_at}"
        )
    await checkpoints.close()


if __name__ == "__main__":
    asyncio.run(main())
