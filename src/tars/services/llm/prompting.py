"""Small pure helpers turning an ``LLMRequest`` into engine inputs."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from tars.contracts.llm import ConversationMessage
from tars.services.llm.provider import ChatMessage, CompletionParams

_LOGGER = logging.getLogger(__name__)


def history_messages(history: Sequence[ConversationMessage]) -> list[ChatMessage]:
    """Convert the request's conversation history into engine chat messages."""
    return [ChatMessage(m.role, m.content) for m in history if m.content.strip()]


def merge_params(
    defaults: CompletionParams, overrides: Mapping[str, float | int | str]
) -> CompletionParams:
    """Apply a request's ``params`` overrides (ill-typed values leave the defaults)."""
    model = overrides.get("model", defaults.model)
    max_tokens = overrides.get("max_tokens", defaults.max_tokens)
    temperature = overrides.get("temperature", defaults.temperature)
    top_p = overrides.get("top_p", defaults.top_p)
    try:
        return CompletionParams(
            model=str(model),
            max_tokens=max(1, int(max_tokens)),
            temperature=min(2.0, max(0.0, float(temperature))),
            top_p=min(1.0, max(1e-6, float(top_p))),
        )
    except (TypeError, ValueError):
        _LOGGER.warning("ignoring invalid params override %s", dict(overrides))
        return defaults
