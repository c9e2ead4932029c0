"""In-process MCP servers: an ``MCPServer`` app served over memory streams in our own loop.

The built-in servers are a handful of tiny tools; a Python process each (~70 MiB resident)
is most of their cost. Run in-process they share the mcp service's interpreter, yet keep
the MCP protocol boundary (the same client session, tool listing and directive results as
a stdio server). The server runs in its own named task; when that task fails, the failure
is kept and the session's ``lost`` event is set, so the session restarts it exactly like a
stdio server whose process died, and the service itself carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.memory import create_client_server_memory_streams

_LOGGER = logging.getLogger(__name__)


class InProcessStopped(RuntimeError):
    """The in-process server's task ended or failed."""


def load_app(module: str) -> MCPServer:
    """The ``app`` (an :class:`MCPServer`) of a server module.

    Raises:
        ImportError: no such module.
        TypeError: the module has no ``app`` MCPServer.
    """
    app = getattr(importlib.import_module(module), "app", None)
    if not isinstance(app, MCPServer):
        raise TypeError(f"{module}.app is not an MCPServer")
    return app


def _lowlevel(app: MCPServer) -> Server[Any]:
    # MCPServer keeps its protocol server private (the SDK's own in-memory transport reads
    # it the same way); run_stdio_async is the only public runner and it owns stdin/stdout.
    server: Server[Any] = app._lowlevel_server
    return server


class InProcessServer:
    """One connection to an in-process server, for one client session.

    Args:
        module: The server module (its ``app`` is served).
        name: The server name (names the task and the log lines).
        lost: Set when the server task ends, so the session restarts.
    """

    def __init__(self, module: str, name: str, lost: asyncio.Event) -> None:
        self._module = module
        self._name = name
        self._lost = lost
        self.failure: BaseException | None = None
        """Why the server task ended (None while it runs)."""
        self._ended = asyncio.Event()

    @contextlib.asynccontextmanager
    async def streams(self) -> AsyncIterator[tuple[Any, Any]]:
        """The client's ``(read, write)`` streams while the server task runs."""
        server = _lowlevel(load_app(self._module))
        async with create_client_server_memory_streams() as (client_side, server_side):
            task = asyncio.create_task(
                self._serve(server, *server_side), name=f"mcp:inprocess:{self._name}"
            )
            try:
                yield client_side
            finally:
                task.cancel()
                await asyncio.wait([task])  # never raises; our own cancel still propagates

    async def check(self, grace_s: float = 1.0) -> None:
        """Raise the server task's failure once the connection is lost.

        The client may see the streams close before the failing task has finished
        unwinding, so this waits up to ``grace_s`` for the task to end.

        Raises:
            InProcessStopped: the task ended; the message says why.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), grace_s)
        if self.failure is not None:
            raise InProcessStopped(f"{type(self.failure).__name__}: {self.failure}")

    async def _serve(self, server: Server[Any], read: Any, write: Any) -> None:
        try:
            await server.run(read, write, server.create_initialization_options())
            self.failure = EOFError("the in-process server stopped")
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a failing server restarts; it must not take the service down
            _LOGGER.exception("in-process mcp server %s failed", self._name)
            self.failure = err
        finally:
            self._ended.set()
            self._lost.set()
            await write.aclose()  # pending client requests end now, not at their timeout
