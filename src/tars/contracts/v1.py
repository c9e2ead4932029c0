"""The py-tars v1 wire: the frozen field set of every model on a py-tars topic.

py-tars consumers validate with ``extra="forbid"``, so on a py-tars topic they accept
only these fields. Every other field of a TARS model there is a TARS addition: in the
default wire it travels in the JSON, in the ``v1`` wire (``MQTT_WIRE=v1``) it travels in
the MQTT v5 user property :data:`EXTENSION_PROPERTY`, invisible to py-tars clients.

These sets are frozen (py-tars review section 2.1): a new field on a TARS model is an
addition by construction and never reaches a py-tars consumer in the v1 wire. Nested
models (history messages, memory results, tool specs) must stay exactly v1, because an
addition cannot be lifted out of a list item; put new data at the top level instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tars.contracts import (
    audio,
    camera,
    character,
    health,
    llm,
    memory,
    movement,
    stt,
    tools,
    tts,
    wake,
)

WireMode = Literal["tars", "v1"]
"""``tars``: TARS additions inside the JSON; ``v1``: exactly py-tars v1 JSON on py-tars topics."""
EXTENSION_PROPERTY = "tars-ext"
"""MQTT v5 user property holding the TARS additions (a JSON object) in the v1 wire."""


def _payload(names: str) -> frozenset[str]:
    # Every py-tars top-level payload carries its own message_id.
    return frozenset(("message_id", *names.split()))


_TRANSCRIPT = "text lang confidence utt_id ts is_final"

V1_FIELDS: dict[type[BaseModel], frozenset[str]] = {
    audio.AudioFFTData: _payload("fft_data sample_rate ts"),
    wake.WakeEvent: _payload("type tts_id confidence energy cause ts"),
    wake.WakeMicCommand: _payload("action reason ttl_ms"),
    stt.FinalTranscript: _payload(_TRANSCRIPT),
    stt.PartialTranscript: _payload(_TRANSCRIPT),
    tts.TtsSay: _payload("text voice lang utt_id style stt_ts wake_ack system_announce"),
    tts.TtsStatus: _payload("event text timestamp utt_id reason wake_ack system_announce"),
    tts.TtsControl: _payload("action reason id"),
    llm.LLMRequest: _payload("id text stream use_rag rag_k system params conversation_history"),
    llm.LLMStreamDelta: _payload("id seq delta done provider model"),
    llm.LLMResponse: _payload("id reply error provider model tokens"),
    llm.LLMCancel: _payload("id"),
    llm.ConversationMessage: frozenset(("role", "content", "timestamp")),
    tools.ToolsRegistry: _payload("tools"),
    tools.ToolSpec: frozenset(("type", "function")),
    tools.ToolCallRequest: _payload("call_id name arguments"),
    tools.ToolCallResult: _payload("call_id result error"),
    memory.MemoryQuery: _payload(
        "text top_k max_tokens include_context context_window retrieval_strategy"
    ),
    memory.MemoryResults: _payload("query k results total_tokens strategy_used truncated"),
    memory.MemoryResult: frozenset(
        ("document", "score", "timestamp", "context_type", "token_count")
    ),
    character.CharacterGetRequest: _payload("section"),
    character.CharacterSnapshot: _payload(
        "name description systemprompt traits voice meta scenario personality_notes "
        "example_interactions"
    ),
    character.CharacterSection: _payload("section value"),
    character.CharacterTraitUpdate: _payload("section trait value"),
    character.CharacterResetTraits: _payload("action"),
    camera.CameraFrame: _payload("frame_data format width height frame_number fps timestamp"),
    camera.CameraCaptureRequest: _payload(
        "request_id format quality width height purpose timestamp"
    ),
    camera.CameraImageResponse: _payload(
        "request_id image_data format width height size_bytes success error purpose "
        "capture_timestamp timestamp"
    ),
    movement.TestMovementRequest: _payload("command speed params request_id timestamp"),
    movement.EmergencyStopCommand: _payload("reason timestamp"),
    movement.MovementStatusUpdate: _payload("event command detail request_id timestamp"),
    movement.MovementCommand: _payload("id command params timestamp"),
    health.HealthPing: _payload("ok event err timestamp"),
}
"""py-tars v1 field names of each model that appears on a py-tars topic, nested ones included."""


def v1_fields(model: type[BaseModel]) -> frozenset[str]:
    """The py-tars v1 field names of ``model``.

    Raises:
        KeyError: ``model`` has no py-tars v1 form (a TARS-only model).
    """
    return V1_FIELDS[model]


def additions(model: type[BaseModel]) -> frozenset[str]:
    """Fields of ``model`` that py-tars v1 does not know (TARS additions)."""
    return frozenset(model.model_fields) - V1_FIELDS[model]
