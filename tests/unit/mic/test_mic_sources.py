"""FileSource: frames, padding, pacing against a fake clock, looping; MicSettings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tars.audio.pcm import tone, write_wav
from tars.services.mic.settings import MicSettings
from tars.services.mic.sources import AudioFrame, AudioSource, FileSource, MicError

FRAME = 320


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, oversleep_s: float = 0.0) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.oversleep_s = oversleep_s

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds + self.oversleep_s


def source(path: Path, clock: FakeClock, **options: object) -> FileSource:
    return FileSource(
        path,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: 1000.0,
        **options,  # type: ignore[arg-type]
    )


async def collect(audio_source: AudioSource, limit: int = 10_000) -> list[AudioFrame]:
    frames: list[AudioFrame] = []
    async with audio_source:
        async for frame in audio_source:
            frames.append(frame)
            if len(frames) >= limit:
                break
    return frames


@pytest.fixture
def wav(tmp_path: Path) -> tuple[Path, np.ndarray]:
    samples = tone(0.5, 440.0)[:7900]  # 24.7 frames of 20 ms
    path = tmp_path / "tone.wav"
    write_wav(path, samples)
    return path, samples


async def test_frames_cover_the_file_with_padding_and_trailing_silence(wav) -> None:
    path, samples = wav
    clock = FakeClock()
    frames = await collect(source(path, clock, realtime=False, trailing_silence_s=0.3))
    assert len(frames) == -(-(samples.size + 4800) // FRAME)
    assert all(f.samples.size == FRAME and f.samples.dtype == np.int16 for f in frames)
    joined = np.concatenate([f.samples for f in frames])
    assert np.array_equal(joined[: samples.size], samples)
    assert not joined[samples.size :].any()
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert clock.sleeps == []  # not real-time: no pacing at all
    assert [f.ts for f in frames[:3]] == pytest.approx([1000.0, 1000.02, 1000.04])


async def test_realtime_paces_each_frame_to_its_capture_end(wav) -> None:
    path, _ = wav
    clock = FakeClock()
    audio_source = source(path, clock)
    delivered: list[float] = []
    async with audio_source:
        async for _frame in audio_source:
            delivered.append(clock.now - 100.0)
    assert delivered == pytest.approx([0.02 * (i + 1) for i in range(len(delivered))])


async def test_pacing_does_not_accumulate_sleep_overshoot(wav) -> None:
    path, _ = wav
    clock = FakeClock(oversleep_s=0.005)
    frames = await collect(source(path, clock))
    # Each late wake-up is absorbed by the next, shorter sleep: the total stays on schedule.
    assert clock.now - 100.0 == pytest.approx(0.02 * len(frames) + 0.005)
    assert clock.sleeps[1:] == pytest.approx([0.015] * (len(frames) - 1))


async def test_speed_runs_faster_than_real_time(wav) -> None:
    path, _ = wav
    clock = FakeClock()
    frames = await collect(source(path, clock, speed=4.0))
    assert clock.now - 100.0 == pytest.approx(0.005 * len(frames))
    assert frames[1].ts - frames[0].ts == pytest.approx(0.005)


async def test_loop_replays_the_file(wav) -> None:
    path, samples = wav
    clock = FakeClock()
    frames = await collect(source(path, clock, realtime=False, loop=True), limit=60)
    per_pass = -(-samples.size // FRAME)
    assert len(frames) == 60
    assert frames[-1].seq == 59
    assert np.array_equal(frames[per_pass].samples, frames[0].samples)
    assert np.array_equal(frames[per_pass + 3].samples, frames[3].samples)


async def test_iterating_before_opening_is_an_error(wav) -> None:
    with pytest.raises(MicError, match="async with"):
        await anext(FileSource(wav[0]))


async def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MicError, match="cannot read audio file"):
        await collect(FileSource(tmp_path / "missing.wav"))


def test_frame_duration_must_be_positive() -> None:
    with pytest.raises(ValueError, match="frame duration"):
        FileSource(Path("x.wav"), frame_ms=0)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIC_DEVICE", "USB")
    monkeypatch.setenv("MIC_FILE", "/tmp/a.wav")
    monkeypatch.setenv("MIC_FRAME_MS", "30")
    monkeypatch.setenv("MIC_REALTIME", "false")
    settings = MicSettings()
    assert settings.device == "USB"
    assert settings.file == Path("/tmp/a.wav")
    assert settings.frame_ms == 30
    assert settings.realtime is False
    assert settings.satellite_id == "local"


def test_settings_reject_a_bad_satellite_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIC_SATELLITE_ID", "Kitchen Box")
    with pytest.raises(ValueError, match="satellite_id"):
        MicSettings()
