"""A health check in the tutorial's style: healthy, degraded or unhealthy by lag.

Run: python examples/python/health_check.py  (memory; set WAYPOST_URL for another store)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from typing import Any

import waypost


async def check_projection_health(checkpoints: waypost.CheckpointRepository, name: str) -> dict[str, Any]:
    """Healthy under a minute of lag, degraded under five, unhealthy beyond."""
    metrics = await checkpoints.get_lag_metrics(name)
    if metrics is None:
        return {"status": "unknown", "message": "Projection has no checkpoint yet"}
    if metrics.lag_seconds > 300:
        return {"status": "unhealthy", "lag_seconds": metrics.lag_seconds, "message": "Projection is lagging behind"}
    if metrics.lag_seconds > 60:
        return {"status": "degraded", "lag_seconds": metrics.lag_seconds, "message": "Projection has minor lag"}
    return {"status": "healthy", "lag_seconds": metrics.lag_seconds, "events_processed": metrics.events_processed}


async def main() -> None:
    checkpoints = waypost.open(os.environ.get("WAYPOST_URL", "memory:"))
    await checkpoints.create_events_table()
    await checkpoints.reset_checkpoint("OrderProjection")
    print(await check_projection_health(checkpoints, "OrderProjection"))

    # The projection handled an event; the events table then receives newer ones.
    handled = uuid.uuid4()
    await checkpoints.save_position("OrderProjection", 1, handled, "OrderPlaced")
    [record] = [c for c in await checkpoints.get_all_checkpoints() if c.projection_name == "OrderProjection"]
    assert record.last_processed_at is not None
    for seconds, status in ((30, "healthy"), (90, "degraded"), (600, "unhealthy")):
        at = record.last_processed_at + dt.timedelta(seconds=seconds)
        await checkpoints.append_events([(uuid.uuid4(), "OrderPlaced", at)])
        health = await check_projection_health(checkpoints, "OrderProjection")
        print(health)
        assert health["status"] == status, health

    # waypost's own verdict, the one `waypost serve` gives on /health: by events behind
    # and by stalls while behind (an idle, caught-up projection stays healthy).
    report = await checkpoints.get_health(degraded_events_behind=2)
    print(report)
    assert report["status"] == "Degraded", report
    progress = await checkpoints.get_progress("OrderProjection")
    print(progress["status_line"])
    await checkpoints.close()


if __name__ == "__main__":
    asyncio.run(main())
