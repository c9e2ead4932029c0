"""Errors raised by LLM providers, each with a stable code for the ``llm/response`` error field.

Foreign exceptions (httpx, mistralrs) are mapped to these at one boundary per provider, with
``raise ... from err`` so the cause stays in the traceback.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable error codes; the router and UI react to these, people read the message."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_STATUS = "http_status"
    BAD_RESPONSE = "bad_response"
    CANCELLED = "cancelled"
    MODEL_UNAVAILABLE = "model_unavailable"
    TOOL_LOOP_LIMIT = "tool_loop_limit"
    TOOL_DEFERRED = "tool_deferred"


class LLMError(Exception):
    """Base of every provider error.

    Attributes:
        code: The stable error code.
        message: A human-readable explanation (never contains secrets).
        permanent: True when retrying the same request cannot help.
    """

    def __init__(self, code: ErrorCode, message: str, *, permanent: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.permanent = permanent


class LLMTimeoutError(LLMError):
    """A connect, read or total deadline passed."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.TIMEOUT, message)


class LLMConnectionError(LLMError):
    """The endpoint could not be reached or dropped the connection."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(ErrorCode.CONNECTION, message, permanent=permanent)


class LLMHttpStatusError(LLMError):
    """The endpoint answered with a non-2xx HTTP status.

    Attributes:
        status: The HTTP status code.
    """

    def __init__(self, status: int, message: str) -> None:
        # 429 and 5xx are worth a retry; other 4xx (bad key, bad model) are not.
        transient = status == 429 or status >= 500
        super().__init__(ErrorCode.HTTP_STATUS, message, permanent=not transient)
        self.status = status


class LLMBadResponseError(LLMError):
    """The endpoint or model produced output that could not be understood."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.BAD_RESPONSE, message, permanent=True)


class LLMCancelledError(LLMError):
    """The request was cancelled (raised by the service when it reports a cancel)."""

    def __init__(self, message: str = "request cancelled") -> None:
        super().__init__(ErrorCode.CANCELLED, message, permanent=True)


class ModelUnavailableError(LLMError):
    """The configured model cannot be found, verified or loaded."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.MODEL_UNAVAILABLE, message, permanent=True)


class ToolLoopLimitError(LLMError):
    """The model kept asking for tools beyond the allowed number of rounds."""

    def __init__(self, rounds: int) -> None:
        super().__init__(
            ErrorCode.TOOL_LOOP_LIMIT,
            f"model still requested tools after {rounds} rounds",
            permanent=True,
        )
