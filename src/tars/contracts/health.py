"""Service health: one retained topic and one schema per service."""

from __future__ import annotations

from pydantic import Field

from tars.contracts.base import Payload, now

HEALTH_PREFIX = "system/health/"
HEALTH_PATTERN = "system/health/+"


def health_topic(service: str) -> str:
    """Topic of a service's retained health."""
    return f"{HEALTH_PREFIX}{service}"


class HealthPing(Payload):
    """Liveness of one service (retained; the Last-Will sets ``ok: false``)."""

    ok: bool
    """Whether the service is working."""
    event: str | None = None
    """What happened: ready, heartbeat, loading, shutdown, lost, ..."""
    err: str | None = None
    """Human-readable error when not ok."""
    timestamp: float = Field(default_factory=now)
    """When this status was produced, Unix seconds."""
