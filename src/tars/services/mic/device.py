"""Sound-card capture through sounddevice (PortAudio), and the device listing for `tars doctor`.

PortAudio calls back on its own thread with one block per frame; the block is copied, mixed
to mono and resampled to 16 kHz right there (off the event loop), then handed to the loop with
``call_soon_threadsafe``. The loop side cuts exact frames and keeps a bounded queue that drops
the oldest frame when the consumer falls behind, so latency never grows without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, resample, to_mono
from tars.services.mic.sources import DEFAULT_FRAME_MS, AudioFrame, MicError, frame_samples_for

_LOGGER = logging.getLogger(__name__)

_STREAM_CALL_TIMEOUT_S = 5.0
"""Longest wait for PortAudio to open, start or stop a stream, in seconds."""


class NoInputDeviceError(MicError):
    """No usable audio input device (none present, none matching, or no PortAudio at all)."""


class PortAudioMissingError(NoInputDeviceError):
    """sounddevice or the PortAudio library it loads is not installed."""


class InputStreamError(MicError):
    """The input stream stopped on its own (device unplugged, driver error)."""


@dataclass(frozen=True, slots=True)
class InputDevice:
    """An audio input device as PortAudio reports it."""

    index: int
    """PortAudio device index (usable as MIC_DEVICE)."""
    name: str
    """Device name (a substring of it is usable as MIC_DEVICE)."""
    channels: int
    """Maximum input channels."""
    default_rate: float
    """Default sample rate, in Hz."""
    host_api: str
    """PortAudio host API, e.g. ALSA."""
    is_default: bool
    """Whether PortAudio picks it when no device is named."""


def _import_sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError as err:
        raise PortAudioMissingError("sounddevice is not installed (uv sync --extra mic)") from err
    except OSError as err:  # sounddevice raises this at import when libportaudio is absent
        raise PortAudioMissingError(
            f"{err}: install it with 'apt-get install libportaudio2'"
        ) from err
    return sounddevice


def portaudio_problem() -> str | None:
    """Why audio capture is impossible here (a message naming the fix), or None if it is not."""
    try:
        _import_sounddevice()
    except PortAudioMissingError as err:
        return str(err)
    return None


def list_input_devices() -> list[InputDevice]:
    """Describe every input device; [] when there is none or PortAudio is missing. Never raises."""
    try:
        sd = _import_sounddevice()
    except PortAudioMissingError as err:
        _LOGGER.warning("cannot list audio inputs: %s", err)
        return []
    try:
        return _describe_inputs(sd)
    except (OSError, sd.PortAudioError) as err:
        _LOGGER.warning("cannot list audio inputs: %s", err)
        return []


class SoundDeviceSource:
    """Captures a sound card as 16 kHz mono frames (an `AudioSource`).

    The device is chosen by index or by a case-insensitive name substring (None: the
    PortAudio default input, else the first input). It is opened at 16 kHz when it accepts
    that, else at its default rate, with as few channels as it accepts; both are converted.
    """

    def __init__(
        self,
        device: str | int | None = None,
        *,
        frame_ms: int = DEFAULT_FRAME_MS,
        max_queue_frames: int = 256,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare to capture ``device``; nothing is opened until ``async with``."""
        if isinstance(device, str) and device.strip().isdigit():
            device = int(device)
        self._device_spec = device
        self._frame_samples = frame_samples_for(frame_ms)
        self._frame_ms = frame_ms
        self._wall_clock = wall_clock
        self._queue: asyncio.Queue[AudioFrame | None] = asyncio.Queue(max_queue_frames)
        self._stream: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channels = 1
        self._rate = SAMPLE_RATE
        self._pending: Int16Array = np.zeros(0, dtype=np.int16)
        self._pending_ts = 0.0
        self._seq = 0
        self._closing = False
        self.dropped = 0
        """Frames dropped because the consumer fell behind."""
        self.overflows = 0
        """Blocks PortAudio flagged as input overflow."""
        self.device: InputDevice | None = None
        """The device in use, once opened."""

    @property
    def frame_samples(self) -> int:
        """Samples per frame."""
        return self._frame_samples

    async def __aenter__(self) -> Self:
        """Open and start the input stream.

        Raises:
            NoInputDeviceError: no input device, none matching, or no PortAudio.
            MicError: the device refused every format or the stream would not start.
        """
        sd = _import_sounddevice()
        self._loop = asyncio.get_running_loop()
        self.device = _pick_device(sd, self._device_spec)
        self._channels, self._rate = _pick_format(sd, self.device)
        self._closing = False
        self._queue = asyncio.Queue(self._queue.maxsize)  # nothing left from an earlier run
        self._pending = np.zeros(0, dtype=np.int16)
        self._seq = 0
        options = {
            "device": self.device.index,
            "channels": self._channels,
            "samplerate": self._rate,
            "dtype": "int16",
            "blocksize": round(self._rate * self._frame_ms / 1000),
            "callback": self._on_block,
            "finished_callback": self._on_finished,
        }
        try:
            # Opening an ALSA device can take a while: keep it off the event loop.
            self._stream = await asyncio.wait_for(
                asyncio.to_thread(start_stream, sd.InputStream, options), _STREAM_CALL_TIMEOUT_S
            )
        except (sd.PortAudioError, TimeoutError) as err:
            raise MicError(f"cannot start input device {self.device.name!r}: {err}") from err
        _LOGGER.info(
            "capturing %r at %d Hz, %d channel(s)", self.device.name, self._rate, self._channels
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop and close the stream."""
        self._closing = True
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.wait_for(asyncio.to_thread(close_stream, stream), _STREAM_CALL_TIMEOUT_S)

    def __aiter__(self) -> Self:
        """Return the source itself."""
        return self

    async def __anext__(self) -> AudioFrame:
        """Wait for the next frame.

        Raises:
            InputStreamError: the stream stopped on its own.
            StopAsyncIteration: the source was closed.
            MicError: the source was never opened.
        """
        if self._stream is None:
            if self._closing:
                raise StopAsyncIteration
            raise MicError("open the source with 'async with' before iterating")
        item = await self._queue.get()
        if item is None:
            if self._closing:
                raise StopAsyncIteration
            raise InputStreamError(f"input stream of {self._device_name()!r} stopped")
        return item

    def _device_name(self) -> str:
        return self.device.name if self.device else "?"

    def _on_block(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio thread: copy now, the buffer is reused after we return.
        if status:
            self.overflows += 1
        captured = np.array(indata, dtype=np.int16).reshape(-1)
        samples = resample(to_mono(captured, self._channels), self._rate, SAMPLE_RATE)
        ts = self._wall_clock() - frames / self._rate
        self._call_on_loop(self._push, samples, ts)

    def _on_finished(self) -> None:
        self._call_on_loop(self._enqueue, None)

    def _call_on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed between the check and the call
            return

    def _push(self, samples: Int16Array, ts: float) -> None:
        if self._pending.size == 0:
            self._pending_ts = ts
        self._pending = np.concatenate((self._pending, samples))
        size = self._frame_samples
        while self._pending.size >= size:
            frame = AudioFrame(
                samples=self._pending[:size].copy(), ts=self._pending_ts, seq=self._seq
            )
            self._pending = self._pending[size:]
            self._pending_ts += size / SAMPLE_RATE
            self._seq += 1
            self._enqueue(frame)

    def _enqueue(self, item: AudioFrame | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                _LOGGER.warning("consumer too slow: %d audio frames dropped so far", self.dropped)
        self._queue.put_nowait(item)


def _default_input(sd: Any) -> int:
    try:
        return int(sd.default.device[0])
    except (TypeError, ValueError, IndexError):
        return -1


def _pick_device(sd: Any, spec: str | int | None) -> InputDevice:
    try:
        inputs = _describe_inputs(sd)
    except sd.PortAudioError as err:
        raise NoInputDeviceError(f"PortAudio cannot list audio devices: {err}") from err
    if not inputs:
        raise NoInputDeviceError(
            "no audio input device found; connect a microphone, set MIC_FILE to play a WAV "
            "file, or send audio from a remote satellite on audio/<satellite>/pcm"
        )
    available = "; ".join(f"{d.index}: {d.name}" for d in inputs)
    if spec is None:
        return next((d for d in inputs if d.is_default), inputs[0])
    if isinstance(spec, int):
        match = next((d for d in inputs if d.index == spec), None)
    else:
        match = next((d for d in inputs if spec.lower() in d.name.lower()), None)
    if match is None:
        raise NoInputDeviceError(
            f"no input device matches MIC_DEVICE={spec!r}; inputs: {available}"
        )
    return match


def _describe_inputs(sd: Any) -> list[InputDevice]:
    devices = list(sd.query_devices())
    host_apis = list(sd.query_hostapis())
    default_input = _default_input(sd)
    return [
        InputDevice(
            index=index,
            name=str(info["name"]),
            channels=int(info["max_input_channels"]),
            default_rate=float(info["default_samplerate"]),
            host_api=str(host_apis[info["hostapi"]]["name"]),
            is_default=index == default_input,
        )
        for index, info in enumerate(devices)
        if info["max_input_channels"] > 0
    ]


def _pick_format(sd: Any, device: InputDevice) -> tuple[int, int]:
    # 16 kHz mono needs no conversion; many ALSA hw devices only take their native format.
    rates = dict.fromkeys((SAMPLE_RATE, round(device.default_rate)))
    channel_options = dict.fromkeys(c for c in (1, 2, device.channels) if c <= device.channels)
    for rate in rates:
        for channels in channel_options:
            try:
                sd.check_input_settings(
                    device=device.index, channels=channels, dtype="int16", samplerate=rate
                )
            except (sd.PortAudioError, ValueError):
                continue
            return channels, rate
    raise MicError(f"input device {device.name!r} accepts no 16-bit format at {list(rates)} Hz")


def start_stream(stream_type: Any, options: dict[str, Any]) -> Any:
    """Open and start a sounddevice stream (``sd.InputStream`` or ``sd.OutputStream``). Blocking.

    A stream that fails to start is closed, so the device is not left held.
    """
    stream = stream_type(**options)
    try:
        stream.start()
    except BaseException:
        stream.close()
        raise
    return stream


def close_stream(stream: Any) -> None:
    """Stop and close a sounddevice stream. Blocking."""
    stream.stop()
    stream.close()
