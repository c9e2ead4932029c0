"""The persona prompt is read at start and again, in the background, when it changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from tars.services.llm.errors import ModelUnavailableError
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    StreamEvent,
    ToolSchema,
)
from tars.services.llm.warmup import PersonaPrefill, prefill_persona

DEFAULTS = CompletionParams(model="m", max_tokens=256, temperature=0.7)


class RecordingProvider:
    name = "fake"

    def __init__(self, fail: bool = False, gate: asyncio.Event | None = None) -> None:
        self.prompts: list[str] = []
        self.tools: list[list[str]] = []
        self.params: list[CompletionParams] = []
        self.fail = fail
        self.gate = gate
        self.reading = asyncio.Event()

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema] = (),
    ) -> AsyncGenerator[StreamEvent, None]:
        self.prompts.append(messages[0].content)
        self.tools.append([tool.name for tool in tools])
        self.params.append(params)
        if self.fail:
            raise ModelUnavailableError("gone")
        self.reading.set()
        if self.gate is not None and len(self.prompts) == 1:
            await self.gate.wait()  # the first read takes until the gate opens
        yield Finished("length", None, "fake")

    async def aclose(self) -> None:
        pass


async def test_one_greedy_token_behind_the_persona() -> None:
    provider = RecordingProvider()
    elapsed = await prefill_persona(provider, "You are TARS.", DEFAULTS, 4096)
    assert elapsed is not None
    assert provider.prompts == ["You are TARS."]
    assert provider.params[0].max_tokens == 1
    assert provider.params[0].temperature == 0.0


async def test_a_failed_prefill_is_only_logged() -> None:
    assert await prefill_persona(RecordingProvider(fail=True), "x", DEFAULTS, 4096) is None


async def test_a_changed_persona_is_read_again_in_the_background() -> None:
    provider = RecordingProvider()
    prefill = PersonaPrefill(provider, DEFAULTS, 4096)
    prefill.changed("ignored: not started yet")
    await prefill.now("You are TARS.")
    prefill.changed("You are TARS.")  # unchanged: nothing to read
    prefill.changed("You are TARS, humour 10.")
    await asyncio.sleep(0.05)
    await prefill.aclose()
    assert provider.prompts == ["You are TARS.", "You are TARS, humour 10."]


async def test_the_tools_offered_are_read_with_the_persona_and_again_when_they_change() -> None:
    provider = RecordingProvider()
    prefill = PersonaPrefill(provider, DEFAULTS, 4096)
    move = ToolSchema("mcp__movement__move", "Move.", {"type": "object"})
    look = ToolSchema("mcp__camera__look", "Look.", {"type": "object"})
    await prefill.now("You are TARS.", [move])
    prefill.changed("You are TARS.", [move])  # the same set: nothing to read
    prefill.changed("You are TARS.", [move, look])
    await asyncio.sleep(0.05)
    await prefill.aclose()
    assert provider.tools == [["mcp__movement__move"], ["mcp__movement__move", "mcp__camera__look"]]


async def test_tools_that_arrive_during_the_start_read_replace_it_before_ready() -> None:
    # At start the tool registry usually lands while the persona alone is being read: that
    # read is cut short and the start waits for the one with the tools.
    gate = asyncio.Event()
    provider = RecordingProvider(gate=gate)
    prefill = PersonaPrefill(provider, DEFAULTS, 4096)
    move = ToolSchema("mcp__movement__move", "Move.", {"type": "object"})
    start = asyncio.create_task(prefill.now("You are TARS."), name="test:start")
    await provider.reading.wait()
    prefill.changed("You are TARS.", [move])
    elapsed = await asyncio.wait_for(start, 5)  # the gate never opens: the first read is dropped
    await prefill.aclose()
    assert elapsed is not None
    assert provider.tools == [[], ["mcp__movement__move"]]
