"""The far-end reference: what the satellite's speaker played, and when.

The speaker side (a sound card's output callback, or the simulated room of the benches)
records every block it hands to the loudspeaker with the wall-clock time its first sample
leaves it; the echo canceller reads back the reference for any span of capture time. Both
sides are on other threads than the event loop, so the timeline is locked. Time is kept as
absolute 16 kHz sample positions (``round(ts * 16000)``), so blocks from any source line up
exactly and spans nobody played read as silence.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array


def sample_index(ts: float) -> int:
    """Absolute 16 kHz sample position of wall-clock time ``ts`` (Unix seconds)."""
    return round(ts * SAMPLE_RATE)


class FarEnd:
    """Thread-safe timeline of the audio a speaker played (the echo canceller's reference)."""

    def __init__(self, keep_s: float = 5.0) -> None:
        """Keep ``keep_s`` seconds of history behind the newest block."""
        self._keep = round(keep_s * SAMPLE_RATE)
        self._lock = threading.Lock()
        self._blocks: deque[tuple[int, Int16Array]] = deque()
        self.played_samples = 0
        """Samples recorded so far (silence included)."""

    def played(self, samples: Int16Array, start_ts: float) -> None:
        """Record that ``samples`` (16 kHz) started leaving the speaker at ``start_ts``."""
        if samples.size == 0:
            return
        start = sample_index(start_ts)
        with self._lock:
            self._blocks.append((start, samples))
            self.played_samples += samples.size
            horizon = start + samples.size - self._keep
            while self._blocks and self._blocks[0][0] + self._blocks[0][1].size < horizon:
                self._blocks.popleft()

    def take(self, start_ts: float, count: int) -> Int16Array:
        """The reference for ``count`` samples from ``start_ts``; silence where nothing played."""
        out = np.zeros(count, dtype=np.int16)
        first = sample_index(start_ts)
        last = first + count
        with self._lock:
            for begin, samples in reversed(self._blocks):
                end = begin + samples.size
                if end <= first:
                    break  # blocks are recorded in time order: the rest are older still
                if begin >= last:
                    continue
                lo, hi = max(begin, first), min(end, last)
                out[lo - first : hi - first] = samples[lo - begin : hi - begin]
        return out
