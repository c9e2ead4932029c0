"""Which validated commands may go to the servos now: rate limit, stop latch, pending bound.

Pure bookkeeping with an injected clock; no MQTT. The emergency stop is never gated: it
only resets the gate (pending commands are dropped and new ones wait out the latch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RefusalEvent = Literal["command_failed", "queue_full"]


@dataclass(frozen=True)
class Refusal:
    """Why a command was not forwarded.

    Attributes:
        event: The status event to report (``queue_full`` or ``command_failed``).
        detail: A sentence for logs, dashboards and the tool result.
    """

    event: RefusalEvent
    detail: str


class CommandGate:
    """Token-bucket rate limit, a latch after emergency stops, and a bound on pending commands.

    Args:
        rate_per_s: Sustained commands per second.
        burst: Bucket size (commands allowed at once).
        max_pending: Forwarded commands not yet finished before refusing more.
        pending_timeout_s: After this long a forwarded command stops counting as pending.
        stop_hold_s: Commands this soon after a stop are refused.
    """

    def __init__(
        self,
        *,
        rate_per_s: float,
        burst: int,
        max_pending: int,
        pending_timeout_s: float,
        stop_hold_s: float,
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._refilled_at: float | None = None
        self._max_pending = max_pending
        self._pending_timeout = pending_timeout_s
        self._stop_hold = stop_hold_s
        self._stopped_at: float | None = None
        self._pending: dict[str, float] = {}

    @property
    def pending(self) -> int:
        """Commands forwarded and not finished (as of the last call)."""
        return len(self._pending)

    def admit(self, request_id: str, now: float) -> Refusal | None:
        """Take ``request_id`` if allowed now (it then counts as pending), else say why not."""
        if self._stopped_at is not None and now - self._stopped_at < self._stop_hold:
            return Refusal("command_failed", "refused: an emergency stop was just issued")
        self._expire(now)
        if len(self._pending) >= self._max_pending:
            return Refusal(
                "queue_full", f"refused: {len(self._pending)} commands are still running"
            )
        self._refill(now)
        if self._tokens < 1.0:
            return Refusal(
                "command_failed", f"refused: rate limit of {self._rate:g} commands per second"
            )
        self._tokens -= 1.0
        self._pending[request_id] = now
        return None

    def finished(self, request_id: str) -> None:
        """The controller finished (or failed) ``request_id``."""
        self._pending.pop(request_id, None)

    def stopped(self, now: float) -> None:
        """An emergency stop: nothing is pending any more and the latch starts."""
        self._pending.clear()
        self._stopped_at = now

    def _refill(self, now: float) -> None:
        if self._refilled_at is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._refilled_at) * self._rate)
        self._refilled_at = now

    def _expire(self, now: float) -> None:
        for request_id, since in list(self._pending.items()):
            if now - since > self._pending_timeout:
                del self._pending[request_id]
