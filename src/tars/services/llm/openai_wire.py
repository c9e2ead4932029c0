"""Pure helpers for the OpenAI chat-completions wire format: request bodies, SSE, chunk assembly.

Nothing here does I/O, so every piece is unit tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from tars.services.llm.errors import LLMBadResponseError
from tars.services.llm.provider import (
    ChatMessage,
    CompletionParams,
    Finished,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    ToolSchema,
    Usage,
)

DONE = "[DONE]"


def message_to_openai(message: ChatMessage) -> dict[str, Any]:
    """Convert one :class:`ChatMessage` to its chat-completions JSON form."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        # OpenAI wants null content on a pure tool-call turn, and arguments as a JSON string.
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": orjson.dumps(dict(call.arguments)).decode(),
                },
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def request_body(
    messages: Sequence[ChatMessage],
    params: CompletionParams,
    tools: Sequence[ToolSchema],
    *,
    include_usage: bool,
) -> dict[str, Any]:
    """Build a streaming chat-completions request body."""
    body: dict[str, Any] = {
        "model": params.model,
        "messages": [message_to_openai(m) for m in messages],
        "stream": True,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
    }
    if tools:
        body["tools"] = [tool.to_openai() for tool in tools]
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


@dataclass
class SseDecoder:
    """Incremental Server-Sent Events decoder yielding each event's ``data`` payload.

    Feed it lines without their terminators. Multi-line ``data:`` fields are joined with
    newlines; comments and other fields are ignored, as the SSE specification says.
    """

    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Iterator[str]:
        """Consume one line and yield a completed event's data, if the line ended one."""
        if not line:
            yield from self.flush()
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)

    def flush(self) -> Iterator[str]:
        """Yield a pending event (call at end of stream)."""
        if self._data:
            data = "\n".join(self._data)
            self._data.clear()
            yield data


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class ChunkAssembler:
    """Turns decoded ``chat.completion.chunk`` objects into :data:`StreamEvent` values.

    Tool calls arrive as fragments keyed by ``index`` (id and name once, arguments in
    pieces); they are assembled and released together by :meth:`finish`.
    """

    model: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    _calls: dict[int, _PartialCall] = field(default_factory=dict)

    def feed(self, chunk: Any) -> Iterator[StreamEvent]:
        """Consume one decoded chunk and yield the text deltas it carries."""
        if not isinstance(chunk, dict):
            raise LLMBadResponseError(f"stream chunk is not an object: {chunk!r:.200}")
        if "error" in chunk:
            raise LLMBadResponseError(f"endpoint reported an error: {chunk['error']!r:.300}")
        self.model = chunk.get("model") or self.model
        self._take_usage(chunk.get("usage"))
        for choice in chunk.get("choices") or ():
            # The non-streaming form carries "message" where the streaming one has "delta".
            delta = choice.get("delta") or choice.get("message") or {}
            text = delta.get("content")
            if text:
                yield TextDelta(text)
            for position, fragment in enumerate(delta.get("tool_calls") or ()):
                self._take_tool_fragment(position, fragment)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def finish(self) -> Iterator[StreamEvent]:
        """Yield the assembled tool calls (if any) and the final :class:`Finished`."""
        if self._calls:
            yield ToolCallsReady(tuple(self._build_call(i) for i in sorted(self._calls)))
        reason = self.finish_reason or ("tool_calls" if self._calls else "stop")
        yield Finished(finish_reason=reason, usage=self.usage, model=self.model)

    def _take_usage(self, usage: Any) -> None:
        if isinstance(usage, dict) and "completion_tokens" in usage:
            self.usage = Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage["completion_tokens"] or 0),
                cached_tokens=_cached_tokens(usage),
            )

    def _take_tool_fragment(self, position: int, fragment: Any) -> None:
        # Ollama sends whole calls without an index; fall back to the list position.
        index = fragment.get("index", position)
        partial = self._calls.setdefault(index, _PartialCall())
        partial.id = fragment.get("id") or partial.id
        function = fragment.get("function") or {}
        partial.name = function.get("name") or partial.name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            partial.arguments = [orjson.dumps(arguments).decode()]
        elif arguments:
            partial.arguments.append(arguments)

    def _build_call(self, index: int) -> ToolCall:
        partial = self._calls[index]
        if not partial.name:
            raise LLMBadResponseError(f"tool call {index} has no function name")
        raw = "".join(partial.arguments) or "{}"
        try:
            arguments = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            raise LLMBadResponseError(
                f"tool call {partial.name!r} has invalid JSON arguments: {raw!r:.200}"
            ) from err
        if not isinstance(arguments, dict):
            raise LLMBadResponseError(f"tool call {partial.name!r} arguments are not an object")
        return ToolCall(id=partial.id or f"call_{index}", name=partial.name, arguments=arguments)


def decode_json(data: str | bytes) -> Any:
    """Decode a JSON payload, mapping failures to :class:`LLMBadResponseError`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise LLMBadResponseError(f"invalid JSON from endpoint: {data!r:.200}") from err


def _cached_tokens(usage: dict[str, Any]) -> int:
    """OpenAI's ``prompt_tokens_details.cached_tokens`` (llama.cpp's server sends it too)."""
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, dict):
        return 0
    try:
        return int(details.get("cached_tokens") or 0)
    except (TypeError, ValueError):
        return 0
