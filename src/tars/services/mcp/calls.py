"""Running one ``llm/tool.call.request``: find the server, call, apply directives, answer.

Every outcome is a :class:`ToolCallResult` (errors included, as text the model can read),
so the llm's tool loop never waits for an answer that will not come.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from mcp import MCPError

from tars.contracts.tools import ToolCallRequest, ToolCallResult
from tars.runtime.bus import Message
from tars.runtime.metrics import Metrics
from tars.services.mcp import directives, toolset
from tars.services.mcp.session import ServerDown, ServerSession

_LOGGER = logging.getLogger(__name__)


class BusPort(Protocol):
    """What running a call needs from the bus."""

    metrics: Metrics

    async def publish(
        self,
        topic: str,
        data: Any,
        *,
        id: str | None = None,
        qos: int | None = None,
        retain: bool | None = None,
    ) -> str:
        """Publish a payload model."""

    async def request(
        self, topic: str, data: Any, *, reply_topic: str, timeout_s: float
    ) -> Message:
        """Publish and await the reply."""


class ToolRunner:
    """Runs tool calls against the sessions.

    Args:
        sessions: Server sessions by name.
        bus: Where directives publish and send requests.
        max_result_chars: Longest text handed to the model.
    """

    def __init__(
        self, sessions: Mapping[str, ServerSession], bus: BusPort, *, max_result_chars: int
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._limit = max_result_chars

    async def run(self, request: ToolCallRequest) -> ToolCallResult:
        """Run one call; never raises for the call's own failures."""
        try:
            text, result = await self._run(request)
        except CallFailed as err:
            self._bus.metrics.inc("tool_errors")
            _LOGGER.warning("tool call %s (%s) failed: %s", request.call_id, request.name, err)
            return ToolCallResult(call_id=request.call_id, error=str(err))
        self._bus.metrics.inc("tool_calls")
        return ToolCallResult(call_id=request.call_id, content=text, result=result)

    async def _run(self, request: ToolCallRequest) -> tuple[str, dict[str, Any] | None]:
        session, tool = self._target(request.name)
        try:
            outcome = await session.call(tool, dict(request.arguments))
        except ServerDown as err:
            raise CallFailed(str(err)) from err
        except TimeoutError as err:
            limit = session.config.call_timeout_s
            raise CallFailed(f"{request.name} did not answer within {limit:g} s") from err
        except MCPError as err:
            if "closed" in str(err).lower():
                session.lost()
            raise CallFailed(f"{request.name}: {err}") from err
        if outcome.is_error:
            raise CallFailed(toolset.result_text(outcome, self._limit) or "the tool failed")
        structured = outcome.structured_content
        if isinstance(structured, dict) and directives.DIRECTIVE_KEY in structured:
            return await self._directed(session, structured)
        result: dict[str, Any] | None = structured if isinstance(structured, dict) else None
        found = toolset.images(outcome)
        if found:
            result = {**(result or {}), "images": found}
        return toolset.result_text(outcome, self._limit), result

    def _target(self, name: str) -> tuple[ServerSession, str]:
        parts = toolset.split_name(name)
        session = self._sessions.get(parts[0]) if parts else None
        if parts is None or session is None:
            raise CallFailed(f"no such tool: {name}")
        if not any(tool.name == parts[1] for tool in session.tools):
            if not session.up:
                raise CallFailed(f"MCP server {parts[0]} is not running ({session.error})")
            raise CallFailed(f"tool {name} is not offered")
        return session, parts[1]

    async def _directed(
        self, session: ServerSession, structured: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        config = session.config
        try:
            wanted = directives.parse(
                structured[directives.DIRECTIVE_KEY],
                server=config.name,
                publish_allowed=frozenset(config.publish),
                requests_allowed=frozenset(config.requests),
                timeout_s=config.call_timeout_s,
            )
        except directives.DirectiveRefused as err:
            self._bus.metrics.inc("directives_refused")
            _LOGGER.warning("refused a directive from MCP server %s: %s", config.name, err)
            raise CallFailed(f"refused: {err}") from err
        for publish in wanted.publish:
            await self._bus.publish(publish.topic, publish.data)
            self._bus.metrics.inc("directives_published")
        result = {k: v for k, v in structured.items() if k != directives.DIRECTIVE_KEY}
        text = str(structured.get("text") or "Done.")
        if wanted.request is not None:
            ask = wanted.request
            try:
                reply = await self._bus.request(
                    ask.topic, ask.data, reply_topic=ask.reply_topic, timeout_s=ask.timeout_s
                )
            except TimeoutError as err:
                raise CallFailed(
                    f"no answer on {ask.reply_topic} within {ask.timeout_s:g} s"
                ) from err
            data = reply.data.model_dump(mode="json", exclude_none=True)
            data.pop("message_id", None)
            result["reply"] = data
            text = f"{text}\n{toolset.reply_text(data, self._limit)}"
        return toolset.clip(text, self._limit), result


class CallFailed(RuntimeError):
    """The call did not produce a result; the message is what the model is told."""
