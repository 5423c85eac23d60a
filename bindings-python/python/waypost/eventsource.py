"""eventsource-py 0.8's ``CheckpointRepository`` over any waypost repository.

eventsource-py 0.8 moved its repositories to opaque ``Position`` objects; waypost's own
classes keep the integer positions of the tutorial's protocol. Wrap a waypost repository
to hand it to eventsource 0.8 (its ``SubscriptionManager``, its projections)::

    from waypost.eventsource import CheckpointRepository

    checkpoints = CheckpointRepository(waypost.SQLiteCheckpointRepository("checkpoints.db"))
    manager = SubscriptionManager(event_store, event_bus, checkpoints)

A ``Position`` is stored as its ``to_str()`` text in the checkpoint's position token, in
the same row as the event id, type and count, so waypost's tools (``waypost status``,
progress, ``/metrics``) see the same checkpoints. A row that holds an integer position but
no token (written by waypost's own ``save_position``) reads as ``None``, as eventsource's
own adapters read such rows. This module imports eventsource only when an adapter is
made, so ``import waypost`` never needs it.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from eventsource.ports.checkpoints import CheckpointData, LagMetrics
    from eventsource.ports.positions import Position

    from ._waypost import _Repository

__all__ = ["CheckpointRepository"]


def _ports() -> Any:
    try:
        from eventsource.ports import checkpoints, positions
    except ImportError as missing:  # pragma: no cover - exercised without eventsource only
        raise ImportError(
            "waypost.eventsource needs eventsource-py 0.8 or newer: pip install 'eventsource-py>=0.8'"
        ) from missing
    return checkpoints, positions


class CheckpointRepository:
    """eventsource-py 0.8's ``CheckpointRepository`` (``ProjectionCheckpoints`` and
    ``SubscriptionPositions``) over the waypost repository ``repo``: the same method and
    keyword names, its ``Position``, ``CheckpointData`` and ``LagMetrics``, and waypost's
    errors (``waypost.InvalidArgumentError`` for a bad name, and so on). A stored token
    that is not a ``Position`` raises eventsource's ``PositionDecodeError``."""

    def __init__(self, repo: _Repository) -> None:
        self._checkpoints, self._positions = _ports()
        self._repo = repo

    @property
    def repository(self) -> _Repository:
        """The waypost repository underneath."""
        return self._repo

    def _position(self, token: str | None) -> Position | None:
        return None if token is None else self._positions.Position.from_str(token)  # type: ignore[no-any-return]

    async def get_checkpoint(self, projection_name: str) -> UUID | None:
        """The last processed event id of a projection, or ``None``."""
        return await self._repo.get_checkpoint(projection_name)

    async def update_checkpoint(self, projection_name: str, event_id: UUID, event_type: str) -> None:
        """Records an event as processed (UPSERT); keeps the stored position."""
        await self._repo.update_checkpoint(projection_name, event_id, event_type)

    async def reset_checkpoint(self, projection_name: str) -> None:
        """Deletes a projection's checkpoint; a no-op when there is none."""
        await self._repo.reset_checkpoint(projection_name)

    async def get_lag_metrics(self, projection_name: str, event_types: list[str] | None = None) -> LagMetrics | None:
        """eventsource's ``LagMetrics`` of waypost's, or ``None`` without a checkpoint."""
        m = await self._repo.get_lag_metrics(projection_name, event_types)
        if m is None:
            return None
        return self._checkpoints.LagMetrics(  # type: ignore[no-any-return]
            projection_name=m.projection_name,
            last_event_id=m.last_event_id,
            latest_event_id=m.latest_event_id,
            lag_seconds=m.lag_seconds,
            events_processed=m.events_processed,
            last_processed_at=m.last_processed_at,
        )

    async def get_all_checkpoints(self) -> list[CheckpointData]:
        """Every checkpoint as eventsource's ``CheckpointData``, ordered by name."""
        return [
            self._checkpoints.CheckpointData(
                projection_name=c.projection_name,
                last_event_id=c.last_event_id,
                last_event_type=c.last_event_type,
                last_processed_at=c.last_processed_at,
                events_processed=c.events_processed,
                position=self._position(c.position_token),
            )
            for c in await self._repo.get_all_checkpoints()
        ]

    async def get_position(self, subscription_id: str) -> Position | None:
        """The last saved ``Position``, or ``None`` (also for a row without a token)."""
        return self._position(await self._repo.get_position_token(subscription_id))

    async def save_position(self, subscription_id: str, position: Position, event_id: UUID, event_type: str) -> None:
        """Saves ``position`` verbatim as the checkpoint's token, with the event (UPSERT)."""
        if not isinstance(position, self._positions.Position):
            raise TypeError(f"position: expected an eventsource Position, not {type(position).__name__}")
        await self._repo.save_position_token(subscription_id, position.to_str(), event_id, event_type)

    async def close(self) -> None:
        """Closes the waypost repository underneath."""
        await self._repo.close()

    async def __aenter__(self) -> CheckpointRepository:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"waypost.eventsource.CheckpointRepository({self._repo!r})"
