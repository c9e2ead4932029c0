"""Sound-card sink: a PortAudio output stream (sounddevice) in callback mode.

The audio callback pulls from a thread-safe buffer, so pause and stop take effect
within one callback block (20 ms by default) however much audio is queued.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from tars.audio.pcm import Int16Array
from tars.services.tts.errors import SinkError, SinkUnavailableError

_LOGGER = logging.getLogger(__name__)


class PcmBuffer:
    """Thread-safe FIFO of int16 samples: filled from the event loop, drained by the callback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: deque[Int16Array] = deque()
        self._offset = 0
        self._frames = 0
        self._paused = False

    @property
    def frames(self) -> int:
        """Samples queued and not yet pulled."""
        return self._frames

    def push(self, samples: Int16Array) -> None:
        """Append samples."""
        if samples.size:
            with self._lock:
                self._chunks.append(samples)
                self._frames += samples.size

    def clear(self) -> None:
        """Drop everything queued."""
        with self._lock:
            self._chunks.clear()
            self._offset = self._frames = 0

    def set_paused(self, paused: bool) -> None:
        """While paused, pulls return silence and consume nothing."""
        with self._lock:
            self._paused = paused

    def pull(self, out: npt.NDArray[np.int16]) -> int:
        """Fill ``out`` with queued samples, silence after them; returns samples consumed."""
        copied = 0
        with self._lock:
            while not self._paused and copied < out.size and self._chunks:
                head = self._chunks[0]
                take = min(head.size - self._offset, out.size - copied)
                out[copied : copied + take] = head[self._offset : self._offset + take]
                copied += take
                self._offset += take
                if self._offset == head.size:
                    self._chunks.popleft()
                    self._offset = 0
            self._frames -= copied
        out[copied:] = 0
        return copied


class SoundDeviceSink:
    """Plays on a local sound card through a sounddevice ``OutputStream`` (callback mode)."""

    def __init__(
        self, device: int | str | None = None, *, block_ms: int = 20, buffer_ms: int = 400
    ) -> None:
        """Configure the sink; the device is opened by the first :meth:`start`.

        Args:
            device: PortAudio device index or name part; None for the system default.
            block_ms: Callback block length, in ms (the reaction time of pause and stop).
            buffer_ms: Audio queued ahead of the callback before ``write`` waits, in ms.
        """
        self._device = device
        self._block_ms = block_ms
        self._buffer_ms = buffer_ms
        self._buffer = PcmBuffer()
        self._stream: Any = None
        self._rate = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._block_done = asyncio.Event()
        self._want_signal = False
        self._stopped = False

    async def start(self, rate: int) -> None:
        """Open (or reuse) the output stream at ``rate`` Hz.

        Raises:
            SinkUnavailableError: sounddevice, PortAudio or an output device is missing.
        """
        self._loop = asyncio.get_running_loop()
        if self._stream is None or rate != self._rate:
            await self.close()
            self._stream = await asyncio.to_thread(self._open, rate)
            self._rate = rate
        self._buffer.clear()
        self._buffer.set_paused(False)
        self._stopped = False
        self._resumed.set()

    async def write(self, chunk: Int16Array) -> None:
        """Queue a chunk once the buffer has room (waits while paused)."""
        capacity = self._rate * self._buffer_ms // 1000
        while not self._stopped:
            if not self._resumed.is_set():
                await self._resumed.wait()
            elif self._buffer.frames < capacity:
                self._buffer.push(chunk)
                return
            else:
                await self._next_block()

    async def pause(self) -> None:
        """Output silence from the next block on, keeping the queue."""
        self._buffer.set_paused(True)
        self._resumed.clear()

    async def resume(self) -> None:
        """Continue from where the pause held."""
        self._buffer.set_paused(False)
        self._resumed.set()

    async def stop(self) -> None:
        """Drop the queue; the card plays silence from the next block on."""
        self._stopped = True
        self._buffer.clear()
        self._resumed.set()
        self._block_done.set()

    async def finish(self) -> None:
        """Wait until the queue has been played out (early on stop)."""
        while not self._stopped:
            if not self._resumed.is_set():
                await self._resumed.wait()
            elif self._buffer.frames:
                await self._next_block()
            else:
                # The last samples were pulled into the device's block; let it play.
                await self._next_block()
                return

    async def close(self) -> None:
        """Stop and close the stream."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.to_thread(_close_stream, stream)

    def _open(self, rate: int) -> Any:
        sd = _import_sounddevice()
        try:
            sd.query_devices(self._device, kind="output")
            stream = sd.OutputStream(
                samplerate=rate,
                channels=1,
                dtype="int16",
                blocksize=max(1, rate * self._block_ms // 1000),
                device=self._device,
                latency="low",
                callback=self._callback,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as err:
            raise SinkUnavailableError(
                f"no usable audio output device ({err}); "
                "set TTS_OUTPUT_DEVICE, or TTS_SINK=wav or null on a machine without one"
            ) from err
        _LOGGER.info("sound card open: device=%s rate=%s", self._device, rate)
        return stream

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        # Runs on PortAudio's thread: no allocation-heavy work, no blocking.
        del frames, time_info
        if status:
            _LOGGER.debug("audio callback status: %s", status)
        self._buffer.pull(outdata[:, 0])
        loop = self._loop
        if self._want_signal and loop is not None:
            self._want_signal = False
            loop.call_soon_threadsafe(self._block_done.set)

    async def _next_block(self) -> None:
        """Wait for the callback to consume a block."""
        self._block_done.clear()
        self._want_signal = True
        # A stream that stops calling back (device unplugged) must not hang playback.
        stall_s = max(1.0, 20 * self._block_ms / 1000)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
            # that lands as the event is set (every block), and playback would go on.
            async with asyncio.timeout(stall_s):
                await self._block_done.wait()
        except TimeoutError as err:
            raise SinkError(f"the sound card stopped requesting audio for {stall_s} s") from err


def check_output_device(device: int | str | None) -> None:
    """Check that sounddevice can open ``device`` (None: the default) for output.

    Blocking (queries PortAudio): run off the event loop.

    Raises:
        SinkUnavailableError: sounddevice, PortAudio or the output device is missing.
    """
    sd = _import_sounddevice()
    try:
        sd.query_devices(device, kind="output")
    except (sd.PortAudioError, ValueError) as err:
        raise SinkUnavailableError(f"no usable audio output device ({err})") from err


def _import_sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError as err:
        raise SinkUnavailableError("sounddevice is not installed (uv sync --extra mic)") from err
    except OSError as err:
        # sounddevice raises OSError at import when the PortAudio library is absent.
        raise SinkUnavailableError(
            f"PortAudio is not available ({err}); apt-get install libportaudio2, "
            "or set TTS_SINK=wav or null on a machine without a sound card"
        ) from err
    return sounddevice


def _close_stream(stream: Any) -> None:
    try:
        stream.stop()
    finally:
        stream.close()
