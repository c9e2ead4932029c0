"""A TARS stack in the v1 wire beside a py-tars client: two voice turns, every message checked.

wake, stt, router, llm, memory and tts run in this process with real engines
(microWakeWord, Silero VAD + Whisper tiny.en, Piper; the llm against a scripted
OpenAI-compatible server, memory with the hashing embedder so RAG runs), each on its own
MQTT connection in ``MQTT_WIRE=v1``, on the local satellite. A py-tars-like client (MQTT
3.1.1, raw payloads, no TARS code) records every message on ``#`` while the user says
"okay nabu, what time is it" (a rule answers) and "okay nabu, tell me a joke" (the LLM
answers). Every message on a topic of the py-tars topic table must then validate against
the hand-written py-tars models (``tests/support/py_tars``, unknown fields forbidden), and
the turns must still work: TARS's own consumers get the additions (satellite, heard_in,
last, ...) from the ``tars-ext`` user property the py-tars client never sees.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.openai_server import OpenAIServer, text_stream
from tests.support.py_tars import model_for, validate_v1
from tests.support.py_tars.client import PyTarsClient
from tests.support.voice import FIXED_HOUR, Microphone, fixed_clock, hear, spoken, states_an_hour

from tars.audio.pcm import bytes_to_int16
from tars.contracts import llm, memory, stt, tts, wake
from tars.contracts.audio import tts_audio_topic
from tars.contracts.base import LOCAL_SATELLITE
from tars.contracts.health import HEALTH_PATTERN
from tars.contracts.registry import lookup
from tars.runtime.bus import Message, RawMessage
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service, serve
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tars.services.memory.service import MemoryService
from tars.services.memory.settings import MemorySettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]

SERVICES = ("memory", "llm", "tts", "router", "stt", "wake")
JOKE = ["Why did the robot go on holiday? ", "It needed to recharge its batteries."]
REQUIRED = {
    wake.TOPIC_WAKE_EVENT,
    stt.TOPIC_STT_PARTIAL,
    stt.TOPIC_STT_FINAL,
    tts.TOPIC_TTS_SAY,
    tts.TOPIC_TTS_STATUS,
    llm.TOPIC_LLM_REQUEST,
    llm.TOPIC_LLM_STREAM,
    llm.TOPIC_LLM_RESPONSE,
    memory.TOPIC_MEMORY_QUERY,
    memory.TOPIC_MEMORY_RESULTS,
    "system/health/stt",
}
"""py-tars topics the two turns must have produced (the issue's list, and the RAG pair)."""
WAIT_S = 30.0


@dataclass
class Stack:
    mic: Microphone
    seen: Collector
    audio: list[RawMessage]


def v1_bus(broker: TestBroker, user: str, *, health: bool = True) -> MqttBus:
    return MqttBus(user, broker.settings(user, wire="v1"), health=health)


def _services(
    server: OpenAIServer, data_dir: Path, whisper: WhisperTranscriber, voice: PiperSynthesizer,
    turn_model: TurnModel | None,
) -> list[Service]:  # fmt: skip
    return [
        MemoryService(MemorySettings(embedder="hashing", flush_interval_ms=200), data_dir),
        LlmService(LlmSettings(base_url=server.base_url, model="test-model", rag_enabled=True)),
        # The mqtt sink sends the local satellite's reply audio on tts/audio/local (no sound card).
        TtsService(TtsSettings(sink="mqtt", cache_enable=False), data_dir, synthesizer=voice),
        RouterService(
            RouterSettings(online_announce=False, wake_ack_enabled=False), wallclock=fixed_clock
        ),
        SttService(SttSettings(), transcriber=whisper, turn_model=turn_model),
        WakeService(WakeSettings()),
    ]


@contextlib.asynccontextmanager
async def v1_stack(broker: TestBroker, services: list[Service]) -> AsyncIterator[Stack]:
    """The services in the v1 wire, a TARS observer, and the local satellite's microphone."""
    client = v1_bus(broker, "cli", health=False)
    seen, health, audio = Collector(), Collector(), []
    topics = (
        stt.TOPIC_STT_FINAL,
        tts.TOPIC_TTS_STATUS,
        llm.TOPIC_LLM_REQUEST,
        llm.TOPIC_LLM_CANCEL,
    )
    for topic in topics:
        client.subscribe(topic, seen)
    client.subscribe(HEALTH_PATTERN, health)

    async def on_audio(message: RawMessage) -> None:
        audio.append(message)

    client.subscribe_raw(tts_audio_topic(LOCAL_SATELLITE), on_audio)
    stop = asyncio.Event()
    async with running(client):
        tasks = [
            asyncio.create_task(
                serve(service, v1_bus(broker, service.name), stop, heartbeat_s=60),
                name=f"test:{service.name}",
            )
            for service in services
        ]
        try:
            for name in SERVICES:
                await health.wait_for(partial(_ready, name), 60)
            async with Microphone(client, LOCAL_SATELLITE) as mic:
                yield Stack(mic, seen, audio)
        finally:
            stop.set()
            _, late = await asyncio.wait(tasks, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _ready(name: str, message: Message) -> bool:
    # Retained health may be left by earlier tests on the session's broker.
    return (
        message.topic.endswith(f"/{name}")
        and message.data.event == "ready"
        and not message.retained
    )


async def spoken_turn(stack: Stack, voice: PiperSynthesizer, request: str) -> str:
    """Say "okay nabu, <request>" and wait until the reply has been spoken; its utt_id."""
    since = len(stack.seen.messages)
    audio = await asyncio.to_thread(spoken, voice, "Okay Nabu.", request)
    await stack.mic.say(audio)
    start = await stack.seen.wait_for(
        lambda m: m.topic == tts.TOPIC_TTS_STATUS and m.data.event == "speaking_start",
        WAIT_S,
        since,
    )
    reply_id = start.data.utt_id
    await stack.seen.wait_for(
        lambda m: (
            m.topic == tts.TOPIC_TTS_STATUS
            and m.data.event == "speaking_end"
            and m.data.utt_id == reply_id
        ),
        WAIT_S,
        since,
    )
    return str(reply_id)


def reply_audio(stack: Stack, reply_id: str) -> tuple[np.ndarray, int]:
    pieces = [m for m in stack.audio if m.properties.get("utt_id") == reply_id]
    rate = int(pieces[0].properties["rate"]) if pieces else 22050
    samples = [bytes_to_int16(m.payload) for m in pieces]
    return (np.concatenate(samples) if samples else np.zeros(0, np.int16)), rate


def check_every_message(py_tars: PyTarsClient) -> dict[str, int]:
    """Validate what the py-tars client saw; counts per py-tars topic."""
    counts: dict[str, int] = {}
    failures: list[str] = []
    for item in py_tars.seen:
        spec = lookup(item.topic)
        assert spec is not None, f"{item.topic}: not a topic of the contract"
        assert (model_for(item.topic) is not None) == spec.v1, item.topic
        if not spec.v1:
            continue  # a TARS topic (audio, stt/rejected, conversation/turn, ...)
        counts[item.topic] = counts.get(item.topic, 0) + 1
        try:
            validate_v1(item.topic, item.payload)
        except ValidationError as err:
            failures.append(f"{item.topic}: {err.errors()[:3]} in {item.payload[:300]!r}")
    assert not failures, "\n".join(failures)
    return counts


async def test_rule_and_llm_voice_turns_publish_exactly_py_tars_v1(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    piper_voice: PiperSynthesizer,
    turn_model: TurnModel | None,
    tmp_path: Path,
) -> None:
    server = OpenAIServer(default=text_stream(JOKE))
    config = mqtt_broker.config
    py_tars = PyTarsClient(config.host, config.port, "ui-web", config.passwords["ui-web"])
    async with server, py_tars:  # the server's port is known once it runs
        services = _services(server, tmp_path, whisper, piper_voice, turn_model)
        async with v1_stack(mqtt_broker, services) as stack:
            time_reply = await spoken_turn(stack, piper_voice, "What time is it?")
            joke_reply = await spoken_turn(stack, piper_voice, "Tell me a joke.")
    counts = check_every_message(py_tars)
    print(f"\npy-tars client validated: {dict(sorted(counts.items()))}")
    assert set(counts) >= REQUIRED, REQUIRED - set(counts)

    # The turns worked, with TARS's additions intact for TARS's own consumers.
    finals = stack.seen.matching(lambda m: m.topic == stt.TOPIC_STT_FINAL)
    assert [m.data.satellite for m in finals] == [LOCAL_SATELLITE] * len(finals)
    assert {m.data.heard_in for m in finals} == {"wake"}
    # One request answered the joke; any other was sent early, at a pause
    # (ROUTER_PREEMPT_LLM), and cancelled once the final did not take it over.
    requests = [m.data for m in stack.seen.matching(lambda m: m.topic == llm.TOPIC_LLM_REQUEST)]
    cancels = stack.seen.matching(lambda m: m.topic == llm.TOPIC_LLM_CANCEL)
    void = {m.data.id for m in cancels}
    [request] = [r for r in requests if r.id not in void]
    early = [r.text for r in requests if r.id in void]
    print(f"  answered by {request.text!r}; sent early and cancelled: {early}")
    assert "joke" in request.text.lower()
    assert all(r.preemptive for r in requests if r.id in void)
    samples, rate = reply_audio(stack, time_reply)
    assert states_an_hour(hear(whisper, samples, rate), {FIXED_HOUR})
    samples, rate = reply_audio(stack, joke_reply)
    assert "robot" in hear(whisper, samples, rate)
