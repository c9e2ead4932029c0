"""py-tars's v1 wire, written down independently of TARS's contracts, for checking ours.

The models are hand-written from the py-tars review (section 1.1 for the envelope,
section 2.1 for the payloads): exactly py-tars's fields, ``extra="forbid"`` as in
py-tars's contract package, so anything TARS adds is rejected the way a py-tars
router, memory worker or UI would reject it. Nothing here imports ``tars.contracts``.

``movement/frame`` and ``movement/state`` are left out: py-tars's contract models for them
were never on the wire (the review: the frame model has no publisher, the ESP32 firmware
publishes its own raw state), and TARS speaks the firmware's forms there.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from tests.support.py_tars.golden import GOLDEN
from tests.support.py_tars.others import (
    CameraCaptureRequest,
    CameraFrame,
    CameraImageResponse,
    CharacterGetRequest,
    CharacterResetTraits,
    CharacterSection,
    CharacterSnapshot,
    CharacterTraitUpdate,
    EmergencyStopCommand,
    MemoryQuery,
    MemoryResults,
    MovementCommand,
    MovementStatusUpdate,
    TestMovementRequest,
)
from tests.support.py_tars.voice import (
    AudioFFTData,
    Envelope,
    FinalTranscript,
    HealthPing,
    LLMCancel,
    LLMRequest,
    LLMResponse,
    LLMStreamDelta,
    PartialTranscript,
    ToolCallRequest,
    ToolCallResult,
    ToolsRegistry,
    TtsControl,
    TtsSay,
    TtsStatus,
    WakeEvent,
    WakeMicCommand,
)

__all__ = ["GOLDEN", "MODELS", "model_for", "validate_v1"]

MODELS: dict[str, Any] = {
    "stt/final": FinalTranscript,
    "stt/partial": PartialTranscript,
    "stt/audio_fft": AudioFFTData,
    "tts/say": TtsSay,
    "tts/status": TtsStatus,
    "tts/control": TtsControl,
    "wake/event": WakeEvent,
    "wake/mic": WakeMicCommand,
    "llm/request": LLMRequest,
    "llm/stream": LLMStreamDelta,
    "llm/response": LLMResponse,
    "llm/cancel": LLMCancel,
    "llm/tools/registry": ToolsRegistry,
    "llm/tool.call.request": ToolCallRequest,
    "llm/tool.call.result": ToolCallResult,
    "memory/query": MemoryQuery,
    "memory/results": MemoryResults,
    "character/get": CharacterGetRequest,
    "character/result": CharacterSnapshot | CharacterSection,
    "system/character/current": CharacterSnapshot,
    "character/update": CharacterTraitUpdate | CharacterResetTraits,
    "camera/frame": CameraFrame,
    "camera/capture": CameraCaptureRequest,
    "camera/image": CameraImageResponse,
    "movement/test": TestMovementRequest,
    "movement/stop": EmergencyStopCommand,
    "movement/status": MovementStatusUpdate,
    "movement/command": MovementCommand,
    "system/health/+": HealthPing,
}
"""Topic (``+`` for one level) -> py-tars v1 payload model."""


def model_for(topic: str) -> Any | None:
    """The py-tars model of a concrete topic, or None if py-tars has no such topic."""
    if topic in MODELS:
        return MODELS[topic]
    if topic.startswith("system/health/") and topic.count("/") == 2:
        return MODELS["system/health/+"]
    return None


def validate_v1(topic: str, payload: bytes) -> BaseModel:
    """Validate one message as a py-tars consumer would: envelope, then the topic's model.

    Raises:
        pydantic.ValidationError: an unknown field, a missing field or a wrong type.
        KeyError: py-tars has no such topic.
    """
    model = model_for(topic)
    if model is None:
        raise KeyError(topic)
    envelope = Envelope.model_validate_json(payload)
    validated: BaseModel = TypeAdapter(model).validate_python(envelope.data)
    return validated
