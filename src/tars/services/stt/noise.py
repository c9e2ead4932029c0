"""Noise-floor calibration, used as a pre-gate on the start of speech.

py-tars measured the room's noise floor (median RMS over the first 2 s, then an
adaptive update from non-speech frames) and ignored frames quieter than
``max(NOISE_MIN_RMS, floor * 3)`` before speech started. Silero already rejects
stationary noise, tones and silence on its own, so here the gate only keeps a
*quiet* window that Silero happens to score as speech from opening an
utterance; it never cuts audio once speech has started. Differences from
py-tars: the bootstrap median is taken over non-speech windows only, so speech
in the first two seconds (a file played at once) cannot inflate the floor.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class NoiseFloorConfig:
    """Noise-floor gate parameters (py-tars defaults)."""

    min_rms: float = 220.0
    """Lowest gate, in s16 RMS units (py-tars NOISE_MIN_RMS)."""
    calibration_s: float = 2.0
    """Non-speech audio used for the bootstrap median, in seconds."""
    alpha: float = 0.02
    """Weight of each new non-speech window in the adaptive update (0-1)."""
    multiplier: float = 3.0
    """Gate = floor x multiplier (py-tars NOISE_FLOOR_THRESHOLD_MULTIPLIER)."""


class NoiseFloor:
    """Tracks the background level from non-speech windows.

    Args:
        config: Gate parameters.
    """

    def __init__(self, config: NoiseFloorConfig | None = None) -> None:
        self._config = config or NoiseFloorConfig()
        self._bootstrap: list[float] = []
        self._bootstrap_s = 0.0
        self._floor: float | None = None

    @property
    def floor(self) -> float | None:
        """The calibrated background RMS, or None while still calibrating."""
        return self._floor

    @property
    def gate(self) -> float:
        """RMS a window needs to open an utterance."""
        if self._floor is None:
            return self._config.min_rms
        return max(self._config.min_rms, self._floor * self._config.multiplier)

    def observe(self, window_rms: float, duration_s: float) -> None:
        """Feed the RMS of one window that the VAD scored as non-speech."""
        if self._floor is None:
            self._bootstrap.append(window_rms)
            self._bootstrap_s += duration_s
            if self._bootstrap_s >= self._config.calibration_s:
                self._floor = statistics.median(self._bootstrap)
                self._bootstrap.clear()
            return
        alpha = self._config.alpha
        self._floor = (1.0 - alpha) * self._floor + alpha * window_rms

    def reset(self) -> None:
        """Start calibrating again (a new stream or a new room)."""
        self._bootstrap.clear()
        self._bootstrap_s = 0.0
        self._floor = None
