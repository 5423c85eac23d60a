"""The CheckpointRepository protocol, for type-checking your own repositories."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable
from uuid import UUID

if TYPE_CHECKING:
    from ._waypost import CheckpointData, LagMetrics


@runtime_checkable
class CheckpointRepository(Protocol):
    """What every checkpoint repository offers (eventsource-py's protocol).

    waypost's three classes satisfy it; a repository of your own (say, on Redis) that
    implements these coroutines type-checks wherever one of them is expected.
    """

    async def get_checkpoint(self, projection_name: str) -> UUID | None:
        """The last processed event id of a projection, or None."""
        ...

    async def update_checkpoint(self, projection_name: str, event_id: UUID, event_type: str) -> None:
        """Record an event as processed (UPSERT); keeps any stored position."""
        ...

    async def get_position(self, subscription_id: str) -> int | None:
        """The last saved global position, or None."""
        ...

    async def save_position(self, subscription_id: str, position: int, event_id: UUID, event_type: str) -> None:
        """Save a global position (UPSERT)."""
        ...

    async def get_lag_metrics(
        self, projection_name: str, event_types: list[str] | None = None
    ) -> LagMetrics | None:
        """How far behind a projection is, or None without a checkpoint."""
        ...

    async def reset_checkpoint(self, projection_name: str) -> None:
        """Delete a projection's checkpoint (for a rebuild)."""
        ...

    async def get_all_checkpoints(self) -> list[CheckpointData]:
        """Every checkpoint, ordered by name."""
        ...
