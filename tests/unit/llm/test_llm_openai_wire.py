"""SSE decoding and chunk assembly details not covered through the server tests."""

from __future__ import annotations

import pytest

from tars.services.llm.errors import ErrorCode, LLMError
from tars.services.llm.openai_wire import ChunkAssembler, SseDecoder
from tars.services.llm.provider import Finished, ToolCall, ToolCallsReady, Usage


def test_sse_joins_multiline_data_and_skips_comments() -> None:
    decoder = SseDecoder()
    out: list[str] = []
    for line in [": keep-alive", "event: message", 'data: {"a":', "data: 1}", "", "data:x"]:
        out += decoder.feed(line)
    out += decoder.flush()
    assert out == ['{"a":\n1}', "x"]


def test_whole_tool_calls_without_index_are_accepted() -> None:
    # Ollama's form: complete calls, arguments as an object, no index.
    assembler = ChunkAssembler()
    chunk = {
        "choices": [
            {
                "delta": {
                    "tool_calls": [
                        {"id": "a", "function": {"name": "f", "arguments": {"x": 1}}},
                        {"id": "b", "function": {"name": "g", "arguments": "{}"}},
                    ]
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    assert list(assembler.feed(chunk)) == []
    ready = next(iter(assembler.finish()))
    assert ready == ToolCallsReady((ToolCall("a", "f", {"x": 1}), ToolCall("b", "g", {})))


def test_bad_tool_arguments_are_a_bad_response() -> None:
    assembler = ChunkAssembler()
    fragment = {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{oops"}}
    list(assembler.feed({"choices": [{"delta": {"tool_calls": [fragment]}}]}))
    with pytest.raises(LLMError) as caught:
        list(assembler.finish())
    assert caught.value.code == ErrorCode.BAD_RESPONSE


def test_error_object_in_stream_is_a_bad_response() -> None:
    with pytest.raises(LLMError) as caught:
        list(ChunkAssembler().feed({"error": {"message": "model overloaded"}}))
    assert "model overloaded" in caught.value.message


def test_usage_keeps_the_cached_prompt_tokens() -> None:
    assembler = ChunkAssembler()
    usage = {
        "prompt_tokens": 40,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 32},
    }
    list(assembler.feed({"choices": [], "usage": usage}))
    finished = list(assembler.finish())[-1]
    assert isinstance(finished, Finished)
    assert finished.usage == Usage(40, 3, cached_tokens=32)
