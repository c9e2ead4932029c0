"""The MCP server list: a TOML file, or the built-in servers.

Example ``mcp.toml``::

    [servers.movement]
    builtin = "movement"            # a server shipped in this package, run in-process

    [servers.camera]
    builtin = "camera"              # a built-in run as its own process, for isolation
    command = ["python", "-m", "tars.services.mcp.builtin.camera"]

    [servers.weather]
    url = "http://127.0.0.1:8000/mcp"   # streamable HTTP
    tools = ["get_forecast"]            # only these tools are offered (default: all)
    call_timeout_s = 10

    [servers.notes]
    command = ["notes-mcp", "--db", "/srv/notes.db"]   # stdio
    env = { NOTES_READONLY = "1" }
    publish = []                        # topics its directives may publish (default: none)

A server's tools may publish to the bus only through directives in their results, and only
to the topics in ``publish`` (and ask only the ``requests`` topics); everything else is
refused and logged.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, model_validator

from tars.contracts.base import Model

ServerName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]

BUILTIN_ALLOWLISTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "character": (("character/update",), ("character/get",)),
    "movement": (("movement/command", "movement/stop"), ()),
    "memory": (("memory/remember",), ("memory/query",)),
    "camera": ((), ("camera/capture",)),
}
"""Built-in servers: the topics each may publish, and the requests each may make."""


class ServerConfig(Model):
    """One MCP server."""

    name: ServerName
    """Server name, the middle part of its tools' names (``mcp__<name>__<tool>``)."""
    command: list[str] | None = Field(default=None, min_length=1)
    """stdio: the program and its arguments."""
    url: str | None = Field(default=None, pattern=r"^https?://")
    """Streamable HTTP endpoint."""
    module: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*$")
    """In-process: the Python module whose ``app`` (an MCPServer) runs inside the mcp
    service, over memory streams (no process of its own)."""
    env: dict[str, str] = Field(default_factory=dict)
    """stdio: extra environment variables."""
    tools: list[str] | None = None
    """Tools offered to the model (None: all the server lists)."""
    publish: list[str] = Field(default_factory=list)
    """Topics this server's directives may publish."""
    requests: list[str] = Field(default_factory=list)
    """Topics this server's directives may send a request to (and await the reply)."""
    call_timeout_s: float = Field(default=15.0, gt=0)
    """Longest tool call, seconds."""
    start_timeout_s: float = Field(default=30.0, gt=0)
    """Longest start (spawn, handshake, tool list), seconds."""

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if sum(way is not None for way in (self.command, self.url, self.module)) != 1:
            raise ValueError(f"server {self.name!r} needs exactly one of command, url or module")
        return self

    @property
    def transport(self) -> str:
        """``inprocess``, ``stdio`` or ``http``."""
        if self.module is not None:
            return "inprocess"
        return "stdio" if self.command is not None else "http"


class ConfigError(ValueError):
    """The MCP configuration is unusable; the message names the file and the problem."""


def builtin_server(
    name: str, *, call_timeout_s: float, start_timeout_s: float, subprocess: bool = False
) -> ServerConfig:
    """The config of a built-in server: in-process, or a child run with this interpreter.

    Raises:
        ConfigError: no built-in server has that name.
    """
    if name not in BUILTIN_ALLOWLISTS:
        known = ", ".join(sorted(BUILTIN_ALLOWLISTS))
        raise ConfigError(f"unknown built-in MCP server {name!r} (known: {known})")
    publish, requests = BUILTIN_ALLOWLISTS[name]
    module = f"tars.services.mcp.builtin.{name}"
    return ServerConfig(
        name=name,
        command=[sys.executable, "-m", module] if subprocess else None,
        module=None if subprocess else module,
        publish=list(publish),
        requests=list(requests),
        call_timeout_s=call_timeout_s,
        start_timeout_s=start_timeout_s,
    )


def builtin_servers(
    names: str, *, call_timeout_s: float, start_timeout_s: float
) -> list[ServerConfig]:
    """The built-in servers in a comma-separated list, all in-process."""
    return [
        builtin_server(name.strip(), call_timeout_s=call_timeout_s, start_timeout_s=start_timeout_s)
        for name in names.split(",")
        if name.strip()
    ]


def load_config(path: Path, *, call_timeout_s: float, start_timeout_s: float) -> list[ServerConfig]:
    """Read a TOML server list (defaults for timeouts come from the settings).

    Raises:
        ConfigError: unreadable file, bad TOML or an invalid server entry.
    """
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from err
    servers = document.get("servers")
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: no [servers.<name>] tables")
    configs = []
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: servers.{name} must be a table")
        fields = {"call_timeout_s": call_timeout_s, "start_timeout_s": start_timeout_s, **entry}
        builtin = fields.pop("builtin", None)
        try:
            if builtin is not None:
                base = builtin_server(
                    str(builtin),
                    call_timeout_s=fields.pop("call_timeout_s"),
                    start_timeout_s=fields.pop("start_timeout_s"),
                    # A command or url given with a built-in runs it that way instead.
                    subprocess="command" in fields or "url" in fields,
                )
                configs.append(base.model_copy(update={"name": name, "command": None, **fields}))
                ServerConfig.model_validate(configs[-1].model_dump())
            else:
                configs.append(ServerConfig(name=name, **fields))
        except ValidationError as err:
            raise ConfigError(f"{path}: servers.{name}: {_first(err)}") from err
    return configs


def _first(error: ValidationError) -> str:
    item = error.errors()[0]
    location = ".".join(str(part) for part in item["loc"])
    return f"{location}: {item['msg']}" if location else str(item["msg"])
