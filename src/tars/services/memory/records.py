"""Plain values the memory engine takes and returns.

They mirror py-tars's ``MemoryQuery`` / ``MemoryResult`` / ``MemoryResults`` contract
fields so the service can map them one to one, plus turn metadata.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Strategy = Literal["hybrid", "similarity", "recent"]
"""Retrieval strategies: vectors + BM25 fused, vectors only, or newest first."""

STRATEGIES: tuple[Strategy, ...] = ("hybrid", "similarity", "recent")
"""Every accepted strategy name."""

DocKind = Literal["turn", "fact"]
"""A stored document is a whole conversation turn or a standalone fact."""

ContextType = Literal["target", "previous", "next"]
"""A hit itself, or a neighbouring turn added by ``include_context``."""

TOKENS_PER_WORD = 1.3
"""py-tars's token estimate (tokens per whitespace-separated word)."""


def estimate_tokens(text: str) -> int:
    """Estimate the LLM tokens in ``text`` as 1.3 per word, rounded up (py-tars's rule)."""
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


def iso_timestamp(ts: float) -> str:
    """Format epoch seconds as an ISO 8601 UTC string (``2025-01-31T12:00:00.000000+00:00``)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds")


def turn_document(user_text: str, reply: str) -> str:
    """The text a turn is indexed and returned as: both sides, labelled."""
    return f"User: {user_text}\nAssistant: {reply}"


def turn_embedding_text(user_text: str, reply: str) -> str:
    """The text a turn is embedded as: both sides, unlabelled.

    Measured on the eval set: role labels pull every turn's vector towards the same
    "User: ... Assistant: ..." direction and cost top-1 accuracy (12/14 vs 13/14).
    """
    return f"{user_text}\n{reply}"


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished conversation turn to store."""

    user_text: str
    """What the user said (the final transcript or typed text)."""
    reply: str
    """The assistant's whole reply (all streamed sentences joined)."""
    satellite: str = "local"
    """Satellite id the turn happened on."""
    ts: float = field(default_factory=time.time)
    """When the turn finished (epoch seconds)."""
    request_id: str | None = None
    """Correlation id of the turn's LLM request, when there was one."""


@dataclass(frozen=True, slots=True)
class MemoryQuery:
    """A retrieval request (fields and defaults as py-tars ``MemoryQuery``)."""

    text: str
    """The query text (usually the user's utterance)."""
    top_k: int = 5
    """How many hits to return (1-50)."""
    max_tokens: int | None = None
    """Token budget for all returned documents together; ``None`` for no budget."""
    include_context: bool = False
    """Also return the turns before and after each hit, on the same satellite."""
    context_window: int = 1
    """How many neighbouring turns on each side (0-5) when ``include_context``."""
    retrieval_strategy: Strategy = "hybrid"
    """``hybrid``, ``similarity`` or ``recent``."""

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= 50:
            raise ValueError(f"top_k must be 1-50, got {self.top_k}")
        if self.max_tokens is not None and not 1 <= self.max_tokens <= 10000:
            raise ValueError(f"max_tokens must be 1-10000, got {self.max_tokens}")
        if not 0 <= self.context_window <= 5:
            raise ValueError(f"context_window must be 0-5, got {self.context_window}")
        if self.retrieval_strategy not in STRATEGIES:
            raise ValueError(
                f"retrieval_strategy must be one of {STRATEGIES}, got {self.retrieval_strategy!r}"
            )


@dataclass(frozen=True, slots=True)
class MemoryResult:
    """One returned document (py-tars ``MemoryResult`` fields plus metadata)."""

    document: str
    """The text: ``User: ...\\nAssistant: ...`` for a turn, the fact itself for a fact."""
    score: float | None
    """Cosine (similarity), RRF score (hybrid), ``None`` for recent and context rows."""
    timestamp: str
    """ISO 8601 UTC time the document was stored."""
    context_type: ContextType
    """``target`` for a hit, ``previous``/``next`` for an added neighbour."""
    token_count: int
    """Estimated tokens of ``document`` (1.3 per word)."""
    kind: DocKind
    """Whether this is a turn or a fact."""
    doc_id: int
    """Row id within its kind."""
    ts: float
    """Same instant as ``timestamp``, as epoch seconds."""
    satellite: str | None = None
    """Satellite of the turn (facts may have none)."""
    request_id: str | None = None
    """Request id of the turn, when known."""
    user_text: str | None = None
    """User side of a turn (``None`` for facts)."""
    reply: str | None = None
    """Assistant side of a turn (``None`` for facts)."""


@dataclass(frozen=True, slots=True)
class MemoryResults:
    """The answer to a query (py-tars ``MemoryResults`` fields)."""

    query: str
    """The query text, echoed."""
    k: int
    """The requested ``top_k``."""
    results: tuple[MemoryResult, ...]
    """Hits in rank order, each followed by its context rows when requested."""
    total_tokens: int
    """Sum of ``token_count`` over ``results``."""
    strategy_used: Strategy
    """The strategy that produced the hits."""
    truncated: bool = False
    """True when the token budget dropped at least one document."""
