"""One long-lived MCP client session per server, restarted with backoff when it dies.

A stdio server is one child process for the life of the session (never a process per
call); its exit closes the transport's read stream, which :class:`_Watched` notices at once.
An in-process server (:mod:`~tars.services.mcp.inprocess`) is one task in this process over
memory streams; its task ending or failing is noticed the same way.
An HTTP server has no process to watch, so it is probed with a tool listing every
``probe_interval_s``. Either way the session is marked down (its tools leave the registry),
the transport is closed, and a new session starts after a doubling delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, Implementation, Tool

from tars.services.mcp.config import ServerConfig
from tars.services.mcp.inprocess import InProcessServer

_LOGGER = logging.getLogger(__name__)
_HEALTHY_RESET_S = 60.0
"""A session that lived this long restarts with the shortest delay again."""

STARTING = "starting"
"""The error of a session that has not connected yet."""

Changed = Callable[["ServerSession"], None]
"""Called whenever a session goes up or down."""


class ServerDown(RuntimeError):
    """The server is not connected (starting, restarting, or failed)."""


class _Watched:
    """A transport read stream that sets ``lost`` when the server side closes."""

    def __init__(self, inner: Any, lost: asyncio.Event) -> None:
        self._inner = inner
        self._lost = lost

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._lost.set()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _Watched:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ServerSession:
    """Keeps one server connected and offers its tools.

    Args:
        config: The server.
        changed: Called on every up/down transition.
        restart_min_s: First restart delay (doubles up to ``restart_max_s``).
        restart_max_s: Longest restart delay.
        probe_interval_s: HTTP liveness probe period.
        log_dir: Where a stdio server's stderr goes (``<name>.log``); None: our stderr.
    """

    def __init__(
        self,
        config: ServerConfig,
        changed: Changed,
        *,
        restart_min_s: float = 0.5,
        restart_max_s: float = 30.0,
        probe_interval_s: float = 10.0,
        log_dir: Path | None = None,
    ) -> None:
        self.config = config
        self._changed = changed
        self._restart_min = restart_min_s
        self._restart_max = restart_max_s
        self._probe_interval = probe_interval_s
        self._log_dir = log_dir
        self._client: Client | None = None
        self._lost: asyncio.Event | None = None
        self._inprocess: InProcessServer | None = None
        self.tools: list[Tool] = []
        self.error: str | None = STARTING
        self.starts = 0

    @property
    def up(self) -> bool:
        """Whether the server is connected and its tools are offered."""
        return self._client is not None

    async def run(self) -> None:
        """Connect, serve until the server dies, restart after a backoff; until cancelled."""
        delay = self._restart_min
        while True:
            started = time.monotonic()
            try:
                await self._serve_once()
                error = "the server went away"
            except asyncio.CancelledError:
                raise
            except Exception as err:  # any failure of a foreign server: restart it
                error = f"{type(err).__name__}: {err}".strip()[:300]
            self._set_down(error)
            if time.monotonic() - started > _HEALTHY_RESET_S:
                delay = self._restart_min
            _LOGGER.warning(
                "mcp server %s down (%s); restarting in %.1f s", self.config.name, error, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._restart_max)

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call one tool within the server's timeout.

        Raises:
            ServerDown: not connected.
            TimeoutError: no answer within ``call_timeout_s``.
        """
        client = self._client
        if client is None:
            raise ServerDown(f"MCP server {self.config.name} is not running ({self.error})")
        async with asyncio.timeout(self.config.call_timeout_s):
            result = await client.call_tool(tool, arguments)
        if not isinstance(result, CallToolResult):
            raise ServerDown(f"unexpected result type {type(result).__name__}")
        return result

    def lost(self) -> None:
        """A call saw the connection fail: restart now rather than at the next probe."""
        if self._lost is not None:
            self._lost.set()

    async def _serve_once(self) -> None:
        lost = asyncio.Event()
        self._lost = lost
        self.starts += 1
        async with contextlib.AsyncExitStack() as stack:
            async with asyncio.timeout(self.config.start_timeout_s):
                client = await stack.enter_async_context(
                    Client(
                        self._transport(lost, stack),
                        cache=None,
                        client_info=Implementation(name="tars-mcp", version="1"),
                    )
                )
                listing = await client.list_tools()
            wanted = self.config.tools
            self.tools = [t for t in listing.tools if wanted is None or t.name in wanted]
            self._client, self.error = client, None
            _LOGGER.info("mcp server %s up with %d tools", self.config.name, len(self.tools))
            self._changed(self)
            try:
                if self.config.transport == "http":
                    await self._probe(client, lost)
                await lost.wait()
            finally:
                self._client = None
        if self._inprocess is not None:  # out of the client, so its task group adds no wrapper
            await self._inprocess.check()

    async def _probe(self, client: Client, lost: asyncio.Event) -> None:
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._probe_interval)
            if lost.is_set():
                return
            async with asyncio.timeout(self.config.call_timeout_s):
                await client.list_tools()  # raises when the server is gone

    def _transport(self, lost: asyncio.Event, stack: contextlib.AsyncExitStack) -> Any:
        @contextlib.asynccontextmanager
        async def watched() -> AsyncIterator[tuple[Any, Any]]:
            inner: contextlib.AbstractAsyncContextManager[Any]
            self._inprocess = None
            if self.config.module is not None:
                self._inprocess = InProcessServer(self.config.module, self.config.name, lost)
                inner = self._inprocess.streams()
            elif self.config.command is not None:
                command, *args = self.config.command
                params = StdioServerParameters(command=command, args=args, env=self.config.env)
                inner = stdio_client(params, errlog=self._errlog(stack))
            else:
                assert self.config.url is not None
                inner = streamable_http_client(self.config.url)
            async with inner as (read, write):
                yield _Watched(read, lost), write

        return watched()

    def _errlog(self, stack: contextlib.AsyncExitStack) -> TextIO:
        if self._log_dir is None:
            return sys.stderr
        self._log_dir.mkdir(parents=True, exist_ok=True)
        return stack.enter_context((self._log_dir / f"{self.config.name}.log").open("a"))

    def _set_down(self, error: str) -> None:
        # Report every fall and every new failure, not each identical retry.
        news = self.error is None or self.error != error
        self._client, self.tools, self.error = None, [], error
        if news:
            self._changed(self)
