"""The llm service on the in-memory bus with a scripted provider."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path

import pytest
from tests.support.collect import Collector

from tars.contracts.character import TOPIC_CHARACTER_CURRENT, CharacterSnapshot
from tars.contracts.llm import (
    TOPIC_LLM_CANCEL,
    TOPIC_LLM_REQUEST,
    TOPIC_LLM_RESPONSE,
    TOPIC_LLM_STREAM,
    ConversationMessage,
    LLMCancel,
    LLMRequest,
)
from tars.contracts.tools import (
    TOPIC_TOOL_CALL_REQUEST,
    TOPIC_TOOL_CALL_RESULT,
    TOPIC_TOOLS_REGISTRY,
    ToolCallResult,
    ToolSpec,
    ToolsRegistry,
)
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.runtime.settings import RuntimeSettings
from tars.services.llm.errors import LLMHttpStatusError
from tars.services.llm.prompting import merge_params
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
from tars.services.llm.rag import render_memory
from tars.services.llm.service import LlmService, build
from tars.services.llm.settings import LlmSettings
from tars.services.llm.toolbridge import ToolBridge

Round = list[StreamEvent] | Exception


class ScriptedProvider:
    """Plays one scripted round per stream call; records prompts; can be held at a gate."""

    name = "scripted"

    def __init__(self, rounds: list[Round], gate: asyncio.Event | None = None) -> None:
        self.rounds = list(rounds)
        self.gate = gate
        self.calls: list[tuple[list[ChatMessage], CompletionParams, list[ToolSchema]]] = []
        self.closed = False

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema] = (),
    ) -> AsyncGenerator[StreamEvent, None]:
        self.calls.append((list(messages), params, list(tools)))
        if self.gate is not None:
            await self.gate.wait()
        script = self.rounds.pop(0)
        if isinstance(script, Exception):
            raise script
        for event in script:
            yield event

    async def aclose(self) -> None:
        self.closed = True


def reply(*texts: str) -> list[StreamEvent]:
    return [*(TextDelta(t) for t in texts), Finished("stop", Usage(7, len(texts)), "m1")]


@contextlib.asynccontextmanager
async def running(
    provider: ScriptedProvider, **settings: object
) -> AsyncIterator[tuple[LlmService, MemoryBus, Collector, Collector]]:
    broker = MemoryBroker()
    service = LlmService(LlmSettings(**settings), provider=provider)  # type: ignore[arg-type]
    client = MemoryBus("router", broker)
    deltas, responses = Collector(), Collector()
    client.subscribe(TOPIC_LLM_STREAM, deltas)
    client.subscribe(TOPIC_LLM_RESPONSE, responses)
    stop = asyncio.Event()
    client_task = asyncio.create_task(client.run(), name="test:client")
    await client.wait_connected()
    service_bus = MemoryBus("llm", broker)
    task = asyncio.create_task(serve(service, service_bus, stop), name="test:llm")
    await service_bus.wait_connected()
    try:
        yield service, client, deltas, responses
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)


async def test_persona_extra_system_and_history_shape_the_prompt() -> None:
    provider = ScriptedProvider([reply("Hi", " there")])
    async with running(provider) as (_, client, deltas, responses):
        await client.publish(
            TOPIC_CHARACTER_CURRENT,
            CharacterSnapshot(name="Robo", systemprompt="You are Robo.", traits={"humor": 10}),
        )
        await asyncio.sleep(0.05)
        history = [
            ConversationMessage(role="user", content="earlier question"),
            ConversationMessage(role="assistant", content="earlier answer"),
        ]
        request = LLMRequest(
            id="r1", text="now", system="Speak French.", conversation_history=history
        )
        await client.publish(TOPIC_LLM_REQUEST, request)
        response = await responses.wait_for(lambda m: m.data.id == "r1")
    messages, _, tools = provider.calls[0]
    assert messages[0].role == "system"
    assert messages[0].content.startswith("You are Robo.")
    assert "humor: 10/100 (very low)" in messages[0].content
    assert messages[0].content.endswith("Speak French.")
    assert [(m.role, m.content) for m in messages[1:]] == [
        ("user", "earlier question"),
        ("assistant", "earlier answer"),
        ("user", "now"),
    ]
    assert tools == []
    assert response.data.reply == "Hi there"
    assert response.data.tokens == {"prompt": 7, "completion": 2, "total": 9}
    assert [(d.data.seq, d.data.done) for d in deltas.messages] == [
        (1, False),
        (2, False),
        (3, True),
    ]


async def test_non_streaming_request_publishes_only_the_response() -> None:
    async with running(ScriptedProvider([reply("Yes.")])) as (_, client, deltas, responses):
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="r2", text="ok?", stream=False))
        response = await responses.wait_for(lambda m: m.data.id == "r2")
    assert response.data.reply == "Yes."
    assert deltas.messages == []


async def test_provider_errors_and_bugs_both_answer_with_an_error_code() -> None:
    provider = ScriptedProvider([LLMHttpStatusError(401, "bad key"), RuntimeError("boom")])
    async with running(provider) as (service, client, _, responses):
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="e1", text="a"))
        first = await responses.wait_for(lambda m: m.data.id == "e1")
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="e2", text="b"))
        second = await responses.wait_for(lambda m: m.data.id == "e2")
        assert service.bus.metrics.count("errors.http_status") == 1
    assert (first.data.error_code, first.data.error) == ("http_status", "bad key")
    assert second.data.error_code == "internal"
    assert "boom" in (second.data.error or "")


async def test_cancel_of_a_queued_request_answers_cancelled_without_calling_the_provider() -> None:
    gate = asyncio.Event()
    provider = ScriptedProvider([reply("first")], gate=gate)
    async with running(provider, max_concurrent=1) as (_, client, _, responses):
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="busy", text="one"))
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="queued", text="two"))
        await asyncio.sleep(0.05)
        await client.publish(TOPIC_LLM_CANCEL, LLMCancel(id="queued"))
        await asyncio.sleep(0.05)
        gate.set()
        done = await responses.wait_for(lambda m: m.data.id == "busy")
        cancelled = await responses.wait_for(lambda m: m.data.id == "queued")
    assert done.data.reply == "first"
    assert cancelled.data.error_code == "cancelled"
    assert len(provider.calls) == 1


async def offer_clock_tool(client: MemoryBus) -> list[Message]:
    """Play the mcp service with one clock tool; returns the calls it gets, as they come."""
    calls: list[Message] = []

    async def mcp(message: Message) -> None:
        calls.append(message)
        result = ToolCallResult(call_id=message.data.call_id, content="12:00 UTC")
        await client.publish(TOPIC_TOOL_CALL_RESULT, result)

    client.subscribe(TOPIC_TOOL_CALL_REQUEST, mcp)
    spec = ToolSpec(function={"name": "mcp__clock__now", "description": "Current time."})
    await client.publish(TOPIC_TOOLS_REGISTRY, ToolsRegistry(tools=[spec]))
    return calls


async def test_tools_from_the_registry_run_over_the_bus() -> None:
    call = ToolCall("c1", "mcp__clock__now", {"zone": "UTC"})
    provider = ScriptedProvider(
        [
            [ToolCallsReady((call,)), Finished("tool_calls", Usage(5, 1), "m1")],
            reply("It is noon."),
        ]
    )
    async with running(provider) as (_, client, _, responses):
        seen = await offer_clock_tool(client)
        await asyncio.sleep(0.05)
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="t1", text="time?"))
        response = await responses.wait_for(lambda m: m.data.id == "t1")
    assert response.data.reply == "It is noon."
    assert response.data.tokens == {"prompt": 12, "completion": 2, "total": 14}
    assert seen[0].data.arguments == {"zone": "UTC"}
    assert seen[0].data.request_id == "t1"
    assert [t.name for t in provider.calls[0][2]] == ["mcp__clock__now"]
    second_prompt = provider.calls[1][0]
    assert second_prompt[-1] == ChatMessage("tool", "12:00 UTC", tool_call_id="c1")


async def test_a_preemptive_request_runs_no_tool_and_says_it_was_deferred() -> None:
    call = ToolCall("c1", "mcp__clock__now", {"zone": "UTC"})
    wants_tool: list[StreamEvent] = [
        ToolCallsReady((call,)),
        Finished("tool_calls", Usage(5, 1), "m1"),
    ]
    provider = ScriptedProvider([wants_tool, reply("It is noon."), wants_tool])
    async with running(provider) as (_, client, _, responses):
        calls = await offer_clock_tool(client)
        # An ordinary request first: the tool is offered and runs.
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="t1", text="time?"))
        answered = await responses.wait_for(lambda m: m.data.id == "t1")
        early = LLMRequest(id="t2-pre-1", text="time?", preemptive=True)
        await client.publish(TOPIC_LLM_REQUEST, early)
        deferred = await responses.wait_for(lambda m: m.data.id == "t2-pre-1")
    assert answered.data.reply == "It is noon."
    assert (deferred.data.error_code, deferred.data.reply) == ("tool_deferred", None)
    assert [t.name for t in provider.calls[2][2]] == ["mcp__clock__now"]  # offered all the same
    assert [c.data.request_id for c in calls] == ["t1"]


async def test_prompt_tokens_read_and_cached_are_counted() -> None:
    provider = ScriptedProvider([[TextDelta("Hi."), Finished("stop", Usage(40, 2, 32), "m1")]])
    async with running(provider) as (service, client, _, responses):
        assert service.bus.metrics.count("prompt_tokens_read") == 0
        await client.publish(TOPIC_LLM_REQUEST, LLMRequest(id="c1", text="hi"))
        await responses.wait_for(lambda m: m.data.id == "c1")
        assert service.bus.metrics.count("prompt_tokens_read") == 8
        assert service.bus.metrics.count("prompt_tokens_cached") == 32


def test_tools_keep_their_place_when_a_later_registry_adds_some_in_front() -> None:
    bridge = ToolBridge(MemoryBus("llm", MemoryBroker()), timeout_s=1.0)

    def registry(*names: str) -> ToolsRegistry:
        return ToolsRegistry(tools=[ToolSpec(function={"name": n}) for n in names])

    bridge.update(registry("mcp__camera__look"))
    assert [t.name for t in bridge.tools] == ["mcp__camera__look"]
    # The mcp service lists servers in config order: a late server comes first. Appended
    # instead, the tools section read so far stays a cached prefix.
    bridge.update(registry("mcp__character__get", "mcp__memory__recall", "mcp__camera__look"))
    names = ["mcp__camera__look", "mcp__character__get", "mcp__memory__recall"]
    assert [t.name for t in bridge.tools] == names
    bridge.update(registry("mcp__memory__recall", "mcp__movement__move"))
    assert [t.name for t in bridge.tools] == ["mcp__memory__recall", "mcp__movement__move"]


def test_params_overrides_are_merged_and_bad_ones_ignored() -> None:
    defaults = CompletionParams(model="a", max_tokens=100, temperature=0.7, top_p=1.0)
    merged = merge_params(defaults, {"model": "b", "max_tokens": 20, "temperature": 0})
    assert merged == CompletionParams(model="b", max_tokens=20, temperature=0.0, top_p=1.0)
    assert merge_params(defaults, {"max_tokens": "lots"}) == defaults


def test_memories_render_as_said_and_answered_lines() -> None:
    turn = {"user": "I parked on level 3.", "reply": "Noted.", "satellite": "local"}
    assert render_memory(turn) == "User said: I parked on level 3. / You answered: Noted."
    assert render_memory("My sister is Ana.") == "My sister is Ana."


def test_build_puts_the_model_under_the_runtime_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LLM_DATA_DIR", raising=False)
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1")
    service = build(RuntimeSettings(data_dir=tmp_path))
    assert service._settings.data_dir == tmp_path
