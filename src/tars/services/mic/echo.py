"""Echo cancelling stage of the mic: captured frames in, frames without the speaker's echo out.

Each captured frame (capture time ``ts`` of its first sample) is paired with the far-end
reference played at ``ts - delay`` (`FarEnd.take`) and both go to the `EchoCanceller`. The
configured delay is the part of the speaker-to-microphone latency that is known and fixed
(output buffering the device does not report, a long cable run); it must not exceed the real
delay, because AEC3 can only find an echo that comes *after* its reference, which it then
does by itself over the next ~250 ms. The canceller is stateful and CPU-bound, so it runs on
one dedicated thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tars.audio.echo import EchoCanceller
from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.services.mic.reference import FarEnd
from tars.services.mic.sources import AudioFrame

_LOGGER = logging.getLogger(__name__)

FAR_ACTIVE_RMS = 30.0
"""Reference RMS (s16 units) above which the speaker counts as playing during a frame."""


@dataclass
class EchoStats:
    """Running totals of what the canceller did (for metrics and benches)."""

    frames: int = 0
    far_active_frames: int = 0
    near_power: float = 0.0
    """Summed mean power of the microphone in frames where the speaker played."""
    out_power: float = 0.0
    """Summed mean power of the cleaned signal in the same frames."""

    def erle_db(self) -> float | None:
        """Microphone over cleaned power while the speaker played, in dB (None: no such frame)."""
        if self.far_active_frames == 0 or self.near_power <= 0:
            return None
        return float(10 * np.log10(self.near_power / max(self.out_power, 1.0)))


class EchoStage:
    """Cancels the far end's echo from each captured frame, off the event loop."""

    def __init__(self, canceller: EchoCanceller, far_end: FarEnd, *, delay_ms: int = 0) -> None:
        """Pair frames with ``far_end`` read ``delay_ms`` before their capture time."""
        self._canceller = canceller
        self._far_end = far_end
        self._delay_s = delay_ms / 1000
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mic-aec")
        self.stats = EchoStats()

    @property
    def engine(self) -> str:
        """The canceller's name."""
        return self._canceller.name

    def clean(self, frame: AudioFrame) -> AudioFrame:
        """Cancel the echo from one frame (blocking: runs on the stage's thread)."""
        near = frame.samples
        far = self._far_end.take(frame.ts - self._delay_s, near.size)
        cleaned = self._canceller.process(near, far)
        active = self._count(near, far, cleaned)
        return AudioFrame(samples=cleaned, ts=frame.ts, seq=frame.seq, speaker_active=active)

    async def frames(self, source: AsyncIterator[AudioFrame]) -> AsyncIterator[AudioFrame]:
        """Clean every frame of ``source`` in order, on the stage's thread."""
        loop = asyncio.get_running_loop()
        async for frame in source:
            yield await loop.run_in_executor(self._pool, self.clean, frame)

    def close(self) -> None:
        """Release the thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _count(self, near: Int16Array, far: Int16Array, cleaned: Int16Array) -> bool:
        """Add one frame to the stats; whether the speaker played during it."""
        stats = self.stats
        stats.frames += 1
        far_f = far.astype(np.float64)
        if float(np.sqrt(np.mean(far_f * far_f))) < FAR_ACTIVE_RMS:
            return False
        stats.far_active_frames += 1
        stats.near_power += float(np.mean(np.square(near.astype(np.float64))))
        stats.out_power += float(np.mean(np.square(cleaned.astype(np.float64))))
        return True


def frame_ms_ok(frame_samples: int) -> bool:
    """Whether frames of this size split into whole 10 ms AEC blocks."""
    return frame_samples % (SAMPLE_RATE // 100) == 0
