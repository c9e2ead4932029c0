"""EmbeddedProvider: thread bridge, cancellation, queueing and prompted tools (fake model)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from tars.services.llm.budget import MEMORY_FOOTER, MEMORY_HEADER
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.errors import ErrorCode, LLMError, ModelUnavailableError
from tars.services.llm.localmodel import LocalChunk, OnChunk
from tars.services.llm.localprompt import to_local_messages, without_tools
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

PARAMS = CompletionParams(model="ignored", max_tokens=64)
ASK = [ChatMessage("system", "You are TARS."), ChatMessage("user", "Hi")]
WEATHER = ToolSchema("get_weather", "Forecast for a city.")


class FakeModel:
    """Yields scripted replies token by token, sleeping like a real model would."""

    model_name = "fake-gguf"

    def __init__(self, replies: Sequence[Sequence[str]], token_s: float = 0.0) -> None:
        self.replies = list(replies)
        self.token_s = token_s
        self.prompts: list[list[dict[str, str]]] = []
        self.threads: set[str] = set()
        self.active = 0
        self.max_active = 0
        self.closed_early = threading.Event()
        self.tokens_made = 0
        self.closed = False

    def generate(
        self, messages: Sequence[dict[str, str]], params: CompletionParams, on_chunk: OnChunk
    ) -> None:
        self.prompts.append(list(messages))
        self.threads.add(threading.current_thread().name)
        tokens = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            # A progress tick first, as llama.cpp gives while it reads the prompt.
            if on_chunk(LocalChunk("")):
                self.closed_early.set()
                return
            for token in tokens:
                time.sleep(self.token_s)
                self.tokens_made += 1
                if on_chunk(LocalChunk(token)):
                    self.closed_early.set()
                    return
            on_chunk(LocalChunk("", "stop", Usage(len(str(messages)) // 4, len(tokens))))
        finally:
            self.active -= 1

    def close(self) -> None:
        self.closed = True


def _provider(model: FakeModel, total_timeout_s: float = 30.0) -> EmbeddedProvider:
    return EmbeddedProvider(lambda: model, total_timeout_s=total_timeout_s)


async def _collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


async def test_streams_tokens_then_finished_off_the_event_loop() -> None:
    model = FakeModel([["The ", "capital ", "is ", "Paris."]])
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS))
    finally:
        await provider.aclose()
    assert events[:-1] == [
        TextDelta("The "),
        TextDelta("capital "),
        TextDelta("is "),
        TextDelta("Paris."),
    ]
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.finish_reason == "stop"
    assert finished.usage is not None
    assert finished.usage.completion_tokens == 4
    assert finished.model == "fake-gguf"
    assert model.threads
    assert all(n.startswith("llm-embedded") for n in model.threads)
    assert model.prompts[0] == [
        {"role": "system", "content": "You are TARS."},
        {"role": "user", "content": "Hi"},
    ]


async def test_cancel_stops_the_generation_thread_promptly() -> None:
    model = FakeModel([[f"t{i} " for i in range(500)]], token_s=0.01)
    provider = _provider(model)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(ASK, PARAMS):
            first.set()

    task = asyncio.create_task(consume(), name="consume-embedded")
    try:
        await asyncio.wait_for(first.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stopped = await asyncio.to_thread(model.closed_early.wait, 2.0)
    finally:
        await provider.aclose()
    assert stopped
    assert model.tokens_made < 500


async def test_concurrent_requests_queue_on_the_one_model() -> None:
    model = FakeModel([["a", "b", "c"]], token_s=0.02)
    provider = _provider(model)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(_collect(provider.stream(ASK, PARAMS)), name=f"req-{n}")
                for n in range(3)
            ]
    finally:
        await provider.aclose()
    for task in tasks:
        texts = [e.text for e in task.result() if isinstance(e, TextDelta)]
        assert texts == ["a", "b", "c"]
    assert model.max_active == 1


async def test_total_deadline_gives_timeout_and_stops_the_thread() -> None:
    model = FakeModel([[f"t{i}" for i in range(500)]], token_s=0.01)
    provider = _provider(model, total_timeout_s=0.2)
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider.stream(ASK, PARAMS))
        stopped = await asyncio.to_thread(model.closed_early.wait, 2.0)
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.TIMEOUT
    assert stopped


async def test_engine_failure_becomes_bad_response() -> None:
    class Broken(FakeModel):
        def generate(
            self, messages: Sequence[dict[str, str]], params: CompletionParams, on_chunk: OnChunk
        ) -> None:
            on_chunk(LocalChunk("par"))
            raise RuntimeError("kv cache exploded")

    provider = _provider(Broken([["x"]]))
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider.stream(ASK, PARAMS))
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.BAD_RESPONSE
    assert "kv cache exploded" in caught.value.message


async def test_load_failure_is_model_unavailable() -> None:
    def load() -> FakeModel:
        raise ModelUnavailableError("no such file")

    provider = EmbeddedProvider(load)
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider.stream(ASK, PARAMS))
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.MODEL_UNAVAILABLE


async def test_prompted_tool_call_is_parsed_and_never_streamed_as_text() -> None:
    model = FakeModel(
        [["```json\n", '{"tool": "get_weather", ', '"arguments": {"city": "Rome"}}', "\n```"]]
    )
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS, [WEATHER]))
    finally:
        await provider.aclose()
    assert events[0] == ToolCallsReady((ToolCall("call_0", "get_weather", {"city": "Rome"}),))
    assert isinstance(events[1], Finished)
    assert events[1].finish_reason == "tool_calls"
    assert len(events) == 2
    system = model.prompts[0][0]["content"]
    assert system.startswith("You are TARS.")
    assert "- get_weather: Forecast for a city." in system


async def test_plain_answer_with_tools_offered_still_streams() -> None:
    model = FakeModel([["  It ", "is ", "sunny."]])
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS, [WEATHER]))
    finally:
        await provider.aclose()
    assert events[:-1] == [TextDelta("  It "), TextDelta("is "), TextDelta("sunny.")]


async def test_explicit_none_asks_again_after_the_same_prompt() -> None:
    model = FakeModel([['{"tool": "none"}'], ["Hello ", "there."]])
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS, [WEATHER]))
    finally:
        await provider.aclose()
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("Hello "),
        TextDelta("there."),
    ]
    first, retry = model.prompts
    # The first prompt, tools section included, is the start of the second: the runtime's
    # cached prefix covers it, and the next request still finds the tools cached.
    assert "## Tools" in first[0]["content"]
    assert retry[: len(first)] == first
    assert retry[len(first)] == {"role": "assistant", "content": '{"tool": "none"}'}
    assert retry[-1]["role"] == "user"


async def test_a_second_empty_choice_regenerates_without_tools() -> None:
    model = FakeModel([['{"tool": "none"}'], ['{"tool": "none"}'], ["Hello."]])
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS, [WEATHER]))
    finally:
        await provider.aclose()
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hello.")]
    assert len(model.prompts) == 3
    assert model.prompts[2][0]["content"] == "You are TARS."


async def test_an_answer_wrapped_in_json_on_the_second_try_is_spoken() -> None:
    model = FakeModel([['{"tool": "none"}'], ['{"tool": "none", "answer": "Paris."}']])
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS, [WEATHER]))
    finally:
        await provider.aclose()
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Paris.")]
    assert len(model.prompts) == 2


def test_local_messages_render_tool_turns_for_plain_chat_templates() -> None:
    call = ToolCall("c1", "get_weather", {"city": "Rome"})
    local = to_local_messages(
        [
            ChatMessage("user", "Weather?"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", "sunny", tool_call_id="c1"),
        ],
        [WEATHER],
    )
    assert local[0]["role"] == "system"
    assert "get_weather" in local[0]["content"]
    # In plain words: a small model copies JSON from its history into the spoken answer.
    assert local[2] == {
        "role": "assistant",
        "content": "(I used the tool get_weather with city Rome.)",
    }
    assert local[3] == {
        "role": "user",
        "content": "(The tool answered: sunny. Tell me in one short sentence.)",
    }


def test_memories_go_just_before_the_question_so_persona_tools_and_history_stay_cached() -> None:
    memories = MEMORY_HEADER + "- The dog is called Biscuit." + MEMORY_FOOTER
    history = [ChatMessage("user", "Hello."), ChatMessage("assistant", "Hi.")]
    call = ToolCall("c1", "get_weather", {"city": "Rome"})
    messages = [
        ChatMessage("system", "You are TARS." + memories),
        *history,
        ChatMessage("user", "What is my dog called?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "sunny", tool_call_id="c1"),
    ]
    local = to_local_messages(messages, [WEATHER])
    assert local[0]["content"].startswith("You are TARS.\n\n## Tools\n")
    assert "Biscuit" not in local[0]["content"]
    assert local[1:3] == [
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Hi."},
    ]
    # Before the question, not before the latest message: a tool round keeps the prefix.
    assert local[3] == {"role": "system", "content": memories.strip()}
    assert local[4] == {"role": "user", "content": "What is my dog called?"}
    assert without_tools(local)[0] == {"role": "system", "content": "You are TARS."}
    assert without_tools(local)[1:] == local[1:]


def test_memories_without_a_persona_stay_the_system_prompt() -> None:
    memories = MEMORY_HEADER + "- The dog is called Biscuit." + MEMORY_FOOTER
    local = to_local_messages([ChatMessage("system", memories), ChatMessage("user", "Hi")], [])
    assert local == [
        {"role": "system", "content": memories.strip()},
        {"role": "user", "content": "Hi"},
    ]


async def test_an_owned_model_is_closed_with_the_provider() -> None:
    model = FakeModel([["a"]])
    provider = EmbeddedProvider(lambda: model, owns_model=True)
    await _collect(provider.stream(ASK, PARAMS))
    await provider.aclose()
    await provider.aclose()
    assert model.closed


async def test_a_shared_model_is_left_open() -> None:
    model = FakeModel([["a"]])
    provider = _provider(model)
    await _collect(provider.stream(ASK, PARAMS))
    await provider.aclose()
    assert not model.closed


async def test_progress_ticks_are_not_relayed() -> None:
    model = FakeModel([["", "Hi", ""]])
    provider = _provider(model)
    try:
        events = await _collect(provider.stream(ASK, PARAMS))
    finally:
        await provider.aclose()
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hi")]


async def test_finish_reason_and_usage_may_come_in_separate_chunks() -> None:
    class SplitEnd(FakeModel):
        def generate(
            self, messages: Sequence[dict[str, str]], params: CompletionParams, on_chunk: OnChunk
        ) -> None:
            on_chunk(LocalChunk("cut"))
            on_chunk(LocalChunk("", "length"))
            on_chunk(LocalChunk("", None, Usage(12, 1)))

    provider = _provider(SplitEnd([["x"]]))
    try:
        events = await _collect(provider.stream(ASK, PARAMS))
    finally:
        await provider.aclose()
    assert events[-1] == Finished("length", Usage(12, 1), "fake-gguf")
