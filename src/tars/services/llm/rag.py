"""Retrieval for the prompt: ask the memory service and render what it returns.

The query goes out with :meth:`Bus.request`, whose reply is resolved straight from the
bus receive path, so a request handler can wait here while other requests keep streaming.
A slow or absent memory service only costs ``timeout_s``: the request then goes on
without memories.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tars.contracts.memory import (
    TOPIC_MEMORY_QUERY,
    TOPIC_MEMORY_RESULTS,
    MemoryQuery,
    MemoryResults,
)
from tars.runtime.bus import Bus

_LOGGER = logging.getLogger(__name__)


def render_memory(document: Mapping[str, Any] | str) -> str:
    """One retrieved memory as a prompt line.

    Turns become ``User said: ... / You answered: ...``; facts and plain text stay as
    they are.
    """
    if isinstance(document, str):
        return document
    user = str(document.get("user") or "").strip()
    reply = str(document.get("reply") or "").strip()
    if user or reply:
        return f"User said: {user} / You answered: {reply}"
    text = document.get("text")
    return str(text) if text else ""


async def retrieve(
    bus: Bus, text: str, *, top_k: int, max_tokens: int | None, timeout_s: float
) -> list[str] | None:
    """Ask memory for ``top_k`` memories about ``text``.

    Args:
        bus: The llm service's bus (``expect_replies(memory/results)`` already called).
        text: The user's text.
        top_k: How many memories to ask for.
        max_tokens: Token budget for the memories (None: the memory service's default).
        timeout_s: How long to wait for the results.

    Returns:
        Rendered memories, best first; None when memory did not answer in time.
    """
    query = MemoryQuery(text=text, top_k=top_k, max_tokens=max_tokens)
    try:
        reply = await bus.request(
            TOPIC_MEMORY_QUERY, query, reply_topic=TOPIC_MEMORY_RESULTS, timeout_s=timeout_s
        )
    except TimeoutError:
        _LOGGER.warning("memory did not answer within %.1f s; answering without it", timeout_s)
        return None
    results: MemoryResults = reply.data
    rendered = [render_memory(r.document) for r in results.results if r.context_type == "target"]
    return [line for line in rendered if line]
