"""LLM requests, streamed deltas, final responses and cancellation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tars.contracts.base import Model, Payload, SatelliteId
from tars.contracts.limits import MAX_REQUEST_CHARS

TOPIC_LLM_REQUEST = "llm/request"
TOPIC_LLM_STREAM = "llm/stream"
TOPIC_LLM_RESPONSE = "llm/response"
TOPIC_LLM_CANCEL = "llm/cancel"
TOPIC_LLM_PREFILL = "llm/prefill"


class ConversationMessage(Model):
    """One message of the conversation history."""

    role: Literal["user", "assistant", "system"]
    """Who said it."""
    content: str
    """What was said."""
    timestamp: float | None = None
    """When, Unix seconds."""


class LLMRequest(Payload):
    """Ask the LLM for a reply."""

    id: str
    """Request id; stream deltas, the response and cancels refer to it."""
    text: str = Field(max_length=MAX_REQUEST_CHARS)
    """The user's text (at most MAX_REQUEST_CHARS)."""
    stream: bool = True
    """Stream deltas on llm/stream before the final response."""
    use_rag: bool | None = None
    """Retrieve memories for the prompt (None: the service default)."""
    rag_k: int | None = Field(default=None, ge=1, le=50)
    """How many memories to retrieve."""
    system: str | None = None
    """Extra system instructions appended to the persona prompt."""
    params: dict[str, float | int | str] | None = None
    """Overrides: model, max_tokens, temperature, top_p."""
    conversation_history: list[ConversationMessage] | None = None
    """Recent history, oldest first, including the assistant's own turns."""
    satellite: SatelliteId | None = None
    """Satellite the conversation happens on."""
    tools: bool | None = None
    """Allow tool calls (None: the service default)."""
    preemptive: bool | None = None
    """True: started before the user's turn was known to be over (the router may still cancel it):
    no tool is run for it; a reply that needs one ends with the error code ``tool_deferred``
    and is asked again once the turn is over."""


class LLMStreamDelta(Payload):
    """One piece of a streamed reply; ``done`` marks the end."""

    id: str
    """Request id."""
    seq: int | None = Field(default=None, ge=0)
    """Position in the stream, from 1; the done marker is n+1."""
    delta: str | None = None
    """New text."""
    done: bool = False
    """True on the final marker."""
    provider: str | None = None
    """Provider that produced it."""
    model: str | None = None
    """Model that produced it."""


class LLMResponse(Payload):
    """The whole reply (also sent after a stream), or an error."""

    id: str
    """Request id."""
    reply: str | None = None
    """The full reply text."""
    error: str | None = None
    """Human-readable error, if the request failed."""
    provider: str | None = None
    """Provider name."""
    model: str | None = None
    """Model name."""
    tokens: dict[str, int] | None = None
    """Token counts: prompt, completion, total."""
    error_code: str | None = None
    """Stable error code: timeout, connection, http_status, bad_response, cancelled, ..."""
    satellite: SatelliteId | None = None
    """Satellite the request came from."""


class LLMCancel(Payload):
    """Stop a request: its stream ends at once and no more deltas follow."""

    id: str
    """Request id to cancel."""
    reason: str | None = None
    """Why (barge-in, stop phrase)."""


class LLMPrefill(Payload):
    """Read a conversation's prompt ahead of its next request; nothing is answered.

    An embedded model keeps the prompt it read last (its prefix cache), so reading the
    history while nobody waits leaves the next request only its question to read, and
    reading the start of the question while the user is still saying it leaves only its last
    words. Remote providers ignore it.
    """

    conversation_history: list[ConversationMessage]
    """The history the next request will carry, oldest first."""
    satellite: SatelliteId | None = None
    """Satellite the conversation happens on."""
    question: str | None = Field(default=None, max_length=MAX_REQUEST_CHARS)
    """The start of the question the user is saying (a partial transcript), read after the
    history so the request reads only the words that follow it; None: the history alone."""
