"""Requests no rule answers: the LLM request, its stream spoken sentence by sentence, errors.

Never silence: an LLM error or a timeout is spoken as a short apology, and while no llm
service reports healthy a request is answered at once with ``ROUTER_NO_LLM_TEXT`` instead of
waiting ``ROUTER_LLM_TIMEOUT_S`` for that apology.
"""

from __future__ import annotations

import asyncio
import logging

from tars.contracts import llm
from tars.contracts.limits import MAX_REQUEST_CHARS
from tars.runtime.bus import Message
from tars.services.router.core import RouterCore
from tars.services.router.reply import Reply
from tars.services.router.state import Session

_LOGGER = logging.getLogger(__name__)


class LlmReplies:
    """Sends requests to the llm service and speaks what comes back."""

    def __init__(self, core: RouterCore) -> None:
        """Work on the router's shared state."""
        self._core = core
        self._settings = core.settings

    async def ask(self, session: Session, reply: Reply) -> None:
        """Send ``reply``'s request to the LLM (or say at once that there is none)."""
        core = self._core
        if not core.llm_available and self._settings.no_llm_text:
            _LOGGER.info("no healthy llm service: answering %s without it", reply.id)
            core.metric("no_llm_answers")
            await core.speak(session, reply, self._settings.no_llm_text, route="error")
            return
        history = core.history(session.satellite)
        core.replies[reply.id] = reply
        await core.move(session, "thinking", reply.id)
        text = reply.user_text
        if len(text) > MAX_REQUEST_CHARS:
            # Refusing would drop the turn; the start of what was said is still worth answering.
            clipped = "request %s: %d characters clipped to %d"
            _LOGGER.warning(clipped, reply.id, len(text), MAX_REQUEST_CHARS)
            core.metric("requests_clipped")
            text = text[:MAX_REQUEST_CHARS]
        request = llm.LLMRequest(
            id=reply.id,
            text=text,
            stream=True,
            conversation_history=history or None,
            satellite=session.satellite,
            use_rag=self._settings.llm_use_rag,
        )
        self._touch(reply)
        await core.bus.publish(llm.TOPIC_LLM_REQUEST, request)

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
                llm.TOPIC_LLM_CANCEL, llm.LLMCancel(id=reply.id, reason="timeout")
            )
            await self._apologise(core.session(reply.satellite), reply)

    async def on_stream(self, message: Message) -> None:
        """One stream delta: speak every sentence it completes."""
        core = self._core
        delta: llm.LLMStreamDelta = message.data
        reply = core.replies.get(delta.id)
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
        core = self._core
        response: llm.LLMResponse = message.data
        reply = core.replies.get(response.id)
        if reply is None or reply.complete:
            return
        session = core.session(reply.satellite)
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
