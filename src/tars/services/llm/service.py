"""The llm service: answers ``llm/request`` with streamed deltas and a final response.

Each request runs in its own named task (at most ``LLM_MAX_CONCURRENT`` at once: the
subscription has that many workers and each waits for its task), so ``llm/cancel`` can
cancel exactly that request. Cancelling the task closes the provider's HTTP connection
or stops the embedded generation thread, no delta follows, and a final response with
``error_code: cancelled`` is published. Every failure ends in an error response, never
in silence.

The prompt is the current character's system prompt (kept from the retained
``system/character/current``), the request's extra instructions, retrieved memories
(RAG) and the conversation history, fitted to the context window by
:func:`~tars.services.llm.budget.build_messages`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from tars.contracts.character import TOPIC_CHARACTER_CURRENT, CharacterSnapshot
from tars.contracts.llm import (
    TOPIC_LLM_CANCEL,
    TOPIC_LLM_PREFILL,
    TOPIC_LLM_REQUEST,
    LLMCancel,
    LLMPrefill,
    LLMRequest,
)
from tars.contracts.memory import TOPIC_MEMORY_RESULTS
from tars.contracts.tools import (
    TOPIC_TOOL_CALL_RESULT,
    TOPIC_TOOLS_REGISTRY,
    ToolCallResult,
    ToolsRegistry,
)
from tars.runtime.bus import Bus, Message, shared_topic
from tars.runtime.logs import log_context
from tars.runtime.malloc import release_free_memory
from tars.runtime.settings import RuntimeSettings
from tars.services.llm import rag
from tars.services.llm.budget import build_messages
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.errors import ErrorCode, LLMError
from tars.services.llm.factory import build_provider, completion_params
from tars.services.llm.persona import PersonaCache
from tars.services.llm.prompting import history_messages, merge_params
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    LLMProvider,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSchema,
    Usage,
)
from tars.services.llm.replies import Replies, token_counts
from tars.services.llm.settings import LlmSettings
from tars.services.llm.toolbridge import ToolBridge
from tars.services.llm.toolloop import ToolExecutor, stream_with_tools
from tars.services.llm.warmup import PersonaPrefill

_LOGGER = logging.getLogger(__name__)

TOOL_CALL_TIMEOUT_S = 30.0
"""How long one tool call may run before the model is told it timed out (s)."""
_CANCEL_MEMORY = 256
"""Cancels remembered for requests that have not started yet (queued behind others)."""


@dataclass
class _Outcome:
    """What one finished completion produced."""

    reply: str
    model: str
    tokens: dict[str, int] | None


class LlmService:
    """Streams replies from the configured provider.

    Args:
        settings: The service settings.
        provider: The backend; built from the settings when None. An injected provider is
            not closed by the service.
    """

    name = "llm"

    def __init__(self, settings: LlmSettings, provider: LLMProvider | None = None) -> None:
        self._settings = settings
        # An injected provider belongs to the caller (tests share one loaded model).
        self._owns_provider = provider is None
        self._provider = provider or build_provider(settings)
        self._defaults = completion_params(settings)
        self._persona = PersonaCache()
        self._bus: Bus | None = None
        self._tools: ToolBridge | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._cancelled_early: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._prefill: PersonaPrefill | None = None

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        if self._bus is None:
            raise RuntimeError("attach() the service before running it")
        return self._bus

    def attach(self, bus: Bus) -> None:
        """Subscribe to requests, cancels, the character, tools and memory replies."""
        self._bus = bus
        self._tools = ToolBridge(bus, timeout_s=TOOL_CALL_TIMEOUT_S)
        # With a share group each request reaches one worker of the group; a cancel reaches
        # every worker, and those not holding the request only remember it briefly.
        requests = shared_topic(TOPIC_LLM_REQUEST, self._settings.share_group)
        bus.subscribe(requests, self._on_request, workers=self._settings.max_concurrent)
        bus.subscribe(TOPIC_LLM_CANCEL, self._on_cancel, priority=True)
        bus.subscribe(TOPIC_LLM_PREFILL, self._on_prefill)
        bus.subscribe(TOPIC_CHARACTER_CURRENT, self._on_character)
        bus.subscribe(TOPIC_TOOLS_REGISTRY, self._on_registry)
        bus.subscribe(TOPIC_TOOL_CALL_RESULT, self._on_tool_result)
        # RAG waits on memory/results from inside request handlers; the bus resolves
        # those replies on its receive path, never through a handler queue.
        expect = getattr(bus, "expect_replies", None)
        if expect is not None:
            expect(TOPIC_MEMORY_RESULTS)

    async def run(self) -> None:
        """Load the embedded model in the background, report ready, close on shutdown."""
        try:
            if isinstance(self._provider, EmbeddedProvider):
                await self.bus.set_health(False, "loading")
                started = time.perf_counter()
                try:
                    await self._provider.start()
                except LLMError as err:
                    # Keep serving: every request now answers model_unavailable, which
                    # tells the user more than a restart loop would.
                    _LOGGER.error("embedded model unavailable: %s", err.message)
                    await self.bus.set_health(False, "model_unavailable", err.message)
                    await asyncio.Event().wait()
                self.bus.metrics.observe("model_load_ms", (time.perf_counter() - started) * 1e3)
                await self._prefill_persona()
                await asyncio.to_thread(release_free_memory)  # what loading the model freed
            await self.bus.set_health(True, "ready")
            await asyncio.Event().wait()
        finally:
            for task in list(self._inflight.values()):
                task.cancel()
            if self._prefill is not None:
                await self._prefill.aclose()
            if self._owns_provider:
                await self._provider.aclose()

    async def _prefill_persona(self) -> None:
        """Read the persona prompt now, and again whenever the character changes."""
        self._prefill = PersonaPrefill(
            self._provider, self._defaults, self._settings.context_window()
        )
        elapsed_ms = await self._prefill.now(self._persona.system_prompt(None), self._tool_set())
        if elapsed_ms is not None:
            self.bus.metrics.observe("warm_up_ms", elapsed_ms)

    # -- handlers ---------------------------------------------------------------------------
    async def _on_character(self, message: Message) -> None:
        snapshot: CharacterSnapshot = message.data
        self._persona.update(snapshot)
        self._prefill_changed()

    async def _on_registry(self, message: Message) -> None:
        registry: ToolsRegistry = message.data
        assert self._tools is not None
        self._tools.update(registry)
        self._prefill_changed()

    def _tool_set(self) -> list[ToolSchema]:
        """The tools every request is offered now."""
        return self._tools.tools if self._tools is not None else []

    def _prefill_changed(self) -> None:
        """The persona or the tools changed: read the new prompt prefix ahead of requests."""
        if self._prefill is not None:
            self._prefill.changed(self._persona.system_prompt(None), self._tool_set())

    async def _on_prefill(self, message: Message) -> None:
        prefill: LLMPrefill = message.data
        if self._prefill is None:
            return  # a remote provider, or the embedded model is still loading
        messages = build_messages(
            self._persona.system_prompt(None),
            [],
            history_messages(prefill.conversation_history),
            # The question's start, or a stand-in for the next question: the request shares
            # the prompt up to where they differ, and that much is read now.
            prefill.question or "Hello.",
            ctx_window=self._settings.context_window(),
            max_tokens=self._defaults.max_tokens,
            rag_max_tokens=self._settings.rag_max_tokens,
        )
        self.bus.metrics.inc("question_prefills" if prefill.question else "history_prefills")
        what = "question start" if prefill.question else "history"
        self._prefill.history(messages, self._tool_set(), what=what)

    async def _on_tool_result(self, message: Message) -> None:
        result: ToolCallResult = message.data
        assert self._tools is not None
        self._tools.resolve(result)

    async def _on_cancel(self, message: Message) -> None:
        cancel: LLMCancel = message.data
        task = self._inflight.get(cancel.id)
        if task is None:
            # Possibly still queued behind other requests: remember it briefly.
            self._cancelled_early[cancel.id] = None
            while len(self._cancelled_early) > _CANCEL_MEMORY:
                self._cancelled_early.popitem(last=False)
            _LOGGER.debug("cancel for %s, which is not running", cancel.id)
            return
        _LOGGER.info("cancelling request %s (%s)", cancel.id, cancel.reason or "no reason")
        task.cancel()

    async def _on_request(self, message: Message) -> None:
        request: LLMRequest = message.data
        self.bus.metrics.inc("requests")
        if request.id in self._cancelled_early:
            del self._cancelled_early[request.id]
            await self._replies().cancelled(request)
            return
        task = asyncio.create_task(self._answer(request), name=f"llm:request:{request.id}")
        self._inflight[request.id] = task
        try:
            # wait() rather than await: a cancelled request task must not cancel this
            # worker, while a cancelled worker (shutdown) must cancel the request.
            await asyncio.wait([task])
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._inflight.pop(request.id, None)
        if task.cancelled():
            await self._replies().cancelled(request)

    # -- one request -------------------------------------------------------------------------
    async def _answer(self, request: LLMRequest) -> None:
        with log_context(request_id=request.id, satellite=request.satellite):
            started = time.perf_counter()
            try:
                outcome = await self._complete(request, started)
            except LLMError as err:
                await self._replies().error(request, err.code, err.message)
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a bug must still produce an answer for the router
                _LOGGER.exception("request %s failed", request.id)
                await self._replies().error(request, "internal", f"{type(err).__name__}: {err}")
                return
            self.bus.metrics.observe("request_ms", (time.perf_counter() - started) * 1e3)
            await self._replies().response(request, outcome.reply, outcome.model, outcome.tokens)

    async def _complete(self, request: LLMRequest, started: float) -> _Outcome:
        messages = await self._prompt(request)
        params = self._params(request)
        tools = self._offered_tools(request)
        seq = 0
        parts: list[str] = []
        finished: Finished | None = None
        async with contextlib.aclosing(self._events(request, messages, params, tools)) as events:
            async for event in events:
                if isinstance(event, Finished):
                    finished = event
                elif isinstance(event, TextDelta) and event.text:
                    if seq == 0:
                        self.bus.metrics.observe(
                            "first_token_ms", (time.perf_counter() - started) * 1e3
                        )
                    seq += 1
                    parts.append(event.text)
                    if request.stream:
                        await self._replies().delta(request, seq, event.text, None)
        model = finished.model if finished is not None else params.model
        if finished is not None and finished.usage is not None:
            self._observe_prompt(finished.usage)
        if request.stream:
            await self._replies().delta(request, seq + 1, None, model)
        tokens = token_counts(finished.usage if finished is not None else None)
        return _Outcome("".join(parts).strip(), model, tokens)

    def _observe_prompt(self, usage: Usage) -> None:
        """Count the prompt tokens read again and those the prefix cache saved (totals)."""
        read = max(0, usage.prompt_tokens - usage.cached_tokens)
        self.bus.metrics.inc("prompt_tokens_read", read)
        self.bus.metrics.inc("prompt_tokens_cached", usage.cached_tokens)
        _LOGGER.debug("prompt: %d tokens read, %d from the cache", read, usage.cached_tokens)

    def _events(
        self,
        request: LLMRequest,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema],
    ) -> AsyncGenerator[StreamEvent, None]:
        if not tools:
            return self._provider.stream(messages, params)
        assert self._tools is not None
        execute: ToolExecutor = functools.partial(_run_tool, self._tools, request.id)
        if request.preemptive:
            execute = _defer_tool
        return stream_with_tools(
            self._provider,
            messages,
            params,
            tools,
            execute,
            max_rounds=self._settings.tool_loop_max_rounds,
        )

    async def _prompt(self, request: LLMRequest) -> list[ChatMessage]:
        memories: list[str] = []
        use_rag = self._settings.rag_enabled if request.use_rag is None else request.use_rag
        if use_rag:
            found = await rag.retrieve(
                self.bus,
                request.text,
                top_k=request.rag_k or self._settings.rag_top_k,
                max_tokens=self._settings.rag_max_tokens or None,
                timeout_s=self._settings.rag_timeout_s,
            )
            if found is None:
                self.bus.metrics.inc("rag_timeouts")
            else:
                memories = found
        max_tokens = self._params(request).max_tokens
        return build_messages(
            self._persona.system_prompt(request.system),
            memories,
            history_messages(request.conversation_history or []),
            request.text,
            ctx_window=self._settings.context_window(),
            max_tokens=max_tokens,
            rag_max_tokens=self._settings.rag_max_tokens,
        )

    def _replies(self) -> Replies:
        return Replies(self.bus, self._provider.name)

    def _params(self, request: LLMRequest) -> CompletionParams:
        return merge_params(self._defaults, request.params or {})

    def _offered_tools(self, request: LLMRequest) -> list[ToolSchema]:
        if request.tools is False or self._tools is None:
            return []
        return self._tools.tools


async def _run_tool(bridge: ToolBridge, request_id: str, call: ToolCall) -> str:
    return await bridge.execute(call, request_id)


async def _defer_tool(call: ToolCall) -> str:
    # A tool acts on the world (moves the robot, sets a timer): never before the user has
    # finished speaking. The router asks again once the turn is over.
    raise LLMError(ErrorCode.TOOL_DEFERRED, f"{call.name} is not run for a preemptive request")


def build(runtime: RuntimeSettings) -> LlmService:
    """Build the llm service from ``LLM_*`` settings.

    ``LLM_DATA_DIR`` (where the joined embedded model is kept) follows ``TARS_DATA_DIR``
    unless it is set explicitly.
    """
    settings = LlmSettings()
    if "data_dir" not in settings.model_fields_set:
        settings = settings.model_copy(update={"data_dir": runtime.data_dir})
    return LlmService(settings)
