"""A small, real OpenAI-compatible HTTP server for tests (stdlib asyncio only).

It listens on 127.0.0.1 on a free port and answers ``POST /v1/chat/completions`` with scripted
replies: SSE chunk streams with delays, a stall (headers and some chunks, then silence), HTTP
errors and plain JSON completions. It records every request body and whether the client closed
the connection before the reply was complete (how a cancel looks from the server side).

Usage::

    async with OpenAIServer([text_stream(["Hel", "lo"])]) as server:
        provider = OpenAICompatProvider(server.base_url)
        ...
        assert server.requests[0].body["stream"] is True
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    Attributes:
        status: HTTP status code.
        chunks: SSE ``data:`` payloads, in order (dicts are sent as JSON, strings as they are).
        delay_s: Pause before each chunk, in seconds.
        stall_after: If set, send this many chunks and then hang until the client goes away.
        done: Send ``data: [DONE]`` after the chunks.
        json_body: If set, answer with this JSON document instead of an SSE stream.
    """

    status: int = 200
    chunks: Sequence[dict[str, Any] | str] = ()
    delay_s: float = 0.0
    stall_after: int | None = None
    done: bool = True
    json_body: Any = None


@dataclass
class RecordedRequest:
    """What the server saw of one request.

    Attributes:
        method: HTTP method.
        path: Request path.
        headers: Header names lower-cased.
        body: The decoded JSON body (None when empty or not JSON).
        closed_early: Set when the client closed the connection before the reply was complete.
        completed: Set when the whole reply was written.
        closed_at: ``time.monotonic()`` when ``closed_early`` was set (None until then).
        chunks_sent: SSE chunks written so far.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    closed_early: asyncio.Event = field(default_factory=asyncio.Event)
    completed: asyncio.Event = field(default_factory=asyncio.Event)
    closed_at: float | None = None
    chunks_sent: int = 0

    @property
    def user_text(self) -> str:
        """Content of the last user message of a chat request ("" if there is none)."""
        messages = self.body.get("messages", []) if isinstance(self.body, dict) else []
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else ""
        return ""


def chunk(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    model: str = "test-model",
) -> dict[str, Any]:
    """Build one ``chat.completion.chunk`` object."""
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def usage_chunk(
    prompt_tokens: int, completion_tokens: int, model: str = "test-model"
) -> dict[str, Any]:
    """Build the trailing usage-only chunk sent when ``stream_options.include_usage`` is on."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def text_stream(
    texts: Iterable[str],
    *,
    usage: tuple[int, int] | None = (11, 3),
    delay_s: float = 0.0,
    stall_after: int | None = None,
    model: str = "test-model",
) -> Reply:
    """A streamed text answer: one chunk per text piece, a finish chunk, then usage."""
    chunks: list[dict[str, Any] | str] = [chunk(t, model=model) for t in texts]
    chunks.append(chunk(finish_reason="stop", model=model))
    if usage is not None:
        chunks.append(usage_chunk(*usage, model=model))
    return Reply(chunks=chunks, delay_s=delay_s, stall_after=stall_after)


def tool_call_stream(
    name: str, argument_fragments: Iterable[str], *, call_id: str = "call_1", index: int = 0
) -> Reply:
    """A streamed tool call: id and name first, then the JSON arguments in fragments."""
    first = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    chunks: list[dict[str, Any] | str] = [chunk(tool_calls=[first])]
    chunks += [
        chunk(tool_calls=[{"index": index, "function": {"arguments": piece}}])
        for piece in argument_fragments
    ]
    chunks.append(chunk(finish_reason="tool_calls"))
    return Reply(chunks=chunks)


def completion_json(text: str, *, model: str = "test-model") -> dict[str, Any]:
    """A non-streamed ``chat.completion`` document."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


class OpenAIServer:
    """The scripted server; an async context manager that starts and stops it.

    Args:
        replies: Replies handed out in request order.
        default: Reply used once ``replies`` is exhausted (None: answer 500).
        choose: Picks the reply from the request itself (None from it: the next scripted one),
            for tests where the order of requests is not known in advance.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        choose: Callable[[RecordedRequest], Reply | None] | None = None,
    ) -> None:
        self._replies = deque(replies)
        self._default = default
        self._choose = choose
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests: list[RecordedRequest] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        """The API root to give a provider."""
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, reply: Reply) -> None:
        """Queue one more reply."""
        self._replies.append(reply)

    async def __aenter__(self) -> OpenAIServer:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _reply_for(self, request: RecordedRequest) -> Reply:
        chosen = self._choose(request) if self._choose is not None else None
        return chosen if chosen is not None else self._next_reply()

    def _next_reply(self) -> Reply:
        if self._replies:
            return self._replies.popleft()
        return self._default or Reply(status=500, json_body={"error": {"message": "no reply"}})

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The exchange runs as a task of its own that __aexit__ may cancel; this callback
        # only waits for it. (On Python 3.11 asyncio logs "Exception in callback" when the
        # task start_server wraps the callback in ends cancelled.)
        task = asyncio.create_task(self._exchange(reader, writer), name="openai-server:exchange")
        self._tasks.add(task)
        try:
            await asyncio.wait([task])
        finally:
            self._tasks.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        watcher: asyncio.Task[None] | None = None
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            watcher = asyncio.create_task(_watch_disconnect(reader, request), name="server-watch")
            await _respond(self._reply_for(request), writer, request)
        except ConnectionError:
            pass
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    body = json.loads(raw) if raw else None
    return RecordedRequest(method=method, path=path, headers=headers, body=body)


async def _watch_disconnect(reader: asyncio.StreamReader, request: RecordedRequest) -> None:
    # With "Connection: close" the client sends nothing more; EOF means it hung up.
    with contextlib.suppress(ConnectionError):
        while await reader.read(1024):
            pass
    if not request.completed.is_set():
        request.closed_at = time.monotonic()
        request.closed_early.set()


async def _respond(reply: Reply, writer: asyncio.StreamWriter, request: RecordedRequest) -> None:
    reason = _REASONS.get(reply.status, "Status")
    if reply.json_body is not None or reply.status >= 400:
        payload = json.dumps(reply.json_body if reply.json_body is not None else {}).encode()
        writer.write(
            f"HTTP/1.1 {reply.status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        request.completed.set()
        await writer.drain()
        return
    writer.write(
        f"HTTP/1.1 {reply.status} {reason}\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    for sent, item in enumerate(reply.chunks):
        if reply.stall_after is not None and sent >= reply.stall_after:
            await request.closed_early.wait()
            return
        if reply.delay_s:  # a pause that a hang-up ends at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(request.closed_early.wait(), reply.delay_s)
        if request.closed_early.is_set():
            return
        data = item if isinstance(item, str) else json.dumps(item)
        writer.write(f"data: {data}\n\n".encode())
        await writer.drain()
        request.chunks_sent += 1
    if reply.stall_after is not None:
        await request.closed_early.wait()
        return
    if reply.done:
        writer.write(b"data: [DONE]\n\n")
    # Marked before the final drain: a client may hang up as soon as it has the last bytes.
    request.completed.set()
    await writer.drain()
