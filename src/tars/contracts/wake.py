"""Wake-word detections, barge-in events and microphone gating."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Payload, SatelliteId

TOPIC_WAKE_EVENT = "wake/event"
TOPIC_WAKE_MIC = "wake/mic"

WakeEventType = Literal["wake", "interrupt", "timeout", "resume", "cancelled", "error"]


class WakeEvent(Payload):
    """A wake-word detection or a change in an interruption (barge-in)."""

    type: WakeEventType
    """What happened: wake, interrupt (barge-in), timeout, resume, cancelled or error."""
    tts_id: str | None = None
    """Utterance id of the TTS reply that was interrupted, if any."""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """Detector probability, 0..1."""
    energy: float | None = Field(default=None, ge=0.0)
    """RMS energy of the audio around the detection, s16 units."""
    cause: str | None = None
    """Why: wake_phrase, double_wake, cancel, silence, timeout, new_turn, detector_failure."""
    ts: float | None = None
    """When the wake word ended in the audio stream, Unix seconds."""
    satellite: SatelliteId | None = None
    """Satellite whose audio contained the wake word."""
    wake_word: str | None = None
    """Name of the model that fired, e.g. okay_nabu."""


class WakeMicCommand(Payload):
    """Ask STT to open or close a satellite's microphone."""

    action: Literal["mute", "unmute"]
    """Open (unmute) or close (mute) the microphone."""
    reason: str = "wake"
    """Why the command was sent."""
    ttl_ms: int | None = Field(default=None, ge=0)
    """How long the command lasts before reverting, milliseconds."""
    satellite: SatelliteId | None = None
    """Satellite whose microphone is meant (None: every satellite)."""
