"""Transcripts produced by the speech-to-text service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Payload, SatelliteId, now

TOPIC_STT_FINAL = "stt/final"
TOPIC_STT_PARTIAL = "stt/partial"
TOPIC_STT_REJECTED = "stt/rejected"
TOPIC_STT_CONTINUATION = "stt/continuation"
TOPIC_STT_BARGE_IN = "stt/barge_in"
VOICE_CAUSE = "voice"
"""``cause`` of the wake/event interrupt a voice barge-in (`VoiceBargeIn`) leads to."""

ListenReason = Literal["wake", "interrupt", "followup", "live", "continuation"]
"""Why stt was listening to an utterance: the window that let it through."""

TurnVerdict = Literal["complete", "open", "unsure", "incomplete"]
"""What the end-of-turn signals say at a pause: ``complete`` (a closed command, the turn ends
at once), ``open`` (a finished-sounding request; the turn ends after a short wait unless the
user goes on), ``unsure`` (the signals disagree) or ``incomplete`` (both say it goes on)."""


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
    heard_in: ListenReason | None = None
    """The listening window that let this utterance through (voice finals only)."""
    continues: str | None = None
    """``utt_id`` of an earlier final this one replaces: the user kept speaking after it, and
    ``text`` holds the whole request, both parts."""
    turn_complete: float | None = Field(default=None, ge=0.0, le=1.0)
    """The turn model's probability that the user had finished, 0..1 (None: not run)."""


class PartialTranscript(_Transcript):
    """An interim transcript while the user is still speaking."""

    is_final: Literal[False] = False
    """Always false for a partial transcript."""
    turn: TurnVerdict | None = None
    """Set on the partial of a pause: what the end-of-turn decision said there (None: a
    partial taken while the user was still speaking)."""
    speech_end_ts: float | None = None
    """Set on the partial of a pause: capture time where the speech before it ended."""


class RejectedTranscript(Payload):
    """An utterance stt heard, was listening to, and did not publish as a final."""

    text: str
    """What the transcriber made of it (may be empty)."""
    filter: str
    """Stable name of the check that rejected it (``common_words``, ``no_speech``, ``empty``...)."""
    reason: str
    """Human-readable reason with the measured value and the threshold."""
    heard_in: ListenReason
    """The listening window the utterance fell in."""
    utt_id: str | None = None
    """Id of the utterance (its partials carried the same id)."""
    satellite: SatelliteId | None = None
    """Satellite the speech came from."""
    ts: float = Field(default_factory=now)
    """When the rejection was decided, Unix seconds."""


class TurnContinuation(Payload):
    """The user started speaking again right after a final: the turn is not over.

    A final with ``continues`` set to ``utt_id`` follows (or a rejection, if the new speech
    turns out to be noise). The reply to the earlier final should stop now.
    """

    utt_id: str
    """``utt_id`` of the final being continued."""
    satellite: SatelliteId | None = None
    """Satellite the speech came from."""
    gap_s: float = Field(ge=0.0)
    """Silence between the end of that final's speech and the new speech, seconds."""
    ts: float = Field(default_factory=now)
    """When the new speech started, Unix seconds."""


class VoiceBargeIn(Payload):
    """The user started talking over a reply on an echo-cancelled satellite (no wake word).

    stt publishes it as soon as the VAD confirms speech in the satellite's cleaned audio
    while TTS speaks there; the wake service then pauses the reply as for a wake word, and
    what stt makes of the speech decides the rest (stop, a new question, or a backchannel or
    noise, which resumes the reply at once).
    """

    utt_id: str
    """Id of the utterance that started (its final or rejection carries the same id)."""
    satellite: SatelliteId | None = None
    """Satellite the speech came from."""
    speech_start_ts: float
    """Capture time of the first speech in the utterance, Unix seconds."""
    ts: float = Field(default_factory=now)
    """When the speech was confirmed, Unix seconds."""
