"""Wake-word detection engine: the detector protocol and the threshold and retrigger logic.

The model behind it lives in `tars.services.wake.micro` (microWakeWord).

Everything here is synchronous and CPU-bound (about 2 ms of CPU per second of audio with
microWakeWord), so a service must run it off the event loop, in a worker thread. Time is
counted in samples of the audio stream, never read from a wall clock, so results depend only
on the audio that was fed in.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, rms

_LOGGER = logging.getLogger(__name__)

DEFAULT_RETRIGGER_S = 1.0
"""Minimum audio time between two detections, in seconds (py-tars `min_retrigger_sec`)."""
ENERGY_WINDOW_S = 0.75
"""Window over which a detection's energy (RMS) is computed, in seconds (as py-tars)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One wake-word detection."""

    wake_word: str
    """Model id of the word that fired, e.g. ``okay_nabu``."""
    probability: float
    """Model confidence that fired, 0-1 (microWakeWord: a mean over its sliding window)."""
    threshold: float
    """Threshold in force when it fired, 0-1."""
    energy: float
    """RMS of the last 750 ms of audio, in s16 units (0-32768)."""
    audio_time_s: float
    """Stream time of the end of the chunk that fired, in seconds since the stream (re)started."""


class WakeDetector(Protocol):
    """Turns a stream of 16 kHz mono s16 chunks into detections. Run it off the event loop."""

    @property
    def wake_word(self) -> str:
        """Model id of the wake word this detector listens for."""
        ...

    def process(self, samples: Int16Array) -> Detection | None:
        """Feed the next chunk of the stream; return a detection if the word ends in it."""
        ...

    def reset(self) -> None:
        """Forget all state, as if a new stream started (stream time restarts at 0)."""
        ...


class WakeScorer(Protocol):
    """A raw wake-word model: audio in, probabilities out, no decision logic."""

    @property
    def wake_word(self) -> str:
        """Model id of the wake word."""
        ...

    @property
    def default_threshold(self) -> float:
        """The model author's recommended probability cutoff, 0-1."""
        ...

    def score(self, samples: Int16Array) -> float | None:
        """Feed a chunk; return the highest probability it produced, or None if none ran."""
        ...

    def reset(self) -> None:
        """Clear the model's streaming state."""
        ...


class ThresholdDetector:
    """A `WakeDetector` that applies a threshold and a retrigger guard to a `WakeScorer`.

    A detection needs a score at or above the threshold, at least ``retrigger_s`` of audio
    since the previous detection, and the score to have dipped below the threshold since then
    (so one long high-probability stretch can never fire twice).
    """

    def __init__(
        self,
        scorer: WakeScorer,
        *,
        threshold: float | None = None,
        retrigger_s: float = DEFAULT_RETRIGGER_S,
        energy_window_s: float = ENERGY_WINDOW_S,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        """Wrap ``scorer``; ``threshold=None`` uses the model's own cutoff.

        Raises:
            ValueError: threshold outside (0, 1] or a negative retrigger time.
        """
        chosen = scorer.default_threshold if threshold is None else threshold
        if not 0.0 < chosen <= 1.0:
            raise ValueError(f"wake threshold must be in (0, 1], got {chosen}")
        if retrigger_s < 0:
            raise ValueError(f"retrigger time must be >= 0 s, got {retrigger_s}")
        self._scorer = scorer
        self._threshold = chosen
        self._retrigger_s = retrigger_s
        self._rate = sample_rate
        self._energy_samples = max(1, round(energy_window_s * sample_rate))
        self._recent: deque[Int16Array] = deque()
        self._recent_count = 0
        self._samples_seen = 0
        self._last_fire_s: float | None = None
        self._armed = True

    @property
    def wake_word(self) -> str:
        """Model id of the wake word."""
        return self._scorer.wake_word

    @property
    def threshold(self) -> float:
        """Probability threshold in force, 0-1."""
        return self._threshold

    def process(self, samples: Int16Array) -> Detection | None:
        """Feed the next chunk (any length) and return a detection or None.

        Raises:
            ValueError: the chunk is not a 1-D int16 array.
        """
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(f"expected 1-D int16 samples, got {samples.dtype} {samples.shape}")
        self._samples_seen += samples.size
        self._remember(samples)
        score = self._scorer.score(samples)
        if score is None:
            return None
        if score < self._threshold:
            self._armed = True
            return None
        now_s = self._samples_seen / self._rate
        if not self._armed or (
            self._last_fire_s is not None and now_s - self._last_fire_s < self._retrigger_s
        ):
            return None
        self._armed = False
        self._last_fire_s = now_s
        detection = Detection(
            wake_word=self._scorer.wake_word,
            probability=score,
            threshold=self._threshold,
            energy=self._energy(),
            audio_time_s=now_s,
        )
        _LOGGER.debug("wake word %s p=%.3f at %.2f s", detection.wake_word, score, now_s)
        return detection

    def reset(self) -> None:
        """Forget model state, guard and energy history; stream time restarts at 0."""
        self._scorer.reset()
        self._recent.clear()
        self._recent_count = 0
        self._samples_seen = 0
        self._last_fire_s = None
        self._armed = True

    def _remember(self, samples: Int16Array) -> None:
        # Copy: callers may reuse their buffer for the next frame.
        self._recent.append(samples.copy())
        self._recent_count += samples.size
        while self._recent_count - self._recent[0].size >= self._energy_samples:
            self._recent_count -= self._recent.popleft().size

    def _energy(self) -> float:
        recent = np.concatenate(list(self._recent))[-self._energy_samples :]
        return rms(recent)
