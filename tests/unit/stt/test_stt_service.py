"""The stt service's gating, wake-phrase handling and publishing, with fake engines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_bytes, rms, silence, tone
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.contracts.tts import TOPIC_TTS_STATUS, TtsStatus
from tars.contracts.wake import TOPIC_WAKE_EVENT, WakeEvent
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.services.stt.endpoint import SegmenterConfig, UtteranceSegmenter
from tars.services.stt.service import SttService
from tars.services.stt.session import Gate, TimeMap, Window, cut_audio, strip_wake_phrase
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import Transcript


class LoudVad:
    """Speech = a 32 ms window louder than 1000 RMS."""

    window_samples = 512

    def feed(self, samples: Int16Array) -> list[float]:
        return [1.0 if rms(samples) > 1000 else 0.0]

    def reset(self) -> None:
        pass


class FixedTranscriber:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[int] = []

    def transcribe(self, samples: Int16Array) -> Transcript:
        self.calls.append(samples.size)
        return Transcript(self.text, 0.9, 0.01, -0.1, "en", samples.size / SAMPLE_RATE, 0.01)


def test_strip_wake_phrase() -> None:
    phrases = ("okay nabu", "ok nabu", "nabu")
    assert strip_wake_phrase("Okay, Nabu. What time is it?", phrases) == "What time is it?"
    assert strip_wake_phrase("Nabu, stop.", phrases) == "stop."
    assert strip_wake_phrase("Okay Nabu.", phrases) == ""
    assert strip_wake_phrase("Okay, what time is it?", phrases) == "Okay, what time is it?"


def test_time_map_and_cut() -> None:
    times = TimeMap()
    times.add(100.0, 320)
    times.add(100.02, 320)
    times.add(200.0, 320)  # a gap in capture
    assert times.wall(0.01) == pytest.approx(100.01)
    assert times.wall(0.05) == pytest.approx(200.01)
    audio = np.arange(16000, dtype=np.int16)
    assert cut_audio(audio, 10.0, 10.5, 0.25).size == 16000 - 4000
    assert cut_audio(audio, 10.0, None, 0.25).size == 16000


def test_gate_decisions() -> None:
    gate = Gate()
    assert gate.decide(0.0, 1.0).reason == "not_listening"
    gate.open(Window("wake", 8.0, 14.0, cut_ts=10.0))
    assert gate.decide(9.0, 10.1).reason == "wake_word_only"
    decision = gate.decide(9.0, 12.0)
    assert decision.accepted
    assert decision.cut_ts == 10.0
    assert gate.decide(10.5, 12.0).cut_ts is None  # started after the wake word
    assert not gate.decide(15.0, 16.0).accepted
    gate.tts_speaking = True
    assert gate.decide(15.0, 16.0).reason == "muted_tts"
    assert gate.decide(10.5, 12.0).accepted  # a barge-in/wake window still opens the mic
    gate.tts_speaking, gate.live = False, True
    assert gate.decide(15.0, 16.0).reason == "live"


@contextlib.asynccontextmanager
async def stt_running(service: SttService) -> AsyncIterator[tuple[MemoryBus, list[Message]]]:
    broker = MemoryBroker()
    client = MemoryBus("cli", broker)
    finals: list[Message] = []

    async def collect(message: Message) -> None:
        finals.append(message)

    client.subscribe(TOPIC_STT_FINAL, collect)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, MemoryBus("stt", broker), stop), name="test:stt")
    client_task = asyncio.create_task(client.run(), name="test:client")
    try:
        await client.wait_connected()
        await asyncio.wait_for(service._ready.wait(), 2)
        yield client, finals
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        client_task.cancel()
        await asyncio.gather(client_task, return_exceptions=True)


def make_service(text: str, **overrides: object) -> tuple[SttService, FixedTranscriber]:
    settings = SttSettings(**overrides)  # type: ignore[arg-type]
    transcriber = FixedTranscriber(text)
    config = SegmenterConfig(noise_gate=None, pause_partial_ms=0)
    service = SttService(
        settings,
        transcriber=transcriber,
        segmenter_factory=lambda: UtteranceSegmenter(LoudVad(), config),
    )
    return service, transcriber


async def send(bus: MemoryBus, satellite: str, audio: Int16Array, start: float) -> None:
    for seq, offset in enumerate(range(0, audio.size, 320)):
        frame = audio[offset : offset + 320]
        props = {"seq": str(seq), "ts": str(start + offset / SAMPLE_RATE)}
        await bus.publish_raw(f"audio/{satellite}/pcm", int16_to_bytes(frame), properties=props)
        await asyncio.sleep(0)


SPEECH = np.concatenate([silence(0.5), tone(1.5, 300.0, amplitude=8000.0), silence(1.5)])


async def wait_finals(finals: list[Message], count: int, limit_s: float = 2.0) -> None:
    deadline = time.monotonic() + limit_s
    for _ in range(round(limit_s / 0.02)):
        if len(finals) >= count or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


async def test_no_wake_no_final_then_wake_gives_final_without_wake_word() -> None:
    service, transcriber = make_service("Okay Nabu, turn on the kitchen lights.")
    async with stt_running(service) as (client, finals):
        await send(client, "kitchen", SPEECH, 1000.0)
        await asyncio.sleep(0.3)
        assert finals == []
        # The wake word ends 0.5 s into the speech; the event arrives after the audio.
        await send(client, "kitchen", SPEECH, 2000.0)
        await client.publish(
            TOPIC_WAKE_EVENT, WakeEvent(type="wake", ts=2001.0, satellite="kitchen")
        )
        await wait_finals(finals, 1)
    assert len(finals) == 1
    final = finals[0].data
    assert final.text == "turn on the kitchen lights."
    assert final.satellite == "kitchen"
    assert final.source == "voice"
    assert final.speech_start_ts == pytest.approx(2001.0, abs=0.05)
    assert final.speech_end_ts == pytest.approx(2002.0, abs=0.1)
    # The audio handed to the recogniser starts shortly before the wake word's end.
    assert transcriber.calls[-1] < 1.5 * SAMPLE_RATE


async def test_live_mode_and_tts_mute() -> None:
    service, _ = make_service("Turn on the kitchen lights.", live_mode=True)
    async with stt_running(service) as (client, finals):
        await client.publish(
            TOPIC_TTS_STATUS, TtsStatus(event="speaking_start", utt_id="r1", satellite="den")
        )
        await send(client, "den", SPEECH, 1000.0)
        await asyncio.sleep(0.3)
        assert finals == []  # muted while TTS speaks there
        await send(client, "hall", SPEECH, 1000.0)
        await wait_finals(finals, 1)
    assert [f.data.satellite for f in finals] == ["hall"]


async def test_filter_rejection_is_counted() -> None:
    service, _ = make_service("Okay Nabu.", live_mode=True)
    async with stt_running(service) as (client, finals):
        await send(client, "den", SPEECH, 1000.0)
        await asyncio.sleep(0.3)
    assert finals == []
    assert service.bus.metrics.snapshot().counters.get("rejected.empty") == 1
