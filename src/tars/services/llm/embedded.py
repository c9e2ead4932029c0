"""Embedded local model: no server process, no network; a GGUF file runs in-process.

Generation is blocking and CPU-bound, so it runs on one dedicated worker thread. Chunks cross
back to the event loop through an :class:`asyncio.Queue` fed with ``call_soon_threadsafe``.
Cancelling the consuming task sets a stop flag that the model's chunk callback returns, so
the runtime ends the request at the next token (or the next prompt batch while it reads a
long prompt). The single thread also serializes requests on the one model: concurrent
requests queue.

Tool calls are prompted (see :mod:`tars.services.llm.toolparse`) because the model's native
tool-call output is unreliable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tars.services.llm.errors import LLMBadResponseError, LLMError, LLMTimeoutError
from tars.services.llm.localmodel import LocalChunk, LocalModel
from tars.services.llm.localprompt import PLAIN_NUDGE, to_local_messages, without_tools
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    StreamEvent,
    TextDelta,
    ToolCallsReady,
    ToolSchema,
)
from tars.services.llm.toolparse import CALL_OPENERS, parse_tool_reply

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class _End:
    pass


_Item = LocalChunk | _End | BaseException

CLOSE_WAIT_S = 10.0
"""Longest wait in :meth:`EmbeddedProvider.aclose` for an owned model to close (s)."""


class EmbeddedProvider:
    """LLMProvider over a :class:`LocalModel`, loaded lazily on the worker thread.

    Args:
        load: Builds the model (blocking); called once, on the worker thread.
        total_timeout_s: Deadline for one request, waiting in the queue included.
        name: Provider name for logs and health.
        owns_model: Close the model in :meth:`aclose`. Off by default, for a model shared
            between providers (tests and benches load one per session).
    """

    def __init__(
        self,
        load: Callable[[], LocalModel],
        *,
        total_timeout_s: float = 120.0,
        name: str = "embedded",
        owns_model: bool = False,
    ) -> None:
        self._load = load
        self._model: LocalModel | None = None
        self._total_timeout_s = total_timeout_s
        self._name = name
        self._owns_model = owns_model
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-embedded")

    @property
    def name(self) -> str:
        """Provider name for logs and health."""
        return self._name

    async def start(self) -> None:
        """Load the model now (on the worker thread) instead of on the first request."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._ensure_model)

    async def aclose(self) -> None:
        """Stop the worker thread after the current request (and close an owned model).

        Idempotent. An owned model is closed on the worker thread once the request in hand
        has stopped, waiting at most :data:`CLOSE_WAIT_S`.
        """
        if self._closed:
            return
        self._closed = True
        model = self._model
        if self._owns_model and model is not None:
            closing = asyncio.wrap_future(self._executor.submit(model.close))
            try:
                await asyncio.wait_for(asyncio.shield(closing), CLOSE_WAIT_S)
            except TimeoutError:
                _LOGGER.warning("the embedded model did not close within %g s", CLOSE_WAIT_S)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema] = (),
        *,
        timeout_s: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one completion; see :meth:`LLMProvider.stream`.

        ``timeout_s`` replaces the provider's deadline for this call (waiting included).

        Raises:
            LLMError: timeout, bad_response or model_unavailable.
        """
        limit_s = self._total_timeout_s if timeout_s is None else timeout_s
        deadline = asyncio.get_running_loop().time() + limit_s
        local = to_local_messages(messages, tools)
        gate = _ReplyGate(hold=bool(tools))
        last = LocalChunk("")
        async with contextlib.aclosing(self._chunks(local, params, deadline)) as chunks:
            async for chunk in chunks:
                last = _merge(last, chunk)
                if text := gate.feed(chunk.text):
                    yield TextDelta(text)
        if not gate.holding:
            yield self._finished(last)
            return
        parsed = parse_tool_reply(gate.held, [t.name for t in tools])
        if parsed.call is not None:
            yield ToolCallsReady((parsed.call,))
            yield self._finished(last, "tool_calls")
            return
        if parsed.text:
            yield TextDelta(parsed.text)
            yield self._finished(last)
            return
        # The model chose "none" (or garbled a call) without answering: ask again so the
        # user still gets a reply.
        async with contextlib.aclosing(
            self._answer_plainly(local, gate.held, params, deadline)
        ) as more:
            async for event in more:
                yield event

    async def _answer_plainly(
        self, local: list[dict[str, str]], held: str, params: CompletionParams, deadline: float
    ) -> AsyncGenerator[StreamEvent, None]:
        """Ask for a plain answer after a reply that chose no tool and said nothing else.

        The prompt so far stays as it is, with the reply and a nudge after it, so the runtime
        reads only those few tokens. Only if that fails too is the tools section dropped,
        which costs the next request a re-read of the whole section.
        """
        _LOGGER.debug("no tool chosen and no answer; asking for a plain answer")
        retry = [*local, {"role": "assistant", "content": held.strip()}, PLAIN_NUDGE]
        gate = _ReplyGate(hold=True)
        last = LocalChunk("")
        async with contextlib.aclosing(self._chunks(retry, params, deadline)) as chunks:
            async for chunk in chunks:
                last = _merge(last, chunk)
                if text := gate.feed(chunk.text):
                    yield TextDelta(text)
        wrapped = parse_tool_reply(gate.held, []).text if gate.holding else ""
        if wrapped:
            yield TextDelta(wrapped)  # an answer inside JSON after all
        if not gate.holding or wrapped:
            yield self._finished(last)
            return
        _LOGGER.debug("still no answer; regenerating without tools")
        async with contextlib.aclosing(
            self._chunks(without_tools(local), params, deadline)
        ) as chunks:
            async for chunk in chunks:
                last = _merge(last, chunk)
                if chunk.text:
                    yield TextDelta(chunk.text)
        yield self._finished(last)

    def _finished(self, last: LocalChunk, reason: str | None = None) -> Finished:
        model = self._model.model_name if self._model is not None else self._name
        return Finished(reason or last.finish_reason or "stop", last.usage, model)

    async def _chunks(
        self, local: list[dict[str, str]], params: CompletionParams, deadline: float
    ) -> AsyncGenerator[LocalChunk, None]:
        """Run one generation on the worker thread and relay its chunks."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: _Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        future = loop.run_in_executor(self._executor, self._generate, local, params, stop, emit)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await queue.get()
                except TimeoutError as err:
                    raise LLMTimeoutError("local generation exceeded its deadline") from err
                if isinstance(item, _End):
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Cancelled, failed or done: tell the thread to stop at the next token.
            stop.set()
            future.add_done_callback(_consume_result)

    def _ensure_model(self) -> LocalModel:
        if self._model is None:
            self._model = self._load()
        return self._model

    def _generate(
        self,
        local: list[dict[str, str]],
        params: CompletionParams,
        stop: threading.Event,
        emit: Callable[[_Item], None],
    ) -> None:
        """Worker-thread body: generate until done or told to stop; never raises."""
        if stop.is_set():  # cancelled while queued behind another request
            return

        def on_chunk(chunk: LocalChunk) -> bool:
            # Empty chunks are progress ticks: only a chance to stop, nothing to relay.
            if chunk.text or chunk.finish_reason or chunk.usage:
                emit(chunk)
            return stop.is_set()

        try:
            self._ensure_model().generate(local, params, on_chunk)
            emit(_End())
        except LLMError as err:
            emit(err)
        except Exception as err:  # any engine failure must reach the waiting coroutine
            _LOGGER.exception("local generation failed")
            wrapped = LLMBadResponseError(f"local model failed: {type(err).__name__}: {err}")
            wrapped.__cause__ = err
            emit(wrapped)


class _ReplyGate:
    """Decides whether reply text may be streamed at once or must be held back.

    With tools offered, a reply that opens like JSON may be a tool call, which must never be
    spoken; it is held until complete. Anything else streams as it comes.
    """

    def __init__(self, *, hold: bool) -> None:
        self.holding = hold
        self._held: list[str] = []

    @property
    def held(self) -> str:
        """The text held back so far."""
        return "".join(self._held)

    def feed(self, text: str) -> str:
        """Take new text; return what may be emitted now ('' while holding)."""
        if not self.holding:
            return text
        self._held.append(text)
        start = self.held.lstrip()
        if start and not start.startswith(CALL_OPENERS):
            self.holding = False
            return self.held
        return ""


def _merge(last: LocalChunk, chunk: LocalChunk) -> LocalChunk:
    """What is known of a stream's end so far (runtimes send the reason and usage apart)."""
    return LocalChunk("", chunk.finish_reason or last.finish_reason, chunk.usage or last.usage)


def _consume_result(future: asyncio.Future[None]) -> None:
    # _generate never raises, but retrieve the result anyway so asyncio never logs
    # "exception was never retrieved" for a generation we abandoned.
    with contextlib.suppress(BaseException):
        future.result()
