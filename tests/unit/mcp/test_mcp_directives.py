"""Directives: only allowlisted topics, only valid payloads, only known request topics."""

from __future__ import annotations

from typing import Any

import pytest

from tars.contracts.memory import MemoryQuery
from tars.contracts.movement import MovementCommand
from tars.services.mcp.directives import DirectiveRefused, Directives, parse


def check(block: Any) -> Directives:
    return parse(
        block,
        server="body",
        publish_allowed=frozenset({"movement/command"}),
        requests_allowed=frozenset({"memory/query"}),
        timeout_s=5,
    )


def test_allowed_publish_and_request_are_validated_models() -> None:
    wanted = check(
        {
            "publish": [{"topic": "movement/command", "data": {"command": "wave"}}],
            "request": {"topic": "memory/query", "data": {"text": "sister"}},
        }
    )
    assert isinstance(wanted.publish[0].data, MovementCommand)
    assert wanted.request is not None
    assert isinstance(wanted.request.data, MemoryQuery)
    assert (wanted.request.reply_topic, wanted.request.timeout_s) == ("memory/results", 5)


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ({"publish": [{"topic": "tts/say", "data": {"text": "hi"}}]}, "may not publish to tts/say"),
        ({"publish": [{"topic": "system/health/router", "data": {"ok": False}}]}, "may not"),
        ({"publish": [{"topic": "movement/command", "data": {"command": "fly"}}]}, "invalid"),
        ({"request": {"topic": "camera/capture", "data": {}}}, "may not send requests"),
        ({"publish": "movement/command"}, "must be a list"),
        ({"publish": [{"data": {}}]}, "needs a topic"),
        ({"shell": "rm -rf /"}, "malformed"),
        ("nope", "malformed"),
    ],
)
def test_everything_else_is_refused(block: Any, needle: str) -> None:
    with pytest.raises(DirectiveRefused, match=needle):
        check(block)


def test_too_many_publishes_are_refused() -> None:
    item = {"topic": "movement/command", "data": {"command": "wave"}}
    with pytest.raises(DirectiveRefused, match="at most 4"):
        check({"publish": [item] * 5})
