"""Scale-out through a real Mosquitto: memory workers in one MQTT v5 shared-subscription group."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.serving import serving

from tars.contracts.memory import TOPIC_MEMORY_QUERY, TOPIC_MEMORY_RESULTS, MemoryQuery
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.services.memory.embedder import HashingEmbedder
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings

pytestmark = pytest.mark.broker
QUERIES = 24


def worker(directory: Path) -> MemoryService:
    settings = MemorySettings(share_group="memory", flush_interval_ms=0)
    return MemoryService(settings, directory, embedder=HashingEmbedder())


def queries_handled(bus: MqttBus) -> int:
    histogram = bus.metrics.snapshot().latencies.get("query_ms")
    return 0 if histogram is None else histogram.count


async def test_two_memory_workers_in_one_group_split_queries_each_answered_once(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    client = mqtt_broker.bus("cli", health=False)
    client.expect_replies(TOPIC_MEMORY_RESULTS)
    results = Collector()
    client.subscribe(TOPIC_MEMORY_RESULTS, results)
    async with (
        serving(mqtt_broker, worker(tmp_path / "a")) as first,
        serving(mqtt_broker, worker(tmp_path / "b")) as second,
        running(client),
    ):

        async def ask(index: int) -> Message:
            query = MemoryQuery(text=f"question {index}", top_k=1)
            return await client.request(
                TOPIC_MEMORY_QUERY, query, reply_topic=TOPIC_MEMORY_RESULTS, timeout_s=20
            )

        answers = await asyncio.gather(*(ask(index) for index in range(QUERIES)))
        handled = [queries_handled(bus) for bus in (first, second)]
    assert sorted(answer.data.query for answer in answers) == sorted(
        f"question {index}" for index in range(QUERIES)
    )
    # Each query reached exactly one worker, and both workers took a share.
    assert sum(handled) == QUERIES
    assert min(handled) > 0
    ids = [message.envelope.id for message in results.messages]
    assert len(ids) == len(set(ids)) == QUERIES
