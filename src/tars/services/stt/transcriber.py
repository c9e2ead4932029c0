"""The transcriber interface shared by every STT backend.

Backends: `tars.services.stt.whisper_engine.WhisperTranscriber` (faster-whisper,
offline) and `tars.services.stt.openai_engine.OpenAITranscriber` (any
OpenAI-compatible ``/audio/transcriptions`` server).

`Transcriber.transcribe` is synchronous and blocks for hundreds of
milliseconds (CPU inference or an HTTP round trip): run it off the event loop
with ``asyncio.to_thread``. One transcriber may be shared by several threads
only where the backend says so.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Protocol

from tars.audio.pcm import SAMPLE_RATE, SAMPLE_WIDTH, Int16Array, int16_to_bytes


@dataclass(frozen=True)
class Transcript:
    """The text of one utterance and what the backend said about it."""

    text: str
    """The transcribed text, stripped of surrounding whitespace."""
    confidence: float | None
    """Geometric-mean token probability, exp(avg_logprob) (0-1); None when unknown."""
    no_speech_prob: float | None
    """Probability that the audio held no speech (0-1), token-weighted mean; None if unknown."""
    avg_logprob: float | None
    """Mean token log-probability, weighted by segment tokens; None when unknown."""
    language: str
    """Language code of the transcript (e.g. ``en``)."""
    duration_s: float
    """Length of the audio transcribed, in seconds."""
    elapsed_s: float
    """Wall-clock time the backend took, in seconds."""


class Transcriber(Protocol):
    """Speech to text for one utterance of 16 kHz int16 audio."""

    def transcribe(self, samples: Int16Array) -> Transcript:
        """Transcribe one utterance; blocking, run it off the event loop.

        Raises:
            TranscriptionError: the backend failed.
        """
        ...


class TranscriptionError(RuntimeError):
    """A backend could not transcribe.

    Args:
        code: Stable machine-readable code: ``timeout``, ``connection``,
            ``http_status``, ``bad_response``, ``engine`` or ``model``.
        message: What failed, for people.
        retryable: True when the same request may succeed later.
    """

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


def wav_bytes(samples: Int16Array, rate: int = SAMPLE_RATE) -> bytes:
    """Encode mono s16 samples as a complete WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(int16_to_bytes(samples))
    return buffer.getvalue()
