"""Speech synthesis requests, playback status and playback control."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Payload, SatelliteId, now
from tars.contracts.limits import MAX_SAY_CHARS

TOPIC_TTS_SAY = "tts/say"
TOPIC_TTS_STATUS = "tts/status"
TOPIC_TTS_CONTROL = "tts/control"

TtsEvent = Literal["speaking_start", "speaking_end", "paused", "resumed", "stopped"]


class TtsSay(Payload):
    """Speak a piece of text (one sentence of a streamed reply, or a whole phrase)."""

    text: str = Field(max_length=MAX_SAY_CHARS)
    """Text to speak (at most MAX_SAY_CHARS; a longer reply is sent as several)."""
    voice: str | None = None
    """Voice override."""
    lang: str | None = None
    """Language override."""
    utt_id: str | None = None
    """Reply this text belongs to; every sentence of one reply shares it."""
    style: str | None = None
    """Speaking style hint."""
    stt_ts: float | None = None
    """End-of-speech time of the user turn this answers, Unix seconds (latency tracing)."""
    wake_ack: bool | None = None
    """An acknowledgement of the wake word: do not open a follow-up window."""
    system_announce: bool | None = None
    """A system announcement (e.g. online): do not open a follow-up window."""
    satellite: SatelliteId | None = None
    """Where to play it (None: the local sound card)."""
    last: bool | None = None
    """True on the final piece of a reply; speaking_end for the reply follows it."""


class TtsStatus(Payload):
    """A change in playback."""

    event: TtsEvent
    """What happened."""
    text: str = ""
    """Text being spoken."""
    timestamp: float = Field(default_factory=now)
    """When it happened, Unix seconds."""
    utt_id: str | None = None
    """Reply id the event refers to."""
    reason: str | None = None
    """Why playback was paused or stopped."""
    wake_ack: bool | None = None
    """The playback was a wake acknowledgement."""
    system_announce: bool | None = None
    """The playback was a system announcement."""
    satellite: SatelliteId | None = None
    """Where the audio plays."""
    sample_rate: int | None = Field(default=None, ge=1)
    """Sample rate of the audio sent on tts/audio/<satellite>, Hz (speaking_start only)."""


class TtsControl(Payload):
    """Pause, resume or stop playback (barge-in, cancel)."""

    action: Literal["pause", "resume", "stop", "mute", "unmute"]
    """What to do."""
    reason: str = ""
    """Why (e.g. wake_interrupt, cancel)."""
    id: str | None = None
    """Reply id to act on (None: whatever is playing)."""
    satellite: SatelliteId | None = None
    """Satellite to act on (None: every satellite)."""
