"""The one table from topic to payload model, delivery policy and publishers.

Everything that needs to know about a topic (the codec, the bus defaults, the
broker ACL generator, docs and tests) reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tars.contracts import (
    audio,
    camera,
    character,
    conversation,
    health,
    llm,
    memory,
    metrics,
    movement,
    stt,
    tools,
    tts,
    wake,
)
from tars.contracts.limits import (
    DEFAULT_MAX_BYTES,
    IMAGE_MAX_BYTES,
    PCM_FRAME_MAX_BYTES,
    REQUEST_MAX_BYTES,
    SAY_MAX_BYTES,
    TTS_AUDIO_MAX_BYTES,
)

OWN = "<own>"
"""Publisher marker: each service may publish only its own instance of the topic."""

SERVICES: tuple[str, ...] = (
    "mic", "wake", "stt", "router", "llm", "memory", "tts",
    "mcp", "camera", "movement", "ui-web", "ui",
)  # fmt: skip
"""Every TARS service name (also its MQTT user and health topic suffix)."""

CLIENTS: tuple[str, ...] = ("cli", "esp32")
"""Broker users that are not services: the `tars` command and the servo controller."""

UIS = ("ui-web", "ui", "cli")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How one topic (or topic pattern) is used on the bus."""

    pattern: str
    """Topic or MQTT filter with ``+`` wildcards."""
    model: Any
    """Payload model (a Payload subclass or a union of them); None for binary audio."""
    event_type: str
    """Envelope ``type`` producers write."""
    qos: int = 1
    """Default publish and subscribe QoS."""
    retain: bool = False
    """Whether producers publish it retained."""
    bare_ok: bool = False
    """Bare (non-enveloped) JSON of the model is accepted, as py-tars clients send it."""
    publishers: tuple[str, ...] = field(default_factory=tuple)
    """Broker users allowed to publish it (OWN: each service its own instance)."""
    v1: bool = False
    """A py-tars v1 topic: in the v1 wire its JSON holds only the v1 fields (contracts/v1.py)."""
    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest payload accepted on receipt; a larger one is refused before parsing."""

    @property
    def binary(self) -> bool:
        """Raw bytes rather than an enveloped JSON model."""
        return self.model is None


def _spec(pattern: str, model: Any, event_type: str, *publishers: str, **options: Any) -> TopicSpec:
    """A TARS topic (py-tars has no such topic)."""
    return TopicSpec(pattern, model, event_type, publishers=publishers, **options)


def _v1(pattern: str, model: Any, event_type: str, *publishers: str, **options: Any) -> TopicSpec:
    """A topic of the py-tars topic table (review section 2), shared with py-tars clients."""
    return TopicSpec(pattern, model, event_type, publishers=publishers, v1=True, **options)


TOPICS: tuple[TopicSpec, ...] = (
    # audio
    _spec(
        audio.PCM_PATTERN,
        None,
        "audio.pcm",
        "mic",
        "ui-web",
        "cli",
        qos=0,
        max_bytes=PCM_FRAME_MAX_BYTES,
    ),
    _spec(audio.TTS_AUDIO_PATTERN, None, "tts.audio", "tts", qos=0, max_bytes=TTS_AUDIO_MAX_BYTES),
    _v1(audio.TOPIC_AUDIO_FFT, audio.AudioFFTData, "stt.audio_fft", "stt", qos=0, bare_ok=True),
    # wake
    _v1(wake.TOPIC_WAKE_EVENT, wake.WakeEvent, "wake.event", "wake"),
    _v1(wake.TOPIC_WAKE_MIC, wake.WakeMicCommand, "wake.mic", "wake"),
    # stt
    _v1(stt.TOPIC_STT_FINAL, stt.FinalTranscript, "stt.final", "stt", *UIS),
    _v1(stt.TOPIC_STT_PARTIAL, stt.PartialTranscript, "stt.partial", "stt", qos=0),
    _spec(stt.TOPIC_STT_REJECTED, stt.RejectedTranscript, "stt.rejected", "stt"),
    _spec(stt.TOPIC_STT_CONTINUATION, stt.TurnContinuation, "stt.continuation", "stt"),
    _spec(stt.TOPIC_STT_BARGE_IN, stt.VoiceBargeIn, "stt.barge_in", "stt"),
    # tts
    # Not mcp: tools never speak for TARS (an MCP tool's publishes are allowlisted anyway).
    _v1(
        tts.TOPIC_TTS_SAY,
        tts.TtsSay,
        "tts.say",
        "router",
        "llm",
        *UIS,
        bare_ok=True,
        max_bytes=SAY_MAX_BYTES,
    ),
    _v1(tts.TOPIC_TTS_STATUS, tts.TtsStatus, "tts.status", "tts"),
    _v1(tts.TOPIC_TTS_CONTROL, tts.TtsControl, "tts.control", "wake", "router", *UIS, bare_ok=True),
    # llm
    _v1(
        llm.TOPIC_LLM_REQUEST,
        llm.LLMRequest,
        "llm.request",
        "router",
        *UIS,
        max_bytes=REQUEST_MAX_BYTES,
    ),
    _v1(llm.TOPIC_LLM_STREAM, llm.LLMStreamDelta, "llm.stream", "llm"),
    _v1(llm.TOPIC_LLM_RESPONSE, llm.LLMResponse, "llm.response", "llm"),
    _v1(llm.TOPIC_LLM_CANCEL, llm.LLMCancel, "llm.cancel", "router", "wake", *UIS),
    _spec(
        llm.TOPIC_LLM_PREFILL, llm.LLMPrefill, "llm.prefill", "router", max_bytes=REQUEST_MAX_BYTES
    ),
    # tools
    _v1(tools.TOPIC_TOOLS_REGISTRY, tools.ToolsRegistry, "llm.tools.registry", "mcp", retain=True),
    _v1(tools.TOPIC_TOOL_CALL_REQUEST, tools.ToolCallRequest, "llm.tool.call.request", "llm"),
    _v1(
        tools.TOPIC_TOOL_CALL_RESULT,
        tools.ToolCallResult,
        "llm.tool.call.result",
        "mcp",
        max_bytes=IMAGE_MAX_BYTES,
    ),
    # memory
    _v1(memory.TOPIC_MEMORY_QUERY, memory.MemoryQuery, "memory.query", "llm", "mcp", *UIS),
    _v1(
        memory.TOPIC_MEMORY_RESULTS,
        memory.MemoryResults,
        "memory.results",
        "memory",
        max_bytes=REQUEST_MAX_BYTES,
    ),
    _spec(
        memory.TOPIC_MEMORY_REMEMBER,
        memory.MemoryFact,
        "memory.remember",
        "router",
        "llm",
        "mcp",
        *UIS,
    ),
    # character
    _v1(
        character.TOPIC_CHARACTER_GET,
        character.CharacterGetRequest,
        "character.get",
        "llm",
        "mcp",
        *UIS,
    ),
    _v1(character.TOPIC_CHARACTER_RESULT, character.CharacterResult, "character.result", "memory"),
    _v1(
        character.TOPIC_CHARACTER_CURRENT,
        character.CharacterSnapshot,
        "character.current",
        "memory",
        retain=True,
    ),
    _v1(
        character.TOPIC_CHARACTER_UPDATE,
        character.CharacterUpdate,
        "character.update",
        "llm",
        "mcp",
        *UIS,
    ),
    # conversation
    _spec(
        conversation.TOPIC_CONVERSATION_TURN,
        conversation.ConversationTurn,
        "conversation.turn",
        "router",
    ),
    _spec(
        conversation.ROUTER_STATE_PATTERN,
        conversation.RouterState,
        "router.state",
        "router",
        retain=True,
    ),
    # camera
    _v1(
        camera.TOPIC_CAMERA_FRAME,
        camera.CameraFrame,
        "camera.frame",
        "camera",
        qos=0,
        max_bytes=IMAGE_MAX_BYTES,
    ),
    _v1(
        camera.TOPIC_CAMERA_CAPTURE,
        camera.CameraCaptureRequest,
        "camera.capture",
        "mcp",
        "llm",
        *UIS,
    ),
    _v1(
        camera.TOPIC_CAMERA_IMAGE,
        camera.CameraImageResponse,
        "camera.image",
        "camera",
        max_bytes=IMAGE_MAX_BYTES,
    ),
    _spec(camera.TOPIC_CAMERA_STATUS, camera.CameraStatusUpdate, "camera.status", "camera"),
    # movement (frame and state carry the ESP32 firmware's own raw forms, never py-tars's
    # unused contract models, so the v1 wire leaves them alone)
    _v1(
        movement.TOPIC_MOVEMENT_TEST,
        movement.TestMovementRequest,
        "movement.test",
        "movement",  # only the validator drives the servos; others use movement/command
        bare_ok=True,
    ),
    _v1(
        movement.TOPIC_MOVEMENT_STOP,
        movement.EmergencyStopCommand,
        "movement.stop",
        "movement",
        "mcp",
        "router",
        *UIS,
        bare_ok=True,
    ),
    _v1(
        movement.TOPIC_MOVEMENT_STATUS,
        movement.MovementStatusUpdate,
        "movement.status",
        "movement",
        "esp32",
        bare_ok=True,
    ),
    _v1(
        movement.TOPIC_MOVEMENT_COMMAND,
        movement.MovementCommand,
        "movement.command",
        "mcp",
        "router",
        *UIS,
    ),
    _spec(
        movement.TOPIC_MOVEMENT_FRAME,
        movement.MovementFrame,
        "movement.frame",
        "movement",
        bare_ok=True,
    ),
    _spec(
        movement.TOPIC_MOVEMENT_STATE,
        movement.MovementState,
        "movement.state",
        "movement",
        "esp32",
        bare_ok=True,
    ),
    # system
    _v1(health.HEALTH_PATTERN, health.HealthPing, "health.status", OWN, retain=True, bare_ok=True),
    _spec(metrics.METRICS_PATTERN, metrics.MetricsSnapshot, "metrics.snapshot", OWN, qos=0),
)

_EXACT: dict[str, TopicSpec] = {spec.pattern: spec for spec in TOPICS if "+" not in spec.pattern}
_WILDCARD: tuple[TopicSpec, ...] = tuple(spec for spec in TOPICS if "+" in spec.pattern)


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching with ``+`` and ``#`` wildcards (and ``$share/<group>/`` prefixes)."""
    if pattern.startswith("$share/"):
        pattern = pattern.split("/", 2)[2]
    pattern_levels = pattern.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and pattern_levels[0] in ("+", "#"):
        return False
    for index, level in enumerate(pattern_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(pattern_levels) == len(topic_levels)


def lookup(topic: str) -> TopicSpec | None:
    """The spec governing a concrete topic, or None if the topic is not part of the contract."""
    spec = _EXACT.get(topic)
    if spec is not None:
        return spec
    for candidate in _WILDCARD:
        if topic_matches(candidate.pattern, topic):
            return candidate
    return None
