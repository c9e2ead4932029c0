"""The v1 wire through a real Mosquitto: a py-tars client and TARS services on one broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.py_tars import GOLDEN, validate_v1
from tests.support.py_tars.client import PyTarsClient

from tars.contracts import llm, stt, tts
from tars.runtime.mqtt_bus import MqttBus

pytestmark = pytest.mark.broker

FINAL = stt.FinalTranscript(
    text="what time is it",
    utt_id="wire-u1",
    satellite="kitchen",
    heard_in="wake",
    speech_start_ts=1.0,
    speech_end_ts=2.0,
    turn_complete=0.9,
)


def v1_bus(broker: TestBroker, user: str) -> MqttBus:
    return MqttBus(user, broker.settings(user, wire="v1"), health=False)


@contextlib.asynccontextmanager
async def py_tars_client(broker: TestBroker, user: str = "ui-web") -> AsyncIterator[PyTarsClient]:
    config = broker.config
    async with PyTarsClient(config.host, config.port, user, config.passwords[user]) as client:
        yield client


async def test_a_py_tars_client_gets_v1_and_a_tars_service_gets_everything(
    mqtt_broker: TestBroker,
) -> None:
    producer, consumer = v1_bus(mqtt_broker, "stt"), mqtt_broker.bus("router", health=False)
    finals = Collector()
    consumer.subscribe(stt.TOPIC_STT_FINAL, finals)
    async with running(producer, consumer), py_tars_client(mqtt_broker) as client:
        await producer.publish(stt.TOPIC_STT_FINAL, FINAL)
        got = await finals.wait_for(lambda m: m.data.utt_id == FINAL.utt_id)
        raw = await client.wait_for(stt.TOPIC_STT_FINAL)
    assert got.data == FINAL  # heard_in, satellite and timings came through the user property
    seen = validate_v1(stt.TOPIC_STT_FINAL, raw)
    assert seen.model_dump()["text"] == FINAL.text


async def test_tars_services_accept_what_a_py_tars_client_publishes(
    mqtt_broker: TestBroker,
) -> None:
    tars = v1_bus(mqtt_broker, "tts")
    says, requests = Collector(), Collector()
    tars.subscribe(tts.TOPIC_TTS_SAY, says)
    tars.subscribe(llm.TOPIC_LLM_REQUEST, requests)
    async with running(tars), py_tars_client(mqtt_broker, "router") as client:
        await client.publish(tts.TOPIC_TTS_SAY, GOLDEN[tts.TOPIC_TTS_SAY])
        await client.publish(llm.TOPIC_LLM_REQUEST, GOLDEN[llm.TOPIC_LLM_REQUEST])
        say = await says.wait_for(lambda _: True)
        request = await requests.wait_for(lambda _: True)
    assert say.data.text == "It is 3:15 PM."
    assert say.data.satellite is None  # the local satellite, implied
    assert request.data.conversation_history[1].content == "Hello."
