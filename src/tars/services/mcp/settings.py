"""Settings of the mcp service, read once from ``MCP_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tars.runtime.settings import TarsSettings


class McpSettings(TarsSettings):
    """Configuration of the mcp service: which servers, timeouts, restarts, limits."""

    model_config = SettingsConfigDict(env_prefix="MCP_", frozen=True, extra="ignore")

    config_file: Path | None = None
    """TOML file listing the MCP servers (stdio commands, HTTP URLs, built-ins, allowlists);
    unset: the built-in servers named in MCP_BUILTIN_SERVERS."""
    builtin_servers: str = "character,movement,memory,camera"
    """Built-in servers started when no config file is given, comma-separated."""
    call_timeout_s: float = Field(default=15.0, gt=0)
    """Default longest tool call, bus request included, seconds (per server in the file)."""
    start_timeout_s: float = Field(default=30.0, gt=0)
    """Default longest start of a server (spawn, handshake, tool list), seconds."""
    restart_min_s: float = Field(default=0.5, gt=0)
    """First delay before restarting a server that died, seconds (doubles each time)."""
    restart_max_s: float = Field(default=30.0, gt=0)
    """Longest delay between restarts, seconds."""
    probe_interval_s: float = Field(default=10.0, gt=0)
    """How often an HTTP server is checked (a stdio server's exit is seen at once), seconds."""
    max_concurrent_calls: int = Field(default=8, ge=1)
    """Tool calls handled at once; more wait in the bus queue."""
    max_result_chars: int = Field(default=4000, ge=100)
    """Longest tool result text handed to the model, characters."""
