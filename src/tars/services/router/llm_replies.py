"""Requests no rule answers: the LLM request, its stream spoken sentence by sentence, errors.

Never silence: an LLM error or a timeout is spoken as a short apology, and while no llm
service reports healthy a request is answered at once with ``ROUTER_NO_LLM_TEXT`` instead of
waiting ``ROUTER_LLM_TIMEOUT_S`` for that apology.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tars.contracts import llm
from tars.contracts.limits import MAX_REQUEST_CHARS
from tars.runtime.bus import Message
from tars.services.router.core import RouterCore
from tars.services.router.preempt import Preempted, Preemption
from tars.services.router.reply import Reply
from tars.services.router.state import Session

_LOGGER = logging.getLogger(__name__)
_TOOL_DEFERRED = "tool_deferred"
"""The llm service's error code for a preemptive request that wanted to run a tool."""


def llm_request(
    core: RouterCore, reply_id: str, satellite: str, text: str, *, preemptive: bool = False
) -> llm.LLMRequest:
    """The streamed LLM request for ``text`` with the satellite's history."""
    if len(text) > MAX_REQUEST_CHARS:
        # Refusing would drop the turn; the start of what was said is still worth answering.
        _LOGGER.warning(
            "request %s: %d characters clipped to %d", reply_id, len(text), MAX_REQUEST_CHARS
        )
        core.metric("requests_clipped")
        text = text[:MAX_REQUEST_CHARS]
    return llm.LLMRequest(
        id=reply_id,
        text=text,
        stream=True,
        conversation_history=core.history(satellite) or None,
        satellite=satellite,
        use_rag=core.settings.llm_use_rag,
        preemptive=True if preemptive else None,
    )


class LlmReplies:
    """Sends requests to the llm service and speaks what comes back."""

    def __init__(self, core: RouterCore, preemption: Preemption) -> None:
        """Work on the router's shared state; ``preemption`` keeps early answers."""
        self._core = core
        self._settings = core.settings
        self._preemption = preemption

    async def ask(self, session: Session, reply: Reply, preempted: Preempted | None = None) -> None:
        """Send ``reply``'s request to the LLM (or say at once that there is none).

        ``preempted`` already asked the same (see :mod:`~tars.services.router.preempt`): it
        becomes the reply's request, and what it answered so far is spoken at once.
        """
        core = self._core
        if not core.llm_available and self._settings.no_llm_text and preempted is None:
            _LOGGER.info("no healthy llm service: answering %s without it", reply.id)
            core.metric("no_llm_answers")
            await core.speak(session, reply, self._settings.no_llm_text, route="error")
            return
        core.replies[reply.id] = reply
        await core.move(session, "thinking", reply.id)
        self._touch(reply)
        if preempted is None:
            request = llm_request(core, reply.request_id, session.satellite, reply.user_text)
            await core.bus.publish(llm.TOPIC_LLM_REQUEST, request)
            return
        preempted.adopted = True
        reply.llm_id = preempted.request_id
        ahead_ms = (time.monotonic() - preempted.sent_at) * 1e3
        reply.timings_ms["preempted_by"] = round(ahead_ms, 1)
        core.metric("preempt_adopted")
        for delta in preempted.deltas:
            await self._on_delta(delta)
        if preempted.response is not None:
            await self._on_response(preempted.response)

    def _touch(self, reply: Reply) -> None:
        """(Re)arm the watchdog: the LLM must say something within the timeout."""
        self._core.spawn(f"watchdog:{reply.id}", self._watchdog(reply))

    async def _watchdog(self, reply: Reply) -> None:
        core = self._core
        await asyncio.sleep(self._settings.llm_timeout_s)
        async with core.lock:
            if core.replies.get(reply.id) is not reply:
                return
            _LOGGER.warning(
                "LLM gave nothing for %.1f s on %s", self._settings.llm_timeout_s, reply.id
            )
            core.metric("llm_timeouts")
            await core.bus.publish(
                llm.TOPIC_LLM_CANCEL, llm.LLMCancel(id=reply.request_id, reason="timeout")
            )
            await self._apologise(core.session(reply.satellite), reply)

    def _reply_for(self, request_id: str) -> Reply | None:
        """The reply still receiving text from LLM request ``request_id``."""
        return next((r for r in self._core.replies.values() if r.request_id == request_id), None)

    async def on_stream(self, message: Message) -> None:
        """One stream delta: speak every sentence it completes."""
        if not self._preemption.keep(message.data):
            await self._on_delta(message.data)

    async def _on_delta(self, delta: llm.LLMStreamDelta) -> None:
        core = self._core
        reply = self._reply_for(delta.id)
        if reply is None or reply.complete:
            return  # unknown, cancelled or already answered in full: ignore late deltas
        reply.mark("router_to_llm_first_delta")
        self._touch(reply)
        session = core.session(reply.satellite)
        for sentence in reply.feed(delta.delta or ""):
            await core.move(session, "speaking", reply.id)
            await core.out.say(reply, sentence, last=False)
        if delta.done:
            rest = reply.finish_stream()
            if rest:
                await core.move(session, "speaking", reply.id)
                await core.out.say(reply, rest, last=True)
                await core.finish(session, reply)
            # Nothing left (or nothing at all): the final response decides.

    async def on_response(self, message: Message) -> None:
        """The final response: speak what the stream has not, or apologise."""
        if not self._preemption.keep(message.data):
            await self._on_response(message.data)

    async def _on_response(self, response: llm.LLMResponse) -> None:
        core = self._core
        reply = self._reply_for(response.id)
        if reply is None or reply.complete:
            return
        session = core.session(reply.satellite)
        if response.error_code == _TOOL_DEFERRED:
            # The preemptive request wanted a tool: now that the turn is over, ask for real.
            _LOGGER.info("preemptive request %s wanted a tool: asking again", response.id)
            reply.llm_id = self._preemption.request_id(reply.id)
            reply.restart_stream()
            request = llm_request(core, reply.request_id, session.satellite, reply.user_text)
            self._touch(reply)
            await core.bus.publish(llm.TOPIC_LLM_REQUEST, request)
            return
        if response.error:
            _LOGGER.warning("LLM failed on %s: %s", reply.id, response.error)
            await self._apologise(session, reply)
            return
        residual = reply.residual(response.reply or "")
        if residual:
            await core.move(session, "speaking", reply.id)
            await core.out.say(reply, residual, last=True)
        elif not reply.spoken:
            await self._apologise(session, reply)
            return
        await core.finish(session, reply)

    async def _apologise(self, session: Session, reply: Reply) -> None:
        """Never silence: an error or timeout is spoken as a short apology."""
        route = "error" if not reply.spoken else reply.route
        await self._core.speak(session, reply, self._settings.apology_text, route=route)
