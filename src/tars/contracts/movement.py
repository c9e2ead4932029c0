"""Servo movement: commands, the ESP32 controller's raw forms, and its status.

The movement vocabulary is defined here once (:data:`MovementAction`, the commands the ESP32
firmware accepts) and every other part (router rules, the MCP movement tool, the movement
service, the simulator) takes it from here.

Flow: producers (router rules, the mcp movement tool, UIs) publish :class:`MovementCommand`
on ``movement/command``; the movement service validates and rate-limits it and forwards a
bare :class:`TestMovementRequest` on ``movement/test``, the JSON the MicroPython firmware
reads. ``movement/stop`` goes straight to the controller and always wins. The firmware
answers with bare JSON on ``movement/state`` (:class:`MovementState`) and
``movement/status`` (:class:`MovementStatusUpdate`).
"""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import Field, model_validator

from tars.contracts.base import Model, Payload, SatelliteId, new_id, now

TOPIC_MOVEMENT_TEST = "movement/test"
TOPIC_MOVEMENT_STOP = "movement/stop"
TOPIC_MOVEMENT_STATUS = "movement/status"
TOPIC_MOVEMENT_COMMAND = "movement/command"
TOPIC_MOVEMENT_FRAME = "movement/frame"
TOPIC_MOVEMENT_STATE = "movement/state"

CoreAction = Literal[
    "step_forward", "step_backward", "turn_left", "turn_right", "wave", "bow", "laugh", "pose",
    "balance", "reset",
]  # fmt: skip
"""The everyday movements, offered by voice rules and to the LLM (stop is separate)."""
MovementAction = Literal[
    CoreAction, "swing_legs", "pezz", "pezz_dispenser", "now", "mic_drop", "monster",
    "disable", "stop", "move_legs", "move_arm",
]  # fmt: skip
"""Every command the ESP32 firmware executes (its own validation list)."""
CORE_ACTIONS: tuple[str, ...] = typing.get_args(CoreAction)
"""The everyday movements as a tuple."""
MOVEMENT_ACTIONS: tuple[str, ...] = typing.get_args(MovementAction)
"""The whole vocabulary as a tuple."""
TestMovementCommand = MovementAction
"""py-tars name of the vocabulary."""

MIN_SPEED = 0.1
"""Slowest speed factor the firmware accepts."""
MAX_SPEED = 1.0
"""Fastest speed factor the firmware accepts."""
PCA9685_MAX_TICKS = 4095
"""Largest PWM tick value of the 12-bit PCA9685 servo driver."""


class MoveLegsParams(Model):
    """Leg positions for ``move_legs``, percent of each servo's range."""

    height_percent: float = Field(ge=1, le=100)
    """Leg height, 1-100 %."""
    left_percent: float = Field(ge=1, le=100)
    """Left leg, 1-100 % (forward to back)."""
    right_percent: float = Field(ge=1, le=100)
    """Right leg, 1-100 % (forward to back)."""


class MoveArmParams(Model):
    """Arm joint positions for ``move_arm``, percent of each servo's range (at least one)."""

    port_main: float | None = Field(default=None, ge=1, le=100)
    """Right shoulder, 1-100 %."""
    port_forearm: float | None = Field(default=None, ge=1, le=100)
    """Right forearm, 1-100 %."""
    port_hand: float | None = Field(default=None, ge=1, le=100)
    """Right hand, 1-100 %."""
    star_main: float | None = Field(default=None, ge=1, le=100)
    """Left shoulder, 1-100 %."""
    star_forearm: float | None = Field(default=None, ge=1, le=100)
    """Left forearm, 1-100 %."""
    star_hand: float | None = Field(default=None, ge=1, le=100)
    """Left hand, 1-100 %."""

    @model_validator(mode="after")
    def _one_joint(self) -> MoveArmParams:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("at least one arm joint must be given")
        return self


def check_params(command: str, params: dict[str, Any]) -> None:
    """Validate ``params`` for ``command``: only move_legs and move_arm take any.

    Raises:
        ValueError: parameters that the firmware would reject.
    """
    if command == "move_legs":
        MoveLegsParams.model_validate(params)
    elif command == "move_arm":
        MoveArmParams.model_validate(params)
    elif params:
        raise ValueError(f"{command} takes no parameters")


class MovementCommand(Payload):
    """A movement for the movement service to validate and forward (``movement/command``)."""

    id: str = Field(default_factory=new_id, max_length=64)
    """Command id, echoed as ``request_id`` in the controller's status updates."""
    command: MovementAction
    """Which movement."""
    speed: float = Field(default=1.0, ge=MIN_SPEED, le=MAX_SPEED)
    """Speed factor, 0.1-1.0."""
    params: dict[str, Any] = Field(default_factory=dict, max_length=8)
    """Percent positions for move_legs / move_arm; empty for the others."""
    satellite: SatelliteId | None = None
    """Where the request was spoken, if it was."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""

    @model_validator(mode="after")
    def _params_fit(self) -> MovementCommand:
        check_params(self.command, self.params)
        return self


class TestMovementRequest(Payload):
    """A named movement for the ESP32 controller, the bare JSON its firmware reads."""

    __test__ = False  # not a pytest test class despite its name

    command: MovementAction
    """Which movement."""
    speed: float = Field(default=1.0, ge=MIN_SPEED, le=MAX_SPEED)
    """Speed factor."""
    params: dict[str, Any] = Field(default_factory=dict, max_length=8)
    """Movement parameters (move_legs / move_arm percentages)."""
    request_id: str | None = Field(default=None, max_length=64)
    """Id echoed in status updates."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""

    @model_validator(mode="after")
    def _params_fit(self) -> TestMovementRequest:
        check_params(self.command, self.params)
        return self


MovementStatusEvent = Literal[
    "connected", "disconnected", "command_started", "command_completed", "command_failed",
    "emergency_stop", "stop_cleared", "queue_full", "battery_low",
]  # fmt: skip


class MovementStatusUpdate(Payload):
    """Status of a command, from the controller (or the movement service when it refuses one)."""

    event: MovementStatusEvent
    """What happened."""
    command: str | None = Field(default=None, max_length=64)
    """Command concerned."""
    detail: str | None = Field(default=None, max_length=1000)
    """Extra information (why a command failed or was refused)."""
    request_id: str | None = Field(default=None, max_length=64)
    """Request concerned."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class EmergencyStopCommand(Payload):
    """Stop every movement and release the servos (always wins)."""

    reason: str | None = Field(default=None, max_length=200)
    """Why."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class MovementFrame(Payload):
    """Raw servo positions as the firmware applies them: ``ch0``..``ch15`` in PCA9685 ticks.

    Channels left out keep their position (an empty frame changes nothing, as on the ESP32).
    """

    ch0: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 0 (leg height), ticks."""
    ch1: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 1 (left leg), ticks."""
    ch2: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 2 (right leg), ticks."""
    ch3: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 3, ticks."""
    ch4: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 4, ticks."""
    ch5: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 5, ticks."""
    ch6: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 6, ticks."""
    ch7: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 7, ticks."""
    ch8: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 8, ticks."""
    ch9: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 9, ticks."""
    ch10: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 10, ticks."""
    ch11: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 11, ticks."""
    ch12: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 12, ticks."""
    ch13: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 13, ticks."""
    ch14: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 14, ticks."""
    ch15: int | None = Field(default=None, ge=0, le=PCA9685_MAX_TICKS)
    """Channel 15, ticks."""
    timestamp: float | None = None
    """When, Unix seconds (the firmware ignores it)."""

    def channels(self) -> dict[int, int]:
        """The channels set in this frame: channel number -> ticks."""
        return {
            int(name[2:]): value
            for name, value in self
            if name.startswith("ch") and isinstance(value, int)
        }


MovementStateEvent = Literal[
    "ready", "firmware_online", "frame_applied", "command_queued", "command_error", "stopped",
    "error", "shutdown",
]  # fmt: skip


class MovementState(Payload):
    """What the firmware reports on ``movement/state`` (its own bare JSON)."""

    event: MovementStateEvent
    """What happened."""
    timestamp: float = Field(default_factory=now)
    """When, seconds (the ESP32's clock)."""
    channels: int | None = Field(default=None, ge=0, le=16)
    """frame_applied: how many channels were set."""
    command: str | None = Field(default=None, max_length=64)
    """command_queued: the command."""
    speed: float | None = None
    """command_queued: its speed."""
    queue_size: int | None = Field(default=None, ge=0)
    """command_queued: commands waiting on the controller."""
    error: str | None = Field(default=None, max_length=1000)
    """command_error / error: what went wrong."""
    detail: str | None = Field(default=None, max_length=1000)
    """error: more about it."""
    reason: str | None = Field(default=None, max_length=200)
    """stopped: why."""
    request_id: str | None = Field(default=None, max_length=64)
    """The request concerned (the simulator sets it; the firmware does not)."""
