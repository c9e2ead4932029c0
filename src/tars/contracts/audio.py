"""Binary audio topics: raw 16 kHz mono s16le PCM, never base64 JSON.

Microphones publish on ``audio/<satellite>/pcm`` (QoS 0, 20-40 ms per message);
TTS sends replies for remote satellites on ``tts/audio/<satellite>``. Optional
MQTT v5 user properties carry the sequence number (``seq``), the capture time of
the first sample (``ts``) and, for TTS audio, the sample rate (``rate``) and the
utterance id (``utt_id``). A bare payload without properties is still valid.
"""

from __future__ import annotations

import re

from pydantic import Field

from tars.contracts.base import Payload, SatelliteId, now

PCM_SAMPLE_RATE = 16_000
"""Sample rate of microphone audio on the bus, Hz."""
PCM_SAMPLE_WIDTH = 2
"""Bytes per sample of bus audio (signed 16-bit little-endian)."""
PCM_PATTERN = "audio/+/pcm"
TTS_AUDIO_PATTERN = "tts/audio/+"
TOPIC_AUDIO_FFT = "stt/audio_fft"

_SATELLITE_RE = re.compile(r"^[a-z0-9_-]{1,32}$")


def is_satellite_id(value: str) -> bool:
    """Whether ``value`` is a valid satellite id."""
    return bool(_SATELLITE_RE.match(value))


def pcm_topic(satellite: str) -> str:
    """Topic on which a satellite's microphone audio is published.

    Raises:
        ValueError: ``satellite`` is not a valid satellite id.
    """
    if not is_satellite_id(satellite):
        raise ValueError(f"invalid satellite id {satellite!r}: expected [a-z0-9_-]{{1,32}}")
    return f"audio/{satellite}/pcm"


def tts_audio_topic(satellite: str) -> str:
    """Topic on which reply audio for a remote satellite is published."""
    if not is_satellite_id(satellite):
        raise ValueError(f"invalid satellite id {satellite!r}: expected [a-z0-9_-]{{1,32}}")
    return f"tts/audio/{satellite}"


def satellite_of(topic: str) -> str | None:
    """Extract the satellite id from an ``audio/<sat>/pcm`` or ``tts/audio/<sat>`` topic."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "audio" and parts[2] == "pcm":
        candidate = parts[1]
    elif len(parts) == 3 and parts[0] == "tts" and parts[1] == "audio":
        candidate = parts[2]
    else:
        return None
    return candidate if is_satellite_id(candidate) else None


class AudioFFTData(Payload):
    """Spectrum of recent microphone audio for visualisers."""

    fft_data: list[float]
    """Magnitudes per bin, normalised to 0..1."""
    sample_rate: int = Field(ge=1)
    """Sample rate of the analysed audio, Hz."""
    ts: float = Field(default_factory=now)
    """When the spectrum was computed, Unix seconds."""
    satellite: SatelliteId | None = None
    """Satellite the audio came from."""
