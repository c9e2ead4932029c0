"""The bounded tool loop, driven by a scripted fake provider."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import pytest

from tars.services.llm.errors import ErrorCode, LLMError
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSchema,
    Usage,
)
from tars.services.llm.toolloop import stream_with_tools

PARAMS = CompletionParams(model="m")
TOOLS = [ToolSchema("lookup", "Look something up.")]


class ScriptedProvider:
    name = "scripted"

    def __init__(self, rounds: Sequence[Sequence[StreamEvent]]) -> None:
        self.rounds = list(rounds)
        self.seen: list[list[ChatMessage]] = []

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema] = (),
    ) -> AsyncGenerator[StreamEvent, None]:
        self.seen.append(list(messages))
        for event in self.rounds.pop(0):
            yield event

    async def aclose(self) -> None:
        pass


def _call(n: int) -> list[StreamEvent]:
    return [
        ToolCallsReady((ToolCall(f"c{n}", "lookup", {"q": n}),)),
        Finished("tool_calls", Usage(10, 2), "m"),
    ]


async def test_tool_result_is_fed_back_and_answer_streamed() -> None:
    provider = ScriptedProvider(
        [_call(1), [TextDelta("Found "), TextDelta("it."), Finished("stop", Usage(20, 3), "m")]]
    )
    executed: list[ToolCall] = []

    async def execute(call: ToolCall) -> str:
        executed.append(call)
        return '{"answer": 42}'

    events = [
        e
        async for e in stream_with_tools(
            provider, [ChatMessage("user", "Q")], PARAMS, TOOLS, execute, max_rounds=3
        )
    ]
    assert [c.name for c in executed] == ["lookup"]
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("Found "),
        TextDelta("it."),
    ]
    assert events[-1] == Finished("stop", Usage(30, 5), "m")
    second_prompt = provider.seen[1]
    assert second_prompt[1] == ChatMessage("assistant", "", tool_calls=tuple(executed))
    assert second_prompt[2] == ChatMessage("tool", '{"answer": 42}', tool_call_id="c1")


async def test_too_many_rounds_is_tool_loop_limit() -> None:
    provider = ScriptedProvider([_call(n) for n in range(5)])

    async def execute(call: ToolCall) -> str:
        return "again"

    with pytest.raises(LLMError) as caught:
        async for _ in stream_with_tools(
            provider, [ChatMessage("user", "Q")], PARAMS, TOOLS, execute, max_rounds=2
        ):
            pass
    assert caught.value.code == ErrorCode.TOOL_LOOP_LIMIT
    assert len(provider.seen) == 3
