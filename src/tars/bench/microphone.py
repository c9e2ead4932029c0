"""A satellite's microphone for the benches: a continuous real-time stream of 20 ms frames.

A real microphone never stops sending: between requests it sends room noise, and the VAD
ends an utterance only because the quiet after it keeps coming. So the bench keeps one
stream per satellite running for the whole run and splices clips into it, instead of
sending a clip and then nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

from tars.audio.pcm import Int16Array, frames
from tars.bench.played import FRAME_MS
from tars.contracts.audio import pcm_topic

Publish = Callable[[str, bytes, Mapping[str, str]], Awaitable[None]]
"""Publishes one raw frame with its user properties."""
_STEP_S = FRAME_MS / 1000
_RESYNC_S = 0.2
"""Lag after which the stream stops catching up (a stalled loop must not burst audio)."""


class Microphone:
    """The floor (noise or silence) in real time, with clips played in turn when queued."""

    def __init__(
        self,
        satellite: str,
        floor: list[bytes],
        publish: Publish,
        on_clip: Callable[[float], None],
    ) -> None:
        """Prepare the stream.

        Args:
            satellite: Satellite id the frames are published for.
            floor: Frames repeated while no clip plays.
            publish: Sends one frame.
            on_clip: Called with ``time.perf_counter()`` as a clip's first frame goes out.
        """
        self._topic = pcm_topic(satellite)
        self._floor = deque(floor)
        self._publish = publish
        self._on_clip = on_clip
        self._queue: deque[tuple[bytes, bool]] = deque()

    def say(self, speech: Int16Array) -> None:
        """Queue ``speech`` to play after anything already queued."""
        chunks = frames(speech, FRAME_MS)
        self._queue.extend((chunk, index == 0) for index, chunk in enumerate(chunks))

    @property
    def busy(self) -> bool:
        """Whether a clip is still queued or playing."""
        return bool(self._queue)

    async def run(self, stop: asyncio.Event) -> None:
        """Send frames in real time until ``stop`` is set (or cancelled)."""
        began = time.perf_counter()
        scheduled = seq = 0
        while not stop.is_set():
            delay = began + scheduled * _STEP_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -_RESYNC_S:
                began, scheduled = time.perf_counter(), 0
            frame, first = self._queue.popleft() if self._queue else (self._next_floor(), False)
            if first:
                self._on_clip(time.perf_counter())
            properties = {"seq": str(seq), "ts": f"{time.time():.6f}"}
            await self._publish(self._topic, frame, properties)
            scheduled += 1
            seq += 1

    def _next_floor(self) -> bytes:
        self._floor.rotate(-1)  # the noise does not repeat every frame
        return self._floor[-1]
