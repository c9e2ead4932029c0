"""Fit a prompt into the model's context window: persona, retrieved memories, recent history.

Token counts are estimates, not tokenizer output, so the budget keeps a safety reserve. The
estimate is the larger of 1.3 tokens per word (py-tars's rule, good for English prose) and one
token per 4 characters (closer for numbers, code and long words, which the word rule
undercounts). Each message also costs a few tokens of chat-template framing.

The layout follows py-tars: budget = ctx_window - max_tokens - reserve; the system prompt and
the user turn always go in; retrieved memories get at most half of what is left (and at most
``rag_max_tokens``); history fills the rest, newest turns kept first.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from tars.services.llm.provider import ChatMessage

_LOGGER = logging.getLogger(__name__)

#: Tokens kept free for estimation error, as py-tars does.
SAFETY_RESERVE = 100
#: Chat-template framing per message (role markers, separators).
MESSAGE_OVERHEAD = 4
MEMORY_HEADER = "\n\n### Retrieved memories (from earlier conversations; use only if relevant)\n"
MEMORY_FOOTER = "\n### End of retrieved memories"


def estimate_tokens(text: str) -> int:
    """Estimate how many tokens ``text`` costs.

    Args:
        text: Any text.

    Returns:
        max(ceil(1.3 x words), ceil(chars / 4)); 0 for empty text.
    """
    by_words = math.ceil(1.3 * len(text.split()))
    by_chars = math.ceil(len(text) / 4)
    return max(by_words, by_chars)


def message_tokens(message: ChatMessage) -> int:
    """Estimate a whole message, its framing and any tool calls included."""
    total = MESSAGE_OVERHEAD + estimate_tokens(message.content)
    for call in message.tool_calls:
        total += estimate_tokens(call.name) + estimate_tokens(str(dict(call.arguments)))
    return total


def build_messages(
    system_prompt: str,
    memories: Sequence[str],
    history: Sequence[ChatMessage],
    user_text: str,
    *,
    ctx_window: int,
    max_tokens: int,
    rag_max_tokens: int,
) -> list[ChatMessage]:
    """Assemble the prompt for one request within the token budget.

    Args:
        system_prompt: Persona and instructions.
        memories: Retrieved memories, best first; as many as fit are appended to the system
            prompt in a delimited section.
        history: Earlier turns, oldest first; the newest that fit are kept.
        user_text: The new user message (always included).
        ctx_window: Model context size in tokens.
        max_tokens: Tokens reserved for the reply.
        rag_max_tokens: Upper bound for the memories section in tokens.

    Returns:
        ``[system, *kept_history, user]``.
    """
    user = ChatMessage("user", user_text)
    budget = ctx_window - max_tokens - SAFETY_RESERVE
    left = budget - message_tokens(ChatMessage("system", system_prompt)) - message_tokens(user)
    memory_text = _fit_memories(memories, min(rag_max_tokens, max(left, 0) // 2))
    system = ChatMessage("system", system_prompt + memory_text)
    left -= estimate_tokens(memory_text)
    kept = _fit_history(history, left)
    _LOGGER.debug(
        "prompt budget %d: %d/%d memories, %d/%d history messages",
        budget,
        memory_text.count("\n- "),
        len(memories),
        len(kept),
        len(history),
    )
    return [system, *kept, user]


def _fit_memories(memories: Sequence[str], allowance: int) -> str:
    """Render as many memories as fit in ``allowance`` tokens ('' when none fit)."""
    frame = estimate_tokens(MEMORY_HEADER + MEMORY_FOOTER)
    used = frame
    lines: list[str] = []
    for memory in memories:
        text = " ".join(memory.split())
        if not text:
            continue
        cost = estimate_tokens(text) + 1
        if used + cost > allowance:
            # Memories are ranked; a later one that happens to fit is less relevant, but short
            # ones are still worth having, so keep scanning rather than stopping.
            continue
        used += cost
        lines.append(f"- {text}")
    if not lines:
        return ""
    return MEMORY_HEADER + "\n".join(lines) + MEMORY_FOOTER


def _fit_history(history: Sequence[ChatMessage], allowance: int) -> list[ChatMessage]:
    """Keep the newest messages that fit, returned oldest first."""
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(history):
        cost = message_tokens(message)
        if used + cost > allowance:
            break
        used += cost
        kept.append(message)
    kept.reverse()
    # A tool result whose assistant tool-call turn was trimmed away is rejected by
    # OpenAI-compatible servers, so drop orphans at the cut.
    while kept and kept[0].role == "tool":
        kept.pop(0)
    return kept
