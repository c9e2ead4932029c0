"""SoundDeviceSource and the device listing: the real no-device path, and a fake PortAudio."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tars.audio.pcm import rms
from tars.services.mic import device as device_module
from tars.services.mic.device import (
    InputStreamError,
    NoInputDeviceError,
    SoundDeviceSource,
    list_input_devices,
    portaudio_problem,
)
from tars.services.mic.sources import MicError


def test_listing_never_raises_on_this_machine() -> None:
    devices = list_input_devices()
    problem = portaudio_problem()
    print(f"input devices: {devices}; PortAudio problem: {problem}")
    assert isinstance(devices, list)
    if problem is not None:
        assert devices == []
        assert "libportaudio2" in problem or "uv sync --extra mic" in problem


async def test_opening_without_an_input_device_is_a_clear_error() -> None:
    if list_input_devices():
        pytest.skip("this machine has an audio input device")
    with pytest.raises(NoInputDeviceError) as caught:
        async with SoundDeviceSource():
            pass
    message = str(caught.value)
    print(f"error: {message}")
    assert any(hint in message for hint in ("libportaudio2", "MIC_FILE", "uv sync --extra mic"))


class FakePortAudioError(Exception):
    pass


class FakeStream:
    """Calls back from its own thread, like PortAudio, with 48 kHz stereo blocks."""

    def __init__(self, sd: FakeSoundDevice, **kwargs: Any) -> None:
        self.sd = sd
        self.kwargs = kwargs
        self.thread: threading.Thread | None = None
        sd.streams.append(self)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="fake-portaudio")
        self.thread.start()

    def _run(self) -> None:
        blocksize = self.kwargs["blocksize"]
        channels = self.kwargs["channels"]
        for index in range(self.sd.blocks):
            block = np.full((blocksize, channels), 1000 * (index + 1), dtype=np.int16)
            block[:, 0] = 0  # left silent, right loud: the mono mix is the mean
            self.kwargs["callback"](block, blocksize, None, self.sd.status)
        if self.sd.finish:
            self.kwargs["finished_callback"]()

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=5)

    def close(self) -> None:
        self.sd.closed = True


class FakeSoundDevice:
    PortAudioError = FakePortAudioError

    def __init__(self, devices: list[dict[str, Any]], default_input: int = -1) -> None:
        self.devices = devices
        self.default = SimpleNamespace(device=(default_input, -1))
        self.streams: list[FakeStream] = []
        self.accepted: set[tuple[int, int]] = {(48000, 2)}
        self.blocks = 5
        self.finish = False
        self.status = 0
        self.closed = False

    def query_devices(self) -> list[dict[str, Any]]:
        return self.devices

    def query_hostapis(self) -> list[dict[str, Any]]:
        return [{"name": "ALSA"}]

    def check_input_settings(self, *, device: int, channels: int, dtype: str, samplerate: int):
        if (samplerate, channels) not in self.accepted:
            raise FakePortAudioError("Invalid sample rate")

    def InputStream(self, **kwargs: Any) -> FakeStream:
        return FakeStream(self, **kwargs)


def card(name: str, inputs: int) -> dict[str, Any]:
    return {
        "name": name,
        "max_input_channels": inputs,
        "default_samplerate": 48000.0,
        "hostapi": 0,
    }


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> FakeSoundDevice:
    sd = FakeSoundDevice(
        [card("HDMI out", 0), card("Built-in Mic", 2), card("USB PnP Sound Device", 2)],
        default_input=1,
    )
    monkeypatch.setattr(device_module, "_import_sounddevice", lambda: sd)
    return sd


def test_listing_describes_only_inputs(fake_sd: FakeSoundDevice) -> None:
    devices = list_input_devices()
    assert [(d.index, d.name, d.is_default) for d in devices] == [
        (1, "Built-in Mic", True),
        (2, "USB PnP Sound Device", False),
    ]


async def test_no_input_devices_is_a_clear_error(fake_sd: FakeSoundDevice) -> None:
    fake_sd.devices = [card("HDMI out", 0)]
    with pytest.raises(NoInputDeviceError, match="no audio input device found.*MIC_FILE"):
        async with SoundDeviceSource():
            pass


async def test_unmatched_name_lists_the_inputs(fake_sd: FakeSoundDevice) -> None:
    with pytest.raises(NoInputDeviceError, match="'respeaker'.*1: Built-in Mic; 2: USB"):
        async with SoundDeviceSource("respeaker"):
            pass


@pytest.mark.parametrize(("spec", "expected"), [(None, 1), ("usb", 2), ("2", 2), (1, 1)])
async def test_device_is_chosen_by_default_name_or_index(
    fake_sd: FakeSoundDevice, spec: str | int | None, expected: int
) -> None:
    async with SoundDeviceSource(spec) as source:
        assert source.device is not None
        assert source.device.index == expected
    assert fake_sd.streams[0].kwargs["device"] == expected
    assert fake_sd.closed


async def test_frames_are_16k_mono_of_exact_size(fake_sd: FakeSoundDevice) -> None:
    fake_sd.status = 1  # every block flagged as overflow
    async with SoundDeviceSource(frame_ms=20) as source:
        frames = [await asyncio.wait_for(anext(source), 5) for _ in range(fake_sd.blocks)]
        assert source.overflows == fake_sd.blocks
    kwargs = fake_sd.streams[0].kwargs
    assert (kwargs["samplerate"], kwargs["channels"], kwargs["blocksize"]) == (48000, 2, 960)
    assert [f.samples.size for f in frames] == [320] * 5
    assert [f.seq for f in frames] == list(range(5))
    assert [round(rms(f.samples)) for f in frames] == [500, 1000, 1500, 2000, 2500]


async def test_prefers_16k_mono_when_the_device_takes_it(fake_sd: FakeSoundDevice) -> None:
    fake_sd.accepted = {(16000, 1), (48000, 2)}
    async with SoundDeviceSource() as source:
        frame = await asyncio.wait_for(anext(source), 5)
    kwargs = fake_sd.streams[0].kwargs
    assert (kwargs["samplerate"], kwargs["channels"], kwargs["blocksize"]) == (16000, 1, 320)
    assert frame.samples.size == 320


async def test_unsupported_format_is_an_error(fake_sd: FakeSoundDevice) -> None:
    fake_sd.accepted = set()
    with pytest.raises(MicError, match="accepts no 16-bit format"):
        async with SoundDeviceSource():
            pass


async def test_slow_consumer_drops_oldest_frames(fake_sd: FakeSoundDevice) -> None:
    fake_sd.blocks = 10
    async with SoundDeviceSource(max_queue_frames=3) as source:
        fake_sd.streams[0].stop()  # wait until PortAudio has delivered every block
        await asyncio.sleep(0)  # let the loop run the handed-over pushes
        for _ in range(20):
            if source.dropped == 7:
                break
            await asyncio.sleep(0.01)
        frames = [await asyncio.wait_for(anext(source), 5) for _ in range(3)]
    assert source.dropped == 7
    assert [f.seq for f in frames] == [7, 8, 9]


async def test_stream_ending_on_its_own_is_reported(fake_sd: FakeSoundDevice) -> None:
    fake_sd.blocks, fake_sd.finish = 1, True
    async with SoundDeviceSource() as source:
        assert (await asyncio.wait_for(anext(source), 5)).seq == 0
        with pytest.raises(InputStreamError, match="Built-in Mic"):
            await asyncio.wait_for(anext(source), 5)
