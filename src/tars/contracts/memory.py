"""Memory queries and results, and facts to remember."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tars.contracts.base import Model, Payload, SatelliteId

TOPIC_MEMORY_QUERY = "memory/query"
TOPIC_MEMORY_RESULTS = "memory/results"
TOPIC_MEMORY_REMEMBER = "memory/remember"

RetrievalStrategy = Literal["hybrid", "recent", "similarity"]


class MemoryQuery(Payload):
    """Retrieve memories; the results reuse this message's envelope id."""

    text: str
    """Query text."""
    top_k: int = Field(default=5, ge=1, le=50)
    """How many results."""
    max_tokens: int | None = Field(default=None, ge=1, le=10_000)
    """Token budget for all results together."""
    include_context: bool = False
    """Add neighbouring turns around each hit."""
    context_window: int = Field(default=1, ge=0, le=5)
    """How many neighbours on each side."""
    retrieval_strategy: RetrievalStrategy = "hybrid"
    """hybrid (vectors + BM25), recent, or similarity (vectors only)."""
    satellite: SatelliteId | None = None
    """Restrict to one satellite's conversations (None: all)."""


class MemoryResult(Model):
    """One retrieved memory."""

    document: dict[str, Any] | str
    """The turn or fact: ``{user, reply, satellite, ...}`` or plain text."""
    score: float | None = None
    """Relevance score (higher is better)."""
    timestamp: str | None = None
    """When it was stored, ISO 8601."""
    context_type: Literal["target", "previous", "next"] = "target"
    """A hit, or a neighbour of a hit."""
    token_count: int | None = None
    """Estimated tokens."""


class MemoryResults(Payload):
    """Answer to a MemoryQuery."""

    query: str
    """The query text."""
    k: int
    """The requested top_k."""
    results: list[MemoryResult]
    """Best first."""
    total_tokens: int | None = None
    """Estimated tokens of all results."""
    strategy_used: RetrievalStrategy = "hybrid"
    """Strategy that produced the results."""
    truncated: bool = False
    """Results were cut to fit max_tokens."""


class MemoryFact(Payload):
    """A fact the user asked TARS to remember."""

    text: str = Field(min_length=1)
    """The fact."""
    satellite: SatelliteId | None = None
    """Where it was said."""
