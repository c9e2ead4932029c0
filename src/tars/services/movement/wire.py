"""The movement wire: parsing ``movement/command`` and the ESP32 firmware's bare JSON.

The MicroPython firmware reads top-level fields (``{"command": "wave", "speed": 0.8}``), so
everything sent to it is the bare model; everything it sends back is bare too, and the
contracts accept those forms. No MQTT here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from tars.contracts.codec import ContractError, decode
from tars.contracts.movement import TOPIC_MOVEMENT_COMMAND, MovementCommand, TestMovementRequest

MAX_COMMAND_BYTES = 4096
"""Largest ``movement/command`` payload looked at; anything bigger is refused unread."""


class InvalidCommand(ValueError):
    """A ``movement/command`` that must not reach the servos.

    Attributes:
        detail: Why, in a short readable sentence.
        request_id: The command's id, when it could be read.
        command: The command's name, when it could be read.
    """

    def __init__(self, detail: str, request_id: str | None, command: str | None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.request_id = request_id
        self.command = command


def parse_command(payload: bytes, properties: Mapping[str, str] | None = None) -> MovementCommand:
    """Decode one ``movement/command`` through the contract (enveloped or bare JSON).

    Raises:
        InvalidCommand: it is not a valid command; the detail says what is wrong.
    """
    if len(payload) > MAX_COMMAND_BYTES:
        # Refused before parsing: a huge payload costs a length check, not a parse.
        raise InvalidCommand(f"payload of {len(payload)} bytes is too large", None, None)
    request_id, command = peek(payload)
    try:
        data = decode(TOPIC_MOVEMENT_COMMAND, payload, properties).data
    except ContractError as err:
        raise InvalidCommand(_friendly(payload) or err.detail, request_id, command) from err
    assert isinstance(data, MovementCommand)
    return data


def _friendly(payload: bytes) -> str | None:
    """Validate again outside the envelope to name the offending field plainly."""
    try:
        document: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "not JSON"
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = document["data"]
    try:
        MovementCommand.model_validate(document)
    except ValidationError as err:
        return describe_error(err)
    return None


def firmware_json(model: BaseModel) -> bytes:
    """The bare JSON the firmware reads (fields that are None left out)."""
    return model.model_dump_json(exclude_none=True).encode()


def to_firmware(command: MovementCommand) -> TestMovementRequest:
    """The firmware request for a validated command (its id becomes ``request_id``)."""
    return TestMovementRequest(
        command=command.command,
        speed=command.speed,
        params=dict(command.params),
        request_id=command.id,
    )


def describe_error(error: ValidationError) -> str:
    """A short, readable reason a command was invalid (``command: unknown action 'fly'``)."""
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(piece) for piece in item["loc"]) or "payload"
        if item["type"] == "literal_error" and location == "command":
            parts.append(f"command: unknown action {item['input']!r}")
        else:
            parts.append(f"{location}: {item['msg']}")
    return "; ".join(parts)


def peek(payload: bytes) -> tuple[str | None, str | None]:
    """Best-effort ``(id, command)`` of an invalid command, to label its refusal.

    Looks inside an envelope (``data``) too; anything unreadable gives None.
    """
    try:
        document: Any = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: RecursionError
        return None, None
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = document["data"]
    if not isinstance(document, dict):
        return None, None
    ident = document.get("id") or document.get("request_id")
    command = document.get("command")
    return (
        str(ident)[:64] if isinstance(ident, str) else None,
        str(command)[:64] if isinstance(command, str) else None,
    )
