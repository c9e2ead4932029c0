"""The capture loop: frames read and encoded off the event loop, rotated, shared with waiters.

One loop reads the source in a worker thread at the configured rate, applies the rotation
and keeps the latest frame; consumers (the MJPEG stream, snapshots, capture requests,
camera/frame) wait for the next frame and share one JPEG encoding per frame. After
``reopen_after_failures`` failed reads the source is closed and opened again, with a
doubling delay while it keeps failing. No MQTT here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tars.services.camera.sources import FrameSource, Image, SourceError, load_cv2

_LOGGER = logging.getLogger(__name__)
_REOPEN_MAX_S = 30.0

StatusHook = Callable[[str, str | None], Awaitable[None]]
"""Told ``camera_ready`` / ``camera_unavailable`` (with a detail) when the source changes."""


@dataclass(frozen=True)
class Frame:
    """One captured frame, already rotated.

    Attributes:
        seq: Counter since the camera started.
        image: BGR pixels, ``(height, width, 3)``.
        captured_at: Capture time, Unix seconds.
    """

    seq: int
    image: Image
    captured_at: float

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def rotate(image: Image, degrees: int) -> Image:
    """``image`` turned clockwise by 0, 90, 180 or 270 degrees."""
    turns = (degrees // 90) % 4
    return image if turns == 0 else np.ascontiguousarray(np.rot90(image, k=-turns))


def encode(
    image: Image,
    fmt: Literal["jpeg", "png"] = "jpeg",
    quality: int = 80,
    size: tuple[int, int] | None = None,
) -> bytes:
    """Encode ``image`` (blocking: call it in a thread), resized to ``size`` if given."""
    cv2 = load_cv2()
    if size is not None and size != (image.shape[1], image.shape[0]):
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if fmt == "png":
        ok, data = cv2.imencode(".png", image)
    else:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"{fmt} encoding failed")
    return bytes(data.tobytes())


class Camera:
    """Runs a source and hands out its frames.

    Args:
        source: Where frames come from.
        fps: Capture rate.
        rotation: Clockwise rotation, degrees.
        quality: JPEG quality of the shared encoding.
        reopen_after_failures: Failed reads before reopening.
        reopen_delay_s: First delay before reopening.
        on_status: Told when the camera becomes ready or unavailable.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        fps: float,
        rotation: int = 0,
        quality: int = 80,
        reopen_after_failures: int = 30,
        reopen_delay_s: float = 1.0,
        on_status: StatusHook | None = None,
    ) -> None:
        self.source = source
        self._interval = 1.0 / fps
        self._rotation = rotation
        self.quality = quality
        self._reopen_after = reopen_after_failures
        self._reopen_delay = reopen_delay_s
        self._on_status = on_status
        self.latest: Frame | None = None
        self._tick = asyncio.Event()
        self._jpeg: tuple[int, bytes] | None = None
        self._encoding = asyncio.Lock()
        self.failures = 0
        self.reopens = 0

    async def next_frame(self, after: int = -1) -> Frame:
        """The first frame newer than sequence number ``after`` (waits for it)."""
        while self.latest is None or self.latest.seq <= after:
            await self._tick.wait()
        return self.latest

    async def jpeg(self, frame: Frame) -> bytes:
        """The shared JPEG of ``frame`` at the stream quality (encoded once, in a thread)."""
        async with self._encoding:
            if self._jpeg is not None and self._jpeg[0] == frame.seq:
                return self._jpeg[1]
            data = await asyncio.to_thread(encode, frame.image, "jpeg", self.quality)
            self._jpeg = (frame.seq, data)
            return data

    async def run(self) -> None:
        """Open, read and reopen until cancelled."""
        delay = self._reopen_delay
        seq = 0
        try:
            while True:
                try:
                    await asyncio.to_thread(self.source.open)
                except SourceError as err:
                    await self._status("camera_unavailable", str(err))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _REOPEN_MAX_S)
                    continue
                await self._status("camera_ready", self.source.description)
                seq = await self._read_until_failing(seq)
                delay = self._reopen_delay
                self.reopens += 1
                await asyncio.to_thread(self.source.close)
                await self._status("camera_unavailable", f"{self._reopen_after} failed reads")
                await asyncio.sleep(delay)
        finally:
            self.source.close()

    async def _read_until_failing(self, seq: int) -> int:
        failures = 0
        next_at = time.monotonic()
        while failures < self._reopen_after:
            image = await asyncio.to_thread(self.source.read)
            if image is None:
                failures += 1
                self.failures += 1
            else:
                failures = 0
                self._publish(Frame(seq, rotate(image, self._rotation), time.time()))
                seq += 1
            next_at += self._interval
            now = time.monotonic()
            if next_at < now:  # fell behind (slow source): do not try to catch up
                next_at = now
            await asyncio.sleep(next_at - now)
        _LOGGER.warning("camera %s failed %d reads in a row", self.source.description, failures)
        return seq

    def _publish(self, frame: Frame) -> None:
        self.latest = frame
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def _status(self, event: str, detail: str | None) -> None:
        _LOGGER.info("camera %s: %s", event, detail)
        if self._on_status is not None:
            await self._on_status(event, detail)
