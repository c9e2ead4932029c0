"""Movement contracts accept the firmware's own forms and refuse invalid commands."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tars.contracts import movement as mv
from tars.contracts.codec import ContractError, decode


def test_firmware_frame_with_tick_channels_is_accepted() -> None:
    payload = json.dumps({"ch0": 300, "ch1": 250, "ch15": 410, "timestamp": 12.5}).encode()
    frame = decode(mv.TOPIC_MOVEMENT_FRAME, payload).data
    assert isinstance(frame, mv.MovementFrame)
    assert frame.channels() == {0: 300, 1: 250, 15: 410}


@pytest.mark.parametrize(
    "document",
    [
        {"channels": {"0": 1500}},  # the old microsecond form the firmware never read
        {"ch0": 5000},  # beyond the PCA9685's 12 bits
        {"ch3": -1},  # ticks are never negative
        {"ch16": 300},  # the PCA9685 has 16 channels
    ],
)
def test_invalid_frames_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ContractError):
        decode(mv.TOPIC_MOVEMENT_FRAME, json.dumps(document).encode())


@pytest.mark.parametrize(
    "document",
    [
        {"event": "frame_applied", "timestamp": 1.0, "channels": 3},
        {"event": "command_queued", "timestamp": 1.0, "command": "wave", "speed": 0.8,
         "queue_size": 1},
        {"event": "command_error", "timestamp": 1.0, "error": "invalid_format"},
        {"event": "stopped", "timestamp": 1.0, "reason": "emergency_stop_command"},
        {"event": "firmware_online", "timestamp": 1.0},
        {"event": "error", "timestamp": 1.0, "error": "mqtt_wait_failed", "detail": "EOF"},
    ],
)  # fmt: skip
def test_firmware_state_forms_are_accepted(document: dict[str, object]) -> None:
    state = decode(mv.TOPIC_MOVEMENT_STATE, json.dumps(document).encode()).data
    assert state.event == document["event"]


def test_firmware_status_with_its_message_id_is_accepted() -> None:
    document = {"event": "command_completed", "message_id": "esp32_123", "timestamp": 2.0,
                "command": "wave", "request_id": "r1"}  # fmt: skip
    status = decode(mv.TOPIC_MOVEMENT_STATUS, json.dumps(document).encode()).data
    assert (status.event, status.request_id, status.message_id) == (
        "command_completed",
        "r1",
        "esp32_123",
    )


def test_one_vocabulary_everywhere() -> None:
    assert set(mv.MOVEMENT_ACTIONS) >= {
        "step_forward", "step_backward", "turn_left", "turn_right", "wave", "bow", "laugh",
        "pose", "balance", "reset", "stop",
    }  # fmt: skip
    assert mv.TestMovementCommand is mv.MovementAction


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"command": "fly"}, "command"),
        ({"command": "wave", "speed": 5.0}, "speed"),
        ({"command": "wave", "speed": 0.0}, "speed"),
        ({"command": "wave", "params": {"height_percent": 50}}, "takes no parameters"),
        ({"command": "move_legs", "params": {"height_percent": 500, "left_percent": 5,
                                             "right_percent": 5}}, "height_percent"),
        ({"command": "move_arm", "params": {}}, "at least one arm joint"),
    ],
)  # fmt: skip
def test_invalid_commands_are_refused(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        mv.MovementCommand.model_validate(fields)


def test_manual_commands_take_their_parameters() -> None:
    legs = mv.MovementCommand(
        command="move_legs",
        params={"height_percent": 50, "left_percent": 40, "right_percent": 60},
    )
    arm = mv.TestMovementRequest(command="move_arm", params={"port_main": 80})
    assert legs.params["left_percent"] == 40
    assert arm.params == {"port_main": 80}
