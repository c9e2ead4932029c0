"""Provider for any OpenAI-compatible ``/chat/completions`` endpoint, streamed over SSE.

Works with OpenAI, Ollama, the llama.cpp server, vLLM and LM Studio. One ``httpx.AsyncClient``
per provider is reused for every request and closed by :meth:`OpenAICompatProvider.aclose`.

Every request has a connect timeout, a read timeout (the longest silence between two chunks,
so a stalled stream fails with code ``timeout``) and a total deadline. httpx exceptions are
mapped to :class:`~tars.services.llm.errors.LLMError` codes in :func:`_mapped_errors` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from pydantic import SecretStr

from tars.services.llm.errors import (
    LLMBadResponseError,
    LLMConnectionError,
    LLMHttpStatusError,
    LLMTimeoutError,
)
from tars.services.llm.openai_wire import (
    DONE,
    ChunkAssembler,
    SseDecoder,
    decode_json,
    request_body,
)
from tars.services.llm.provider import ChatMessage, CompletionParams, StreamEvent, ToolSchema

if TYPE_CHECKING:
    import httpx

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")
_ERROR_TEXT_LIMIT = 300


@dataclass(frozen=True)
class HttpTimeouts:
    """Deadlines for one HTTP request.

    Attributes:
        connect_s: Seconds to open the connection (also used for write and pool waits).
        read_s: Longest silence between two received chunks, in seconds.
        total_s: Whole-request deadline in seconds, queueing included.
    """

    connect_s: float = 5.0
    read_s: float = 30.0
    total_s: float = 120.0


class OpenAICompatProvider:
    """Streams chat completions from an OpenAI-compatible server.

    Args:
        base_url: API root, e.g. ``http://127.0.0.1:11434/v1`` (``/chat/completions`` is added).
        api_key: Bearer token, or None for servers that need none. Never logged.
        timeouts: Connect, read and total deadlines.
        max_concurrent: Requests in flight at once; more wait for a slot (within the deadline).
        include_usage: Ask for token usage in the stream (``stream_options.include_usage``);
            turn off for servers that reject unknown fields.
        name: Provider name for logs and health.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: SecretStr | None = None,
        timeouts: HttpTimeouts | None = None,
        max_concurrent: int = 4,
        include_usage: bool = True,
        name: str = "openai",
    ) -> None:
        try:
            import httpx
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("httpx is not installed: run `uv sync --extra llm`") from err
        self._timeouts = timeouts or HttpTimeouts()
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._include_usage = include_usage
        self._name = name
        self._slots = asyncio.Semaphore(max_concurrent)
        headers = {"Accept": "text/event-stream"}
        if api_key is not None and api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
        connect = self._timeouts.connect_s
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                connect=connect, read=self._timeouts.read_s, write=connect, pool=connect
            ),
            limits=httpx.Limits(
                max_connections=max_concurrent, max_keepalive_connections=max_concurrent
            ),
        )
        self._closed = False

    @property
    def name(self) -> str:
        """Provider name for logs and health."""
        return self._name

    async def aclose(self) -> None:
        """Close the HTTP client and its connections. Idempotent."""
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema] = (),
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one completion; see :meth:`LLMProvider.stream`.

        Raises:
            LLMError: timeout, connection, http_status or bad_response.
        """
        body = request_body(messages, params, tools, include_usage=self._include_usage)
        deadline = asyncio.get_running_loop().time() + self._timeouts.total_s
        _LOGGER.debug("POST %s model=%s messages=%d", self._url, params.model, len(messages))
        with _mapped_errors(self._timeouts):
            await _before(deadline, self._slots.acquire())
            try:
                request = self._client.build_request(
                    "POST", self._url, content=orjson.dumps(body), headers=_JSON
                )
                response = await _before(deadline, self._client.send(request, stream=True))
                try:
                    async with contextlib.aclosing(_events(response, deadline)) as events:
                        async for event in events:
                            yield event
                finally:
                    # Closing an unfinished streamed response drops the connection, which is
                    # how the server learns that we cancelled.
                    await response.aclose()
            finally:
                self._slots.release()


_JSON = {"Content-Type": "application/json"}


async def _events(response: httpx.Response, deadline: float) -> AsyncGenerator[StreamEvent, None]:
    """Decode a response (SSE, or a plain JSON completion) into stream events."""
    if response.status_code >= 400:
        raw = await _before(deadline, response.aread())
        raise LLMHttpStatusError(response.status_code, _error_text(response.status_code, raw))
    assembler = ChunkAssembler()
    if "application/json" in response.headers.get("content-type", ""):
        # Some servers ignore stream=true and answer with one JSON completion.
        raw = await _before(deadline, response.aread())
        for event in assembler.feed(decode_json(raw)):
            yield event
        for event in assembler.finish():
            yield event
        return
    decoder = SseDecoder()
    lines = response.aiter_lines()
    done = False
    while not done:
        line = await _before(deadline, anext(lines, None))
        payloads = decoder.flush() if line is None else decoder.feed(line)
        for data in payloads:
            if data.strip() == DONE:
                done = True
                break
            for event in assembler.feed(decode_json(data)):
                yield event
        if line is None:
            break
    if not done and assembler.finish_reason is None:
        raise LLMConnectionError("stream ended before the completion finished")
    for event in assembler.finish():
        yield event


async def _before(deadline: float, awaitable: Awaitable[_T]) -> _T:
    """Await ``awaitable`` but give up at the request's total deadline (raises TimeoutError)."""
    async with asyncio.timeout_at(deadline):
        return await awaitable


def _error_text(status: int, raw: bytes) -> str:
    """Pull a short message out of an error body (OpenAI form, plain string or text)."""
    detail: Any = raw.decode("utf-8", "replace")
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(raw)
        if isinstance(parsed, dict):
            detail = parsed.get("error", parsed)
            if isinstance(detail, dict):
                detail = detail.get("message", detail)
    return f"HTTP {status}: {str(detail)[:_ERROR_TEXT_LIMIT]}"


@contextlib.contextmanager
def _mapped_errors(timeouts: HttpTimeouts) -> Iterator[None]:
    """Map httpx and deadline exceptions to LLMError codes (the one mapping boundary)."""
    import httpx

    try:
        yield
    except httpx.ConnectTimeout as err:
        raise LLMTimeoutError(f"connect timed out after {timeouts.connect_s:g} s") from err
    except httpx.ReadTimeout as err:
        raise LLMTimeoutError(f"no data from the endpoint for {timeouts.read_s:g} s") from err
    except httpx.TimeoutException as err:
        raise LLMTimeoutError(f"{type(err).__name__} after {timeouts.connect_s:g} s") from err
    except TimeoutError as err:
        raise LLMTimeoutError(f"request exceeded its {timeouts.total_s:g} s deadline") from err
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as err:
        raise LLMConnectionError(f"bad endpoint URL: {err}", permanent=True) from err
    except httpx.TransportError as err:
        raise LLMConnectionError(f"{type(err).__name__}: {err}") from err
    except httpx.StreamError as err:
        raise LLMBadResponseError(f"{type(err).__name__}: {err}") from err
