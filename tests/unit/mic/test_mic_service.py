"""The mic service publishes file frames with seq/ts properties and fails clearly without input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tars.audio.pcm import tone, write_wav
from tars.runtime.bus import RawMessage
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.services.mic import device
from tars.services.mic.service import MicService
from tars.services.mic.settings import MicSettings


async def test_file_frames_are_published_with_seq_and_ts(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    write_wav(path, tone(0.2, 440.0))
    broker = MemoryBroker()
    listener, bus = MemoryBus("stt", broker), MemoryBus("mic", broker)
    got: list[RawMessage] = []

    async def collect(message: RawMessage) -> None:
        got.append(message)

    listener.subscribe_raw("audio/+/pcm", collect)
    settings = MicSettings(file=path, realtime=False, trailing_silence_sec=0.0, satellite_id="den")
    service = MicService(settings)
    service.attach(bus)
    tasks = [asyncio.create_task(b.run(), name=f"test:{b.service}") for b in (listener, bus)]
    await service.run()
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(got) == 10  # 200 ms in 20 ms frames
    assert {m.topic for m in got} == {"audio/den/pcm"}
    assert [int(m.properties["seq"]) for m in got] == list(range(10))
    stamps = np.diff([float(m.properties["ts"]) for m in got])
    assert np.allclose(stamps, 0.02, atol=1e-3)
    assert all(len(m.payload) == 640 for m in got)


async def test_no_input_device_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoDevices:
        PortAudioError = OSError

        class default:  # mirrors sounddevice.default
            device = (-1, -1)

        def query_devices(self) -> list[dict[str, object]]:
            return []

        def query_hostapis(self) -> list[dict[str, object]]:
            return []

    monkeypatch.setattr(device, "_import_sounddevice", lambda: NoDevices())
    broker = MemoryBroker()
    bus = MemoryBus("mic", broker)
    service = MicService(MicSettings())
    service.attach(bus)
    task = asyncio.create_task(bus.run(), name="test:mic")
    with pytest.raises(device.NoInputDeviceError, match="no audio input device"):
        await service.run()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
