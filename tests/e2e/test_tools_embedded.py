"""The embedded model calls the movement tool (its JSON reply becomes a real movement) and,
with the same tools offered, explains at length without repeating itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.llm_rig import Client
from tests.support.serving import serving

from tars.contracts import movement as mv
from tars.services.llm.embedded import EmbeddedProvider
from tars.services.llm.localmodel import LocalModel
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tars.services.mcp.config import builtin_servers
from tars.services.mcp.service import McpService
from tars.services.mcp.settings import McpSettings
from tars.services.movement.service import MovementService
from tars.services.movement.settings import MovementSettings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.engine,
    pytest.mark.broker,
    pytest.mark.timeout(900),  # model load and the persona + tools prefill on two cores
]


async def test_embedded_model_waves_through_the_movement_tool(
    mqtt_broker: TestBroker, qwen_model: LocalModel, tmp_path: Path
) -> None:
    client = Client(mqtt_broker.bus("router", health=False))
    status = Collector()
    client.bus.subscribe(mv.TOPIC_MOVEMENT_STATUS, status)
    provider = EmbeddedProvider(lambda: qwen_model)
    settings = LlmSettings(provider="embedded", temperature=0.0, max_tokens=64, data_dir=tmp_path)
    movement = MovementService(MovementSettings(mode="simulator", sim_time_scale=0.05))
    servers = builtin_servers("movement", call_timeout_s=10, start_timeout_s=60)
    mcp = McpService(McpSettings(), servers, log_dir=tmp_path / "mcp")
    try:
        async with (
            running(client.bus),
            serving(mqtt_broker, movement),
            serving(mqtt_broker, mcp),
            serving(mqtt_broker, LlmService(settings, provider=provider), timeout_s=300),
        ):
            request_id = await client.ask("Wave at me.")
            response = await client.response(request_id, timeout_s=240)
            done = await status.wait_for(lambda m: m.data.event == "command_completed", 30)
            # Decoding greedily, the model repeated whole sentences in long replies.
            explain_id = await client.ask(
                "Explain in detail how rainbows form.", params={"max_tokens": 160}
            )
            explained = await client.response(explain_id, timeout_s=240)
    finally:
        await provider.aclose()
    assert response.data.error is None, response.data.error
    assert done.data.command == "wave"
    print(f"\nembedded model after the wave: {response.data.reply!r}")
    # The spoken answer is words, not the tool call copied from the history.
    reply = response.data.reply or ""
    assert "{" not in reply
    assert "```" not in reply
    told = explained.data.reply or ""
    print(f"and its explanation: {told!r}")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", told) if s.strip()]
    assert len(sentences) >= 4, told
    assert len(set(sentences)) == len(sentences), sentences
