"""The last step of the stt pipeline: filter a transcript, then publish it or its rejection.

Nothing heard while listening disappears without a trace: a transcript the filter chain
rejects is published on ``stt/rejected`` with the filter's name and reason (the router then
tells the user it did not catch that), and a final remembers its audio so speech that
continues right after it joins the same turn.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from tars.audio.pcm import Int16Array
from tars.contracts.base import new_id
from tars.contracts.stt import (
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    TOPIC_STT_REJECTED,
    FinalTranscript,
    ListenReason,
    PartialTranscript,
    RejectedTranscript,
    TurnVerdict,
)
from tars.runtime.bus import Bus
from tars.services.stt.endpoint import UtteranceEnded
from tars.services.stt.factory import build_filter_chain
from tars.services.stt.filters import Candidate, FilterContext, RecentTexts, Rejection
from tars.services.stt.session import Decision
from tars.services.stt.settings import SttSettings
from tars.services.stt.stream import SatelliteStream, SpokenTurn
from tars.services.stt.transcriber import Transcript
from tars.services.stt.turn import TurnDecision, partial_worth_publishing
from tars.text.backchannel import is_backchannel
from tars.text.commands import is_closed_command
from tars.text.wakephrase import WakePhrases

_LOGGER = logging.getLogger(__name__)

_ECHO_FILTERS = frozenset({"echo", "recent_repeat"})
"""Filters that still refuse a command said over a reply: it may be TARS's own words."""


@dataclass(frozen=True)
class Heard:
    """An utterance the gate accepted, ready for its final transcript."""

    event: UtteranceEnded
    decision: Decision
    speech_start_ts: float
    speech_end_ts: float
    audio: Int16Array
    """What was transcribed: wake word cut off, a continued turn's audio in front."""
    turn: TurnDecision | None
    """The end-of-turn decision at the pause that ended it (None: no pause decision)."""

    @property
    def heard_in(self) -> ListenReason:
        """The window the utterance fell in (the gate's reason for accepting it)."""
        return cast(ListenReason, self.decision.reason)


class Publisher:
    """Filters transcripts and publishes finals, partials and rejections for stt.

    Args:
        bus: Where to publish.
        settings: Filter thresholds and partial rules.
        wake_phrases: Phrases stripped from the start of transcripts.
    """

    def __init__(
        self,
        bus: Bus,
        settings: SttSettings,
        wake_phrases: tuple[str, ...],
        closed_command: Callable[[str], bool] = is_closed_command,
    ) -> None:
        self._bus = bus
        self._closed_command = closed_command
        self._settings = settings
        self._wake_phrases = WakePhrases(wake_phrases)
        self._chain = build_filter_chain(settings)
        self._tts_texts = RecentTexts(max_items=10, max_age_s=30.0)

    def strip_wake(self, text: str) -> str:
        """``text`` without a leading wake phrase."""
        return self._wake_phrases.strip_leading(text)

    def tts_spoke(self, text: str) -> None:
        """Remember what TTS is saying, for the echo filter."""
        self._tts_texts.record(text, time.monotonic())

    async def partial(
        self,
        stream: SatelliteStream,
        text: str,
        transcript: Transcript,
        turn: TurnVerdict | None = None,
        speech_end_ts: float | None = None,
    ) -> None:
        """Publish a partial transcript when it adds enough to the last one.

        The partial of a pause carries the turn verdict there; one that calls the turn
        finished is published even when its words add nothing, since the router may start
        answering on it (``ROUTER_PREEMPT_LLM``).
        """
        settings = self._settings
        worth = partial_worth_publishing(
            text,
            stream.last_partial,
            min_chars=settings.partial_min_chars,
            min_new_chars=settings.partial_min_new_chars,
            min_alpha_ratio=settings.partial_alpha_ratio_min,
        )
        sounds_finished = turn in ("complete", "open") and bool(text.strip())
        if not settings.streaming_partials or not (worth or sounds_finished):
            return
        stream.last_partial = text
        partial = PartialTranscript(
            text=text,
            confidence=_unit(transcript.confidence),
            utt_id=stream.utt_id,
            satellite=stream.satellite,
            turn=turn,
            speech_end_ts=speech_end_ts,
        )
        await self._bus.publish(TOPIC_STT_PARTIAL, partial)

    async def final(self, stream: SatelliteStream, heard: Heard, transcript: Transcript) -> None:
        """Filter the final transcript of ``heard``; publish it or its rejection."""
        text = self.strip_wake(transcript.text)
        if not text:
            # Only the wake word: the request is still to come, the window stays open.
            self._bus.metrics.inc("wake_phrase_only")
            _LOGGER.info("nothing left after the wake phrase")
            return
        now = time.monotonic()
        event = heard.event
        continued = stream.continuing
        candidate = Candidate(
            text=text,
            duration_s=max(0.0, heard.speech_end_ts - heard.speech_start_ts),
            rms=event.rms,
            active_ratio=event.active_ratio,
            confidence=transcript.confidence,
            no_speech_prob=transcript.no_speech_prob,
            avg_logprob=transcript.avg_logprob,
            continues_text=continued.text if continued else "",
        )
        context = FilterContext(
            now=now,
            addressed=heard.heard_in in ("wake", "followup"),
            tts_texts=self._tts_texts.texts(now),
            published=stream.published.snapshot(now),
        )
        rejection = self._chain.check(candidate, context)
        window = heard.decision.window
        if window is not None and window.voice:
            rejection = self._over_reply(text, candidate.duration_s, rejection)
        stream.continuing = None
        if rejection is not None:
            stream.last_turn = None
            await self.rejected(stream, heard, text, rejection.filter, rejection.reason)
            return
        stream.published.record(text, now)
        stream.gate.consume(heard.decision.window)
        final = FinalTranscript(
            text=text,
            lang=transcript.language,
            confidence=_unit(transcript.confidence),
            utt_id=stream.utt_id or new_id(),
            satellite=stream.satellite,
            speech_start_ts=continued.speech_start_ts if continued else heard.speech_start_ts,
            speech_end_ts=heard.speech_end_ts,
            transcribe_ms=round(transcript.elapsed_s * 1000, 1),
            source="voice",
            heard_in=heard.heard_in,
            continues=continued.utt_id if continued else None,
            turn_complete=heard.turn.probability if heard.turn else None,
        )
        stream.last_turn = SpokenTurn(
            utt_id=final.utt_id or "",
            text=text,
            audio=heard.audio,
            speech_start_ts=final.speech_start_ts or heard.speech_start_ts,
            speech_end_s=event.speech_end_s,
            heard_in=continued.heard_in if continued else heard.heard_in,
        )
        await self._bus.publish(TOPIC_STT_FINAL, final)
        self._bus.metrics.inc("finals")
        _LOGGER.info(
            "final %r (%s, %s, %.0f ms)",
            text,
            heard.heard_in,
            heard.turn.verdict if heard.turn else heard.event.reason,
            final.transcribe_ms or 0.0,
        )

    def _over_reply(
        self, text: str, duration_s: float, rejection: Rejection | None
    ) -> Rejection | None:
        """The filters' verdict on speech over a reply, adjusted for double talk.

        A command over the reply ("stop", "what time is it") is short by nature, and the echo
        canceller clips its edges and leaves Whisper unsure of it, so only the echo filter
        (the words TARS itself is saying) refuses a command; the weak-evidence filters
        (duration, log-probability, common words) do not.
        """
        if rejection is not None:
            if rejection.filter not in _ECHO_FILTERS and self._closed_command(text):
                return None
            return rejection
        return self._not_a_turn(text, duration_s)

    def _not_a_turn(self, text: str, duration_s: float) -> Rejection | None:
        """Why speech over a reply (no wake word) does not take the turn, if it does not.

        "Mm-hm" over a reply means "go on". Whisper often writes such a sound said over the
        reply as a short phrase ("and a mom."), so anything shorter than
        ``STT_VOICE_BARGE_IN_MIN_TURN_MS`` that is not a command ("stop", "what time is it")
        does not take the turn either.
        """
        if is_backchannel(text):
            return Rejection("backchannel", f"{text!r} is a backchannel")
        min_s = self._settings.voice_barge_in_min_turn_ms / 1000
        if duration_s < min_s and not self._closed_command(text):
            return Rejection("backchannel", f"{duration_s:.2f} s of speech, not a command")
        return None

    async def rejected(
        self, stream: SatelliteStream, heard: Heard, text: str, name: str, reason: str
    ) -> None:
        """Publish why an utterance heard while listening was dropped."""
        self._bus.metrics.inc(f"rejected.{name}")
        _LOGGER.info("transcript %r rejected by %s: %s", text, name, reason)
        await self._bus.publish(
            TOPIC_STT_REJECTED,
            RejectedTranscript(
                text=text,
                filter=name,
                reason=reason,
                heard_in=heard.heard_in,
                utt_id=stream.utt_id or None,
                satellite=stream.satellite,
            ),
        )


def _unit(value: float | None) -> float | None:
    return None if value is None else min(1.0, max(0.0, value))
