"""Tool registry and tool calls between the LLM and MCP services."""

from __future__ import annotations

from typing import Any, Literal

from tars.contracts.base import Model, Payload

TOPIC_TOOLS_REGISTRY = "llm/tools/registry"
TOPIC_TOOL_CALL_REQUEST = "llm/tool.call.request"
TOPIC_TOOL_CALL_RESULT = "llm/tool.call.result"


class ToolSpec(Model):
    """One tool in OpenAI function-schema form."""

    type: Literal["function"] = "function"
    """Always "function"."""
    function: dict[str, Any]
    """``{name, description, parameters}`` with a JSON schema for parameters."""


class ToolsRegistry(Payload):
    """Every tool currently offered (retained)."""

    tools: list[ToolSpec]
    """The tools."""


class ToolCallRequest(Payload):
    """Run a tool."""

    call_id: str
    """Id of this call; the result carries it back."""
    name: str
    """Tool name, ``mcp__<server>__<tool>``."""
    arguments: dict[str, Any]
    """Arguments matching the tool's schema."""
    request_id: str | None = None
    """LLM request that caused the call."""


class ToolCallResult(Payload):
    """The outcome of a tool call."""

    call_id: str
    """Id of the call."""
    result: dict[str, Any] | None = None
    """Structured result."""
    error: str | None = None
    """Error message when the call failed."""
    content: str | None = None
    """Text content of the result, for the model."""
