"""Preemptive LLM requests: the answer starts at the pause that ends the turn, not after it.

At a pause both end-of-turn signals call finished (the ``open`` verdict: the voice sounds
done and so do the words), stt still waits a little (``STT_TURN_OPEN_HANGOVER_MS``) before
its final, in case the user goes on; where they disagree (``unsure``) it waits longer
(``STT_TURN_UNSURE_HANGOVER_MS``). The LLM need not wait with it: on that pause's partial,
unless its words stop mid-sentence, the router sends the request already, marked
``preemptive``, and keeps what comes back. When the final arrives with the same words and
the same history, the reply is adopted: what was kept is spoken at once and the rest
streams as usual. Anything else (other words, a rejection, a wake word, a rule answer, no
final within ``ROUTER_PREEMPT_HOLD_S``) cancels it, and nothing of it is ever spoken or
remembered. A preemptive request runs no tools: the llm service ends it with
``tool_deferred`` and the router asks again, normally, once the turn is over.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field

from tars.contracts import llm, stt
from tars.contracts.base import new_id
from tars.services.router.core import RouterCore
from tars.text.finished import ends_unfinished

_LOGGER = logging.getLogger(__name__)

_MAX_KEPT = 1024
"""Deltas kept for one preemptive request; past that it is no longer worth adopting."""
_IDS_KEPT = 512


def may_end_here(partial: stt.PartialTranscript, request: str) -> bool:
    """Whether the turn may end at the pause of ``partial``, so answering it now is likely right.

    ``request`` is its words without the wake phrase. An ``open`` pause reads as finished to
    both signals; an ``unsure`` one only to one of them, so there the words must not stop
    mid-sentence ("what is the capital of"); a missing full stop is no sign, Whisper often
    leaves it off. On an ``unsure`` pause the final comes a whole second later: most of the
    answer can be ready by then, and a request the user goes on with is cancelled at their
    next words.
    """
    if partial.turn == "open":
        return True
    return partial.turn == "unsure" and not ends_unfinished(request)


@dataclass
class Preempted:
    """A preemptive request in flight, and what it has answered so far.

    Attributes:
        utt_id: The utterance whose pause started it.
        request_id: Its LLM request id.
        text: The request as it was sent (wake phrase stripped).
        history: The conversation history it was sent with.
        sent_at: When it was sent (monotonic seconds).
        deltas: Stream deltas received and not yet spoken.
        response: The final response, once received.
        adopted: A final took it over as its reply.
    """

    utt_id: str
    request_id: str
    text: str
    history: list[llm.ConversationMessage]
    sent_at: float = field(default_factory=time.monotonic)
    deltas: list[llm.LLMStreamDelta] = field(default_factory=list)
    response: llm.LLMResponse | None = None
    adopted: bool = False

    def answers(
        self, utt_id: str | None, text: str, history: list[llm.ConversationMessage]
    ) -> bool:
        """Whether this request asked exactly what the final asks, with the same history.

        One that failed (or was cancelled, or kept too much to replay) is not taken: the
        final asks again.
        """
        failed = self.response is not None and self.response.error_code is not None
        if failed or len(self.deltas) >= _MAX_KEPT:
            return False
        return utt_id == self.utt_id and _same(text, self.text) and history == self.history


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class Preemption:
    """The preemptive request of each satellite (at most one), from its pause to its final."""

    def __init__(self, core: RouterCore) -> None:
        """Work on the router's shared state."""
        self._core = core
        self._pending: dict[str, Preempted] = {}
        self._sent_as: collections.OrderedDict[str, None] = collections.OrderedDict()

    def request_id(self, utt_id: str) -> str:
        """An LLM request id for utterance ``utt_id`` that no request has used yet.

        The utterance id itself, as for any reply, unless a preemptive request already went
        out under it: then a fresh one, so that late deltas of a cancelled request are never
        taken for the reply's own (and an adopted reply keeps the id everyone expects).
        """
        if utt_id in self._sent_as:
            return f"{utt_id}-{new_id()[:8]}"
        return utt_id

    async def start(self, satellite: str, utt_id: str, request: llm.LLMRequest) -> None:
        """Send ``request`` preemptively for ``utt_id``, replacing an older one that differs.

        ``request`` carries the text and an id from :meth:`request_id`; the same words again
        (a second pause partial of the same utterance) keep the request already running.
        """
        current = self._pending.get(satellite)
        if current is not None and current.utt_id == utt_id and _same(current.text, request.text):
            return
        await self.cancel(satellite, "superseded")
        history = list(request.conversation_history or [])
        pending = Preempted(utt_id, request.id, request.text, history)
        self._pending[satellite] = pending
        self._sent_as[request.id] = None
        while len(self._sent_as) > _IDS_KEPT:
            self._sent_as.popitem(last=False)
        self._core.metric("preempt_sent")
        await self._core.bus.publish(llm.TOPIC_LLM_REQUEST, request)
        self._core.spawn(f"preempt:{satellite}", self._expire(satellite, pending))

    def take(self, satellite: str) -> Preempted | None:
        """Remove and return the satellite's preemptive request (the final decides on it)."""
        self._core.cancel_task(f"preempt:{satellite}")
        return self._pending.pop(satellite, None)

    def keep(self, payload: llm.LLMStreamDelta | llm.LLMResponse) -> bool:
        """Keep a delta or response of a preemptive request (True: it was one)."""
        for pending in self._pending.values():
            if pending.request_id != payload.id:
                continue
            if isinstance(payload, llm.LLMResponse):
                pending.response = payload
            elif len(pending.deltas) < _MAX_KEPT:
                pending.deltas.append(payload)
            return True
        return False

    async def cancel(self, satellite: str, reason: str) -> None:
        """Cancel the satellite's preemptive request, if any."""
        pending = self.take(satellite)
        if pending is not None:
            await self.drop(pending, reason)

    async def drop(self, pending: Preempted, reason: str) -> None:
        """Cancel a request taken from here that no final adopted."""
        if pending.adopted:
            return
        _LOGGER.debug("preemptive request %s dropped (%s)", pending.request_id, reason)
        self._core.metric(f"preempt_dropped.{reason}")
        # Even when it has finished: observers (dashboards, tests) learn that it is void.
        cancel = llm.LLMCancel(id=pending.request_id, reason=f"preempt_{reason}")
        await self._core.bus.publish(llm.TOPIC_LLM_CANCEL, cancel)

    async def _expire(self, satellite: str, pending: Preempted) -> None:
        await asyncio.sleep(self._core.settings.preempt_hold_s)
        async with self._core.lock:
            if self._pending.get(satellite) is pending:
                await self.cancel(satellite, "no_final")
