"""Bounds on what a browser may send: control-message rate and microphone audio."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tars.contracts.audio import PCM_SAMPLE_RATE, PCM_SAMPLE_WIDTH

Clock = Callable[[], float]


class TokenBucket:
    """``rate`` units per second, with at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        """Start full."""
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._level = burst
        self._stamp = clock()

    def take(self, amount: float = 1.0) -> bool:
        """Spend ``amount`` if available; False (and nothing spent) when not."""
        now = self._clock()
        self._level = min(self._burst, self._level + (now - self._stamp) * self._rate)
        self._stamp = now
        if amount > self._level:
            return False
        self._level -= amount
        return True


class AudioGate:
    """Checks one browser's microphone frames: shape, size and real-time pace.

    A frame must be whole 16-bit samples, at most ``max_frame_ms`` long; the stream may run
    at most ``burst_s`` ahead of real time (a tab that floods is refused, not queued).
    """

    def __init__(self, max_frame_ms: int, burst_s: float, clock: Clock = time.monotonic) -> None:
        """Bound frames to ``max_frame_ms`` and the stream to real time plus ``burst_s``."""
        self.max_bytes = PCM_SAMPLE_RATE * PCM_SAMPLE_WIDTH * max_frame_ms // 1000
        self._bucket = TokenBucket(1.0, burst_s, clock)

    def check(self, frame: bytes) -> str | None:
        """None if ``frame`` may be published, else the reason it is refused."""
        if not frame or len(frame) % PCM_SAMPLE_WIDTH:
            return "odd_size"
        if len(frame) > self.max_bytes:
            return "too_long"
        if not self._bucket.take(len(frame) / (PCM_SAMPLE_RATE * PCM_SAMPLE_WIDTH)):
            return "too_fast"
        return None


@dataclass
class Microphones:
    """Which satellite each streaming page owns (one page per satellite, a bounded number)."""

    limit: int
    owners: dict[str, int] = field(default_factory=dict)

    def claim(self, satellite: str, connection: int) -> str | None:
        """Take ``satellite`` for ``connection``; the reason when refused."""
        owner = self.owners.get(satellite)
        if owner not in (None, connection):
            return f"satellite {satellite!r} is already streaming from another page"
        if owner is None and len(self.owners) >= self.limit:
            return f"at most {self.limit} browser microphones may stream at once"
        self.owners[satellite] = connection
        return None

    def release(self, connection: int) -> None:
        """Give back whatever ``connection`` held."""
        for satellite in [s for s, owner in self.owners.items() if owner == connection]:
            del self.owners[satellite]
