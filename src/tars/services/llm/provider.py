"""Engine-level chat types and the provider interface every LLM backend implements.

A provider turns a list of chat messages into a stream of events: text deltas, at most one
batch of tool calls, then exactly one :class:`Finished`. Providers know nothing about MQTT.

Cancellation is done by cancelling the task that consumes :meth:`LLMProvider.stream`; the
provider then closes its HTTP connection or stops its generation thread promptly. A consumer
that stops iterating early should close the iterator (``contextlib.aclosing``) for the same
effect.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """One function call requested by the model.

    Attributes:
        id: Call id, echoed back in the tool result message.
        name: Function name.
        arguments: Decoded JSON arguments.
    """

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation.

    Attributes:
        role: Who speaks: system, user, assistant or tool.
        content: The text (may be empty for an assistant message that only calls tools).
        tool_call_id: For ``tool`` messages, the id of the call this result answers.
        tool_calls: For ``assistant`` messages, the calls the model asked for.
    """

    role: Role
    content: str
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolSchema:
    """A tool offered to the model, in OpenAI function form.

    Attributes:
        name: Function name.
        description: What the tool does, for the model.
        parameters: JSON schema of the arguments object.
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )

    def to_openai(self) -> dict[str, Any]:
        """Return the ``tools`` array entry for a chat-completions request."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class CompletionParams:
    """Sampling parameters for one request.

    Attributes:
        model: Model name sent to the endpoint (ignored by the embedded provider).
        max_tokens: Maximum number of generated tokens.
        temperature: Sampling temperature (0 = greedy).
        top_p: Nucleus sampling probability mass.
    """

    model: str
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0


@dataclass(frozen=True)
class Usage:
    """Token counts reported by the backend.

    Attributes:
        prompt_tokens: Tokens in the prompt.
        completion_tokens: Tokens generated.
        cached_tokens: Prompt tokens the backend took from its prompt cache instead of
            reading them again (0 when it does not say).
    """

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True)
class TextDelta:
    """A piece of reply text, in order.

    Attributes:
        text: The new text.
    """

    text: str


@dataclass(frozen=True)
class ToolCallsReady:
    """The model asked for these tool calls (fully assembled).

    Attributes:
        calls: The calls, in the order the model gave them.
    """

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Finished:
    """The last event of every successful stream.

    Attributes:
        finish_reason: ``stop``, ``length``, ``tool_calls`` or what the backend said.
        usage: Token counts, when the backend reported them.
        model: The model that answered, as the backend named it.
    """

    finish_reason: str
    usage: Usage | None
    model: str


StreamEvent = TextDelta | ToolCallsReady | Finished


@runtime_checkable
class LLMProvider(Protocol):
    """A chat-completion backend."""

    @property
    def name(self) -> str:
        """Short provider name for logs and health (``openai``, ``embedded``)."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        params: CompletionParams,
        tools: Sequence[ToolSchema] = (),
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream one completion.

        Args:
            messages: The whole prompt, system message first.
            params: Sampling parameters.
            tools: Tools the model may call; empty for none.

        Returns:
            An async iterator of events ending with exactly one :class:`Finished`.

        Raises:
            LLMError: Any failure, with a stable code.
        """
        ...

    async def aclose(self) -> None:
        """Release connections, threads and models. Idempotent."""
        ...
