"""Keep the prompt read ahead of requests, so a request only reads its new tokens.

The embedded runtime keeps the KV cache of the last prompt and reuses its longest common
prefix (llama.cpp's slot cache). Every request starts with the persona system prompt and,
while the mcp service offers tools, the tools section after it, so once those have been
read, a request costs only the tokens after them. On two cores reading the ~600-token
persona and the ~700-token tools section takes many seconds (longer than the router waits
for a first word on a busy machine), so it is done at start and again whenever the character
or the tool registry changes, not in front of the next question. Likewise the history: after
each turn the router asks (``llm/prefill``) for the conversation so far to be read while
nobody waits, so the next question does not read the turns since the last LLM answer (a
rule-answered turn adds ~20 tokens: over a second on two cores). And while the user is
speaking, the router sends the start of the question heard so far (a partial transcript),
so that at the pause the request reads only the last words and the prompt's tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Sequence

from tars.services.llm.budget import build_messages
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.errors import LLMError
from tars.services.llm.provider import ChatMessage, CompletionParams, LLMProvider, ToolSchema

_LOGGER = logging.getLogger(__name__)

PREFILL_TIMEOUT_S = 900.0
"""Longest a persona and tools read may take, waiting behind other work included (s)."""


async def prefill_persona(
    provider: LLMProvider,
    system_prompt: str,
    defaults: CompletionParams,
    ctx_window: int,
    tools: Sequence[ToolSchema] = (),
) -> float | None:
    """Generate one token behind ``system_prompt`` so the runtime caches its prefix.

    Args:
        provider: The embedded provider.
        system_prompt: The persona prompt every request starts with.
        defaults: The service's sampling defaults (overridden to one greedy token).
        ctx_window: The model's context window.
        tools: The tools every request is offered (rendered into the system prompt).

    Returns:
        How long it took in ms, or None when the model failed (the request path reports
        such failures; a failed warm-up only costs speed).
    """
    messages = build_messages(
        system_prompt, [], [], "Hello.", ctx_window=ctx_window, max_tokens=1, rag_max_tokens=0
    )
    return await read_ahead(provider, messages, defaults, tools, "persona prompt")


async def read_ahead(
    provider: LLMProvider,
    messages: Sequence[ChatMessage],
    defaults: CompletionParams,
    tools: Sequence[ToolSchema],
    what: str,
) -> float | None:
    """Generate one greedy token behind ``messages``, so the runtime caches their prefix.

    Returns:
        How long it took in ms, or None when the model failed.
    """
    params = dataclasses.replace(defaults, max_tokens=1, temperature=0.0)
    started = time.perf_counter()
    try:
        if isinstance(provider, EmbeddedProvider):
            # Not the request deadline: on a busy machine reading the prefix can take minutes,
            # and a prefill cut short leaves every request to read the rest itself.
            stream = provider.stream(messages, params, tools, timeout_s=PREFILL_TIMEOUT_S)
        else:
            stream = provider.stream(messages, params, tools)
        async with contextlib.aclosing(stream) as events:
            async for _ in events:
                pass
    except LLMError as err:
        _LOGGER.warning("%s prefill failed: %s", what, err.message)
        return None
    elapsed_ms = (time.perf_counter() - started) * 1e3
    _LOGGER.info("%s (and %d tools) read in %.0f ms", what, len(tools), elapsed_ms)
    return elapsed_ms


class PersonaPrefill:
    """Reads the prompt ahead of requests in the background.

    :func:`prefill_persona` again when the persona or the tools change, and a conversation's
    history ahead of its next request (:meth:`history`).

    Args:
        provider: The embedded provider.
        defaults: The service's sampling defaults.
        ctx_window: The model's context window.
    """

    def __init__(self, provider: LLMProvider, defaults: CompletionParams, ctx_window: int) -> None:
        self._provider = provider
        self._defaults = defaults
        self._ctx_window = ctx_window
        self._read: tuple[str, tuple[ToolSchema, ...]] | None = None
        self._task: asyncio.Task[float | None] | None = None

    async def now(self, system_prompt: str, tools: Sequence[ToolSchema] = ()) -> float | None:
        """Read ``system_prompt`` (and ``tools``) now and wait for it (at start).

        A change that arrives meanwhile (at start the mcp service's tool registry usually
        does) replaces the read in progress and is waited for too: the service reports
        ready once the prompt requests will start with has been read, not a minute before
        (reading it twice took 77 s here).
        """
        self._read = (system_prompt, tuple(tools))
        self._task = asyncio.create_task(
            prefill_persona(self._provider, system_prompt, self._defaults, self._ctx_window, tools),
            name="llm:persona-prefill",
        )
        return await self._settled()

    async def _settled(self) -> float | None:
        """Wait for the newest read; returns its time in ms (None: it failed)."""
        elapsed: float | None = None
        while self._task is not None:
            task = self._task
            try:
                elapsed = await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled() and self._task is not task:
                    continue  # a newer read replaced it
                raise
            if self._task is task:
                break
        return elapsed

    def changed(self, system_prompt: str, tools: Sequence[ToolSchema] = ()) -> None:
        """Read a new persona prompt or tool set in the background (a newer change wins)."""
        wanted = (system_prompt, tuple(tools))
        if self._read is None or wanted == self._read:
            return  # not started yet (start reads the newest prompt), or unchanged
        self._read = wanted
        if self._task is not None:
            # A registry arrives in bursts (one server after another): a read cut short
            # stops at its next prompt batch, and the newest one reads on from there.
            self._task.cancel()
        self._task = asyncio.create_task(
            prefill_persona(self._provider, system_prompt, self._defaults, self._ctx_window, tools),
            name="llm:persona-prefill",
        )

    def history(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSchema] = (),
        *,
        what: str = "history",
    ) -> None:
        """Read a prompt with a conversation's history in the background (a newer read wins).

        ``messages`` start with the persona prompt, so a persona read cut short by this one
        is finished by it. Nothing is read before the persona has been read once at start.
        ``what`` names the read in the log ("history", "question start").
        """
        if self._read is None:
            return
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(
            read_ahead(self._provider, messages, self._defaults, tools, what),
            name="llm:history-prefill",
        )

    async def aclose(self) -> None:
        """Cancel a background read in progress."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
