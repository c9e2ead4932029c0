"""The router through a real Mosquitto: streamed sentences, barge-in, errors, timers, satellites.

The LLM side is played by a bus logged in as ``llm`` (a legitimate peer: the llm service is
not part of this checkout yet); typed turns go through ``tars ask``'s own ``ask()`` as ``cli``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.support.broker import TestBroker, running

from tars.commands import ask as ask_command
from tars.commands.ask import ask
from tars.contracts import llm, stt, tts, wake
from tars.contracts.conversation import ConversationTurn
from tars.contracts.health import HealthPing, health_topic
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import serve
from tars.runtime.settings import ConversationSettings, RuntimeSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings

pytestmark = pytest.mark.broker


class Seen:
    """Records the payloads of one subscription and waits for a matching one."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        self.items.append(message.data)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Any], bool], within_s: float = 10.0) -> Any:
        """The first payload matching ``predicate``."""
        async with asyncio.timeout(within_s):
            while True:
                for item in self.items:
                    if predicate(item):
                        return item
                self._changed.clear()
                await self._changed.wait()


@dataclass
class Stack:
    """A running router and the peers around it."""

    cli: MqttBus
    llm_bus: MqttBus
    wake: MqttBus
    requests: Seen
    cancels: Seen
    says: Seen
    controls: Seen

    async def ask(self, text: str, satellite: str, utt_id: str) -> ConversationTurn:
        """What ``tars ask`` does, on an already running cli bus."""
        answer: asyncio.Future[ConversationTurn] = asyncio.get_running_loop().create_future()
        self.answers[utt_id] = answer
        return await ask(self.cli, answer, text, utt_id, satellite=satellite, timeout_s=10)

    async def delta(self, request_id: str, text: str | None, *, done: bool = False) -> None:
        """Publish one stream delta as the llm service."""
        await self.llm_bus.publish(
            llm.TOPIC_LLM_STREAM, llm.LLMStreamDelta(id=request_id, delta=text, done=done)
        )

    async def request(self, request_id: str) -> llm.LLMRequest:
        """Wait for the router's request ``request_id``."""
        found: llm.LLMRequest = await self.requests.wait_for(lambda r: r.id == request_id)
        return found

    def said(self, utt_id: str) -> list[str]:
        """Texts sent to TTS for one reply."""
        return [s.text for s in self.says.items if s.utt_id == utt_id]

    answers: dict[str, asyncio.Future[ConversationTurn]]


@pytest.fixture
async def stack(mqtt_broker: TestBroker) -> AsyncIterator[Stack]:
    router_bus = mqtt_broker.bus("router")
    cli, llm_bus, wake_bus, tts_bus = (
        mqtt_broker.bus(user, health=False) for user in ("cli", "llm", "wake", "tts")
    )
    answers: dict[str, asyncio.Future[ConversationTurn]] = {}

    async def on_turn(message: Message) -> None:
        future = answers.get(message.data.id)
        if future is not None and not future.done():
            future.set_result(message.data)

    cli.subscribe("conversation/turn", on_turn)
    found = Stack(cli, llm_bus, wake_bus, Seen(), Seen(), Seen(), Seen(), answers)
    llm_bus.subscribe(llm.TOPIC_LLM_REQUEST, found.requests)
    llm_bus.subscribe(llm.TOPIC_LLM_CANCEL, found.cancels)
    tts_bus.subscribe(tts.TOPIC_TTS_SAY, found.says)
    tts_bus.subscribe(tts.TOPIC_TTS_CONTROL, found.controls)
    settings = RouterSettings(wake_ack_enabled=False, online_announce=False, llm_timeout_s=10)
    stop = asyncio.Event()
    async with running(cli, llm_bus, wake_bus, tts_bus):
        # The llm peer reports healthy (retained) before the router subscribes, so the router
        # sends requests instead of answering that no language model is running.
        await llm_bus.publish(health_topic("llm"), HealthPing(ok=True, event="ready"))
        service = RouterService(settings, conversation=ConversationSettings())
        router = asyncio.create_task(serve(service, router_bus, stop), name="router")
        await asyncio.wait_for(router_bus.wait_connected(), 10)
        yield found
        stop.set()
        await asyncio.wait_for(router, 10)
        # The broker lives for the whole session: leave no healthy llm behind for others.
        await llm_bus.publish(health_topic("llm"), HealthPing(ok=False, event="shutdown"))


async def test_first_sentence_is_spoken_before_the_stream_ends(stack: Stack) -> None:
    turn_task = asyncio.create_task(stack.ask("tell me about mars", "cli", "it-mars"), name="ask")
    await stack.request("it-mars")
    started = time.perf_counter()
    await stack.delta("it-mars", "Mars is the red planet. It ")
    first = await stack.says.wait_for(lambda s: s.utt_id == "it-mars")
    print(f"delta -> tts/say through the broker: {(time.perf_counter() - started) * 1e3:.1f} ms")
    assert (first.text, first.satellite, first.last) == ("Mars is the red planet.", "cli", False)
    await stack.delta("it-mars", "has two moons.")
    await stack.delta("it-mars", None, done=True)
    await stack.llm_bus.publish(
        llm.TOPIC_LLM_RESPONSE,
        llm.LLMResponse(id="it-mars", reply="Mars is the red planet. It has two moons."),
    )
    turn = await turn_task
    assert turn.reply == "Mars is the red planet. It has two moons."
    assert stack.said("it-mars") == ["Mars is the red planet.", "It has two moons."]
    print(f"timings: {turn.timings_ms}")


async def test_barge_in_then_a_new_question_stops_the_reply(stack: Stack) -> None:
    await stack.wake.publish(wake.TOPIC_WAKE_EVENT, wake.WakeEvent(type="wake", satellite="it-bar"))
    await stack.cli.publish(
        stt.TOPIC_STT_FINAL,
        stt.FinalTranscript(text="tell me a long story", satellite="it-bar", utt_id="it-story"),
    )
    await stack.request("it-story")
    await stack.delta("it-story", "Once upon a time. There ")
    await stack.says.wait_for(lambda s: s.utt_id == "it-story")
    # The wake word over the reply only opens the window; the new question replaces the reply.
    await stack.wake.publish(
        wake.TOPIC_WAKE_EVENT, wake.WakeEvent(type="interrupt", satellite="it-bar")
    )
    await stack.cli.publish(
        stt.TOPIC_STT_FINAL,
        stt.FinalTranscript(text="what time is it", satellite="it-bar", utt_id="it-time"),
    )
    await stack.cancels.wait_for(lambda c: c.id == "it-story")
    stop = await stack.controls.wait_for(lambda c: c.id == "it-story")
    assert (stop.action, stop.satellite) == ("stop", "it-bar")
    await stack.delta("it-story", "was a dragon. And then ")
    await stack.delta("it-story", "more.", done=True)
    await stack.says.wait_for(lambda s: s.utt_id == "it-time")
    await asyncio.sleep(0.3)  # give stray deltas time to (not) be spoken
    assert stack.said("it-story") == ["Once upon a time."]


async def test_no_healthy_llm_is_answered_at_once(stack: Stack) -> None:
    await stack.llm_bus.publish(health_topic("llm"), HealthPing(ok=False, event="lost"))
    started = time.perf_counter()
    turn = await stack.ask("tell me a joke", "it-nollm", "it-nollm1")
    elapsed = time.perf_counter() - started
    await stack.llm_bus.publish(health_topic("llm"), HealthPing(ok=True, event="ready"))
    assert (turn.route, turn.reply) == ("error", RouterSettings().no_llm_text)
    assert stack.said("it-nollm1") == [RouterSettings().no_llm_text]
    assert not [r for r in stack.requests.items if r.id == "it-nollm1"]
    assert elapsed < 5  # not the 10 s llm timeout


async def test_llm_error_is_spoken_as_an_apology(stack: Stack) -> None:
    turn_task = asyncio.create_task(stack.ask("explain gravity", "it-err", "it-err1"), name="ask")
    await stack.request("it-err1")
    await stack.llm_bus.publish(
        llm.TOPIC_LLM_RESPONSE,
        llm.LLMResponse(id="it-err1", error="boom", error_code="http_status"),
    )
    turn = await turn_task
    assert turn.route == "error"
    assert stack.said("it-err1") == [RouterSettings().apology_text]


async def test_timer_fires_and_speaks(stack: Stack) -> None:
    started = time.perf_counter()
    turn = await stack.ask("set a timer for 2 seconds", "it-timer", "it-timer1")
    assert turn.reply == "Timer set for two seconds."
    done = await stack.says.wait_for(
        lambda s: s.satellite == "it-timer" and s.text == "Your two second timer is done.",
        within_s=6,
    )
    assert done.utt_id != "it-timer1"
    print(f"timer spoke after {time.perf_counter() - started:.2f} s (set for 2 s)")


async def test_two_satellites_hold_independent_conversations(stack: Stack) -> None:
    first = asyncio.create_task(stack.ask("what is a star", "it-den", "it-den1"), name="ask-den")
    second = asyncio.create_task(
        stack.ask("what is a moon", "it-hall", "it-hall1"), name="ask-hall"
    )
    await stack.request("it-den1")
    await stack.request("it-hall1")
    await stack.delta("it-hall1", "A moon orbits a planet. ")
    await stack.delta("it-den1", "A star is a sun. ")
    for request_id, reply in (
        ("it-den1", "A star is a sun."),
        ("it-hall1", "A moon orbits a planet."),
    ):
        await stack.llm_bus.publish(
            llm.TOPIC_LLM_RESPONSE, llm.LLMResponse(id=request_id, reply=reply)
        )
    den, hall = await first, await second
    assert (den.satellite, den.reply) == ("it-den", "A star is a sun.")
    assert (hall.satellite, hall.reply) == ("it-hall", "A moon orbits a planet.")
    follow = asyncio.create_task(stack.ask("and its colour?", "it-den", "it-den2"), name="ask-den2")
    request = await stack.request("it-den2")
    assert request.conversation_history is not None
    assert [m.content for m in request.conversation_history] == [
        "what is a star",
        "A star is a sun.",
    ]
    await stack.llm_bus.publish(
        llm.TOPIC_LLM_RESPONSE, llm.LLMResponse(id="it-den2", reply="Yellow.")
    )
    assert (await follow).reply == "Yellow."


def test_tars_ask_fails_clearly_when_no_router_answers(
    mqtt_broker: TestBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MQTT_URL", mqtt_broker.config.url("cli"))
    status = ask_command.run(RuntimeSettings(), ["hello", "there", "--timeout", "0.5"])
    assert status == 1
    assert "no answer within" in capsys.readouterr().out
