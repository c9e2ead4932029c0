"""The bus in both wire modes: what goes to the broker, and what TARS consumers get back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from tests.support.collect import Collector
from tests.support.py_tars import GOLDEN, validate_v1

from tars.contracts import stt, tts, wake
from tars.contracts.v1 import EXTENSION_PROPERTY
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.settings import MqttSettings

FINAL = stt.FinalTranscript(
    text="what time is it", utt_id="u1", satellite="local", heard_in="wake", speech_end_ts=1.5
)


class SpyBroker(MemoryBroker):
    """Keeps every routed message as the broker saw it (payload bytes and user properties)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, bytes, dict[str, str]]] = []

    def route(self, topic: str, payload: bytes, properties: dict[str, str], retain: bool) -> None:
        self.seen.append((topic, payload, dict(properties)))
        super().route(topic, payload, properties, retain)

    def on(self, topic: str) -> list[tuple[bytes, dict[str, str]]]:
        return [(payload, props) for seen, payload, props in self.seen if seen == topic]


@contextlib.asynccontextmanager
async def running(*buses: MemoryBus) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(bus.run(), name=f"test:{bus.service}") for bus in buses]
    try:
        for bus in buses:
            await asyncio.wait_for(bus.wait_connected(), 1)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("consumer_wire", ["tars", "v1"])
async def test_v1_producer_sends_py_tars_json_and_tars_consumers_lose_nothing(
    consumer_wire: str,
) -> None:
    broker = SpyBroker()
    producer = MemoryBus("stt", broker, wire="v1")
    consumer = MemoryBus("router", broker, wire=consumer_wire)  # type: ignore[arg-type]
    finals = Collector()
    consumer.subscribe(stt.TOPIC_STT_FINAL, finals)
    async with running(producer, consumer):
        await producer.publish(stt.TOPIC_STT_FINAL, FINAL)
        got = await finals.wait_for(lambda _: True, 1)
    assert got.data == FINAL
    [(payload, properties)] = broker.on(stt.TOPIC_STT_FINAL)
    validate_v1(stt.TOPIC_STT_FINAL, payload)
    assert json.loads(properties[EXTENSION_PROPERTY]) == {
        "satellite": "local",
        "heard_in": "wake",
        "speech_end_ts": 1.5,
    }


async def test_default_wire_keeps_additions_in_the_json() -> None:
    broker = SpyBroker()
    producer, consumer = MemoryBus("stt", broker), MemoryBus("router", broker)
    finals = Collector()
    consumer.subscribe(stt.TOPIC_STT_FINAL, finals)
    async with running(producer, consumer):
        await producer.publish(stt.TOPIC_STT_FINAL, FINAL)
        got = await finals.wait_for(lambda _: True, 1)
    assert got.data == FINAL
    [(payload, properties)] = broker.on(stt.TOPIC_STT_FINAL)
    assert properties == {}
    with pytest.raises(ValidationError):
        validate_v1(stt.TOPIC_STT_FINAL, payload)


@pytest.mark.parametrize("wire", ["tars", "v1"])
@pytest.mark.parametrize("topic", [stt.TOPIC_STT_FINAL, wake.TOPIC_WAKE_EVENT, tts.TOPIC_TTS_SAY])
async def test_py_tars_messages_are_accepted_in_both_modes(wire: str, topic: str) -> None:
    broker = MemoryBroker()
    consumer = MemoryBus("router", broker, wire=wire)  # type: ignore[arg-type]
    got = Collector()
    consumer.subscribe(topic, got)
    async with running(consumer):
        broker.route(topic, GOLDEN[topic], {}, False)  # a py-tars publisher: no properties
        message: Message = await got.wait_for(lambda _: True, 1)
    assert message.data.satellite is None  # the local satellite, implied
    assert consumer.metrics.snapshot().counters.get("rejected", 0) == 0


def test_wire_mode_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MqttSettings().wire == "tars"
    monkeypatch.setenv("MQTT_WIRE", "v1")
    assert MqttSettings().wire == "v1"
    assert MqttBus("stt", MqttSettings()).wire == "v1"
    monkeypatch.setenv("MQTT_WIRE", "v2")
    with pytest.raises(ValidationError):
        MqttSettings()
