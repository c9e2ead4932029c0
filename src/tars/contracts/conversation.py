"""Finished conversation turns and per-satellite conversation state (router outputs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Payload, SatelliteId, now

TOPIC_CONVERSATION_TURN = "conversation/turn"
ROUTER_STATE_PREFIX = "router/state/"
ROUTER_STATE_PATTERN = "router/state/+"

ConversationPhase = Literal["idle", "listening", "thinking", "speaking", "interrupted"]


def router_state_topic(satellite: str) -> str:
    """Retained topic holding one satellite's conversation state."""
    return f"{ROUTER_STATE_PREFIX}{satellite}"


class ConversationTurn(Payload):
    """One finished turn: what the user said and what TARS answered."""

    id: str
    """Turn id (the request or utterance id)."""
    satellite: SatelliteId
    """Where the conversation happened."""
    user_text: str
    """What the user said."""
    reply: str
    """What TARS answered (what was actually spoken when interrupted)."""
    ts: float = Field(default_factory=now)
    """When the turn finished, Unix seconds."""
    route: Literal["rule", "llm", "error"] = "llm"
    """Who answered: a deterministic rule, the LLM, or an error apology."""
    interrupted: bool = False
    """The reply was cut short by barge-in or stop."""
    timings_ms: dict[str, float] = Field(default_factory=dict)
    """Per-stage timings, milliseconds (stt, router, llm_first_sentence, tts_first_audio ...)."""


class RouterState(Payload):
    """Conversation state of one satellite (retained, for dashboards)."""

    satellite: SatelliteId
    """Satellite id."""
    phase: ConversationPhase
    """idle, listening, thinking, speaking or interrupted."""
    live_mode: bool = False
    """Live mode listens without a wake word."""
    utt_id: str | None = None
    """Current request or reply id."""
    since: float = Field(default_factory=now)
    """When the phase began, Unix seconds."""
