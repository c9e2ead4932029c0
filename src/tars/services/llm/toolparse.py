"""Prompted tool calling for local models whose native tool-call output is unreliable.

The tool list goes into the system prompt with an instruction to reply with a fenced JSON
object ``{"tool": name, "arguments": {...}}`` when a tool is needed, and the reply text is
parsed here. Qwen's own ``<tool_call>{"name": ..., "arguments": ...}</tool_call>`` form and
a bare JSON object are accepted too. Everything here is a pure function.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from tars.services.llm.provider import ToolCall, ToolSchema

_LOGGER = logging.getLogger(__name__)

NO_TOOL = "none"
_FENCED = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)
_QWEN_TAG = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
#: First characters of a reply that may be a tool call (so it must be buffered, not spoken).
CALL_OPENERS = ("`", "{", "<")


@dataclass(frozen=True)
class ParsedReply:
    """What a model reply means.

    Attributes:
        call: The requested tool call, or None for a plain answer or an explicit "none".
        text: The reply with any JSON block removed (what to show or speak).
        malformed: True when the reply looked like a tool call but could not be used.
    """

    call: ToolCall | None
    text: str
    malformed: bool = False


def tool_instructions(tools: Sequence[ToolSchema]) -> str:
    """Render the system-prompt section that offers ``tools`` to the model."""
    lines = ["", "", "## Tools", "You can use these tools:"]
    for tool in tools:
        schema = json.dumps(dict(tool.parameters), separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description} Arguments (JSON schema): {schema}")
    lines += [
        "",
        "When a tool is needed, reply with only a fenced JSON object and nothing else:",
        "```json",
        '{"tool": "<tool name>", "arguments": {<arguments>}}',
        "```",
        "When no tool is needed, answer the user directly in plain text, without JSON.",
        f'If unsure, reply {{"tool": "{NO_TOOL}"}}.',
    ]
    return "\n".join(lines)


def parse_tool_reply(
    text: str, tool_names: Collection[str], *, call_id: str = "call_0"
) -> ParsedReply:
    """Parse a model reply that may contain a prompted tool call.

    Args:
        text: The full reply.
        tool_names: Names of the tools that were offered; other names are not calls.
        call_id: Id to give the call (local models do not produce ids).

    Returns:
        The parsed reply; plain text when no usable call is found.
    """
    found = _find_json_block(text)
    if found is None:
        return ParsedReply(call=None, text=text.strip())
    raw, rest = found
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError:
        _LOGGER.warning("unparseable tool-call JSON in model reply: %.200s", raw)
        return ParsedReply(call=None, text=rest, malformed=True)
    if not isinstance(obj, dict):
        return ParsedReply(call=None, text=rest, malformed=True)
    name = obj.get("tool", obj.get("name"))
    if name is None or name == NO_TOOL:
        answer = obj.get("answer") or obj.get("response") or ""
        return ParsedReply(call=None, text=rest or str(answer).strip())
    arguments = _arguments(obj)
    name = resolve_name(str(name), tool_names)
    if name not in tool_names or arguments is None:
        _LOGGER.warning("model asked for unknown tool or bad arguments: %.200s", raw)
        return ParsedReply(call=None, text=rest, malformed=True)
    return ParsedReply(call=ToolCall(id=call_id, name=str(name), arguments=arguments), text=rest)


def resolve_name(name: str, tool_names: Collection[str]) -> str:
    """The offered tool a model meant: its exact name, or the one name ending ``__<name>``.

    Small models often drop the ``mcp__<server>__`` prefix of registry names ("move" for
    ``mcp__movement__move``); an unambiguous suffix is taken, anything else is left as is.
    """
    if name in tool_names:
        return name
    matches = [tool for tool in tool_names if tool.endswith(f"__{name}")]
    return matches[0] if len(matches) == 1 else name


def _find_json_block(text: str) -> tuple[str, str] | None:
    """Return (json text, remaining text) for the first candidate block, or None."""
    for pattern in (_FENCED, _QWEN_TAG):
        match = pattern.search(text)
        if match and match.group(1).strip().startswith("{"):
            rest = (text[: match.start()] + text[match.end() :]).strip()
            return match.group(1).strip(), rest
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            _, end = json.JSONDecoder().raw_decode(stripped)
        except json.JSONDecodeError:
            return stripped, ""
        return stripped[:end], stripped[end:].strip()
    return None


def _arguments(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The call's arguments as a dict (some models send a JSON string), or None if unusable."""
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None
    return arguments if isinstance(arguments, dict) else None
