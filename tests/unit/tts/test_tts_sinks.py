"""Sinks on the event loop: pacing, pause, stop, WAV files and the publish callback."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from pathlib import Path

import numpy as np
import pytest

from tars.audio.pcm import bytes_to_int16
from tars.services.tts.device import SoundDeviceSink
from tars.services.tts.pacing import Playhead
from tars.services.tts.settings import TtsSettings
from tars.services.tts.sinks import CallbackSink, NullSink, WavFileSink, create_sink

WAIT_S = 5.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_playhead_tracks_play_pause_and_underrun() -> None:
    clock = FakeClock()
    head = Playhead(clock)
    head.add(1.0)
    assert head.ahead() == pytest.approx(1.0)
    clock.now += 0.4
    assert head.ahead() == pytest.approx(0.6)
    head.pause()
    clock.now += 10.0
    assert head.ahead() == pytest.approx(0.6)
    head.resume()
    clock.now += 0.6
    assert head.ahead() == pytest.approx(0.0)
    clock.now += 5.0  # nothing queued: the idle time is not credited to new audio
    head.add(1.0)
    assert head.ahead() == pytest.approx(1.0)


async def test_null_sink_holds_writes_while_paused() -> None:
    sink = NullSink()
    await sink.start(1_000)
    await sink.pause()
    assert sink.paused
    writer = asyncio.create_task(sink.write(np.ones(100, dtype=np.int16)), name="write")
    await asyncio.sleep(0)
    assert not writer.done()
    assert sink.chunks == []
    await sink.resume()
    await asyncio.wait_for(writer, WAIT_S)
    assert len(sink.chunks) == 1


async def test_stop_wakes_a_paced_write_and_drops_it() -> None:
    sink = NullSink(paced=True)
    await sink.start(1_000)
    await sink.write(np.ones(10_000, dtype=np.int16))  # 10 s queued, nothing ahead yet
    writer = asyncio.create_task(sink.write(np.ones(10, dtype=np.int16)), name="write")
    await asyncio.sleep(0)
    assert not writer.done()  # 10 s ahead of real time: the write waits for the speaker
    await sink.stop()
    await asyncio.wait_for(writer, 1.0)
    assert len(sink.chunks) == 1
    await asyncio.wait_for(sink.finish(), 1.0)  # returns at once after stop


async def test_a_cancel_landing_as_a_paced_write_wakes_is_not_lost() -> None:
    # Python 3.11's asyncio.wait_for returns normally when the cancellation lands in the
    # loop pass where its wait ends (CPython gh-86296): the sink would go on playing.
    sink = NullSink(paced=True)
    await sink.start(1_000)
    await sink.write(np.ones(10_000, dtype=np.int16))  # 10 s ahead: the next write waits
    writer = asyncio.create_task(sink.write(np.ones(10, dtype=np.int16)), name="write")
    await asyncio.sleep(0)
    await sink.stop()  # ends the wait...
    await asyncio.sleep(0)
    requested = writer.cancel()  # ...and a cancellation lands in the same pass
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    assert writer.cancelled() or not requested, "the write was cancelled but carried on"


async def test_start_clears_an_earlier_stop_and_pause() -> None:
    sink = NullSink()
    await sink.start(1_000)
    await sink.pause()
    await sink.stop()
    await sink.start(1_000)
    await asyncio.wait_for(sink.write(np.ones(5, dtype=np.int16)), WAIT_S)
    assert len(sink.chunks) == 1


async def test_wav_sink_writes_each_utterance_to_a_numbered_file(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "out")
    for length in (300, 500):
        await sink.start(8_000)
        await sink.write(np.full(length, 7, dtype=np.int16))
        await sink.write(np.full(length, -7, dtype=np.int16))
        await sink.finish()
        assert sink.last_path is not None
        with wave.open(str(sink.last_path), "rb") as wav:
            assert wav.getframerate() == 8_000
            assert wav.getnchannels() == 1
            assert wav.getsampwidth() == 2
            samples = bytes_to_int16(wav.readframes(wav.getnframes()))
        assert samples.size == 2 * length
        assert samples[0] == 7
        assert samples[-1] == -7
    assert len(list((tmp_path / "out").glob("*.wav"))) == 2


async def test_wav_sink_keeps_what_played_before_stop(tmp_path: Path) -> None:
    target = tmp_path / "reply.wav"
    sink = WavFileSink(target)
    await sink.start(8_000)
    await sink.write(np.full(400, 3, dtype=np.int16))
    await sink.stop()
    await sink.write(np.full(400, 4, dtype=np.int16))
    await sink.finish()
    assert sink.last_path == target
    with wave.open(str(target), "rb") as wav:
        assert wav.getnframes() == 400


async def test_callback_sink_sends_raw_pieces_of_40_ms() -> None:
    sent: list[tuple[bytes, int]] = []

    async def send(pcm: bytes, rate: int) -> None:
        sent.append((pcm, rate))

    sink = CallbackSink(send, piece_ms=40, paced=False)
    await sink.start(22_050)
    chunk = np.arange(2_000, dtype=np.int16)
    await sink.write(chunk)
    await sink.finish()
    assert [len(pcm) // 2 for pcm, _ in sent] == [882, 882, 236]
    assert {rate for _, rate in sent} == {22_050}
    rebuilt = np.concatenate([bytes_to_int16(pcm) for pcm, _ in sent])
    np.testing.assert_array_equal(rebuilt, chunk)


async def test_callback_sink_paces_and_stops_mid_chunk() -> None:
    sent: list[bytes] = []
    first = asyncio.Event()

    async def send(pcm: bytes, rate: int) -> None:
        sent.append(pcm)
        first.set()

    sink = CallbackSink(send, piece_ms=40, paced=True, lead_ms=0)
    await sink.start(16_000)
    writer = asyncio.create_task(sink.write(np.ones(160_000, dtype=np.int16)), name="write")
    await asyncio.wait_for(first.wait(), WAIT_S)
    await sink.stop()
    await asyncio.wait_for(writer, 1.0)
    # 10 s of audio is 250 pieces; real-time pacing had sent only the first few.
    assert 1 <= len(sent) < 250


async def test_callback_sink_pause_holds_pieces() -> None:
    sent: list[bytes] = []

    async def send(pcm: bytes, rate: int) -> None:
        sent.append(pcm)

    sink = CallbackSink(send, piece_ms=40, paced=False)
    await sink.start(16_000)
    await sink.pause()
    writer = asyncio.create_task(sink.write(np.ones(3_200, dtype=np.int16)), name="write")
    await asyncio.sleep(0)
    assert sent == []
    await sink.resume()
    await asyncio.wait_for(writer, WAIT_S)
    assert len(sent) == 5


def test_create_sink_maps_kinds(tmp_path: Path) -> None:
    settings = TtsSettings(wav_dir=tmp_path, output_device="3")

    async def send(pcm: bytes, rate: int) -> None:
        del pcm, rate

    assert isinstance(create_sink("null", settings), NullSink)
    assert isinstance(create_sink("wav", settings), WavFileSink)
    assert isinstance(create_sink("mqtt", settings, send), CallbackSink)
    assert isinstance(create_sink("sounddevice", settings), SoundDeviceSink)
    with pytest.raises(ValueError, match="send callback"):
        create_sink("mqtt", settings)
