"""Per-service metrics snapshots published on ``system/metrics/<service>``."""

from __future__ import annotations

from pydantic import Field

from tars.contracts.base import Model, Payload, now

METRICS_PREFIX = "system/metrics/"
METRICS_PATTERN = "system/metrics/+"


def metrics_topic(service: str) -> str:
    """Topic of a service's metrics snapshots."""
    return f"{METRICS_PREFIX}{service}"


class HistogramSummary(Model):
    """Summary of one latency histogram over a recent window."""

    count: int = Field(ge=0)
    """Observations since start."""
    p50: float
    """Median of the recent window, milliseconds."""
    p90: float
    """90th percentile of the recent window, milliseconds."""
    p99: float
    """99th percentile of the recent window, milliseconds."""
    max: float
    """Largest value in the recent window, milliseconds."""


class MetricsSnapshot(Payload):
    """Counters and latency summaries of one service."""

    service: str
    """Service name."""
    uptime_s: float = Field(ge=0)
    """Seconds since the service started."""
    counters: dict[str, int] = Field(default_factory=dict)
    """Monotonic counters (messages, errors, rejections ...)."""
    latencies: dict[str, HistogramSummary] = Field(default_factory=dict)
    """Latency summaries per operation."""
    timestamp: float = Field(default_factory=now)
    """When the snapshot was taken, Unix seconds."""
