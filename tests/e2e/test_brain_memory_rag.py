"""1,000 turns into the memory service, a restart, paraphrased recall, and RAG into the prompt.

Real MiniLM embedder, real Mosquitto, real local OpenAI-compatible HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.llm_rig import http_settings, llm_running
from tests.support.openai_server import OpenAIServer, text_stream

from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, ConversationTurn
from tars.contracts.health import health_topic
from tars.contracts.memory import TOPIC_MEMORY_QUERY, TOPIC_MEMORY_RESULTS, MemoryQuery
from tars.runtime.service import serve
from tars.services.memory.embedder import OnnxMiniLmEmbedder
from tars.services.memory.evalset import TARGET_TURNS, synthetic_turns
from tars.services.memory.records import TurnRecord
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings
from tars.services.memory.store import MemoryStore

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]

DIRECT_TURNS = 950
BUS_TURNS = 49
TARGET_USER, TARGET_REPLY, PARAPHRASE = TARGET_TURNS[0]


@pytest.fixture(scope="session")
def minilm() -> OnnxMiniLmEmbedder:
    return OnnxMiniLmEmbedder(intra_op_threads=2)


@contextlib.asynccontextmanager
async def memory_running(
    broker: TestBroker, data_dir: Path, embedder: OnnxMiniLmEmbedder
) -> AsyncIterator[MemoryService]:
    service = MemoryService(MemorySettings(flush_interval_ms=200), data_dir, embedder=embedder)
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
                lambda m: m.data.ok and m.data.event == "ready" and not m.retained, 60
            )
            yield service
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


async def test_thousand_turns_restart_recall_and_rag_prompt(
    mqtt_broker: TestBroker, tmp_path: Path, minilm: OnnxMiniLmEmbedder
) -> None:
    filler = synthetic_turns(DIRECT_TURNS + BUS_TURNS, seed=11)
    started = time.perf_counter()
    # Most filler goes straight into the file (speed); the rest and the target go by bus.
    with MemoryStore(tmp_path / "memory.sqlite3", minilm) as store:
        await asyncio.to_thread(store.add_turns, filler[:DIRECT_TURNS])
    direct_s = time.perf_counter() - started

    router = mqtt_broker.bus("router")
    async with running(router):
        async with memory_running(mqtt_broker, tmp_path, minilm) as first:
            started = time.perf_counter()
            over_bus = filler[DIRECT_TURNS:]
            target = TurnRecord(TARGET_USER, TARGET_REPLY, "local", over_bus[20].ts + 1.0)
            over_bus.insert(20, target)
            for n, turn in enumerate(over_bus):
                await router.publish(
                    TOPIC_CONVERSATION_TURN,
                    ConversationTurn(
                        id=f"bus-{n}",
                        satellite=turn.satellite,
                        user_text=turn.user_text,
                        reply=turn.reply,
                        ts=turn.ts,
                    ),
                )
            await asyncio.sleep(0.5)  # let the last messages arrive before shutting down
            bus_s = time.perf_counter() - started
            received = first.bus.metrics.count("messages_in")
        # The restart reads everything back from the file, the shutdown flush included.
        with MemoryStore(tmp_path / "memory.sqlite3", minilm) as reopened:
            stats = reopened.stats()
        assert stats.turns == DIRECT_TURNS + BUS_TURNS + 1

        cli = mqtt_broker.bus("cli")
        cli.expect_replies(TOPIC_MEMORY_RESULTS)
        async with running(cli), memory_running(mqtt_broker, tmp_path, minilm):
            started = time.perf_counter()
            answer = await cli.request(
                TOPIC_MEMORY_QUERY,
                MemoryQuery(text=PARAPHRASE, top_k=5),
                reply_topic=TOPIC_MEMORY_RESULTS,
                timeout_s=10,
            )
            query_ms = (time.perf_counter() - started) * 1e3
            async with OpenAIServer([text_stream(["Level three, C14."])]) as server:
                settings = http_settings(server, rag_enabled=True, rag_timeout_s=10)
                async with llm_running(mqtt_broker, settings) as (llm, client):
                    response = await client.response(await client.ask(PARAPHRASE), timeout_s=20)
                    rag_timeouts = llm.bus.metrics.count("rag_timeouts")
    first_hit = answer.data.results[0].document
    assert isinstance(first_hit, dict)
    assert first_hit["user"] == TARGET_USER
    assert first_hit["reply"] == TARGET_REPLY
    assert first_hit["kind"] == "turn"
    assert rag_timeouts == 0
    assert response.data.reply == "Level three, C14."
    system = server.requests[0].body["messages"][0]["content"]
    assert f"User said: {TARGET_USER} / You answered: {TARGET_REPLY}" in system
    print(
        f"\ndirect ingest {DIRECT_TURNS} turns {direct_s:.1f} s; {len(over_bus)} turns over the "
        f"bus in {bus_s:.2f} s ({received} messages in); query over the bus {query_ms:.1f} ms"
    )
