"""Tools offered over the bus: the retained registry and calls run by the mcp service.

The registry (``llm/tools/registry``, retained) lists the tools; each call goes out on
``llm/tool.call.request`` and its result comes back on ``llm/tool.call.result`` carrying
the same ``call_id``. Results are matched by ``call_id`` here rather than by envelope
id, because the executor answers per call, not per message.
"""

from __future__ import annotations

import asyncio
import json
import logging

from tars.contracts.tools import (
    TOPIC_TOOL_CALL_REQUEST,
    ToolCallRequest,
    ToolCallResult,
    ToolsRegistry,
)
from tars.runtime.bus import Bus
from tars.services.llm.provider import ToolCall, ToolSchema

_LOGGER = logging.getLogger(__name__)


def registry_schemas(registry: ToolsRegistry) -> list[ToolSchema]:
    """Convert the registry's OpenAI function specs into engine tool schemas."""
    schemas = []
    for spec in registry.tools:
        name = spec.function.get("name")
        if not isinstance(name, str) or not name:
            _LOGGER.warning("ignoring a tool without a name: %s", spec.function)
            continue
        parameters = spec.function.get("parameters") or {"type": "object", "properties": {}}
        description = str(spec.function.get("description") or "")
        schemas.append(ToolSchema(name, description, parameters))
    return schemas


def result_text(result: ToolCallResult) -> str:
    """The text the model reads for a tool result (errors included, as text)."""
    if result.error:
        return f"Tool error: {result.error}"
    if result.content:
        return result.content
    if result.result is not None:
        return json.dumps(result.result, ensure_ascii=False)
    return "The tool returned nothing."


class ToolBridge:
    """Keeps the current tool list and runs calls over the bus.

    Args:
        bus: The llm service's bus.
        timeout_s: How long one call may take before the model is told it timed out.
    """

    def __init__(self, bus: Bus, *, timeout_s: float) -> None:
        self._bus = bus
        self._timeout_s = timeout_s
        self._tools: list[ToolSchema] = []
        self._waiting: dict[str, asyncio.Future[ToolCallResult]] = {}

    @property
    def tools(self) -> list[ToolSchema]:
        """Tools currently offered (empty until a registry arrives)."""
        return list(self._tools)

    def update(self, registry: ToolsRegistry) -> None:
        """Adopt a new registry, keeping the tools already known in their place.

        The tools are rendered into the prompt in this order, after the persona, and the
        embedded runtime only reuses the cached prompt up to the first difference. The mcp
        service lists tools in server order as servers come up, so a server that starts late
        lands in front of the others: in arrival order it is appended instead, and only its
        own tools have to be read.
        """
        fresh = {tool.name: tool for tool in registry_schemas(registry)}
        kept = [fresh.pop(tool.name) for tool in self._tools if tool.name in fresh]
        self._tools = kept + list(fresh.values())
        _LOGGER.info("tool registry: %d tools", len(self._tools))

    def resolve(self, result: ToolCallResult) -> None:
        """Hand a result to the call waiting for it (unknown call ids are ignored)."""
        future = self._waiting.pop(result.call_id, None)
        if future is not None and not future.done():
            future.set_result(result)

    async def execute(self, call: ToolCall, request_id: str) -> str:
        """Run one call through the mcp service and return its result text."""
        # Providers number calls per request ("call_0", "call_1"): on the bus the id is
        # qualified by the request, so concurrent requests never take each other's results.
        wire_id = f"{request_id}:{call.id}"
        future: asyncio.Future[ToolCallResult] = asyncio.get_running_loop().create_future()
        self._waiting[wire_id] = future
        try:
            await self._bus.publish(
                TOPIC_TOOL_CALL_REQUEST,
                ToolCallRequest(
                    call_id=wire_id,
                    name=call.name,
                    arguments=dict(call.arguments),
                    request_id=request_id,
                ),
            )
            result = await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            self._bus.metrics.inc("tool_timeouts")
            _LOGGER.warning("tool %s did not answer within %.1f s", call.name, self._timeout_s)
            return f"Tool error: {call.name} did not answer within {self._timeout_s:g} s."
        finally:
            self._waiting.pop(wire_id, None)
        return result_text(result)
