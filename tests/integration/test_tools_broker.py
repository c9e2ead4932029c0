"""Tools end to end on a real broker: router -> llm -> mcp -> movement (simulated ESP32).

The model is a scripted local OpenAI-compatible server that asks for tool calls; the MCP
servers are the built-in ones, run in-process by the mcp service (and as a real stdio
process where a test kills it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.llm_rig import http_settings
from tests.support.openai_server import (
    OpenAIServer,
    RecordedRequest,
    Reply,
    text_stream,
    tool_call_stream,
)
from tests.support.procs import children_running
from tests.support.serving import serving

from tars.contracts import movement as mv
from tars.contracts.health import health_topic
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.contracts.tools import (
    TOPIC_TOOL_CALL_REQUEST,
    TOPIC_TOOL_CALL_RESULT,
    TOPIC_TOOLS_REGISTRY,
    ToolCallRequest,
)
from tars.contracts.tts import TOPIC_TTS_SAY
from tars.runtime.mqtt_bus import MqttBus
from tars.services.llm.service import LlmService
from tars.services.mcp.builtin import movement as movement_server
from tars.services.mcp.config import ServerConfig, builtin_server, builtin_servers
from tars.services.mcp.service import McpService
from tars.services.mcp.settings import McpSettings
from tars.services.movement.service import MovementService
from tars.services.movement.settings import MovementSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings

pytestmark = pytest.mark.broker

WAVE_ARGS = ['{"action": "wa', 've", "speed": 0.6}']
ROGUE = ServerConfig(
    name="rogue",
    command=[sys.executable, "-m", "tests.support.rogue_mcp"],
    publish=["movement/command"],
    call_timeout_s=10,
)


def model(request: RecordedRequest) -> Reply | None:
    """The scripted model: waves when asked, then confirms with what the tool said."""
    messages = request.body["messages"]
    if messages[-1]["role"] == "tool":
        return text_stream(["There, ", "I waved at you."])
    if "wave" in request.user_text.lower():
        return tool_call_stream("mcp__movement__move", WAVE_ARGS, call_id="call_wave")
    return text_stream(["I have no idea."])


@dataclass
class Watch:
    """What a dashboard sees."""

    bus: MqttBus
    says: Collector
    status: Collector
    registry: Collector
    health: Collector
    results: Collector


def watch(broker: TestBroker) -> Watch:
    bus = broker.bus("cli", health=False)
    seen = Watch(bus, Collector(), Collector(), Collector(), Collector(), Collector())
    bus.subscribe(TOPIC_TTS_SAY, seen.says)
    bus.subscribe(mv.TOPIC_MOVEMENT_STATUS, seen.status)
    bus.subscribe(TOPIC_TOOLS_REGISTRY, seen.registry)
    bus.subscribe(health_topic("mcp"), seen.health)
    bus.subscribe(TOPIC_TOOL_CALL_RESULT, seen.results)
    return seen


def tool_names(message: object) -> set[str]:
    return {spec.function["name"] for spec in message.data.tools}  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def stack(
    broker: TestBroker, server: OpenAIServer, tmp_path: Path, servers: list[ServerConfig]
) -> AsyncIterator[McpService]:
    movement = MovementService(MovementSettings(mode="simulator", sim_time_scale=0.05))
    mcp = McpService(McpSettings(restart_min_s=0.2), servers, log_dir=tmp_path / "mcp")
    llm = LlmService(http_settings(server))
    router = RouterService(RouterSettings(online_announce=False, llm_timeout_s=15))
    async with (
        serving(broker, movement),
        serving(broker, mcp),
        serving(broker, llm),
        serving(broker, router),
    ):
        yield mcp


async def test_wave_through_the_llm_becomes_a_tool_call_a_movement_and_a_reply(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    seen = watch(mqtt_broker)
    servers = [*builtin_servers("movement", call_timeout_s=10, start_timeout_s=60), ROGUE]
    async with (
        OpenAIServer(choose=model) as server,
        running(seen.bus),
        stack(mqtt_broker, server, tmp_path, servers),
    ):
        await seen.bus.publish(
            TOPIC_STT_FINAL,
            FinalTranscript(text="Greet me with a wave, TARS", source="text", satellite="cli"),
        )
        spoken = await seen.says.wait_for(lambda m: "waved" in m.data.text, 20)
        assert spoken.data.satellite == "cli"
        started = await seen.status.wait_for(lambda m: m.data.event == "command_started")
        done = await seen.status.wait_for(lambda m: m.data.event == "command_completed")
        assert (started.data.command, done.data.request_id) == ("wave", started.data.request_id)

        first, second = server.requests[:2]
        assert first.body["stream"] is True
        offered = {tool["function"]["name"] for tool in first.body["tools"]}
        assert {"mcp__movement__move", "mcp__movement__stop_movement"} <= offered
        tool_message = second.body["messages"][-1]
        assert tool_message["role"] == "tool"
        assert tool_message["tool_call_id"] == "call_wave"
        assert "wave movement was sent" in tool_message["content"]


async def test_tools_may_publish_only_to_their_allowlist(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    seen = watch(mqtt_broker)
    caller = mqtt_broker.bus("llm", health=False)
    mcp = McpService(McpSettings(), [ROGUE], log_dir=tmp_path)
    async with running(seen.bus, caller), serving(mqtt_broker, mcp) as bus:
        for call_id, name, arguments in (
            ("c1", "mcp__rogue__announce", {"text": "I am free"}),
            ("c2", "mcp__rogue__spoof_health", {}),
            ("c3", "mcp__rogue__echo", {"text": "hi"}),
            ("c4", "mcp__rogue__nothing", {}),
        ):
            request = ToolCallRequest(call_id=call_id, name=name, arguments=arguments)
            await caller.publish(TOPIC_TOOL_CALL_REQUEST, request)
        await seen.results.wait_for(lambda _: len(seen.results.messages) == 4)
        results = {m.data.call_id: m.data for m in seen.results.messages}
        assert "may not publish to tts/say" in (results["c1"].error or "")
        assert "may not publish to system/health/router" in (results["c2"].error or "")
        assert results["c3"].error is None
        assert results["c3"].content == "echo: hi"
        assert "not offered" in (results["c4"].error or "")
        assert bus.metrics.snapshot().counters["directives_refused"] == 2
        assert seen.says.messages == []


async def test_a_killed_server_is_restarted_and_its_tools_leave_and_return(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    seen = watch(mqtt_broker)
    server = builtin_server("movement", call_timeout_s=10, start_timeout_s=60, subprocess=True)
    mcp = McpService(McpSettings(restart_min_s=0.2), [server], log_dir=tmp_path)
    async with running(seen.bus), serving(mqtt_broker, mcp):
        await seen.registry.wait_for(lambda m: "mcp__movement__move" in tool_names(m))
        [pid] = children_running("tars.services.mcp.builtin.movement")
        since = len(seen.registry.messages)
        os.kill(pid, signal.SIGKILL)
        down = await seen.health.wait_for(
            lambda m: not m.data.ok and "server movement down" in (m.data.event or ""), 20
        )
        assert "went away" in (down.data.err or "")
        await seen.registry.wait_for(lambda m: not tool_names(m), since=since)
        up = await seen.health.wait_for(
            lambda m: m.data.ok and "server movement up" in (m.data.event or ""), 30
        )
        assert up.data.event.startswith("ready")
        await seen.registry.wait_for(lambda m: "mcp__movement__move" in tool_names(m), 30, since)
        assert children_running("tars.services.mcp.builtin.movement") not in ([], [pid])


async def test_a_failed_in_process_server_is_restarted_and_its_tools_leave_and_return(
    mqtt_broker: TestBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = watch(mqtt_broker)
    caller = mqtt_broker.bus("llm", health=False)
    crash = asyncio.Event()
    lowlevel = movement_server.app._lowlevel_server
    real_run = lowlevel.run

    async def run_until_crash(*args: object, **kwargs: object) -> None:
        """The real server, whose task fails once when ``crash`` is set."""
        async with asyncio.TaskGroup() as group:
            serving_task = group.create_task(real_run(*args, **kwargs), name="test:movement")  # type: ignore[arg-type]
            await crash.wait()
            serving_task.cancel()
        crash.clear()  # the restarted server serves on
        raise RuntimeError("movement server crashed")

    monkeypatch.setattr(lowlevel, "run", run_until_crash)
    [server] = builtin_servers("movement", call_timeout_s=10, start_timeout_s=60)
    assert server.transport == "inprocess"
    mcp = McpService(McpSettings(restart_min_s=0.2), [server], log_dir=tmp_path)
    async with running(seen.bus, caller), serving(mqtt_broker, mcp):
        await seen.registry.wait_for(lambda m: "mcp__movement__move" in tool_names(m))
        since = len(seen.registry.messages)
        crash.set()
        down = await seen.health.wait_for(
            lambda m: not m.data.ok and "server movement down" in (m.data.event or ""), 20
        )
        assert "movement server crashed" in (down.data.err or "")
        gone = await seen.registry.wait_for(lambda m: not tool_names(m), since=since)
        # Both waits start after the crash: the start-up "up", or a registry published just
        # before the crash, would match at once and the call would race the restart.
        await seen.health.wait_for(
            lambda m: m.data.ok and "server movement up" in (m.data.event or ""),
            30,
            seen.health.messages.index(down) + 1,
        )
        await seen.registry.wait_for(
            lambda m: "mcp__movement__move" in tool_names(m),
            30,
            seen.registry.messages.index(gone) + 1,
        )
        request = ToolCallRequest(
            call_id="after", name="mcp__movement__stop_movement", arguments={}
        )
        await caller.publish(TOPIC_TOOL_CALL_REQUEST, request)
        result = await seen.results.wait_for(lambda m: m.data.call_id == "after")
        assert (result.data.error, result.data.content) == (None, "All movement stopped.")
        assert mcp.sessions["movement"].starts == 2
