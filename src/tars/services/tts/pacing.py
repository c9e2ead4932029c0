"""Pause, stop and real-time pacing shared by the sinks that run on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable


class Playhead:
    """Position of a virtual speaker that plays queued audio in real time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start empty and playing; ``clock`` returns seconds (injectable for tests)."""
        self._clock = clock
        self._queued = 0.0
        self._played = 0.0
        self._since: float | None = clock()

    def reset(self) -> None:
        """Forget everything queued and played."""
        self._queued = self._played = 0.0
        self._since = self._clock()

    def add(self, seconds: float) -> None:
        """Queue ``seconds`` of audio behind what is queued."""
        self._settle()
        self._queued += seconds

    def ahead(self) -> float:
        """Seconds queued but not played yet."""
        self._settle()
        return self._queued - self._played

    def pause(self) -> None:
        """Freeze the play position."""
        self._settle()
        self._since = None

    def resume(self) -> None:
        """Let the play position advance again."""
        if self._since is None:
            self._since = self._clock()

    def _settle(self) -> None:
        # Time spent with nothing queued is lost, as on a real device that underruns.
        if self._since is not None:
            now = self._clock()
            self._played = min(self._queued, self._played + now - self._since)
            self._since = now


class PacedSink:
    """Base for sinks that pace themselves on the event loop, with pause and stop.

    Subclasses call :meth:`_admit` before emitting a piece of audio and
    :meth:`_emitted` after it. With pacing, a piece goes out once what is already
    queued is no more than the lead ahead of real time; unpaced, audio is accepted as
    fast as it comes, except while paused.
    """

    def __init__(self, *, paced: bool, lead_s: float = 0.0) -> None:
        """Set up pacing.

        Args:
            paced: Emit audio no faster than real time.
            lead_s: With pacing, how far ahead of real time audio may be emitted, in s.
        """
        self.rate = 0
        """Sample rate of the current utterance, in Hz (0 before the first start)."""
        self._paced = paced
        self._lead_s = lead_s
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._wake = asyncio.Event()
        self._stopped = False
        self._clock = Playhead()

    @property
    def paused(self) -> bool:
        """Whether output is held."""
        return not self._resumed.is_set()

    async def start(self, rate: int) -> None:
        """Begin an utterance at ``rate`` Hz."""
        self.rate = rate
        self._stopped = False
        self._resumed.set()
        self._clock.reset()

    async def pause(self) -> None:
        """Hold output; a pending write waits until resume or stop."""
        self._resumed.clear()
        self._clock.pause()
        self._wake.set()

    async def resume(self) -> None:
        """Continue output."""
        self._clock.resume()
        self._resumed.set()
        self._wake.set()

    async def stop(self) -> None:
        """End the utterance; pending and later writes return without emitting."""
        self._stopped = True
        self._resumed.set()
        self._wake.set()

    async def finish(self) -> None:
        """With pacing, wait until the emitted audio has had time to play."""
        while not self._stopped:
            if not self._resumed.is_set():
                await self._resumed.wait()
                continue
            ahead = self._clock.ahead() if self._paced else 0.0
            if ahead <= 0.0:
                return
            await self._nap(ahead)

    async def close(self) -> None:
        """Nothing to release by default."""

    async def _admit(self) -> bool:
        """Wait until the next piece of audio may be emitted; False once stopped."""
        while not self._stopped:
            if not self._resumed.is_set():
                await self._resumed.wait()
                continue
            excess = self._clock.ahead() - self._lead_s if self._paced else 0.0
            if excess <= 0.0:
                return True
            await self._nap(excess)
        return False

    def _emitted(self, seconds: float) -> None:
        self._clock.add(seconds)

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early on pause, resume or stop."""
        self._wake.clear()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
        # lands as the wait ends (CPython gh-86296), and the sink would go on pacing.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
