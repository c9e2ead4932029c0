"""py-tars v1 models of the voice path (review sections 1.1 and 2.1), hand-written.

Exactly py-tars's fields with ``extra="forbid"``, as in py-tars's contract package;
nothing here comes from ``tars.contracts``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def new_uuid() -> str:
    return uuid.uuid4().hex


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Envelope(Strict):
    id: str = Field(default_factory=new_uuid)
    type: str
    ts: float = Field(default_factory=time.time)
    source: str = "router"
    data: dict[str, Any]


class Payload(Strict):
    message_id: str = Field(default_factory=new_uuid)


class Timestamped(Payload):
    """The camera and movement bases add a timestamp."""

    timestamp: float = Field(default_factory=time.time)


# -- stt -------------------------------------------------------------------------------------
class FinalTranscript(Payload):
    text: str
    lang: str = "en"
    confidence: float | None = Field(default=None, ge=0, le=1)
    utt_id: str | None = None
    ts: float = Field(default_factory=time.time)
    is_final: Literal[True] = True


class PartialTranscript(Payload):
    text: str
    lang: str = "en"
    confidence: float | None = Field(default=None, ge=0, le=1)
    utt_id: str | None = None
    ts: float = Field(default_factory=time.time)
    is_final: Literal[False] = False


class AudioFFTData(Payload):
    fft_data: list[float]
    sample_rate: int = Field(ge=1)
    ts: float = Field(default_factory=time.time)


# -- tts -------------------------------------------------------------------------------------
class TtsSay(Payload):
    text: str
    voice: str | None = None
    lang: str | None = None
    utt_id: str | None = None
    style: str | None = None
    stt_ts: float | None = None
    wake_ack: bool | None = None
    system_announce: bool | None = None


class TtsStatus(Payload):
    event: Literal["speaking_start", "speaking_end", "paused", "resumed", "stopped"]
    text: str = ""
    timestamp: float = Field(default_factory=time.time)
    utt_id: str | None = None
    reason: str | None = None
    wake_ack: bool | None = None
    system_announce: bool | None = None


class TtsControl(Payload):
    """The wire form wake-activation sends; the TTS parser needs a non-empty reason."""

    action: Literal["pause", "resume", "stop"]
    reason: str = Field(min_length=1)
    id: str | None = None


# -- wake ------------------------------------------------------------------------------------
class WakeEvent(Payload):
    type: Literal["wake", "interrupt", "timeout", "resume", "cancelled", "error"]
    tts_id: str | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    energy: float | None = Field(default=None, ge=0)
    cause: str | None = None
    ts: float | None = None


class WakeMicCommand(Payload):
    action: Literal["mute", "unmute"]
    reason: str = "wake"
    ttl_ms: int | None = Field(default=None, ge=0)


# -- llm -------------------------------------------------------------------------------------
class ConversationMessage(Strict):
    role: Literal["user", "assistant"]
    content: str
    timestamp: float | None = None


class LLMRequest(Payload):
    id: str
    text: str
    stream: bool = True
    use_rag: bool | None = None
    rag_k: int | None = None
    system: str | None = None
    params: dict[str, Any] | None = None
    conversation_history: list[ConversationMessage] | None = None


class LLMResponse(Payload):
    id: str
    reply: str | None = None
    error: str | None = None
    provider: str | None = None
    model: str | None = None
    tokens: dict[str, Any] | None = None


class LLMStreamDelta(Payload):
    id: str
    seq: int | None = None
    delta: str | None = None
    done: bool = False
    provider: str | None = None
    model: str | None = None


class LLMCancel(Payload):
    id: str


class ToolSpec(Strict):
    type: Literal["function"] = "function"
    function: dict[str, Any]


class ToolsRegistry(Payload):
    tools: list[ToolSpec]


class ToolCallRequest(Payload):
    call_id: str
    name: str
    arguments: dict[str, Any]


class ToolCallResult(Payload):
    call_id: str
    result: dict[str, Any] | None = None
    error: str | None = None


# -- system ----------------------------------------------------------------------------------
class HealthPing(Payload):
    ok: bool
    event: str | None = None
    err: str | None = None
    timestamp: float = Field(default_factory=time.time)
