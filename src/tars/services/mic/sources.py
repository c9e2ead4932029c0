"""Audio sources: async iterators of 16 kHz mono s16 frames with capture timestamps.

A source is an async context manager (it opens the device or file) and an async iterator of
`AudioFrame`::

    async with FileSource(Path("turn.wav")) as source:
        async for frame in source:
            ...

`FileSource` plays a WAV file (paced like a microphone, or as fast as it can for tests);
`tars.services.mic.device.SoundDeviceSource` captures a sound card.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, read_wav

_LOGGER = logging.getLogger(__name__)

DEFAULT_FRAME_MS = 20
"""Default frame duration, in milliseconds (the spec allows 20-40 ms per message)."""


class MicError(RuntimeError):
    """Audio capture failed."""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One frame of captured audio."""

    samples: Int16Array
    """16 kHz mono s16 samples; every frame of a source has the same length."""
    ts: float
    """Capture time of the first sample, in epoch seconds."""
    seq: int
    """Frame number from 0, counted per opened source."""
    speaker_active: bool | None = None
    """Whether the satellite's own speaker played during the frame (None: not known)."""


class AudioSource(Protocol):
    """An opened-by-`async with` async iterator of equally sized 16 kHz mono frames."""

    @property
    def frame_samples(self) -> int:
        """Samples per frame (320 for 20 ms)."""
        ...

    async def __aenter__(self) -> Self:
        """Open the device or file."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the device or file."""
        ...

    def __aiter__(self) -> Self:
        """Return the source itself."""
        ...

    async def __anext__(self) -> AudioFrame:
        """Wait for and return the next frame."""
        ...


def frame_samples_for(frame_ms: int) -> int:
    """Samples per frame of ``frame_ms`` at 16 kHz.

    Raises:
        ValueError: the duration is not a positive whole number of samples.
    """
    if frame_ms <= 0 or (SAMPLE_RATE * frame_ms) % 1000:
        raise ValueError(f"frame duration must be a positive whole number of ms, got {frame_ms}")
    return SAMPLE_RATE * frame_ms // 1000


class FileSource:
    """Plays a WAV file (any rate and channel count, 16-bit) as microphone frames.

    Frames come out at the pace they would be captured (``realtime``; ``speed`` > 1 is
    faster), or as fast as they are read when ``realtime`` is False. The last frame is padded
    with silence; ``trailing_silence_s`` appends more, so a VAD downstream can end the last
    utterance. ``loop`` replays the file for ever (with the trailing silence in between).
    """

    def __init__(
        self,
        path: Path,
        *,
        frame_ms: int = DEFAULT_FRAME_MS,
        realtime: bool = True,
        speed: float = 1.0,
        loop: bool = False,
        trailing_silence_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare to play ``path``; nothing is read until the source is opened.

        Raises:
            ValueError: a bad frame duration, speed or silence length.
        """
        if speed <= 0 or trailing_silence_s < 0:
            raise ValueError("speed must be > 0 and trailing silence >= 0")
        self._path = path
        self._frame_samples = frame_samples_for(frame_ms)
        self._realtime = realtime
        self._speed = speed
        self._loop = loop
        self._trailing = round(trailing_silence_s * SAMPLE_RATE)
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._audio: Int16Array | None = None
        self._seq = 0
        self._start_mono = 0.0
        self._start_wall = 0.0

    @property
    def frame_samples(self) -> int:
        """Samples per frame."""
        return self._frame_samples

    @property
    def frame_count(self) -> int:
        """Frames in one pass over the file (0 until opened)."""
        return 0 if self._audio is None else self._audio.size // self._frame_samples

    async def __aenter__(self) -> Self:
        """Read and prepare the file.

        Raises:
            MicError: the file cannot be read or is empty while looping.
        """
        try:
            samples = await asyncio.to_thread(read_wav, self._path)
        except (OSError, EOFError, ValueError) as err:
            raise MicError(f"cannot read audio file {self._path}: {err}") from err
        total = samples.size + self._trailing
        padded = -(-total // self._frame_samples) * self._frame_samples
        audio = np.zeros(padded, dtype=np.int16)
        audio[: samples.size] = samples
        if self._loop and padded == 0:
            raise MicError(f"cannot loop over empty audio file {self._path}")
        self._audio = audio
        self._seq = 0
        _LOGGER.info(
            "playing %s: %.2f s in %d frames", self._path, samples.size / SAMPLE_RATE, padded
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Release the audio."""
        self._audio = None

    def __aiter__(self) -> Self:
        """Return the source itself."""
        return self

    async def __anext__(self) -> AudioFrame:
        """Return the next frame, after waiting for its capture time when real-time.

        Raises:
            MicError: the source was not opened with ``async with``.
            StopAsyncIteration: the file ended (never when looping).
        """
        if self._audio is None:
            raise MicError("open the source with 'async with' before iterating")
        frames = self.frame_count
        if self._seq >= frames and not self._loop:
            raise StopAsyncIteration
        if self._seq == 0:
            self._start_mono, self._start_wall = self._clock(), self._wall_clock()
        seq = self._seq
        self._seq += 1
        frame_s = self._frame_samples / SAMPLE_RATE / (self._speed if self._realtime else 1.0)
        if self._realtime:
            # A microphone delivers a frame once its last sample is captured; pacing from a
            # fixed start (not from the previous frame) keeps sleep jitter from accumulating.
            delay = self._start_mono + (seq + 1) * frame_s - self._clock()
            if delay > 0:
                await self._sleep(delay)
        offset = (seq % frames) * self._frame_samples
        chunk = self._audio[offset : offset + self._frame_samples].copy()
        return AudioFrame(samples=chunk, ts=self._start_wall + seq * frame_s, seq=seq)
