"""py-tars v1 models of memory, character, camera and movement (review section 2.1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tests.support.py_tars.voice import Payload, Strict, Timestamped, new_uuid


# -- memory and character --------------------------------------------------------------------
class MemoryQuery(Payload):
    text: str
    top_k: int = Field(default=5, ge=1, le=50)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000)
    include_context: bool = False
    context_window: int = Field(default=1, ge=0, le=5)
    retrieval_strategy: str = "hybrid"


class MemoryResult(Strict):
    document: dict[str, Any] | str
    score: float | None = None
    timestamp: str | None = None
    context_type: Literal["target", "previous", "next"] = "target"
    token_count: int | None = None


class MemoryResults(Payload):
    query: str
    k: int
    results: list[MemoryResult]
    total_tokens: int | None = None
    strategy_used: str = "hybrid"
    truncated: bool = False


class CharacterGetRequest(Payload):
    section: str | None = None


class CharacterSnapshot(Payload):
    name: str
    description: str | None = None
    systemprompt: str | None = None
    traits: dict[str, Any] = Field(default_factory=dict)
    voice: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    scenario: dict[str, Any] = Field(default_factory=dict)
    personality_notes: dict[str, Any] = Field(default_factory=dict)
    example_interactions: dict[str, Any] = Field(default_factory=dict)


class CharacterSection(Payload):
    section: str
    value: dict[str, Any] | str | None = None


class CharacterTraitUpdate(Payload):
    section: Literal["traits"] = "traits"
    trait: str
    value: int = Field(ge=0, le=100)


class CharacterResetTraits(Payload):
    action: Literal["reset_traits"] = "reset_traits"


# -- camera ----------------------------------------------------------------------------------
class CameraFrame(Timestamped):
    frame_data: str
    format: Literal["jpeg", "png"]
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    frame_number: int = Field(ge=0)
    fps: float | None = Field(default=None, ge=0)


class CameraCaptureRequest(Timestamped):
    request_id: str = Field(default_factory=new_uuid)
    format: Literal["jpeg", "png", "raw"] = "jpeg"
    quality: int = Field(default=85, ge=1, le=100)
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)
    purpose: str | None = None


class CameraImageResponse(Timestamped):
    request_id: str
    image_data: str
    format: Literal["jpeg", "png", "raw"]
    width: int = Field(ge=0)
    height: int = Field(ge=0)
    size_bytes: int = Field(ge=0)
    success: bool = True
    error: str | None = None
    purpose: str | None = None
    capture_timestamp: float


# -- movement --------------------------------------------------------------------------------
class MovementCommand(Timestamped):
    id: str = Field(default_factory=new_uuid)
    command: Literal[
        "reset", "disable", "step_forward", "step_backward", "turn_left", "turn_right",
        "balance", "laugh", "swing_legs", "pose", "bow",
    ]  # fmt: skip
    params: dict[str, Any] = Field(default_factory=dict)


class TestMovementRequest(Timestamped):
    __test__ = False

    command: Literal[
        "reset", "step_forward", "step_backward", "turn_left", "turn_right", "wave", "laugh",
        "swing_legs", "pezz", "pezz_dispenser", "now", "balance", "mic_drop", "monster", "pose",
        "bow", "disable", "stop", "move_legs", "move_arm",
    ]  # fmt: skip
    speed: float = Field(default=1.0, ge=0.1, le=1.0)
    params: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None


class MovementStatusUpdate(Timestamped):
    event: Literal[
        "connected", "disconnected", "command_started", "command_completed", "command_failed",
        "emergency_stop", "stop_cleared", "queue_full", "battery_low",
    ]  # fmt: skip
    command: str | None = None
    detail: str | None = None
    request_id: str | None = None


class EmergencyStopCommand(Timestamped):
    reason: str | None = None
