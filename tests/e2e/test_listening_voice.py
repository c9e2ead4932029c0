"""Wake + stt services through a real broker on synthesised speech (real engines)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from tests.support.broker import TestBroker, running

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_bytes, silence, tone, white_noise
from tars.contracts.audio import pcm_topic
from tars.contracts.llm import TOPIC_LLM_CANCEL
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.contracts.tts import TOPIC_TTS_CONTROL
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import serve
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.wer import corpus_wer
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]

COMMANDS = (
    "what time is it",
    "set a timer for five minutes",
    "turn on the kitchen lights",
    "what is the weather like today",
)
VOICES: dict[str, Callable[[str], Int16Array]] = {
    "piper": speech.piper,
    "espeak": lambda text: speech.espeak(text, "en-us", 150),
}
FRAME = 320


@dataclass
class Seen:
    """Everything the listening services published, by topic."""

    messages: list[Message] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self.changed.set()

    def on(self, topic: str, satellite: str | None = None) -> list[Any]:
        return [
            m.data
            for m in self.messages
            if m.topic == topic and (satellite is None or m.data.satellite == satellite)
        ]

    async def wait_for(self, predicate: Callable[[], bool], limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


@dataclass
class Stack:
    client: MqttBus
    seen: Seen
    stt: SttService
    wake: WakeService


@contextlib.asynccontextmanager
async def listening(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    wake_settings: WakeSettings | None = None,
) -> AsyncIterator[Stack]:
    """Run wake + stt in-process (each on its own bus) and a client that sees their output."""
    stt = SttService(SttSettings(), transcriber=whisper, turn_model=turn_model)
    wake = WakeService(wake_settings or WakeSettings())
    client = mqtt_broker.bus("cli", health=False)
    seen = Seen()
    for topic in (TOPIC_WAKE_EVENT, TOPIC_STT_FINAL, TOPIC_TTS_CONTROL, TOPIC_LLM_CANCEL):
        client.subscribe(topic, seen)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(serve(stt, mqtt_broker.bus("stt"), stop), name="test:stt"),
        asyncio.create_task(serve(wake, mqtt_broker.bus("wake"), stop), name="test:wake"),
    ]
    try:
        async with running(client):
            await asyncio.wait_for(wake._ready.wait(), 30)
            await asyncio.wait_for(stt._ready.wait(), 30)
            yield Stack(client, seen, stt, wake)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def stream(client: MqttBus, satellite: str, audio: Int16Array) -> None:
    """Publish audio as 20 ms frames, faster than real time, with virtual capture times."""
    start = time.time()
    padded = np.concatenate([audio, silence(1.5)])
    for seq, offset in enumerate(range(0, padded.size - FRAME + 1, FRAME)):
        frame = padded[offset : offset + FRAME]
        properties = {"seq": str(seq), "ts": f"{start + offset / SAMPLE_RATE:.6f}"}
        await client.publish_raw(pcm_topic(satellite), int16_to_bytes(frame), properties=properties)
        if seq % 10 == 0:
            await asyncio.sleep(0.005)  # let the broker breathe; still ~4x real time


def wake_then(voice: str, command: str) -> Int16Array:
    say = VOICES[voice]
    wake_word = say("Okay Nabu.") if voice == "piper" else say("okay nabu")
    return speech.utterance(wake_word, say(command), gap_s=0.3, pad_s=0.8)


async def test_wake_word_then_command_gives_one_wake_and_one_final(
    mqtt_broker: TestBroker, whisper: WhisperTranscriber, turn_model: TurnModel | None
) -> None:
    clips = {
        f"{voice}-{index}": (command, wake_then(voice, command))
        for voice in VOICES
        for index, command in enumerate(COMMANDS)
    }
    async with listening(mqtt_broker, whisper, turn_model) as stack:
        started = time.monotonic()
        await asyncio.gather(
            *(stream(stack.client, sat, audio) for sat, (_, audio) in clips.items())
        )
        await stack.seen.wait_for(
            lambda: all(stack.seen.on(TOPIC_STT_FINAL, sat) for sat in clips), limit_s=60
        )
        await asyncio.sleep(1.0)  # anything extra would show up now
        elapsed = time.monotonic() - started
        print(f"\n{len(clips)} satellites at once: all finals after {elapsed:.1f} s")
        pairs = []
        for sat, (command, _) in clips.items():
            wakes = [e for e in stack.seen.on(TOPIC_WAKE_EVENT, sat) if e.type == "wake"]
            finals = stack.seen.on(TOPIC_STT_FINAL, sat)
            assert len(wakes) == 1, (sat, wakes)
            assert len(finals) == 1, (sat, finals)
            final = finals[0]
            assert final.source == "voice"
            assert final.speech_end_ts >= final.speech_start_ts
            print(f"  {sat}: {final.text!r} transcribe {final.transcribe_ms} ms")
            pairs.append((command, final.text))
    error_rate = corpus_wer(pairs)
    print(f"  WER over {len(pairs)} turns: {error_rate:.3f}")
    assert error_rate < 0.15


async def test_speech_without_wake_word_and_noise_give_nothing(
    mqtt_broker: TestBroker, whisper: WhisperTranscriber, turn_model: TurnModel | None
) -> None:
    noise = np.concatenate(
        [
            white_noise(3.0, amplitude=600.0, seed=3),
            tone(2.0, 440.0, amplitude=4000.0),
            silence(2.0),
            tone(1.0, 1000.0, amplitude=8000.0),
            white_noise(2.0, amplitude=2500.0, seed=4),
        ]
    )
    assert noise.size >= 10 * SAMPLE_RATE
    plain = speech.utterance(*(speech.piper(c) for c in COMMANDS[:2]), gap_s=1.0)
    async with listening(mqtt_broker, whisper, turn_model) as stack:
        await asyncio.gather(
            stream(stack.client, "noise", noise), stream(stack.client, "nowake", plain)
        )
        await asyncio.sleep(4.0)
        heard = stack.stt.bus.metrics.snapshot()
    print(f"\nstt metrics after noise and unwoken speech: {heard}")
    assert stack.seen.on(TOPIC_WAKE_EVENT) == []
    assert stack.seen.on(TOPIC_STT_FINAL) == []


async def test_two_satellites_get_their_own_transcripts(
    mqtt_broker: TestBroker, whisper: WhisperTranscriber, turn_model: TurnModel | None
) -> None:
    clips = {"alpha": COMMANDS[0], "beta": COMMANDS[2]}
    async with listening(mqtt_broker, whisper, turn_model) as stack:
        await asyncio.gather(
            *(stream(stack.client, sat, wake_then("piper", text)) for sat, text in clips.items())
        )
        await stack.seen.wait_for(
            lambda: all(stack.seen.on(TOPIC_STT_FINAL, sat) for sat in clips), limit_s=60
        )
        for satellite, command in clips.items():
            finals = stack.seen.on(TOPIC_STT_FINAL, satellite)
            print(f"{satellite}: {[f.text for f in finals]}")
            assert corpus_wer([(command, finals[0].text)]) <= 0.25
