"""OpenAICompatProvider against a real local HTTP server that streams scripted replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import pytest
from pydantic import SecretStr
from tests.support.openai_server import (
    OpenAIServer,
    Reply,
    chunk,
    completion_json,
    text_stream,
    tool_call_stream,
)

from tars.services.llm.errors import ErrorCode, LLMError
from tars.services.llm.openai_compat import HttpTimeouts, OpenAICompatProvider
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

PARAMS = CompletionParams(model="test-model", max_tokens=32, temperature=0.0)
MESSAGES = (ChatMessage("system", "Be brief."), ChatMessage("user", "Hello?"))


def _provider(server: OpenAIServer, **timeouts: float) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        server.base_url,
        api_key=SecretStr("sk-test-secret"),
        timeouts=HttpTimeouts(**{"connect_s": 2.0, "read_s": 2.0, "total_s": 10.0, **timeouts}),
    )


async def _collect(
    provider: OpenAICompatProvider, tools: Sequence[ToolSchema] = ()
) -> list[StreamEvent]:
    return [event async for event in provider.stream(MESSAGES, PARAMS, tools)]


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as srv:
        yield srv


async def test_streams_deltas_in_order_with_usage(server: OpenAIServer) -> None:
    server.add(text_stream(["Hel", "lo", " there"], usage=(12, 3)))
    provider = _provider(server)
    try:
        events = await _collect(provider)
    finally:
        await provider.aclose()

    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" there"),
        Finished(finish_reason="stop", usage=Usage(12, 3), model="test-model"),
    ]
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-secret"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello?"},
    ]
    assert request.body["max_tokens"] == 32
    assert "tools" not in request.body
    assert not request.closed_early.is_set()


async def test_api_key_is_not_in_repr() -> None:
    provider = OpenAICompatProvider("http://127.0.0.1:9/v1", api_key=SecretStr("sk-hidden"))
    try:
        assert "sk-hidden" not in repr(provider.__dict__)
    finally:
        await provider.aclose()


async def test_cancel_mid_stream_closes_the_connection(server: OpenAIServer) -> None:
    server.add(text_stream([f"w{i} " for i in range(200)], delay_s=0.02))
    provider = _provider(server)
    first = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream(MESSAGES, PARAMS):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume(), name="consume-stream")
    try:
        await asyncio.wait_for(first.wait(), timeout=5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.requests[0].closed_early.wait(), timeout=5)
    finally:
        await provider.aclose()
    assert not server.requests[0].completed.is_set()


async def test_stalled_stream_fails_with_timeout(server: OpenAIServer) -> None:
    server.add(text_stream(["a", "b", "c"], stall_after=1))
    provider = _provider(server, read_s=0.5)
    received: list[StreamEvent] = []

    async def consume() -> None:
        async for event in provider.stream(MESSAGES, PARAMS):
            received.append(event)

    started = time.monotonic()
    try:
        with pytest.raises(LLMError) as caught:
            await consume()
    finally:
        await provider.aclose()
    elapsed = time.monotonic() - started

    assert caught.value.code == ErrorCode.TIMEOUT
    assert received == [TextDelta("a")]
    print(f"stall detected after {elapsed:.2f} s (read timeout 0.5 s)")
    await asyncio.wait_for(server.requests[0].closed_early.wait(), timeout=5)


async def test_total_deadline_fails_with_timeout(server: OpenAIServer) -> None:
    # Chunks keep coming (read timeout never fires) but the whole reply is too slow.
    server.add(text_stream([f"w{i}" for i in range(100)], delay_s=0.05))
    provider = _provider(server, read_s=2.0, total_s=0.4)
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider)
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.TIMEOUT
    assert "deadline" in caught.value.message


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (401, True)])
async def test_http_error_status(server: OpenAIServer, status: int, permanent: bool) -> None:
    server.add(Reply(status=status, json_body={"error": {"message": "nope, said the server"}}))
    provider = _provider(server)
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider)
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.HTTP_STATUS
    assert caught.value.permanent is permanent
    assert "nope, said the server" in caught.value.message
    assert str(status) in caught.value.message


async def test_connection_refused_is_a_connection_error() -> None:
    async with OpenAIServer() as srv:
        url = srv.base_url
    # The server is gone now, so its port refuses connections.
    provider = OpenAICompatProvider(url, timeouts=HttpTimeouts(connect_s=2, read_s=2, total_s=5))
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider)
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.CONNECTION


async def test_three_concurrent_streams_all_complete(server: OpenAIServer) -> None:
    for n in range(3):
        server.add(text_stream([f"r{n}-{i} " for i in range(5)], delay_s=0.05))
    provider = _provider(server)

    async def text_of() -> str:
        events = await _collect(provider)
        assert isinstance(events[-1], Finished)
        return "".join(e.text for e in events if isinstance(e, TextDelta))

    started = time.monotonic()
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(text_of(), name=f"stream-{n}") for n in range(3)]
    finally:
        await provider.aclose()
    texts = sorted(task.result() for task in tasks)
    print(f"3 concurrent streams of 5 x 50 ms chunks took {time.monotonic() - started:.2f} s")

    assert texts == [" ".join(f"r{n}-{i}" for i in range(5)) + " " for n in range(3)]
    assert len(server.requests) == 3


async def test_tool_call_assembled_from_fragments(server: OpenAIServer) -> None:
    server.add(tool_call_stream("get_weather", ['{"ci', 'ty": "Par', 'is", "days": 2}']))
    tool = ToolSchema(
        "get_weather",
        "Weather forecast for a city.",
        {"type": "object", "properties": {"city": {"type": "string"}}},
    )
    provider = _provider(server)
    try:
        events = await _collect(provider, [tool])
    finally:
        await provider.aclose()

    assert events[0] == ToolCallsReady(
        (ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris", "days": 2}),)
    )
    assert isinstance(events[1], Finished)
    assert events[1].finish_reason == "tool_calls"
    assert server.requests[0].body["tools"] == [tool.to_openai()]


async def test_tool_round_trip_messages_are_sent_in_openai_form(server: OpenAIServer) -> None:
    server.add(text_stream(["It is sunny."]))
    call = ToolCall(id="call_9", name="get_weather", arguments={"city": "Paris"})
    messages = [
        ChatMessage("user", "Weather?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", '{"sky": "clear"}', tool_call_id="call_9"),
    ]
    provider = _provider(server)
    try:
        _ = [e async for e in provider.stream(messages, PARAMS)]
    finally:
        await provider.aclose()

    sent = server.requests[0].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert sent[2] == {"role": "tool", "content": '{"sky": "clear"}', "tool_call_id": "call_9"}


async def test_non_streamed_json_reply_is_accepted(server: OpenAIServer) -> None:
    server.add(Reply(json_body=completion_json("Paris.")))
    provider = _provider(server)
    try:
        events = await _collect(provider)
    finally:
        await provider.aclose()
    assert events == [
        TextDelta("Paris."),
        Finished(finish_reason="stop", usage=Usage(5, 2), model="test-model"),
    ]


async def test_garbage_chunk_is_a_bad_response(server: OpenAIServer) -> None:
    server.add(Reply(chunks=[chunk("ok"), "{not json"]))
    provider = _provider(server)
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider)
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.BAD_RESPONSE


async def test_stream_cut_before_finish_is_a_connection_error(server: OpenAIServer) -> None:
    server.add(Reply(chunks=[chunk("partial")], done=False))
    provider = _provider(server)
    try:
        with pytest.raises(LLMError) as caught:
            await _collect(provider)
    finally:
        await provider.aclose()
    assert caught.value.code == ErrorCode.CONNECTION
