"""The mic as a duplex satellite: it plays tts/audio, records the reference, cancels the echo.

Runs the mic service on the in-memory bus with the simulated room as its sound card and the
real WebRTC AEC3: reply audio published on ``tts/audio/<sat>`` is played into the room, comes
back into the microphone delayed, reverberated and louder than it was played, and the
published frames carry far less of it (and the ``aec`` property).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tars.audio.echo import erle_db
from tars.audio.pcm import SAMPLE_RATE, Int16Array, bytes_to_int16, int16_to_bytes
from tars.bench.duplex_room import RoomConfig, SimulatedRoom, impulse_response
from tars.contracts.tts import TOPIC_TTS_STATUS, TtsStatus
from tars.contracts.wake import TOPIC_WAKE_EVENT, WakeEvent
from tars.runtime.bus import RawMessage
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.services.mic.playback import PlayoutBuffer, SatellitePlayback
from tars.services.mic.reference import FarEnd
from tars.services.mic.service import MicService
from tars.services.mic.settings import MicSettings


def _speech_like(seconds: float, seed: int = 3) -> Int16Array:
    """Noise shaped by a syllable-rate envelope: broadband and bursty like speech."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * 3.0 * t), 0, None) ** 0.5
    carrier = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    return (carrier * envelope * 9000).astype(np.int16)


def test_far_end_reads_back_what_was_played_with_silence_around() -> None:
    far = FarEnd()
    far.played(np.arange(1, 161, dtype=np.int16), 1000.0)
    got = far.take(1000.0 - 80 / SAMPLE_RATE, 320)
    assert np.all(got[:80] == 0)
    assert np.array_equal(got[80:240], np.arange(1, 161))
    assert np.all(got[240:] == 0)


def test_playout_holds_on_pause_and_empties_on_stop() -> None:
    playout = PlayoutBuffer()
    playout.push(np.ones(400, dtype=np.int16))
    assert playout.pull(100).sum() == 100
    playout.hold(True)
    assert playout.pull(100).sum() == 0
    assert playout.queued == 300
    playout.hold(False)
    assert playout.pull(100).sum() == 100
    playout.flush()
    assert playout.pull(100).sum() == 0


def test_impulse_response_has_unit_energy() -> None:
    response = impulse_response(RoomConfig(rt60_s=0.4))
    assert float(np.sum(response * response)) == pytest.approx(1.0, rel=1e-6)


@contextlib.asynccontextmanager
async def _duplex(
    config: RoomConfig, aec: str
) -> AsyncIterator[tuple[MemoryBus, list[RawMessage]]]:
    broker = MemoryBroker()
    tts, mic_bus = MemoryBus("tts", broker), MemoryBus("mic", broker)
    cleaned: list[RawMessage] = []

    async def collect(message: RawMessage) -> None:
        cleaned.append(message)

    tts.subscribe_raw("audio/room/pcm", collect)
    playout, far_end = PlayoutBuffer(), FarEnd()
    room = SimulatedRoom(config, playout, far_end)
    settings = MicSettings(satellite_id="room", playback=True, aec=aec)
    service = MicService(settings, source=room, output=room, playout=playout, far_end=far_end)
    service.attach(mic_bus)
    async with asyncio.TaskGroup() as group:
        buses = [group.create_task(b.run(), name=f"test:{b.service}") for b in (tts, mic_bus)]
        runner = group.create_task(service.run(), name="test:mic")
        try:
            yield tts, cleaned
        finally:
            for task in (*buses, runner):
                task.cancel()


async def _play(tts: MemoryBus, samples: Int16Array) -> None:
    """Send reply audio as TTS does (22.05 kHz, 40 ms pieces, a little ahead of time)."""
    rate = 22050
    resampled = np.interp(
        np.linspace(0, samples.size - 1, round(samples.size * rate / SAMPLE_RATE)),
        np.arange(samples.size),
        samples.astype(np.float64),
    ).astype(np.int16)
    await tts.publish(TOPIC_TTS_STATUS, TtsStatus(event="speaking_start", satellite="room"))
    piece = rate * 40 // 1000
    for offset in range(0, resampled.size, piece):
        chunk = resampled[offset : offset + piece]
        await tts.publish_raw(
            "tts/audio/room", int16_to_bytes(chunk), properties={"rate": str(rate)}
        )
        await asyncio.sleep(0.035)


async def _echo_after_cancelling(aec: str) -> float:
    config = RoomConfig(echo_delay_ms=120, echo_gain=1.5, rt60_s=0.25)
    async with _duplex(config, aec) as (tts, cleaned):
        await _play(tts, _speech_like(4.0))
        await asyncio.sleep(0.3)
        frames = list(cleaned)
    assert frames, "no frames published"
    if aec != "off":
        assert all(m.properties.get("aec") == "webrtc" for m in frames)
    audio = np.concatenate([bytes_to_int16(m.payload) for m in frames])
    second_half = audio[audio.size // 2 :].astype(np.float64)
    return float(np.sqrt(np.mean(second_half**2)))


async def test_echo_of_played_replies_is_cancelled() -> None:
    raw = await _echo_after_cancelling("off")
    cleaned = await _echo_after_cancelling("webrtc")
    enhancement = erle_db(np.array([raw]), np.array([cleaned]))
    print(f"\necho RMS {raw:.0f} without AEC, {cleaned:.0f} with it: {enhancement:.1f} dB")
    assert raw > 1000, "the room must echo the reply loudly"
    assert enhancement >= 12.0


async def test_playback_follows_barge_ins_and_tts_status() -> None:
    broker = MemoryBroker()
    others, mic_bus = MemoryBus("wake", broker), MemoryBus("mic", broker)

    class Watched(PlayoutBuffer):
        pushed = asyncio.Event()
        flushed = asyncio.Event()

        def push(self, samples: Int16Array) -> None:
            super().push(samples)
            self.pushed.set()

        def flush(self) -> None:
            super().flush()
            self.flushed.set()

    playout = Watched()
    playback = SatellitePlayback("room", playout)
    playback.attach(mic_bus)
    tasks = [asyncio.create_task(b.run(), name=f"test:{b.service}") for b in (others, mic_bus)]
    try:
        await others.publish_raw(
            "tts/audio/room", int16_to_bytes(np.ones(320, dtype=np.int16)), properties={}
        )
        await asyncio.wait_for(playout.pushed.wait(), 5.0)
        assert playout.queued == 320
        interrupt = WakeEvent(type="interrupt", cause="voice", satellite="room")
        await others.publish(TOPIC_WAKE_EVENT, interrupt)
        await others.publish(TOPIC_TTS_STATUS, TtsStatus(event="paused", satellite="room"))
        await others.publish(TOPIC_TTS_STATUS, TtsStatus(event="resumed", satellite="kitchen"))
        await others.publish(TOPIC_TTS_STATUS, TtsStatus(event="stopped", satellite="room"))
        await asyncio.wait_for(playout.flushed.wait(), 5.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert playback.pieces == 1
    assert playout.held_at is not None, "the interrupt held the speaker"
    assert playout.queued == 0, "the stop emptied it"
    assert playout.pull(10).sum() == 0
