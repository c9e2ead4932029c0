"""The router's shared state: sessions, replies in flight, history, tasks, and turn endings.

The handlers of :mod:`tars.services.router.service`, the rule answers and the LLM replies all
work on one :class:`RouterCore`, always under its lock, so the state of every satellite
changes one message at a time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Coroutine
from typing import Any

from tars.contracts import llm
from tars.contracts.base import LOCAL_SATELLITE, new_id
from tars.contracts.conversation import ConversationPhase
from tars.contracts.limits import MAX_REQUEST_CHARS
from tars.runtime.bus import Bus
from tars.runtime.settings import ConversationSettings
from tars.services.router.outputs import Outputs
from tars.services.router.reply import Reply, Route
from tars.services.router.settings import RouterSettings
from tars.services.router.state import Session
from tars.text.sentences import SentenceChunker

_LOGGER = logging.getLogger(__name__)
_USED_IDS_KEPT = 512


class RouterCore:
    """State shared by every part of the router, and the moves that keep it consistent.

    Attributes:
        settings: Router settings.
        conversation: The conversation clock shared with stt.
        lock: Held by every handler and background task while it changes state.
        replies: Replies still receiving text, by id.
        healthy: Last reported health per service (current, not sticky).
    """

    def __init__(self, settings: RouterSettings, conversation: ConversationSettings) -> None:
        """Create empty state; :meth:`attach` gives it a bus."""
        self.settings = settings
        self.conversation = conversation
        self.lock = asyncio.Lock()
        self.replies: dict[str, Reply] = {}
        self.healthy: dict[str, bool] = {}
        self._sessions: dict[str, Session] = {}
        self._history: dict[str, collections.deque[llm.ConversationMessage]] = {}
        self._history_owner: dict[str, str] = {}  # satellite -> reply id of the last pair
        self._used_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._bus: Bus | None = None
        self._out: Outputs | None = None

    def attach(self, bus: Bus) -> None:
        """Publish through ``bus`` from now on."""
        self._bus, self._out = bus, Outputs(bus)

    @property
    def bus(self) -> Bus:
        """The bus (available once attached)."""
        assert self._bus is not None, "attach() first"
        return self._bus

    @property
    def out(self) -> Outputs:
        """Publishing helpers (available once attached)."""
        assert self._out is not None, "attach() first"
        return self._out

    @property
    def llm_available(self) -> bool:
        """Whether an llm service currently reports itself healthy."""
        return self.healthy.get("llm", False)

    def metric(self, name: str) -> None:
        """Count one ``name`` event in the router's metrics."""
        if self._bus is not None:
            self._bus.metrics.inc(name)

    def session(self, satellite: str | None) -> Session:
        """The state of ``satellite`` (None is the local sound card)."""
        key = satellite or LOCAL_SATELLITE
        if key not in self._sessions:
            self._sessions[key] = Session(key, live_mode=self.conversation.live_mode)
        return self._sessions[key]

    # -- background tasks ------------------------------------------------------------------
    def spawn(self, key: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as the named task ``key``, replacing (cancelling) an older one."""
        self.cancel_task(key)
        task = asyncio.create_task(coro, name=f"router:{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget_task(key, done))

    def _forget_task(self, key: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            # A timer or window watcher that failed must not fail silently.
            self.metric("task_errors")
            _LOGGER.error("router task %s failed", key, exc_info=task.exception())

    async def close(self) -> None:
        """Cancel every task the router started (timers, windows, watchdogs) and wait for them."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def cancel_task(self, key: str) -> None:
        """Cancel the task ``key`` if it runs (never the calling task itself)."""
        task = self._tasks.pop(key, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def task_keys(self, prefix: str) -> list[str]:
        """Names of the running tasks that start with ``prefix``."""
        return [key for key in self._tasks if key.startswith(prefix)]

    # -- phases, live mode and windows -----------------------------------------------------
    async def move(
        self, session: Session, phase: ConversationPhase, reply_id: str | None = None
    ) -> None:
        """Change the phase of ``session``; publish its state when anything changed."""
        if session.move(phase, reply_id):
            await self.out.state(session)

    async def set_live(self, session: Session, on: bool) -> None:
        """Switch live mode, publishing the state at once: stt gates audio by it."""
        if session.live_mode != on:
            session.live_mode = on
            await self.out.state(session)

    def open_window(self, session: Session, length_s: float) -> None:
        """Accept transcripts without a wake word for ``length_s`` seconds from now."""
        session.open_window(time.monotonic(), length_s)
        self.spawn(f"window:{session.satellite}", self._window_watch(session))

    async def _window_watch(self, session: Session) -> None:
        while session.window_until is not None:
            remaining = session.window_until - time.monotonic()
            if remaining <= 0:
                async with self.lock:
                    if session.expire(time.monotonic()):
                        await self.out.state(session)
                return
            await asyncio.sleep(remaining)

    # -- replies ---------------------------------------------------------------------------
    def claim_id(self, wanted: str | None) -> str:
        """A reply id: ``wanted`` (the final's utt_id) unless missing or already used.

        A reused id would let late LLM deltas or TTS events of the earlier reply land on the
        new one, so a repeat gets a fresh id.
        """
        reply_id = wanted if wanted and wanted not in self._used_ids else new_id()
        self._used_ids[reply_id] = None
        while len(self._used_ids) > _USED_IDS_KEPT:
            self._used_ids.popitem(last=False)
        return reply_id

    def new_reply(
        self, reply_id: str, satellite: str, user_text: str, stt_ts: float | None
    ) -> Reply:
        """A reply with a sentence chunker configured from the settings."""
        hard_max = self.settings.stream_hard_max_chars
        return Reply(
            id=reply_id,
            satellite=satellite,
            user_text=user_text,
            stt_ts=stt_ts,
            chunker=SentenceChunker(
                boundary_chars=self.settings.stream_boundary_chars,
                hard_max_chars=hard_max,
                max_chars=min(240, hard_max),
                min_chars=min(60, hard_max),
            ),
        )

    async def speak(self, session: Session, reply: Reply, text: str, *, route: Route) -> None:
        """Answer ``reply`` with one whole piece of text and end it."""
        reply.route = route
        await self.move(session, "speaking", reply.id)
        await self.out.say(reply, text, last=True)
        await self.finish(session, reply)

    def history(self, satellite: str) -> list[llm.ConversationMessage]:
        """The bounded history of ``satellite``, oldest first."""
        return list(self._history.get(satellite, ()))

    # -- ends of turns ---------------------------------------------------------------------
    async def finish(self, session: Session, reply: Reply, *, route: Route | None = None) -> None:
        """The reply text is complete (or cut short): history, turn, and the next phase."""
        reply.complete = True
        if route is not None:
            reply.route = route
        self.replies.pop(reply.id, None)
        self.cancel_task(f"watchdog:{reply.id}")
        if self._remember(session.satellite, reply) and self.settings.llm_prefill:
            session.history_unread = True
            if not reply.spoken or not self.healthy.get("tts", False):
                await self.read_history_ahead(session)  # no playback to wait for
        await self.out.turn(reply)
        if reply.interrupted:
            return
        if not reply.spoken or not self.healthy.get("tts", False):
            # Nothing to play, or nobody will report the end of playback: do not sit in
            # "speaking" for ever.
            await self.move(session, "idle")

    async def read_history_ahead(self, session: Session) -> None:
        """Have the LLM read the history it has not seen yet, while nobody waits.

        Called once the reply has played: during playback the read would take the cores
        from TTS, whose next sentence the user is waiting for.
        """
        if session.history_unread and self.llm_available:
            session.history_unread = False
            await self.out.prefill(session.satellite, self.history(session.satellite))

    async def read_question_ahead(self, session: Session, utt_id: str, question: str) -> None:
        """Have the LLM read the start of a question while the user is still saying it.

        The history comes with it (the read replaces one still pending). Words already sent
        for this utterance are not sent again.
        """
        if session.question_read == (utt_id, question):
            return
        session.question_read = (utt_id, question)
        session.history_unread = False
        _LOGGER.debug("LLM reads ahead: %r", question)
        await self.out.prefill(session.satellite, self.history(session.satellite), question)

    def _remember(self, satellite: str, reply: Reply) -> bool:
        """Add the turn to the history; whether it was added."""
        # Only answered turns enter the history: an apology or a silent stop teaches nothing,
        # and a continued reply answered half a question (the whole one comes next).
        limit = self.settings.history_max_messages
        if limit <= 0 or reply.route == "error" or reply.continued or not reply.text:
            return False
        history = self._history.setdefault(satellite, collections.deque(maxlen=max(1, limit)))
        now = time.time()
        # Each message is clipped like a request, so history keeps llm/request within its bound.
        user, answer = reply.user_text[:MAX_REQUEST_CHARS], reply.text[:MAX_REQUEST_CHARS]
        history.append(llm.ConversationMessage(role="user", content=user, timestamp=now))
        history.append(llm.ConversationMessage(role="assistant", content=answer, timestamp=now))
        self._history_owner[satellite] = reply.id
        return True

    def _forget(self, satellite: str, reply_id: str) -> None:
        """Drop the last history pair if it is ``reply_id``'s (its question was continued)."""
        history = self._history.get(satellite)
        if history and self._history_owner.get(satellite) == reply_id and len(history) >= 2:
            history.pop()
            history.pop()
            del self._history_owner[satellite]

    async def interrupt(self, session: Session, reason: str) -> None:
        """Barge-in, stop or continuation: cancel the LLM, stop playback, drop the rest."""
        reply_id = session.reply_id
        if not session.busy or reply_id is None:
            return
        reply = self.replies.get(reply_id) or Reply(reply_id, session.satellite, "", complete=True)
        reply.interrupted = True
        reply.continued = reason == "continuation"
        await self.out.stop_reply(reply, reason)
        await self.move(session, "interrupted", reply_id)
        if reply.id in self.replies:
            await self.finish(session, reply)
        elif reply.continued:
            self._forget(session.satellite, reply_id)  # already answered in full, still playing
