"""What the llm service publishes for one request: deltas, the response, errors, cancels."""

from __future__ import annotations

import logging

from tars.contracts.llm import (
    TOPIC_LLM_RESPONSE,
    TOPIC_LLM_STREAM,
    LLMRequest,
    LLMResponse,
    LLMStreamDelta,
)
from tars.runtime.bus import Bus
from tars.services.llm.errors import ErrorCode
from tars.services.llm.provider import Usage

_LOGGER = logging.getLogger(__name__)


def token_counts(usage: Usage | None) -> dict[str, int] | None:
    """``{prompt, completion, total}`` from the backend's usage (None when not reported)."""
    if usage is None:
        return None
    return {
        "prompt": usage.prompt_tokens,
        "completion": usage.completion_tokens,
        "total": usage.prompt_tokens + usage.completion_tokens,
    }


class Replies:
    """Publishes the llm service's answers, stamped with the provider's name.

    Args:
        bus: The llm service's bus.
        provider: Provider name put on every delta and response.
    """

    def __init__(self, bus: Bus, provider: str) -> None:
        self._bus = bus
        self._provider = provider

    async def delta(
        self, request: LLMRequest, seq: int, text: str | None, model: str | None
    ) -> None:
        """One stream delta; ``text=None`` publishes the done marker."""
        delta = LLMStreamDelta(
            id=request.id,
            seq=seq,
            delta=text,
            done=text is None,
            provider=self._provider,
            model=model,
        )
        await self._bus.publish(TOPIC_LLM_STREAM, delta)

    async def response(
        self, request: LLMRequest, reply: str, model: str, tokens: dict[str, int] | None
    ) -> None:
        """The whole reply."""
        await self._bus.publish(
            TOPIC_LLM_RESPONSE,
            LLMResponse(
                id=request.id,
                reply=reply,
                provider=self._provider,
                model=model,
                tokens=tokens,
                satellite=request.satellite,
            ),
        )

    async def error(self, request: LLMRequest, code: str, detail: str) -> None:
        """An error response with a stable code (counted as ``errors.<code>``)."""
        self._bus.metrics.inc(f"errors.{code}")
        if code != ErrorCode.CANCELLED:
            _LOGGER.warning("request %s failed: %s: %s", request.id, code, detail)
        await self._bus.publish(
            TOPIC_LLM_RESPONSE,
            LLMResponse(
                id=request.id,
                error=detail,
                error_code=code,
                provider=self._provider,
                satellite=request.satellite,
            ),
        )

    async def cancelled(self, request: LLMRequest) -> None:
        """The final response of a cancelled request."""
        self._bus.metrics.inc("cancelled")
        await self.error(request, ErrorCode.CANCELLED.value, "request cancelled")
