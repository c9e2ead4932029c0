"""The mcp service: MCP servers behind the bus.

* One long-lived session per configured server (:mod:`~tars.services.mcp.session`),
  each supervised in its own named task and restarted with backoff when it dies.
* The merged tool list of the servers that are up is published retained on
  ``llm/tools/registry`` whenever it changes, so a dead server's tools leave it.
* ``llm/tool.call.request`` is answered on ``llm/tool.call.result`` with the same
  ``call_id`` (and the request's envelope id), within the server's timeout.
* Health is ok while every server is up; each fall and recovery is a health event.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from tars.contracts.tools import (
    TOPIC_TOOL_CALL_REQUEST,
    TOPIC_TOOL_CALL_RESULT,
    TOPIC_TOOLS_REGISTRY,
    ToolCallRequest,
)
from tars.runtime.bus import Bus, Message
from tars.runtime.settings import RuntimeSettings
from tars.services.mcp import toolset
from tars.services.mcp.calls import ToolRunner
from tars.services.mcp.config import ServerConfig, builtin_servers, load_config
from tars.services.mcp.directives import REPLY_TOPICS
from tars.services.mcp.session import STARTING, ServerSession
from tars.services.mcp.settings import McpSettings

_LOGGER = logging.getLogger(__name__)


class McpService:
    """Serves the tools of the configured MCP servers over the bus.

    Args:
        settings: The service settings.
        servers: The servers (from the config file or the built-ins).
        log_dir: Where stdio servers' stderr goes; None: this process's stderr.
    """

    name = "mcp"

    def __init__(
        self, settings: McpSettings, servers: list[ServerConfig], *, log_dir: Path | None = None
    ) -> None:
        self._settings = settings
        self.sessions = {
            server.name: ServerSession(
                server,
                self._on_change,
                restart_min_s=settings.restart_min_s,
                restart_max_s=settings.restart_max_s,
                probe_interval_s=settings.probe_interval_s,
                log_dir=log_dir,
            )
            for server in servers
        }
        self._dirty = asyncio.Event()
        self._bus: Bus | None = None
        self._runner: ToolRunner | None = None

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        assert self._bus is not None, "attach() first"
        return self._bus

    def attach(self, bus: Bus) -> None:
        """Subscribe to tool calls and declare the reply topics directives wait on."""
        self._bus = bus
        self._runner = ToolRunner(
            self.sessions, bus, max_result_chars=self._settings.max_result_chars
        )
        bus.subscribe(
            TOPIC_TOOL_CALL_REQUEST, self._on_call, workers=self._settings.max_concurrent_calls
        )
        expect = getattr(bus, "expect_replies", None)
        if expect is not None:
            for reply_topic in REPLY_TOPICS.values():
                expect(reply_topic)

    async def run(self) -> None:
        """Start every session and keep the registry and health current until cancelled."""
        await self.bus.wait_connected()
        self._dirty.set()  # first registry and health (at once when no server is configured)
        async with asyncio.TaskGroup() as group:
            for name, session in self.sessions.items():
                group.create_task(session.run(), name=f"mcp:server:{name}")
            group.create_task(self._announce(), name="mcp:announce")

    # -- registry and health -------------------------------------------------------------
    def _on_change(self, session: ServerSession) -> None:
        del session
        self._dirty.set()

    async def _announce(self) -> None:
        """Publish the registry and health after each change (changes coalesce)."""
        reported: dict[str, str | None] = {}
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._publish_registry()
            await self._publish_health(reported)

    async def _publish_registry(self) -> None:
        registry = toolset.build_registry(
            (name, session.tools) for name, session in self.sessions.items() if session.up
        )
        await self.bus.publish(TOPIC_TOOLS_REGISTRY, registry)
        self.bus.metrics.inc("registry_updates")
        _LOGGER.info("tool registry: %d tools", len(registry.tools))

    async def _publish_health(self, reported: dict[str, str | None]) -> None:
        down = {name: s.error for name, s in self.sessions.items() if not s.up}
        changes = [
            f"server {name} {'up' if session.up else 'down'}"
            for name, session in self.sessions.items()
            if reported.get(name, STARTING) != session.error
        ]
        for name, session in self.sessions.items():
            reported[name] = session.error
        tools = sum(len(s.tools) for s in self.sessions.values())
        if not down:
            event = "ready: " + (", ".join(changes) + "; " if changes else "")
            await self.bus.set_health(True, f"{event}{len(self.sessions)} servers, {tools} tools")
            return
        starting = [name for name, error in down.items() if error == STARTING]
        if len(starting) == len(down):
            await self.bus.set_health(False, f"starting MCP servers: {', '.join(starting)}")
            return
        detail = "; ".join(f"{name}: {error}" for name, error in down.items() if error != STARTING)
        event = ", ".join(changes) or f"{len(down)} servers down"
        await self.bus.set_health(False, event, detail[:500])

    # -- calls -------------------------------------------------------------------------------
    async def _on_call(self, message: Message) -> None:
        request: ToolCallRequest = message.data
        assert self._runner is not None
        result = await self._runner.run(request)
        await self.bus.publish(TOPIC_TOOL_CALL_RESULT, result, id=message.envelope.id)


def build(runtime: RuntimeSettings) -> McpService:
    """Build the mcp service from ``MCP_*`` settings (``tars run mcp``)."""
    settings = McpSettings()
    timeouts = {
        "call_timeout_s": settings.call_timeout_s,
        "start_timeout_s": settings.start_timeout_s,
    }
    if settings.config_file is not None:
        servers = load_config(settings.config_file, **timeouts)
    else:
        servers = builtin_servers(settings.builtin_servers, **timeouts)
    return McpService(settings, servers, log_dir=runtime.data_dir / "mcp")
