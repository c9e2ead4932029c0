"""Router and the real llm service against a scripted local OpenAI-compatible server.

Streaming sentences reach TTS before the stream ends, barge-in cancels the request (the
server sees the connection close) and nothing of the old reply is spoken after it, and an
LLM failure is spoken as an apology.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.openai_server import OpenAIServer, Reply, text_stream

from tars.contracts.base import new_id
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.health import HEALTH_PATTERN, health_topic
from tars.contracts.llm import TOPIC_LLM_CANCEL
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_SAY
from tars.contracts.wake import TOPIC_WAKE_EVENT, WakeEvent
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import serve
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings

pytestmark = pytest.mark.broker
SATELLITE = "den"


class Observer:
    """Everything the conversation produces, seen from a dashboard's login."""

    def __init__(self, bus: MqttBus) -> None:
        self.bus = bus
        self.says, self.controls, self.cancels = Collector(), Collector(), Collector()
        self.turns, self.health = Collector(), Collector()
        bus.subscribe(TOPIC_TTS_SAY, self.says)
        bus.subscribe(TOPIC_TTS_CONTROL, self.controls)
        bus.subscribe(TOPIC_LLM_CANCEL, self.cancels)
        bus.subscribe(TOPIC_CONVERSATION_TURN, self.turns)
        bus.subscribe(HEALTH_PATTERN, self.health)

    def spoken(self) -> list[str]:
        return [m.data.text for m in self.says.messages if m.data.satellite == SATELLITE]


@contextlib.asynccontextmanager
async def conversation(
    broker: TestBroker, server: OpenAIServer
) -> AsyncIterator[tuple[Observer, MqttBus, MqttBus]]:
    router = RouterService(RouterSettings(online_announce=False, llm_timeout_s=10))
    llm = LlmService(LlmSettings(base_url=server.base_url, model="test-model", read_timeout_s=5))
    observer = Observer(broker.bus("ui", health=False))
    user, wake = broker.bus("cli", health=False), broker.bus("wake", health=False)
    stop = asyncio.Event()
    async with running(observer.bus, user, wake):
        tasks = [
            asyncio.create_task(
                serve(service, broker.bus(service.name), stop, heartbeat_s=60), name=service.name
            )
            for service in (router, llm)
        ]
        try:
            for topic in (health_topic("router"), health_topic("llm")):
                await observer.health.wait_for(partial(is_ready, topic))
            yield observer, user, wake
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)


def is_ready(topic: str, message: Message) -> bool:
    return message.topic == topic and message.data.event == "ready"


async def say_to_tars(user: MqttBus, text: str) -> str:
    utt_id = new_id()
    final = FinalTranscript(text=text, utt_id=utt_id, satellite=SATELLITE, source="text")
    await user.publish(TOPIC_STT_FINAL, final)
    return utt_id


async def test_first_sentence_is_spoken_before_the_stream_ends(mqtt_broker: TestBroker) -> None:
    pieces = [
        "The moon is ",
        "about a quarter ",
        "the size of Earth. ",
        "It has no ",
        "air at all.",
    ]
    server = OpenAIServer([text_stream(pieces, delay_s=0.4)])
    async with server, conversation(mqtt_broker, server) as (observer, user, _):
        utt_id = await say_to_tars(user, "tell me about the moon")
        first = await observer.says.wait_for(lambda m: m.data.satellite == SATELLITE, 15)
        stream_was_complete = server.requests[0].completed.is_set()
        await server.requests[0].completed.wait()
        turn = await observer.turns.wait_for(lambda m: m.data.id == utt_id, 15)
    assert first.data.text == "The moon is about a quarter the size of Earth."
    assert not stream_was_complete
    assert " ".join(observer.spoken()) == "".join(pieces).strip()
    assert turn.data.route == "llm"
    assert turn.data.reply == "".join(pieces).strip()


async def test_barge_in_then_stop_cancels_the_request_and_silences_the_rest(
    mqtt_broker: TestBroker,
) -> None:
    pieces = [f"Sentence number {index} is here. " for index in range(60)]
    server = OpenAIServer([text_stream(pieces, delay_s=0.1)])
    async with server, conversation(mqtt_broker, server) as (observer, user, wake):
        await say_to_tars(user, "count for me slowly")
        first = await observer.says.wait_for(lambda m: m.data.satellite == SATELLITE, 15)
        reply_id = first.data.utt_id
        # The wake word over the reply opens the window; what the user then says decides.
        await wake.publish(
            TOPIC_WAKE_EVENT, WakeEvent(type="interrupt", satellite=SATELLITE, tts_id=reply_id)
        )
        await say_to_tars(user, "stop")
        cancel = await observer.cancels.wait_for(lambda m: m.data.id == reply_id)
        stop = await observer.controls.wait_for(lambda m: m.data.action == "stop")
        await asyncio.wait_for(server.requests[0].closed_early.wait(), 5)
        cancelled_at = observer.cancels.arrivals[observer.cancels.messages.index(cancel)]
        await asyncio.sleep(1.0)  # a stream that kept going would have spoken by now
    assert stop.data.id == reply_id
    late = [
        at
        for message, at in zip(observer.says.messages, observer.says.arrivals, strict=True)
        if message.data.utt_id == reply_id and at > cancelled_at + 0.05
    ]
    assert late == []
    assert len(observer.spoken()) < len(pieces)


async def test_llm_failure_is_spoken_as_an_apology(mqtt_broker: TestBroker) -> None:
    server = OpenAIServer([Reply(status=500, json_body={"error": {"message": "boom"}})])
    async with server, conversation(mqtt_broker, server) as (observer, user, _):
        utt_id = await say_to_tars(user, "what is the meaning of life")
        turn = await observer.turns.wait_for(lambda m: m.data.id == utt_id, 15)
    assert turn.data.route == "error"
    assert observer.spoken() == [RouterSettings().apology_text]
