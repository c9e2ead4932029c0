"""Acoustic echo cancellation: the engine behind a Protocol, no MQTT and no clock.

An `EchoCanceller` takes the microphone signal (near end) and what the speaker played at the
same moment (far end, the reference) in equal blocks of 16 kHz mono s16 samples and returns
the microphone signal with the echo of the reference removed.

`WebRtcEchoCanceller` wraps WebRTC's AEC3 (``pywebrtc-audio`` 0.2.0, Apache-2.0, 0.4 MB,
the ``mic`` extra). Measured against livekit's APM (the same AEC3 behind a 30 MB SDK) on one
recording of the simulated room (90 ms, RT60 0.3 s, echo +4 dB over the user): 38.9 dB of
echo removed before the user spoke against 32.4 dB, and the same words detected by the VAD
in double talk; the Speex port (pyaec) is pure Python and far too slow for 16 kHz. Noise
suppression and automatic gain control are left off: suppression removed another 12 dB of
residue but so damaged the user's voice during double talk that Silero missed "okay nabu,
stop" and "yeah" said over a reply, and gain control lifts the residue with the user
(ERLE fell from ~39 to ~16 dB) and changes the level the wake model and the VAD expect.

AEC3 estimates the remaining echo delay itself (here up to ~250 ms was cancelled fully) as
long as the reference reaches it *no later* than its echo; `tars.services.mic.echo` makes
sure of that by reading the reference at the capture time minus a configured delay.

Processing is CPU work (about 1 % of a core at 16 kHz): call it off the event loop. The
engine keeps state and is not thread-safe: one instance per stream, one thread at a time.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array

BLOCK_SAMPLES = SAMPLE_RATE // 100
"""Samples per AEC block (10 ms at 16 kHz)."""


class EchoCanceller(Protocol):
    """Removes the echo of a far-end reference from a microphone signal."""

    @property
    def name(self) -> str:
        """Short engine name (published with every cleaned frame)."""
        ...

    def process(self, near: Int16Array, far: Int16Array) -> Int16Array:
        """Cancel ``far``'s echo from ``near``; both a multiple of `BLOCK_SAMPLES` long."""
        ...

    def reset(self) -> None:
        """Forget the learned echo path (a new device or stream)."""
        ...


class EchoCancellerUnavailableError(RuntimeError):
    """The echo canceller's package is not installed."""


class WebRtcEchoCanceller:
    """WebRTC AEC3 plus noise suppression through ``pywebrtc-audio`` (an `EchoCanceller`)."""

    name = "webrtc"

    def __init__(self, *, noise_suppression: bool = False, ns_level: int = 1) -> None:
        """Create the processor.

        Args:
            noise_suppression: Also suppress stationary noise (and echo residue with it).
            ns_level: Suppression strength 0-3 (6, 12, 18, 21 dB).

        Raises:
            EchoCancellerUnavailableError: ``pywebrtc-audio`` is not installed.
        """
        self._processor = _new_processor(noise_suppression, ns_level)

    def process(self, near: Int16Array, far: Int16Array) -> Int16Array:
        """Cancel the echo block by block (10 ms each)."""
        if near.size != far.size or near.size % BLOCK_SAMPLES:
            raise ValueError(
                f"near and far must be equal multiples of {BLOCK_SAMPLES} samples, "
                f"got {near.size} and {far.size}"
            )
        out = np.empty_like(near)
        for start in range(0, near.size, BLOCK_SAMPLES):
            block = slice(start, start + BLOCK_SAMPLES)
            out[block] = self._processor.process(near[block], far[block])
        return out

    def reset(self) -> None:
        """Forget the learned echo path and noise estimate."""
        self._processor.reset()


def _new_processor(noise_suppression: bool, ns_level: int) -> Any:
    try:
        from pywebrtc_audio import AudioProcessor
    except ImportError as err:
        raise EchoCancellerUnavailableError(
            "pywebrtc-audio is not installed (uv sync --extra mic)"
        ) from err
    return AudioProcessor(
        sample_rate=SAMPLE_RATE,
        echo_cancellation=True,
        noise_suppression=noise_suppression,
        ns_level=ns_level,
    )


def energy_db(samples: Int16Array) -> float:
    """Mean power of ``samples`` in dB (re 1 s16 unit squared); -inf for silence."""
    if samples.size == 0:
        return -math.inf
    power = float(np.mean(np.square(samples.astype(np.float64))))
    return 10 * math.log10(power) if power > 0 else -math.inf


def erle_db(echo: Int16Array, residue: Int16Array, floor_db: float = 0.0) -> float:
    """Echo return loss enhancement: echo power in the mic over its power after cancelling.

    ``floor_db`` is added to the residue power's floor (1 unit²) so silence does not give
    infinity.
    """
    residue_power = float(np.mean(np.square(residue.astype(np.float64)))) if residue.size else 0
    echo_power = float(np.mean(np.square(echo.astype(np.float64)))) if echo.size else 0
    floor = 10 ** (floor_db / 10)
    return 10 * math.log10(max(echo_power, floor) / max(residue_power, floor))
