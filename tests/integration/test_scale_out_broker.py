"""Scale-out through real brokers: memory workers in one MQTT v5 shared-subscription group.

Mosquitto splits the requests between the workers. ejabberd's mod_mqtt (23.01) has no shared
subscriptions: there a worker with a share group stops at once and says why, and a single
worker without a group serves as usual.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.broker import BrokerUnderTest, TestBroker, running
from tests.support.collect import Collector
from tests.support.ejabberd import EjabberdBroker
from tests.support.serving import serving

from tars.contracts.memory import TOPIC_MEMORY_QUERY, TOPIC_MEMORY_RESULTS, MemoryQuery
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import BrokerUnsuitable, MqttBus
from tars.services.memory.embedder import HashingEmbedder
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings

pytestmark = pytest.mark.broker
QUERIES = 24


def worker(directory: Path, share_group: str = "memory") -> MemoryService:
    settings = MemorySettings(share_group=share_group, flush_interval_ms=0)
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


async def ask_once(broker: BrokerUnderTest, text: str) -> Message:
    client = broker.bus("cli", health=False)
    client.expect_replies(TOPIC_MEMORY_RESULTS)
    async with running(client):
        return await client.request(
            TOPIC_MEMORY_QUERY,
            MemoryQuery(text=text, top_k=1),
            reply_topic=TOPIC_MEMORY_RESULTS,
            timeout_s=20,
        )


@pytest.mark.broker_ejabberd
async def test_without_shared_subscriptions_a_group_worker_stops_with_the_reason(
    ejabberd_broker: EjabberdBroker, tmp_path: Path
) -> None:
    async with serving(ejabberd_broker, worker(tmp_path / "single", share_group="")):
        answer = await ask_once(ejabberd_broker, "one worker, no group")
    assert answer.data.query == "one worker, no group"
    with pytest.raises(BrokerUnsuitable, match="no MQTT v5 shared subscriptions") as refused:
        async with serving(ejabberd_broker, worker(tmp_path / "grouped")):
            pass
    assert "$share/memory/" in str(refused.value)
    assert "without a share group" in str(refused.value)
