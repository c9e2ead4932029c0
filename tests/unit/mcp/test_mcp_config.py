"""The MCP server list: TOML file, built-ins and their allowlists, clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tars.services.mcp.config import ConfigError, builtin_server, builtin_servers, load_config

TIMEOUTS = {"call_timeout_s": 15.0, "start_timeout_s": 30.0}


def test_builtins_run_in_process_and_have_fixed_allowlists() -> None:
    servers = {s.name: s for s in builtin_servers("character, movement,memory,camera", **TIMEOUTS)}
    assert servers["movement"].module == "tars.services.mcp.builtin.movement"
    assert servers["movement"].publish == ["movement/command", "movement/stop"]
    assert servers["memory"].requests == ["memory/query"]
    assert servers["camera"].publish == []
    assert all(s.transport == "inprocess" for s in servers.values())


def test_builtins_can_run_as_children_of_this_interpreter() -> None:
    movement = builtin_server("movement", call_timeout_s=1, start_timeout_s=1, subprocess=True)
    assert movement.command == [sys.executable, "-m", "tars.services.mcp.builtin.movement"]
    assert (movement.transport, movement.module) == ("stdio", None)


def test_unknown_builtin_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown built-in MCP server 'teleport'"):
        builtin_servers("teleport", **TIMEOUTS)


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "mcp.toml"
    path.write_text(
        """
[servers.body]
builtin = "movement"
call_timeout_s = 5

[servers.eye]
builtin = "camera"
command = ["python", "-m", "tars.services.mcp.builtin.camera"]

[servers.weather]
url = "http://127.0.0.1:8000/mcp"
tools = ["forecast"]

[servers.notes]
command = ["notes-mcp", "--db", "/tmp/notes.db"]
env = { NOTES_READONLY = "1" }
publish = ["memory/remember"]
"""
    )
    body, eye, weather, notes = load_config(path, **TIMEOUTS)
    assert (body.name, body.call_timeout_s, body.publish, body.transport) == (
        "body", 5, ["movement/command", "movement/stop"], "inprocess"
    )  # fmt: skip
    assert (eye.transport, eye.module, eye.requests) == ("stdio", None, ["camera/capture"])
    assert (weather.transport, weather.tools, weather.call_timeout_s) == ("http", ["forecast"], 15)
    assert (notes.env, notes.publish, notes.requests) == (
        {"NOTES_READONLY": "1"}, ["memory/remember"], []
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[servers.x]\n", "exactly one of command, url or module"),
        ('[servers.x]\ncommand = ["a"]\nurl = "http://h/"\n', "exactly one of command, url"),
        ('[servers.Bad]\ncommand = ["a"]\n', "servers.Bad"),
        ('[servers.x]\nurl = "ftp://h/"\n', "url"),
        ("servers = 3\n", "no \\[servers.<name>\\] tables"),
        ("[servers.x\n", "mcp.toml"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "mcp.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path, **TIMEOUTS)
