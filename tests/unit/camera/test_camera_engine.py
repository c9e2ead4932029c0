"""Camera engine: test frames, rotation, encoding, reopening a failing source."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np

from tars.services.camera.capture import Camera, encode, rotate
from tars.services.camera.sources import Image, TestPatternSource, make_source


def test_test_pattern_frames_move() -> None:
    source = TestPatternSource(64, 48)
    first, second = source.read(), source.read()
    assert first.shape == (48, 64, 3)
    assert first.dtype == np.uint8
    assert not np.array_equal(first, second)


def test_rotation_is_clockwise() -> None:
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 0] = 255  # top-left
    turned = rotate(image, 90)
    assert turned.shape == (3, 2, 3)
    assert turned[0, 1, 0] == 255  # top-left goes to top-right
    assert rotate(image, 0) is image


def test_encode_jpeg_and_png_with_resize() -> None:
    image = TestPatternSource(64, 48).read()
    jpeg = encode(image, "jpeg", 70, (32, 24))
    png = encode(image, "png")
    assert jpeg[:3] == b"\xff\xd8\xff"
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (24, 32, 3)


def test_auto_source_without_a_device_node_is_the_test_pattern() -> None:
    source = make_source("auto", device_index=97, width=32, height=24, fps=5)
    assert isinstance(source, TestPatternSource)


class Flaky:
    """Fails every read of its first opening, then works."""

    description = "flaky"

    def __init__(self) -> None:
        self.opened = 0

    def open(self) -> None:
        self.opened += 1

    def read(self) -> Image | None:
        return None if self.opened == 1 else np.zeros((8, 8, 3), dtype=np.uint8)

    def close(self) -> None:
        pass


async def test_a_failing_source_is_reopened() -> None:
    events: list[str] = []

    async def status(event: str, detail: str | None) -> None:
        events.append(event)

    source = Flaky()
    camera = Camera(source, fps=200, reopen_after_failures=3, reopen_delay_s=0.01, on_status=status)
    task = asyncio.create_task(camera.run(), name="test:camera")
    try:
        frame = await asyncio.wait_for(camera.next_frame(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert frame.seq == 0
    assert source.opened == 2
    assert camera.reopens == 1
    assert events[:3] == ["camera_ready", "camera_unavailable", "camera_ready"]
