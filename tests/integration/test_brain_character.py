"""Character updates through the memory service survive a restart and reach the LLM prompt."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.llm_rig import http_settings, llm_running
from tests.support.openai_server import OpenAIServer, text_stream

from tars.contracts.character import (
    TOPIC_CHARACTER_CURRENT,
    TOPIC_CHARACTER_GET,
    TOPIC_CHARACTER_RESULT,
    TOPIC_CHARACTER_UPDATE,
    CharacterGetRequest,
    CharacterTraitUpdate,
)
from tars.contracts.health import health_topic
from tars.runtime.service import serve
from tars.services.memory.embedder import HashingEmbedder
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings

pytestmark = pytest.mark.broker


@contextlib.asynccontextmanager
async def memory_running(broker: TestBroker, data_dir: Path) -> AsyncIterator[MemoryService]:
    """Run a memory service (hashing embedder) until the block ends; wait until ready."""
    service = MemoryService(MemorySettings(), data_dir, embedder=HashingEmbedder())
    watcher = broker.bus("cli")
    health = Collector()
    watcher.subscribe(health_topic("memory"), health)
    stop = asyncio.Event()
    async with running(watcher):
        task = asyncio.create_task(
            serve(service, broker.bus("memory"), stop, heartbeat_s=60, metrics_interval_s=60),
            name="test:memory",
        )
        try:
            await health.wait_for(
                lambda m: m.data.ok and m.data.event == "ready" and not m.retained
            )
            yield service
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_trait_update_survives_restart_and_changes_the_llm_prompt(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    cli = mqtt_broker.bus("cli")
    current, results = Collector(), Collector()
    cli.subscribe(TOPIC_CHARACTER_CURRENT, current)
    cli.subscribe(TOPIC_CHARACTER_RESULT, results)
    async with running(cli):
        async with memory_running(mqtt_broker, tmp_path):
            await current.wait_for(lambda m: m.data.traits.get("humor") == 75)
            await cli.publish(
                TOPIC_CHARACTER_UPDATE, CharacterTraitUpdate(trait="sarcasm_level", value=3)
            )
            refused = await results.wait_for(lambda m: m.data.error is not None)
            await cli.publish(TOPIC_CHARACTER_UPDATE, CharacterTraitUpdate(trait="humor", value=5))
            await current.wait_for(lambda m: m.data.traits.get("humor") == 5)
        seen = len(current.messages)
        async with memory_running(mqtt_broker, tmp_path):
            restarted = await current.wait_for(
                lambda m: current.messages.index(m) >= seen and not m.retained
            )
            get_id = await cli.publish(TOPIC_CHARACTER_GET, CharacterGetRequest(section="traits"))
            section = await results.wait_for(lambda m: m.envelope.id == get_id)
            server = OpenAIServer([text_stream(["Ha."])])
            async with server, llm_running(mqtt_broker, http_settings(server)) as (_, client):
                await client.response(await client.ask("Tell me a joke"))
    assert "sarcasm_level" in (refused.data.error or "")
    assert restarted.data.traits["humor"] == 5
    assert restarted.data.meta["overridden"] == ["humor"]
    assert section.data.value["humor"] == 5
    system = server.requests[0].body["messages"][0]["content"]
    assert "- humor: 5/100 (very low)" in system
    assert "humor: 75/100" not in system
