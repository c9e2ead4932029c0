"""The merged tool registry and the conversion of MCP results into text for the model.

Tools are offered as ``mcp__<server>__<tool>`` (OpenAI function names allow letters,
digits, ``_`` and ``-`` up to 64 characters), so two servers may both have a ``search``.
Pure functions, no bus.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from mcp_types import CallToolResult, ImageContent, TextContent, Tool

from tars.contracts.tools import ToolSpec, ToolsRegistry

_LOGGER = logging.getLogger(__name__)

PREFIX = "mcp"
SEPARATOR = "__"
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_LONG_STRING = 512
"""Strings longer than this (images, blobs) are summarised in the text the model reads."""


def qualified(server: str, tool: str) -> str:
    """The registry name of ``tool`` on ``server``."""
    return f"{PREFIX}{SEPARATOR}{server}{SEPARATOR}{tool}"


def split_name(name: str) -> tuple[str, str] | None:
    """``(server, tool)`` of a registry name, or None if it is not one."""
    parts = name.split(SEPARATOR, 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def build_registry(offered: Iterable[tuple[str, Iterable[Tool]]]) -> ToolsRegistry:
    """The registry of every tool of the servers that are up, in server order."""
    specs = []
    for server, tools in offered:
        for tool in tools:
            name = qualified(server, tool.name)
            if not _FUNCTION_NAME.match(name):
                _LOGGER.warning("tool %r of %s has a name models cannot call", tool.name, server)
                continue
            schema = tool.input_schema or {"type": "object", "properties": {}}
            specs.append(
                ToolSpec(
                    function={
                        "name": name,
                        "description": (tool.description or tool.name).strip()[:1024],
                        "parameters": schema,
                    }
                )
            )
    return ToolsRegistry(tools=specs)


def result_text(result: CallToolResult, limit: int) -> str:
    """What the model reads of a tool result: its text parts, images summarised."""
    parts = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ImageContent):
            parts.append(f"[image {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        else:
            parts.append(f"[{block.type} content]")
    return clip("\n".join(part for part in parts if part), limit)


def images(result: CallToolResult) -> list[dict[str, str]]:
    """The images of a tool result, for the structured result (``{mime_type, data}``)."""
    return [
        {"mime_type": block.mime_type, "data": block.data}
        for block in result.content
        if isinstance(block, ImageContent)
    ]


def reply_text(data: dict[str, Any], limit: int) -> str:
    """A bus reply as compact JSON for the model, long strings (images) summarised."""
    return clip(json.dumps(_summarised(data), ensure_ascii=False, separators=(",", ":")), limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    return text if len(text) <= limit else text[: limit - 20] + " ... [truncated]"


def _summarised(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _LONG_STRING:
        return f"<{len(value)} characters>"
    if isinstance(value, dict):
        return {key: _summarised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_summarised(item) for item in value]
    return value
