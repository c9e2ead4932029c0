"""Servo movement commands and status (the ESP32 controller speaks these raw)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tars.contracts.base import Payload, new_id, now

TOPIC_MOVEMENT_TEST = "movement/test"
TOPIC_MOVEMENT_STOP = "movement/stop"
TOPIC_MOVEMENT_STATUS = "movement/status"
TOPIC_MOVEMENT_COMMAND = "movement/command"
TOPIC_MOVEMENT_FRAME = "movement/frame"
TOPIC_MOVEMENT_STATE = "movement/state"

MovementAction = Literal[
    "reset", "disable", "step_forward", "step_backward", "turn_left", "turn_right",
    "balance", "laugh", "swing_legs", "pose", "bow",
]  # fmt: skip
TestMovementCommand = Literal[
    "reset", "step_forward", "step_backward", "turn_left", "turn_right", "wave", "laugh",
    "swing_legs", "pezz", "pezz_dispenser", "now", "balance", "mic_drop", "monster", "pose",
    "bow", "disable", "stop", "move_legs", "move_arm",
]  # fmt: skip


class MovementCommand(Payload):
    """A high-level movement for the movement service to plan."""

    id: str = Field(default_factory=new_id)
    """Command id."""
    command: MovementAction
    """Which movement."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Movement parameters."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class MovementFrame(Payload):
    """One frame of servo pulse widths."""

    id: str
    """Movement id."""
    seq: int = Field(ge=0)
    """Frame index."""
    total: int = Field(ge=1)
    """Frames in the movement."""
    duration_ms: int = Field(ge=0)
    """Time to reach the pose, milliseconds."""
    hold_ms: int = Field(ge=0)
    """Time to hold it, milliseconds."""
    channels: dict[int, int]
    """Pulse width per servo channel, microseconds."""
    disable_after: bool = False
    """Release the servos after this frame."""
    done: bool = False
    """Last frame."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class MovementState(Payload):
    """Progress of a frame-based movement."""

    id: str
    """Movement id."""
    event: Literal["started", "frame_sent", "completed", "failed", "cancelled"]
    """What happened."""
    seq: int | None = None
    """Frame index."""
    detail: str | None = None
    """Extra information."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class TestMovementRequest(Payload):
    """A named movement for the ESP32 controller (py-tars command API)."""

    __test__ = False  # not a pytest test class despite its name

    command: TestMovementCommand
    """Which movement."""
    speed: float = Field(default=1.0, ge=0.1, le=1.0)
    """Speed factor."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Movement parameters (move_legs / move_arm percentages)."""
    request_id: str | None = None
    """Id echoed in status updates."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class MovementStatusUpdate(Payload):
    """Status reported by the controller."""

    event: Literal[
        "connected", "disconnected", "command_started", "command_completed", "command_failed",
        "emergency_stop", "stop_cleared", "queue_full", "battery_low",
    ]  # fmt: skip
    """What happened."""
    command: str | None = None
    """Command concerned."""
    detail: str | None = None
    """Extra information."""
    request_id: str | None = None
    """Request concerned."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""


class EmergencyStopCommand(Payload):
    """Stop every movement and release the servos."""

    reason: str | None = None
    """Why."""
    timestamp: float = Field(default_factory=now)
    """When, Unix seconds."""
