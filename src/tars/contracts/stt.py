"""Transcripts produced by the speech-to-text service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Payload, SatelliteId, now

TOPIC_STT_FINAL = "stt/final"
TOPIC_STT_PARTIAL = "stt/partial"


class _Transcript(Payload):
    text: str
    """Recognised text."""
    lang: str = "en"
    """Language code."""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """Recogniser confidence, 0..1."""
    utt_id: str | None = None
    """Id of the utterance; partials and the final of one utterance share it."""
    ts: float = Field(default_factory=now)
    """When the transcript was produced, Unix seconds."""
    satellite: SatelliteId | None = None
    """Satellite the speech came from."""


class FinalTranscript(_Transcript):
    """The final transcript of one utterance."""

    is_final: Literal[True] = True
    """Always true for a final transcript."""
    speech_start_ts: float | None = None
    """Wall-clock time the speech began, Unix seconds."""
    speech_end_ts: float | None = None
    """Wall-clock time the VAD decided the speech ended, Unix seconds."""
    transcribe_ms: float | None = Field(default=None, ge=0)
    """Time spent in the recogniser for this final, milliseconds."""
    source: Literal["voice", "text"] | None = None
    """Voice from a microphone, or text typed into a UI or `tars ask`."""


class PartialTranscript(_Transcript):
    """An interim transcript while the user is still speaking."""

    is_final: Literal[False] = False
    """Always false for a partial transcript."""
