"""Frame sources: an OpenCV device or video file, or generated test frames.

Every method blocks (device I/O, decoding) and is called from a worker thread, never on
the event loop. Frames are BGR ``uint8`` arrays of shape ``(height, width, 3)``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

_LOGGER = logging.getLogger(__name__)

Image = NDArray[np.uint8]


class SourceError(RuntimeError):
    """The source cannot be opened."""


class FrameSource(Protocol):
    """Something that yields frames."""

    description: str

    def open(self) -> None:
        """Open the device or file (blocking).

        Raises:
            SourceError: it cannot be opened.
        """

    def read(self) -> Image | None:
        """The next frame, or None when the read failed (blocking)."""

    def close(self) -> None:
        """Release the device or file."""


def load_cv2() -> Any:
    """Import OpenCV with an actionable error when the extra is missing."""
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - depends on the install
        raise SourceError("OpenCV is missing: uv sync --extra camera") from err
    return cv2


class TestPatternSource:
    """Generated frames: colour bars, a moving block and a frame counter (no camera needed).

    Args:
        width: Frame width, pixels.
        height: Frame height, pixels.
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, width: int, height: int) -> None:
        self.description = f"test frames {width}x{height}"
        self._width, self._height = width, height
        self._count = 0
        bars = np.array(
            [[255, 255, 255], [0, 255, 255], [255, 255, 0], [0, 255, 0], [255, 0, 255],
             [0, 0, 255], [255, 0, 0], [0, 0, 0]], dtype=np.uint8,
        )  # fmt: skip
        columns = np.arange(width) * len(bars) // width
        self._base: Image = np.ascontiguousarray(np.broadcast_to(bars[columns], (height, width, 3)))

    def open(self) -> None:
        """Nothing to open."""

    def read(self) -> Image:
        """The next frame: the bars with a block that moves one step per frame."""
        frame = self._base.copy()
        size = max(8, min(self._width, self._height) // 6)
        x = (self._count * 4) % max(1, self._width - size)
        y = (self._height - size) // 2
        frame[y : y + size, x : x + size] = (40, 40, 40)
        self._count += 1
        return frame

    def close(self) -> None:
        """Nothing to close."""


class OpenCvSource:
    """An OpenCV ``VideoCapture``: a device index or a video file (looped).

    Args:
        target: Device index or file path.
        width: Requested width (devices only; frames are resized to it in any case).
        height: Requested height.
        fps: Requested rate (devices only).
    """

    def __init__(self, target: int | Path, width: int, height: int, fps: float) -> None:
        self.description = f"device {target}" if isinstance(target, int) else f"file {target}"
        self._target, self._size, self._fps = target, (width, height), fps
        self._capture: Any = None

    def open(self) -> None:
        """Open the capture (V4L2 first for devices, as py-tars), one frame of buffering."""
        cv2 = load_cv2()
        if isinstance(self._target, int):
            capture = cv2.VideoCapture(self._target, cv2.CAP_V4L2)
            if not capture.isOpened():
                capture = cv2.VideoCapture(self._target)
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
            capture.set(cv2.CAP_PROP_FPS, self._fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        else:
            if not self._target.is_file():
                raise SourceError(f"no such video file: {self._target}")
            capture = cv2.VideoCapture(str(self._target))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open {self.description}")
        self._capture = capture

    def read(self) -> Image | None:
        """The next frame resized to the configured size; a file starts over at its end."""
        if self._capture is None:
            return None
        cv2 = load_cv2()
        ok, frame = self._capture.read()
        if not ok and isinstance(self._target, Path):
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        """Release the capture."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def make_source(
    source: str, *, device_index: int, width: int, height: int, fps: float
) -> FrameSource:
    """The source a ``CAMERA_SOURCE`` value names (``auto`` checks for the device node)."""
    if source == "auto":
        source = "device" if Path(f"/dev/video{device_index}").exists() else "test"
    if source == "test":
        return TestPatternSource(width, height)
    if source == "device":
        return OpenCvSource(device_index, width, height, fps)
    return OpenCvSource(Path(source), width, height, fps)
