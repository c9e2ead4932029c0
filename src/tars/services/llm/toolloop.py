"""The bounded tool loop: complete, run the requested tools, feed results back, repeat.

The loop is engine-level and knows nothing about MCP or MQTT: the caller passes an ``execute``
coroutine that runs one tool call and returns its result as text (errors included, as text the
model can read), so the same loop serves every provider.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from tars.services.llm.errors import ToolLoopLimitError
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    LLMProvider,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSchema,
    Usage,
)

_LOGGER = logging.getLogger(__name__)

ToolExecutor = Callable[[ToolCall], Awaitable[str]]


async def stream_with_tools(
    provider: LLMProvider,
    messages: Sequence[ChatMessage],
    params: CompletionParams,
    tools: Sequence[ToolSchema],
    execute: ToolExecutor,
    *,
    max_rounds: int,
) -> AsyncGenerator[StreamEvent, None]:
    """Stream a completion, running tool calls in between, until the model answers.

    Text deltas of every round and each :class:`ToolCallsReady` are passed through (so the
    caller can show progress); one :class:`Finished` ends the stream, with usage summed over
    all rounds.

    Args:
        provider: The model backend.
        messages: The prompt.
        params: Sampling parameters.
        tools: Tools offered to the model.
        execute: Runs one call and returns its result text.
        max_rounds: Tool rounds allowed; a further request for tools is an error.

    Raises:
        ToolLoopLimitError: The model still wanted tools after ``max_rounds`` rounds.
        LLMError: Whatever the provider raised.
    """
    conversation = list(messages)
    usage: Usage | None = None
    for round_number in range(max_rounds + 1):
        text: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        finished: Finished | None = None
        async with contextlib.aclosing(provider.stream(conversation, params, tools)) as events:
            async for event in events:
                if isinstance(event, Finished):
                    finished = event
                    continue
                if isinstance(event, TextDelta):
                    text.append(event.text)
                elif isinstance(event, ToolCallsReady):
                    calls = event.calls
                yield event
        assert finished is not None, "providers end every stream with Finished"
        usage = _add(usage, finished.usage)
        if not calls:
            yield Finished(finished.finish_reason, usage, finished.model)
            return
        if round_number == max_rounds:
            raise ToolLoopLimitError(max_rounds)
        conversation.append(ChatMessage("assistant", "".join(text), tool_calls=calls))
        for call in calls:
            _LOGGER.debug("tool round %d: calling %s", round_number + 1, call.name)
            result = await execute(call)
            conversation.append(ChatMessage("tool", result, tool_call_id=call.id))


def _add(total: Usage | None, more: Usage | None) -> Usage | None:
    if total is None or more is None:
        return more or total
    return Usage(
        total.prompt_tokens + more.prompt_tokens,
        total.completion_tokens + more.completion_tokens,
        total.cached_tokens + more.cached_tokens,
    )
