"""Sound-card sink: the callback buffer, with a fake sounddevice module, and the error path."""

from __future__ import annotations

import asyncio
import sys
import types
from typing import Any

import numpy as np
import pytest

from tars.services.tts.device import PcmBuffer, SoundDeviceSink
from tars.services.tts.errors import SinkUnavailableError

WAIT_S = 5.0
RATE = 1_000
BLOCK = 20  # samples per 20 ms block at 1 kHz


class FakePortAudioError(Exception):
    pass


class FakeStream:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def block(self) -> np.ndarray:
        """Run one audio callback and return what it wrote."""
        out = np.full((self.kwargs["blocksize"], 1), 999, dtype=np.int16)
        self.callback(out, out.shape[0], None, None)
        return out[:, 0].copy()


def fake_sounddevice(*, has_output: bool = True) -> tuple[types.ModuleType, list[FakeStream]]:
    module = types.ModuleType("sounddevice")
    streams: list[FakeStream] = []

    def query_devices(device: Any = None, kind: str | None = None) -> dict[str, Any]:
        if not has_output:
            raise FakePortAudioError("Error querying device -1")
        return {"name": "fake", "max_output_channels": 2}

    def output_stream(**kwargs: Any) -> FakeStream:
        streams.append(FakeStream(**kwargs))
        return streams[-1]

    module.PortAudioError = FakePortAudioError  # type: ignore[attr-defined]
    module.query_devices = query_devices  # type: ignore[attr-defined]
    module.OutputStream = output_stream  # type: ignore[attr-defined]
    return module, streams


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> list[FakeStream]:
    module, streams = fake_sounddevice()
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return streams


def test_buffer_pulls_across_chunks_and_pads_with_silence() -> None:
    buffer = PcmBuffer()
    buffer.push(np.array([1, 2, 3], dtype=np.int16))
    buffer.push(np.array([4, 5], dtype=np.int16))
    out = np.full(4, 9, dtype=np.int16)
    assert buffer.pull(out) == 4
    assert out.tolist() == [1, 2, 3, 4]
    assert buffer.pull(out) == 1
    assert out.tolist() == [5, 0, 0, 0]
    assert buffer.frames == 0


def test_paused_buffer_outputs_silence_and_keeps_its_samples() -> None:
    buffer = PcmBuffer()
    buffer.push(np.array([1, 2], dtype=np.int16))
    buffer.set_paused(True)
    out = np.full(2, 9, dtype=np.int16)
    assert buffer.pull(out) == 0
    assert out.tolist() == [0, 0]
    buffer.set_paused(False)
    assert buffer.pull(out) == 2
    assert out.tolist() == [1, 2]


async def test_sink_plays_pauses_and_stops_within_one_block(fake_sd: list[FakeStream]) -> None:
    sink = SoundDeviceSink(block_ms=20)
    await sink.start(RATE)
    (stream,) = fake_sd
    assert stream.started
    assert stream.kwargs["blocksize"] == BLOCK
    assert stream.kwargs["dtype"] == "int16"
    await sink.write(np.arange(1, 101, dtype=np.int16))
    assert stream.block().tolist() == list(range(1, 21))
    await sink.pause()
    assert not stream.block().any()  # the very next block is silent
    await sink.resume()
    assert stream.block().tolist() == list(range(21, 41))
    await sink.stop()
    assert not stream.block().any()  # the rest was dropped
    await sink.close()
    assert stream.closed


async def test_write_waits_for_room_and_finish_waits_for_playout(
    fake_sd: list[FakeStream],
) -> None:
    sink = SoundDeviceSink(block_ms=20, buffer_ms=40)
    await sink.start(RATE)
    (stream,) = fake_sd
    await sink.write(np.ones(60, dtype=np.int16))  # over the 40-sample capacity
    writer = asyncio.create_task(sink.write(np.full(20, 2, dtype=np.int16)), name="write")
    await asyncio.sleep(0)
    assert not writer.done()
    played: list[int] = []
    while not writer.done():
        played.extend(stream.block().tolist())
        await asyncio.sleep(0)
    finisher = asyncio.create_task(sink.finish(), name="finish")
    await asyncio.sleep(0)
    assert not finisher.done()
    while not finisher.done():
        played.extend(stream.block().tolist())
        await asyncio.sleep(0)
    # Blocks here come faster than the loop refills (an underrun), hence the zero filter.
    assert [sample for sample in played if sample] == [1] * 60 + [2] * 20
    assert sink._buffer.frames == 0


async def test_stop_releases_a_waiting_write_and_finish(fake_sd: list[FakeStream]) -> None:
    sink = SoundDeviceSink(block_ms=20, buffer_ms=20)
    await sink.start(RATE)
    await sink.write(np.ones(100, dtype=np.int16))
    await sink.pause()
    writer = asyncio.create_task(sink.write(np.ones(10, dtype=np.int16)), name="write")
    finisher = asyncio.create_task(sink.finish(), name="finish")
    await asyncio.sleep(0)
    assert not writer.done()
    assert not finisher.done()
    await sink.stop()
    await asyncio.wait_for(asyncio.gather(writer, finisher), WAIT_S)


async def test_stream_is_reused_at_the_same_rate(fake_sd: list[FakeStream]) -> None:
    sink = SoundDeviceSink()
    await sink.start(RATE)
    await sink.start(RATE)
    assert len(fake_sd) == 1
    await sink.start(2 * RATE)
    assert len(fake_sd) == 2
    assert fake_sd[0].closed


async def test_no_output_device_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    module, _ = fake_sounddevice(has_output=False)
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    with pytest.raises(SinkUnavailableError, match="no usable audio output device.*TTS_SINK"):
        await SoundDeviceSink().start(22_050)


async def test_missing_sounddevice_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(SinkUnavailableError, match="uv sync --extra"):
        await SoundDeviceSink().start(22_050)


def _machine_has_output() -> bool:
    try:
        import sounddevice
    except (ImportError, OSError):
        return False
    try:
        sounddevice.query_devices(kind="output")
    except Exception:
        return False
    return True


async def test_this_machine_without_a_sound_card_gets_a_clear_error() -> None:
    if _machine_has_output():
        pytest.skip("this machine has an audio output device")
    with pytest.raises(SinkUnavailableError, match="TTS_SINK=wav or null"):
        await SoundDeviceSink().start(22_050)
