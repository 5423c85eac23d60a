"""The shapes of ``get_progress`` / ``get_all_progress`` / ``get_health`` results."""

from __future__ import annotations

import datetime
from typing import Literal, TypedDict

ProgressState = Literal["NotStarted", "CatchingUp", "CaughtUp", "Idle", "Stalled"]
HealthStatus = Literal["Healthy", "Degraded", "Unhealthy"]


class Progress(TypedDict):
    """How far one projection is (``repo.get_progress(name)``)."""

    projection_name: str
    position: int | None
    stream_head: int | None
    events_behind: int | None
    percent_complete: float | None
    lag_seconds: float
    events_processed: int
    last_processed_at: datetime.datetime | None
    idle_seconds: float | None
    state: ProgressState
    status_line: str


class HealthVerdict(TypedDict):
    """One projection's health and why."""

    projection_name: str
    status: HealthStatus
    reason: str


class HealthReport(TypedDict):
    """``repo.get_health()``: the worst verdict and one per projection."""

    status: HealthStatus
    projections: list[HealthVerdict]
