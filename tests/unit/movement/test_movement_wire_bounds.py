"""Hostile movement commands are refused with a reason, never an exception (found by fuzz)."""

from __future__ import annotations

import pytest

from tars.services.movement.wire import MAX_COMMAND_BYTES, InvalidCommand, parse_command


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 50_000 + b"]" * 50_000,  # json.loads would raise RecursionError
        b'{"id": "x", "data": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
    ],
)
def test_deeply_nested_command_is_refused_as_not_json(payload: bytes) -> None:
    if len(payload) > MAX_COMMAND_BYTES:
        payload = payload[: MAX_COMMAND_BYTES // 2]
    with pytest.raises(InvalidCommand):
        parse_command(payload)


def test_oversized_command_is_refused_before_it_is_parsed() -> None:
    huge = b'{"id": "big", "command": "wave", "pad": "' + b"x" * MAX_COMMAND_BYTES + b'"}'
    with pytest.raises(InvalidCommand, match="too large") as refused:
        parse_command(huge)
    assert refused.value.request_id is None  # not peeked into: no parse at all
