"""Running tool calls: every failure is a result the model can read, never silence."""

from __future__ import annotations

from typing import Any, cast

from mcp import MCPError
from mcp_types import CallToolResult, TextContent, Tool

from tars.contracts.tools import ToolCallRequest
from tars.runtime.metrics import Metrics
from tars.services.mcp.calls import BusPort, ToolRunner
from tars.services.mcp.config import ServerConfig
from tars.services.mcp.session import ServerSession


class FakeSession:
    """Stands in for a connected server whose one tool behaves as told."""

    def __init__(self, behaviour: Any) -> None:
        self.config = ServerConfig(name="fake", command=["fake"], call_timeout_s=0.05)
        self.tools = [Tool(name="act", input_schema={"type": "object"})]
        self.up, self.error, self.lost_called = True, None, False
        self._behaviour = behaviour

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        if isinstance(self._behaviour, BaseException):
            raise self._behaviour
        return cast(CallToolResult, self._behaviour)

    def lost(self) -> None:
        self.lost_called = True


class FakeBus:
    def __init__(self) -> None:
        self.metrics = Metrics("mcp")


async def run(behaviour: Any) -> tuple[Any, FakeSession]:
    session = FakeSession(behaviour)
    runner = ToolRunner(
        {"fake": cast(ServerSession, session)}, cast(BusPort, FakeBus()), max_result_chars=500
    )
    request = ToolCallRequest(call_id="c", name="mcp__fake__act", arguments={})
    return await runner.run(request), session


async def test_plain_result() -> None:
    result, _ = await run(CallToolResult(content=[TextContent(text="ok")], structured_content={}))
    assert (result.call_id, result.content, result.error) == ("c", "ok", None)


async def test_tool_error_timeout_and_lost_connection() -> None:
    failed, _ = await run(CallToolResult(content=[TextContent(text="bad input")], is_error=True))
    timed_out, _ = await run(TimeoutError())
    closed, session = await run(MCPError(code=-32000, message="Connection closed"))
    assert failed.error == "bad input"
    assert "did not answer within 0.05 s" in (timed_out.error or "")
    assert "Connection closed" in (closed.error or "")
    assert session.lost_called
