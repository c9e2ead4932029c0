"""Parsing prompted tool calls out of local-model replies."""

from __future__ import annotations

import pytest

from tars.services.llm.provider import ToolCall, ToolSchema
from tars.services.llm.toolparse import parse_tool_reply, tool_instructions

NAMES = ["get_weather", "set_volume"]


def test_fenced_json_call() -> None:
    reply = 'Sure.\n```json\n{"tool": "get_weather", "arguments": {"city": "Paris"}}\n```'
    parsed = parse_tool_reply(reply, NAMES, call_id="c7")
    assert parsed.call == ToolCall("c7", "get_weather", {"city": "Paris"})
    assert parsed.text == "Sure."
    assert not parsed.malformed


def test_bare_json_call_and_string_arguments() -> None:
    parsed = parse_tool_reply('{"tool": "set_volume", "arguments": "{\\"level\\": 3}"}', NAMES)
    assert parsed.call == ToolCall("call_0", "set_volume", {"level": 3})


def test_qwen_native_tag_form() -> None:
    reply = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    parsed = parse_tool_reply(reply, NAMES)
    assert parsed.call is not None
    assert parsed.call.name == "get_weather"
    assert parsed.call.arguments == {"city": "Oslo"}


def test_missing_arguments_mean_empty_arguments() -> None:
    parsed = parse_tool_reply('```\n{"tool": "get_weather"}\n```', NAMES)
    assert parsed.call == ToolCall("call_0", "get_weather", {})


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        ('```json\n{"tool": "none"}\n```', ""),
        ('{"tool": "none", "answer": "It is noon."}', "It is noon."),
        ("The capital of France is Paris.", "The capital of France is Paris."),
        ("```json\n[1, 2, 3]\n```", "```json\n[1, 2, 3]\n```"),  # a code block, not a call
    ],
)
def test_no_call(reply: str, text: str) -> None:
    parsed = parse_tool_reply(reply, NAMES)
    assert parsed.call is None
    assert parsed.text == text
    assert not parsed.malformed


@pytest.mark.parametrize(
    "reply",
    [
        '```json\n{"tool": "get_weather", "arguments": {"city": \n```',  # cut off
        '{"tool": "launch_rockets", "arguments": {}}',  # not offered
        '```json\n{"tool": "get_weather", "arguments": [1, 2]}\n```',  # not an object
    ],
)
def test_malformed_or_unknown_is_not_a_call(reply: str) -> None:
    parsed = parse_tool_reply(reply, NAMES)
    assert parsed.call is None
    assert parsed.malformed


def test_instructions_list_every_tool_and_the_format() -> None:
    text = tool_instructions(
        [ToolSchema("get_weather", "Forecast.", {"type": "object", "properties": {}})]
    )
    assert "- get_weather: Forecast." in text
    assert '{"tool": "<tool name>", "arguments": {<arguments>}}' in text
    assert '"none"' in text


def test_a_dropped_registry_prefix_is_resolved_when_unambiguous() -> None:
    names = ["mcp__movement__move", "mcp__movement__stop_movement", "mcp__a__look", "mcp__b__look"]
    moved = parse_tool_reply('{"tool": "move", "arguments": {"action": "wave"}}', names)
    assert moved.call is not None
    assert moved.call.name == "mcp__movement__move"
    ambiguous = parse_tool_reply('{"tool": "look", "arguments": {}}', names)
    assert ambiguous.call is None
    assert ambiguous.malformed
