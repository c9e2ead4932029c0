"""The router service: wires bus messages to the per-satellite conversation machines.

Every handler runs under one lock, so the state of all satellites changes one message at a
time even though the bus runs each subscription on its own worker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from tars.contracts import health, llm, stt, tts, wake
from tars.contracts.base import LOCAL_SATELLITE, new_id
from tars.contracts.conversation import ConversationPhase
from tars.runtime.bus import Bus, Message
from tars.runtime.settings import RuntimeSettings
from tars.services.router import rules as rules_module
from tars.services.router.outputs import Outputs
from tars.services.router.reply import Reply, Route
from tars.services.router.rules import Intent, Rules
from tars.services.router.settings import RouterSettings, split_phrases
from tars.services.router.state import Session
from tars.services.router.wakephrase import WakePhrases
from tars.text.sentences import SentenceChunker

_LOGGER = logging.getLogger(__name__)


class RouterService:
    """Conversation state machine per satellite: windows, rules, LLM streaming, barge-in."""

    name = "router"

    def __init__(
        self,
        settings: RouterSettings,
        *,
        wallclock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        """Create the router.

        Args:
            settings: Router settings.
            wallclock: Local time source for the time/date rules (tests pass a fixed one).
        """
        self.settings = settings
        self._wallclock = wallclock
        self._wake = WakePhrases(split_phrases(settings.wake_phrases))
        self._rules = Rules(
            split_phrases(settings.live_mode_enter_phrases),
            split_phrases(settings.live_mode_exit_phrases),
            settings.timer_max_s,
        )
        self._acks = itertools.cycle(split_phrases(settings.wake_ack_choices) or ("Yes?",))
        self._lock = asyncio.Lock()
        self._sessions: dict[str, Session] = {}
        self._history: dict[str, deque[llm.ConversationMessage]] = {}
        self._replies: dict[str, Reply] = {}  # replies still receiving text, by id
        self._healthy: dict[str, bool] = {}
        self._announced = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._bus: Bus | None = None
        self._out: Outputs | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def attach(self, bus: Bus) -> None:
        """Subscribe to wake, STT, LLM, TTS and health topics."""
        self._bus, self._out = bus, Outputs(bus)
        bus.subscribe(wake.TOPIC_WAKE_EVENT, self._locked(self._on_wake))
        bus.subscribe(stt.TOPIC_STT_FINAL, self._locked(self._on_final))
        bus.subscribe(stt.TOPIC_STT_PARTIAL, self._locked(self._on_partial))
        bus.subscribe(llm.TOPIC_LLM_STREAM, self._locked(self._on_stream))
        bus.subscribe(llm.TOPIC_LLM_RESPONSE, self._locked(self._on_response))
        bus.subscribe(tts.TOPIC_TTS_STATUS, self._locked(self._on_tts_status))
        bus.subscribe(health.health_topic("tts"), self._locked(self._on_health))
        bus.subscribe(health.health_topic("stt"), self._locked(self._on_health))

    async def run(self) -> None:
        """Nothing to load: report ready and let the handlers work."""
        assert self._bus is not None
        await self._bus.wait_connected()
        await self._bus.set_health(True, "ready")

    def _locked(
        self, handler: Callable[[Message], Coroutine[Any, Any, None]]
    ) -> Callable[[Message], Coroutine[Any, Any, None]]:
        async def run(message: Message) -> None:
            async with self._lock:
                await handler(message)

        return run

    @property
    def out(self) -> Outputs:
        """Publishing helpers (available once attached)."""
        assert self._out is not None, "attach() first"
        return self._out

    def session(self, satellite: str | None) -> Session:
        """The state of ``satellite`` (None is the local sound card)."""
        key = satellite or LOCAL_SATELLITE
        if key not in self._sessions:
            self._sessions[key] = Session(key, live_mode=self.settings.live_mode_default)
        return self._sessions[key]

    # -- helpers ---------------------------------------------------------------------------
    def _spawn(self, key: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as the named task ``key``, replacing (cancelling) an older one."""
        self._cancel_task(key)
        task = asyncio.create_task(coro, name=f"router:{key}")
        self._tasks[key] = task
        task.add_done_callback(
            lambda done: self._tasks.pop(key, None) if self._tasks.get(key) is done else None
        )

    def _cancel_task(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _move(
        self, session: Session, phase: ConversationPhase, reply_id: str | None = None
    ) -> None:
        if session.move(phase, reply_id):
            await self.out.state(session)

    def _open_window(self, session: Session, length_s: float) -> None:
        session.open_window(time.monotonic(), length_s)
        self._spawn(f"window:{session.satellite}", self._window_watch(session))

    async def _window_watch(self, session: Session) -> None:
        while session.window_until is not None:
            remaining = session.window_until - time.monotonic()
            if remaining <= 0:
                async with self._lock:
                    if session.expire(time.monotonic()):
                        await self.out.state(session)
                return
            await asyncio.sleep(remaining)

    # -- health and the online announcement ------------------------------------------------
    async def _on_health(self, message: Message) -> None:
        service = message.topic.rsplit("/", 1)[-1]
        self._healthy[service] = bool(message.data.ok)  # current, not sticky
        if self.settings.online_announce and not self._announced and self._tts_stt_ok():
            self._announced = True
            await self.out.announce(
                self.settings.online_announce_text, utt_id="boot", satellite=None
            )

    def _tts_stt_ok(self) -> bool:
        return self._healthy.get("tts", False) and self._healthy.get("stt", False)

    # -- wake events -----------------------------------------------------------------------
    async def _on_wake(self, message: Message) -> None:
        event: wake.WakeEvent = message.data
        session = self.session(event.satellite)
        if event.type in ("wake", "interrupt"):
            barge_in = session.busy or event.type == "interrupt"
            if barge_in:
                await self._interrupt(session, "barge_in")
            self._open_window(session, self.settings.wake_window_s)
            await self._move(session, "listening")
            if event.type == "wake" and not barge_in and self.settings.wake_ack_enabled:
                self._spawn(f"ack:{session.satellite}", self._ack_later(session))
        elif event.type == "cancelled":
            await self._interrupt(session, "cancel")
            session.close_window()
            await self._move(session, "idle")
        # "timeout" and "resume" are the wake service's own windows; the router keeps its own
        # window, extended by partial transcripts, so a slow speaker is not cut off at 3 s.

    async def _ack_later(self, session: Session) -> None:
        # Wake word and question in one breath: the final arrives within a few hundred ms and
        # cancels this task, so the ack never delays or talks over the answer.
        await asyncio.sleep(self.settings.wake_ack_delay_s)
        async with self._lock:
            ack_id = f"wake-ack-{int(time.time() * 1000)}"
            await self.out.announce(
                next(self._acks), utt_id=ack_id, satellite=session.satellite, wake_ack=True
            )

    async def _on_partial(self, message: Message) -> None:
        session = self.session(message.data.satellite)
        self._cancel_task(f"ack:{session.satellite}")
        session.extend_window(time.monotonic(), self.settings.speech_extend_s)

    # -- finals ----------------------------------------------------------------------------
    async def _on_final(self, message: Message) -> None:
        final: stt.FinalTranscript = message.data
        text = final.text.strip()
        if not text:
            return
        session = self.session(final.satellite)
        self._cancel_task(f"ack:{session.satellite}")
        request = self._wake.strip_leading(text)
        typed = final.source == "text"
        if not session.accepts(time.monotonic(), typed=typed, has_wake_phrase=request != text):
            _LOGGER.info("ignored transcript without wake word on %s", session.satellite)
            self._bus_metric("finals_ignored")
            return
        if not request:  # only the wake phrase: wait for the question
            self._open_window(session, self.settings.wake_window_s)
            await self._move(session, "listening")
            return
        session.close_window()
        intent = self._rules.match(request)
        if intent is not None and intent.kind == "stop":
            await self._interrupt(session, "stop")
            await self._move(session, "idle")
        elif session.busy:  # a new question replaces the reply in progress
            await self._interrupt(session, "new_turn")
        reply = Reply(
            id=final.utt_id or new_id(),
            satellite=session.satellite,
            user_text=request,
            stt_ts=final.speech_end_ts or final.ts,
            chunker=SentenceChunker(
                boundary_chars=self.settings.stream_boundary_chars,
                hard_max_chars=self.settings.stream_hard_max_chars,
                max_chars=min(240, self.settings.stream_hard_max_chars),
                min_chars=min(60, self.settings.stream_hard_max_chars),
            ),
        )
        reply.timings_ms["stt_to_router"] = round(max(0.0, time.time() - final.ts) * 1e3, 1)
        if intent is not None:
            await self._answer_rule(session, reply, intent)
        else:
            await self._ask_llm(session, reply)

    def _bus_metric(self, name: str) -> None:
        if self._bus is not None:
            self._bus.metrics.inc(name)

    # -- rules -----------------------------------------------------------------------------
    async def _answer_rule(self, session: Session, reply: Reply, intent: Intent) -> None:
        reply.route = "rule"
        text = self._rule_text(session, intent)
        if text:
            await self._move(session, "speaking", reply.id)
            await self.out.say(reply, text, last=True)
        await self._finish(session, reply)

    def _rule_text(self, session: Session, intent: Intent) -> str:
        now = self._wallclock()
        if intent.kind == "time":
            return rules_module.time_reply(now)
        if intent.kind == "date":
            return rules_module.date_reply(now)
        if intent.kind == "say":
            return intent.text
        if intent.kind == "greeting":
            return self.settings.greeting_reply
        if intent.kind in ("live_on", "live_off"):
            session.live_mode = intent.kind == "live_on"
            on = self.settings.live_mode_enter_ack
            return on if session.live_mode else self.settings.live_mode_exit_ack
        if intent.kind == "timer_set" and intent.duration is not None:
            timer_id = new_id()[:8]
            self._spawn(
                f"timer:{session.satellite}:{timer_id}",
                self._timer(session, intent.duration.adjective, intent.duration.seconds),
            )
            return f"Timer set for {intent.duration.spoken}."
        if intent.kind == "timer_cancel":
            keys = [key for key in self._tasks if key.startswith(f"timer:{session.satellite}:")]
            for key in keys:
                self._cancel_task(key)
            return "Timer cancelled." if keys else "There is no timer running."
        return ""

    async def _timer(self, session: Session, adjective: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        async with self._lock:
            await self.out.announce(
                f"Your {adjective} timer is done.",
                utt_id=f"timer-{new_id()[:8]}",
                satellite=session.satellite,
            )

    # -- the LLM ---------------------------------------------------------------------------
    async def _ask_llm(self, session: Session, reply: Reply) -> None:
        assert self._bus is not None
        history = list(self._history.get(session.satellite, ()))
        self._replies[reply.id] = reply
        await self._move(session, "thinking", reply.id)
        request = llm.LLMRequest(
            id=reply.id,
            text=reply.user_text,
            stream=True,
            conversation_history=history or None,
            satellite=session.satellite,
            use_rag=self.settings.llm_use_rag,
        )
        self._touch(reply)
        await self._bus.publish(llm.TOPIC_LLM_REQUEST, request)

    def _touch(self, reply: Reply) -> None:
        """(Re)arm the watchdog: the LLM must say something within the timeout."""
        self._spawn(f"watchdog:{reply.id}", self._watchdog(reply))

    async def _watchdog(self, reply: Reply) -> None:
        await asyncio.sleep(self.settings.llm_timeout_s)
        async with self._lock:
            if self._replies.get(reply.id) is not reply:
                return
            _LOGGER.warning(
                "LLM gave nothing for %.1f s on %s", self.settings.llm_timeout_s, reply.id
            )
            self._bus_metric("llm_timeouts")
            assert self._bus is not None
            await self._bus.publish(
                llm.TOPIC_LLM_CANCEL, llm.LLMCancel(id=reply.id, reason="timeout")
            )
            await self._apologise(self.session(reply.satellite), reply)

    async def _on_stream(self, message: Message) -> None:
        delta: llm.LLMStreamDelta = message.data
        reply = self._replies.get(delta.id)
        if reply is None or reply.complete:
            return  # unknown, cancelled or already answered in full: ignore late deltas
        reply.mark("router_to_llm_first_delta")
        self._touch(reply)
        session = self.session(reply.satellite)
        for sentence in reply.feed(delta.delta or ""):
            await self._move(session, "speaking", reply.id)
            await self.out.say(reply, sentence, last=False)
        if delta.done:
            rest = reply.finish_stream()
            if rest:
                await self._move(session, "speaking", reply.id)
                await self.out.say(reply, rest, last=True)
                await self._finish(session, reply)
            # Nothing left (or nothing at all): the final response decides.

    async def _on_response(self, message: Message) -> None:
        response: llm.LLMResponse = message.data
        reply = self._replies.get(response.id)
        if reply is None or reply.complete:
            return
        session = self.session(reply.satellite)
        if response.error:
            _LOGGER.warning("LLM failed on %s: %s", reply.id, response.error)
            await self._apologise(session, reply)
            return
        residual = reply.residual(response.reply or "")
        if residual:
            await self._move(session, "speaking", reply.id)
            await self.out.say(reply, residual, last=True)
        elif not reply.spoken:
            await self._apologise(session, reply)
            return
        await self._finish(session, reply)

    async def _apologise(self, session: Session, reply: Reply) -> None:
        """Never silence: an error or timeout is spoken as a short apology."""
        reply.route = "error" if not reply.spoken else reply.route
        await self._move(session, "speaking", reply.id)
        await self.out.say(reply, self.settings.apology_text, last=True)
        await self._finish(session, reply)

    # -- ends of turns ---------------------------------------------------------------------
    async def _finish(self, session: Session, reply: Reply, *, route: Route | None = None) -> None:
        """The reply text is complete (or cut short): history, turn, and the next phase."""
        reply.complete = True
        if route is not None:
            reply.route = route
        self._replies.pop(reply.id, None)
        self._cancel_task(f"watchdog:{reply.id}")
        history = self._history.setdefault(
            session.satellite, deque(maxlen=max(1, self.settings.history_max_messages))
        )
        # Only answered turns enter the history (an apology or a silent stop teaches nothing).
        if self.settings.history_max_messages > 0 and reply.route != "error" and reply.text:
            history.append(
                llm.ConversationMessage(role="user", content=reply.user_text, timestamp=time.time())
            )
            history.append(
                llm.ConversationMessage(role="assistant", content=reply.text, timestamp=time.time())
            )
        await self.out.turn(reply)
        if reply.interrupted:
            return
        if not reply.spoken:
            await self._move(session, "idle")
        elif not self._healthy.get("tts", False):
            # Nobody will report the end of playback; do not sit in "speaking" for ever.
            await self._move(session, "idle")

    async def _interrupt(self, session: Session, reason: str) -> None:
        """Barge-in or stop: cancel the LLM request, stop playback, drop the unspoken rest."""
        reply_id = session.reply_id
        if not session.busy or reply_id is None:
            return
        reply = self._replies.get(reply_id) or Reply(reply_id, session.satellite, "", complete=True)
        reply.interrupted = True
        await self.out.stop_reply(reply, reason)
        await self._move(session, "interrupted", reply_id)
        if reply.id in self._replies:
            await self._finish(session, reply)

    async def _on_tts_status(self, message: Message) -> None:
        status: tts.TtsStatus = message.data
        session = self.session(status.satellite)
        reply = self._replies.get(status.utt_id or "")
        if status.event == "speaking_start" and reply is not None and reply.first_say_wall:
            reply.timings_ms.setdefault(
                "tts_first_audio", round((status.timestamp - reply.first_say_wall) * 1e3, 1)
            )
        if status.event not in ("speaking_end", "stopped") or status.utt_id != session.reply_id:
            return
        if session.phase != "speaking" or status.utt_id in self._replies:
            return  # more pieces of this reply are still coming
        if status.event == "speaking_end" and self.settings.followup_window_s > 0:
            self._open_window(session, self.settings.followup_window_s)
            await self._move(session, "listening")
        else:
            await self._move(session, "idle")


def build(runtime: RuntimeSettings) -> RouterService:
    """Build the router from ``ROUTER_*`` settings (``tars run router``)."""
    del runtime  # the router keeps no files
    return RouterService(RouterSettings())
