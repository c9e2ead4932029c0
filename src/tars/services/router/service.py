"""The router service: wires bus messages to the per-satellite conversation machines.

Every handler runs under one lock, so the state of all satellites changes one message at a
time even though the bus runs each subscription on its own worker. The shared state and the
moves on it live in :mod:`~tars.services.router.core`; rule answers in
:mod:`~tars.services.router.answers`, LLM replies in :mod:`~tars.services.router.llm_replies`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from tars.contracts import health, llm, stt, tts, wake
from tars.runtime.bus import Bus, Message
from tars.runtime.settings import ConversationSettings, RuntimeSettings
from tars.services.router.answers import RuleAnswers
from tars.services.router.core import RouterCore
from tars.services.router.llm_replies import LlmReplies, llm_request
from tars.services.router.outputs import Outputs
from tars.services.router.preempt import Preempted, Preemption, may_end_here
from tars.services.router.settings import RouterSettings, moved_variables, split_phrases
from tars.services.router.state import Session
from tars.text.commands import Rules
from tars.text.wakephrase import WakePhrases

_LOGGER = logging.getLogger(__name__)

_WAKE_WORD_S = 0.3
"""A pause that began this soon after the wake word was detected belongs to the wake word."""
_ADDRESSED: frozenset[stt.ListenReason] = frozenset({"wake", "interrupt", "continuation"})
"""Windows in which the user was certainly talking to TARS: a rejection there is answered."""


class RouterService:
    """Conversation state machine per satellite: windows, rules, LLM streaming, barge-in."""

    name = "router"

    def __init__(
        self,
        settings: RouterSettings,
        *,
        conversation: ConversationSettings | None = None,
        wallclock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        """Create the router.

        Args:
            settings: Router settings.
            conversation: The conversation clock shared with stt (default: from ``TARS_*``).
            wallclock: Local time source for the time/date rules (tests pass a fixed one).
        """
        self.settings = settings
        self.conversation = conversation or ConversationSettings()
        self._core = RouterCore(settings, self.conversation)
        self._answers = RuleAnswers(self._core, wallclock)
        self._preemption = Preemption(self._core)
        self._llm = LlmReplies(self._core, self._preemption)
        self._wake = WakePhrases(self.conversation.phrases())
        self._rules = Rules(
            split_phrases(settings.live_mode_enter_phrases),
            split_phrases(settings.live_mode_exit_phrases),
            settings.timer_max_s,
        )
        self._acks = itertools.cycle(split_phrases(settings.wake_ack_choices) or ("Yes?",))
        self._announced = False

    # -- lifecycle -------------------------------------------------------------------------
    def attach(self, bus: Bus) -> None:
        """Subscribe to wake, STT, LLM, TTS and health topics."""
        self._core.attach(bus)
        handlers: dict[str, Callable[[Message], Coroutine[Any, Any, None]]] = {
            wake.TOPIC_WAKE_EVENT: self._on_wake,
            stt.TOPIC_STT_FINAL: self._on_final,
            stt.TOPIC_STT_PARTIAL: self._on_partial,
            stt.TOPIC_STT_REJECTED: self._on_rejected,
            stt.TOPIC_STT_CONTINUATION: self._on_continuation,
            llm.TOPIC_LLM_STREAM: self._llm.on_stream,
            llm.TOPIC_LLM_RESPONSE: self._llm.on_response,
            tts.TOPIC_TTS_STATUS: self._on_tts_status,
        }
        for service in ("tts", "stt", "llm"):
            handlers[health.health_topic(service)] = self._on_health
        for topic, handler in handlers.items():
            # Wake events carry the barge-in: read apart, they never wait behind a flood.
            control = topic == wake.TOPIC_WAKE_EVENT
            bus.subscribe(topic, self._locked(handler), priority=control)

    async def run(self) -> None:
        """Nothing to load: report ready, let the handlers work, and own their timers.

        The timers, windows and watchdogs the handlers start live until the service stops;
        then they are cancelled with it, so none publishes on a bus that is gone.
        """
        await self._core.bus.wait_connected()
        await self._core.bus.set_health(True, "ready")
        try:
            await asyncio.Event().wait()
        finally:
            await self._core.close()

    def _locked(
        self, handler: Callable[[Message], Coroutine[Any, Any, None]]
    ) -> Callable[[Message], Coroutine[Any, Any, None]]:
        async def run(message: Message) -> None:
            async with self._core.lock:
                await handler(message)

        return run

    @property
    def out(self) -> Outputs:
        """Publishing helpers (available once attached)."""
        return self._core.out

    def session(self, satellite: str | None) -> Session:
        """The state of ``satellite`` (None is the local sound card)."""
        return self._core.session(satellite)

    # -- health and the online announcement ------------------------------------------------
    async def _on_health(self, message: Message) -> None:
        service = message.topic.rsplit("/", 1)[-1]
        self._core.healthy[service] = bool(message.data.ok)  # current, not sticky
        if self.settings.online_announce and not self._announced and self._tts_stt_ok():
            self._announced = True
            await self.out.announce(
                self.settings.online_announce_text, utt_id="boot", satellite=None
            )

    def _tts_stt_ok(self) -> bool:
        healthy = self._core.healthy
        return healthy.get("tts", False) and healthy.get("stt", False)

    # -- wake events -----------------------------------------------------------------------
    async def _on_wake(self, message: Message) -> None:
        event: wake.WakeEvent = message.data
        core = self._core
        session = core.session(event.satellite)
        if event.type in ("wake", "interrupt", "cancelled"):
            await self._preemption.cancel(session.satellite, "wake")
        if event.type in ("wake", "interrupt"):
            session.wake_ts = event.ts if event.ts is not None else time.time()
        if event.type == "interrupt":
            # A wake word over the reply: the wake service has paused it. What follows decides:
            # a new question replaces the reply (`_on_final`), "stop" ends it, and silence lets
            # the wake service resume it. So the reply is not cut here.
            core.open_window(session, self.conversation.wake_window_s)
        elif event.type == "wake":
            barge_in = session.busy
            if barge_in:
                await core.interrupt(session, "barge_in")
            core.open_window(session, self.conversation.wake_window_s)
            await core.move(session, "listening")
            if not barge_in and self.settings.wake_ack_enabled:
                core.spawn(f"ack:{session.satellite}", self._ack_later(session))
        elif event.type == "cancelled":
            if event.tts_id is not None and event.tts_id != session.reply_id:
                return  # about a reply already replaced (a new turn): the current one stays
            await core.interrupt(session, "cancel")
            session.close_window()
            await core.move(session, "idle")
        # "timeout" and "resume" are the wake service's own windows; the router keeps its own
        # window, extended by partial transcripts, so a slow speaker is not cut off at 3 s.

    async def _ack_later(self, session: Session) -> None:
        # Wake word and question in one breath: the final arrives within a few hundred ms and
        # cancels this task, so the ack never delays or talks over the answer.
        await asyncio.sleep(self.settings.wake_ack_delay_s)
        async with self._core.lock:
            ack_id = f"wake-ack-{int(time.time() * 1000)}"
            await self.out.announce(
                next(self._acks), utt_id=ack_id, satellite=session.satellite, wake_ack=True
            )

    async def _on_partial(self, message: Message) -> None:
        partial: stt.PartialTranscript = message.data
        session = self._core.session(partial.satellite)
        self._core.cancel_task(f"ack:{session.satellite}")
        session.extend_window(time.monotonic(), self.settings.speech_extend_s)
        request = self._wake.strip_leading(partial.text.strip())
        # The utterance's id while its words would go to the LLM, else None.
        utt_id = partial.utt_id if self._llm_would_answer(session, partial, request) else None
        if utt_id and self.settings.preempt_llm and may_end_here(partial, request):
            request_id = self._preemption.request_id(utt_id)
            early = llm_request(self._core, request_id, session.satellite, request, preemptive=True)
            await self._preemption.start(session.satellite, utt_id, early)
            return
        # The user went on (or this pause is no end): what was asked early is stale.
        await self._preemption.cancel(session.satellite, "continued")
        if utt_id and self.settings.llm_prefill and len(request.split()) > 1:
            await self._core.read_question_ahead(session, utt_id, request)

    def _llm_would_answer(
        self, session: Session, partial: stt.PartialTranscript, request: str
    ) -> bool:
        """Whether ``request`` (``partial`` without the wake phrase) would go to the LLM now.

        stt publishes partials only of speech it listens to, so the final will be accepted.
        The pause right after a wake word is the wake word's own (stt may have transcribed
        it, misheard, before the wake event reached it): no request yet.
        """
        wake_ts, end_ts = session.wake_ts, partial.speech_end_ts
        after_wake_word = wake_ts is None or end_ts is None or end_ts > wake_ts + _WAKE_WORD_S
        return (
            after_wake_word
            and bool(request)
            and not session.busy
            and self._core.llm_available
            and self._rules.match(request) is None
            and not self._rules.is_movement_stop(request)
        )

    # -- what stt heard ---------------------------------------------------------------------
    async def _on_final(self, message: Message) -> None:
        final: stt.FinalTranscript = message.data
        session = self._core.session(final.satellite)
        preempted = self._preemption.take(session.satellite)
        try:
            await self._take_final(session, final, preempted)
        finally:
            if preempted is not None:
                await self._preemption.drop(preempted, "final")  # unless the reply adopted it

    async def _take_final(
        self, session: Session, final: stt.FinalTranscript, preempted: Preempted | None
    ) -> None:
        text = final.text.strip()
        if not text:
            return
        core = self._core
        core.cancel_task(f"ack:{session.satellite}")
        request = self._wake.strip_leading(text)
        if self._rules.is_movement_stop(request):
            # A spoken emergency stop wins over everything, even outside any window.
            core.metric("movement_stops")
            await self.out.stop_movement(f"spoken: {request}")
        typed = final.source == "text"
        if not session.accepts(
            time.monotonic(),
            typed=typed,
            has_wake_phrase=request != text,
            gated=final.heard_in is not None and not typed,
        ):
            _LOGGER.info("ignored transcript without wake word on %s", session.satellite)
            core.metric("finals_ignored")
            return
        if final.continues and session.busy and session.reply_id == final.continues:
            # The continuation event was missed (or is still queued): the reply to the first
            # part must not keep playing while the whole request is answered.
            await self._continue(session, final.continues)
        if not request:  # only the wake phrase: wait for the question
            core.open_window(session, self.conversation.wake_window_s)
            await core.move(session, "listening")
            return
        await self._answer(session, final, request, preempted)

    async def _answer(
        self,
        session: Session,
        final: stt.FinalTranscript,
        request: str,
        preempted: Preempted | None = None,
    ) -> None:
        """Answer an accepted request by a rule or the LLM (``preempted``: asked already)."""
        core = self._core
        session.close_window()
        intent = self._rules.match(request)
        if intent is not None and intent.kind in ("stop", "move_stop"):
            await core.interrupt(session, "stop")
            await core.move(session, "idle")
        elif session.busy:  # a new question replaces the reply in progress
            await core.interrupt(session, "new_turn")
        reply = core.new_reply(
            core.claim_id(final.utt_id),
            session.satellite,
            request,
            final.speech_end_ts or final.ts,
        )
        reply.timings_ms["stt_to_router"] = round(max(0.0, time.time() - final.ts) * 1e3, 1)
        if intent is not None:
            await self._answers.answer(session, reply, intent)
            return
        history = core.history(session.satellite)
        if preempted is not None and preempted.answers(final.utt_id, request, history):
            await self._llm.ask(session, reply, preempted)
            return
        if preempted is not None:
            _LOGGER.info("preemptive request %r not taken for %r", preempted.text, request)
        request_id = self._preemption.request_id(reply.id)
        reply.llm_id = "" if request_id == reply.id else request_id
        await self._llm.ask(session, reply)

    async def _on_continuation(self, message: Message) -> None:
        event: stt.TurnContinuation = message.data
        session = self._core.session(event.satellite)
        await self._preemption.cancel(session.satellite, "continued")
        if not session.busy or session.reply_id != event.utt_id:
            # Its reply is over (or was never ours): the final that follows carries heard_in
            # and is accepted on its own.
            _LOGGER.debug("continuation of %s with no reply in flight", event.utt_id)
            self._core.metric("continuations_idle")
            return
        await self._continue(session, event.utt_id)

    async def _continue(self, session: Session, utt_id: str) -> None:
        """The user kept talking: stop the reply to the first part and wait for the rest."""
        core = self._core
        _LOGGER.info("turn %s continues on %s: its reply is cancelled", utt_id, session.satellite)
        core.metric("continuations")
        core.cancel_task(f"ack:{session.satellite}")
        await core.interrupt(session, "continuation")
        core.open_window(session, self.conversation.wake_window_s)
        await core.move(session, "listening")

    async def _on_rejected(self, message: Message) -> None:
        rejected: stt.RejectedTranscript = message.data
        core = self._core
        session = core.session(rejected.satellite)
        await self._preemption.cancel(session.satellite, "rejected")
        _LOGGER.info(
            "stt rejected %r on %s in the %s window (%s: %s)",
            rejected.text,
            session.satellite,
            rejected.heard_in,
            rejected.filter,
            rejected.reason,
        )
        # Not "rejected": the bus counts invalid messages under that name.
        core.metric("stt_rejections")
        core.metric(f"stt_rejections.{rejected.heard_in}")
        # Background talk in a follow-up or live window is normal; after a wake word or a
        # barge-in the user expects an answer, so say they were not understood.
        if rejected.heard_in not in _ADDRESSED or not self.settings.not_heard_text:
            return
        if session.busy:
            return  # already answering (a final of the same window got through)
        core.cancel_task(f"ack:{session.satellite}")
        session.close_window()
        reply = core.new_reply(
            core.claim_id(rejected.utt_id), session.satellite, rejected.text, rejected.ts
        )
        core.metric("not_heard_replies")
        # A normal reply, so the follow-up window opens after it: no wake word to repeat.
        await core.speak(session, reply, self.settings.not_heard_text, route="error")

    # -- playback --------------------------------------------------------------------------
    async def _on_tts_status(self, message: Message) -> None:
        status: tts.TtsStatus = message.data
        core = self._core
        session = core.session(status.satellite)
        reply = core.replies.get(status.utt_id or "")
        if status.event == "speaking_start" and reply is not None and reply.first_say_wall:
            reply.timings_ms.setdefault(
                "tts_first_audio", round((status.timestamp - reply.first_say_wall) * 1e3, 1)
            )
        if status.event not in ("speaking_end", "stopped") or status.utt_id != session.reply_id:
            return
        if session.phase != "speaking" or status.utt_id in core.replies:
            return  # more pieces of this reply are still coming
        await core.read_history_ahead(session)
        if status.event == "speaking_end" and self.conversation.followup_window_s > 0:
            core.open_window(session, self.conversation.followup_window_s)
            await core.move(session, "listening")
        else:
            await core.move(session, "idle")


def build(runtime: RuntimeSettings) -> RouterService:
    """Build the router from ``ROUTER_*`` and ``TARS_*`` settings (``tars run router``)."""
    del runtime  # the router keeps no files
    for old, new in moved_variables(os.environ):
        # Silently ignoring them would leave a user wondering why the window did not change.
        _LOGGER.warning("%s is no longer read: set %s (shared with stt) instead", old, new)
    return RouterService(RouterSettings(), conversation=ConversationSettings())
