"""Health of every service as dashboards show it: up, stopped, lost, failing or stale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tars.contracts.health import HealthPing

STALE_HEARTBEATS = 3
"""A status older than this many heartbeats is stale (as `tars status` judges it)."""

Condition = Literal["ok", "starting", "stale", "stopped", "lost", "failed"]


@dataclass(frozen=True, slots=True)
class HealthRow:
    """The last health a service reported."""

    service: str
    """Service name (the health topic's last level)."""
    ok: bool
    """What the service said about itself."""
    event: str | None
    """Its last event: ready, heartbeat, shutdown, lost, ..."""
    err: str | None
    """Its error, when not ok."""
    timestamp: float
    """When it produced the status, Unix seconds."""

    def condition(self, now: float, heartbeat_s: float) -> Condition:
        """One word for the tile: ok, starting, stale, stopped, lost or failed."""
        if not self.ok:
            if self.event == "shutdown":
                return "stopped"
            return "lost" if self.event == "lost" else "failed"
        if now - self.timestamp > STALE_HEARTBEATS * heartbeat_s:
            return "stale"
        return "starting" if self.event in ("starting", "loading") else "ok"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready row (without the condition, which depends on the clock)."""
        return {
            "service": self.service,
            "ok": self.ok,
            "event": self.event,
            "err": self.err,
            "timestamp": self.timestamp,
        }


class HealthBoard:
    """The latest health of every service that reported one, bounded by ``max_services``."""

    def __init__(self, max_services: int = 64) -> None:
        """Track up to ``max_services`` services (unknown extras are ignored)."""
        self._rows: dict[str, HealthRow] = {}
        self._max = max_services

    def update(self, service: str, ping: HealthPing) -> HealthRow | None:
        """Record a status; None when the board is full and ``service`` is new."""
        if service not in self._rows and len(self._rows) >= self._max:
            return None
        row = HealthRow(service, ping.ok, ping.event, ping.err, ping.timestamp)
        self._rows[service] = row
        return row

    def rows(self) -> list[HealthRow]:
        """Every row, by service name."""
        return [self._rows[name] for name in sorted(self._rows)]
