"""Keep the persona prompt read ahead of requests, so a request only reads its new tokens.

The embedded runtime keeps the KV cache of the last prompt and reuses its longest common
prefix (llama.cpp's slot cache). Every request starts with the persona system prompt, so
once that has been read, a request costs only the tokens after it. On two cores reading the
~600-token persona takes many seconds, so it is done at start and again whenever the
character changes, not in front of the first question.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time

from tars.services.llm.budget import build_messages
from tars.services.llm.errors import LLMError
from tars.services.llm.provider import CompletionParams, LLMProvider

_LOGGER = logging.getLogger(__name__)


async def prefill_persona(
    provider: LLMProvider, system_prompt: str, defaults: CompletionParams, ctx_window: int
) -> float | None:
    """Generate one token behind ``system_prompt`` so the runtime caches its prefix.

    Args:
        provider: The embedded provider.
        system_prompt: The persona prompt every request starts with.
        defaults: The service's sampling defaults (overridden to one greedy token).
        ctx_window: The model's context window.

    Returns:
        How long it took in ms, or None when the model failed (the request path reports
        such failures; a failed warm-up only costs speed).
    """
    messages = build_messages(
        system_prompt, [], [], "Hello.", ctx_window=ctx_window, max_tokens=1, rag_max_tokens=0
    )
    params = dataclasses.replace(defaults, max_tokens=1, temperature=0.0)
    started = time.perf_counter()
    try:
        async with contextlib.aclosing(provider.stream(messages, params)) as events:
            async for _ in events:
                pass
    except LLMError as err:
        _LOGGER.warning("persona prefill failed: %s", err.message)
        return None
    elapsed_ms = (time.perf_counter() - started) * 1e3
    _LOGGER.info("persona prompt read in %.0f ms", elapsed_ms)
    return elapsed_ms


class PersonaPrefill:
    """Runs :func:`prefill_persona` in the background when the persona prompt changes.

    Args:
        provider: The embedded provider.
        defaults: The service's sampling defaults.
        ctx_window: The model's context window.
    """

    def __init__(self, provider: LLMProvider, defaults: CompletionParams, ctx_window: int) -> None:
        self._provider = provider
        self._defaults = defaults
        self._ctx_window = ctx_window
        self._prompt: str | None = None
        self._task: asyncio.Task[float | None] | None = None

    async def now(self, system_prompt: str) -> float | None:
        """Read ``system_prompt`` now and wait for it (at start)."""
        self._prompt = system_prompt
        return await prefill_persona(
            self._provider, system_prompt, self._defaults, self._ctx_window
        )

    def changed(self, system_prompt: str) -> None:
        """Read a new persona prompt in the background (a newer change replaces it)."""
        if system_prompt == self._prompt or self._prompt is None:
            return  # unchanged, or not started yet (start reads the newest prompt)
        self._prompt = system_prompt
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(
            prefill_persona(self._provider, system_prompt, self._defaults, self._ctx_window),
            name="llm:persona-prefill",
        )

    async def aclose(self) -> None:
        """Cancel a background read in progress."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
