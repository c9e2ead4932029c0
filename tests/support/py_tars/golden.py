"""One py-tars v1 message per py-tars topic TARS publishes, as py-tars puts it on the wire.

Built from the py-tars review's topic table and payload models (sections 2 and 2.1):
orjson of ``model_dump()`` inside the envelope, so unset optionals are explicit nulls.
Keys are the topics of :data:`tests.support.py_tars.MODELS`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any


def _golden(event_type: str, source: str, data: dict[str, Any]) -> bytes:
    envelope = {"id": uuid.uuid4().hex, "type": event_type, "ts": 1700000000.0, "source": source}
    return json.dumps({**envelope, "data": {"message_id": uuid.uuid4().hex, **data}}).encode()


_TS = 1700000000.0
GOLDEN: dict[str, bytes] = {
    "stt/final": _golden(
        "stt.final", "stt",
        {"text": "what time is it", "lang": "en", "confidence": 0.93, "utt_id": None,
         "ts": _TS, "is_final": True},
    ),
    "stt/partial": _golden(
        "stt.partial", "stt",
        {"text": "what time", "lang": "en", "confidence": None, "utt_id": None, "ts": _TS,
         "is_final": False},
    ),
    "stt/audio_fft": _golden(
        "stt.audio_fft", "stt",
        {"fft_data": [0.0, 0.5, 1.0], "sample_rate": 16000, "ts": _TS},
    ),
    "tts/say": _golden(
        "tts.say", "router",
        {"text": "It is 3:15 PM.", "voice": None, "lang": None, "utt_id": "rt-1a2b3c4d",
         "style": None, "stt_ts": _TS, "wake_ack": None, "system_announce": None},
    ),
    "tts/status": _golden(
        "tts.status", "tts",
        {"event": "speaking_start", "text": "It is 3:15 PM.", "timestamp": _TS,
         "utt_id": "rt-1a2b3c4d", "reason": None, "wake_ack": None, "system_announce": None},
    ),
    "tts/control": _golden(
        "tts.control", "wake-activation",
        {"action": "pause", "reason": "wake_interrupt", "id": "rt-1a2b3c4d"},
    ),
    "wake/event": _golden(
        "wake.event", "wake-activation",
        {"type": "wake", "tts_id": None, "confidence": 0.81, "energy": 512.0,
         "cause": "wake_phrase", "ts": 12.5},
    ),
    "wake/mic": _golden(
        "wake.mic", "wake-activation",
        {"action": "unmute", "reason": "wake", "ttl_ms": 3000},
    ),
    "llm/request": _golden(
        "llm.request", "router",
        {"id": "rt-1a2b3c4d", "text": "tell me a joke", "stream": True, "use_rag": None,
         "rag_k": None, "system": None, "params": None,
         "conversation_history": [
             {"role": "user", "content": "hi", "timestamp": None},
             {"role": "assistant", "content": "Hello.", "timestamp": None},
         ]},
    ),
    "llm/stream": _golden(
        "llm.stream", "llm",
        {"id": "rt-1a2b3c4d", "seq": 1, "delta": "Why", "done": False, "provider": "openai",
         "model": "gpt-4o-mini"},
    ),
    "llm/response": _golden(
        "llm.response", "llm",
        {"id": "rt-1a2b3c4d", "reply": "Why did the robot cross the road?", "error": None,
         "provider": "openai", "model": "gpt-4o-mini",
         "tokens": {"prompt": 40, "completion": 9, "total": 49}},
    ),
    "llm/cancel": _golden("llm.cancel", "router", {"id": "rt-1a2b3c4d"}),
    "llm/tools/registry": _golden(
        "llm.tools.registry", "mcp-bridge",
        {"tools": [{"type": "function", "function": {
            "name": "mcp__character__adjust_trait", "description": "Adjust a trait",
            "parameters": {"type": "object", "properties": {}}}}]},
    ),
    "llm/tool.call.request": _golden(
        "llm.tool.call.request", "llm",
        {"call_id": "call_1", "name": "mcp__character__adjust_trait",
         "arguments": {"trait": "humor", "value": 80}},
    ),
    "llm/tool.call.result": _golden(
        "llm.tool.call.result", "mcp-bridge",
        {"call_id": "call_1", "result": {"ok": True}, "error": None},
    ),
    "memory/query": _golden(
        "memory.query", "llm",
        {"text": "what is my name", "top_k": 5, "max_tokens": None, "include_context": False,
         "context_window": 1, "retrieval_strategy": "hybrid"},
    ),
    "memory/results": _golden(
        "memory.results", "memory",
        {"query": "what is my name", "k": 5, "total_tokens": 12, "strategy_used": "hybrid",
         "truncated": False,
         "results": [{"document": {"text": "my name is Sam"}, "score": 0.71,
                      "timestamp": "2025-01-01T10:00:00", "context_type": "target",
                      "token_count": 5}]},
    ),
    "character/get": _golden("memory.character.get", "llm", {"section": None}),
    "character/result": _golden(
        "character.result", "memory",
        {"section": "traits", "value": {"humor": 75}},
    ),
    "system/character/current": _golden(
        "character.current", "memory",
        {"name": "TARS", "description": "Robot", "systemprompt": None,
         "traits": {"humor": 75, "honesty": 90}, "voice": {}, "meta": {}, "scenario": {},
         "personality_notes": {}, "example_interactions": {}},
    ),
    "character/update": _golden(
        "character.update", "llm",
        {"section": "traits", "trait": "humor", "value": 80},
    ),
    "camera/frame": _golden(
        "camera.frame", "camera",
        {"timestamp": _TS, "frame_data": "/9j/4AAQ", "format": "jpeg", "width": 640,
         "height": 480, "frame_number": 12, "fps": 2.0},
    ),
    "camera/capture": _golden(
        "camera.capture", "llm",
        {"timestamp": _TS, "request_id": "cap-1", "format": "jpeg", "quality": 85,
         "width": None, "height": None, "purpose": "describe"},
    ),
    "camera/image": _golden(
        "camera.image", "camera",
        {"timestamp": _TS, "request_id": "cap-1", "image_data": "/9j/4AAQ", "format": "jpeg",
         "width": 640, "height": 480, "size_bytes": 6, "success": True, "error": None,
         "purpose": "describe", "capture_timestamp": _TS},
    ),
    "movement/test": _golden(
        "movement.test", "llm",
        {"timestamp": _TS, "command": "wave", "speed": 0.5, "params": {}, "request_id": None},
    ),
    "movement/stop": _golden(
        "movement.stop", "mcp", {"timestamp": _TS, "reason": "user"}
    ),
    "movement/status": _golden(
        "movement.status", "movement",
        {"timestamp": _TS, "event": "command_completed", "command": "wave", "detail": None,
         "request_id": None},
    ),
    "movement/command": _golden(
        "movement.command", "router",
        {"timestamp": _TS, "id": "mv-1", "command": "bow", "params": {}},
    ),
    "system/health/+": _golden(
        "health.status", "stt",
        {"ok": True, "event": "ready", "err": None, "timestamp": _TS},
    ),
}  # fmt: skip
"""One py-tars v1 message per topic (key as in ``MODELS``), envelope included."""
