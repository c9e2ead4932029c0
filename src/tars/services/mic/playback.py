"""The satellite's own speaker: plays ``tts/audio/<satellite>`` and records the reference.

On a box that both listens and plays (`MIC_PLAYBACK`), the mic service is the satellite's
audio endpoint in both directions, so what goes to the loudspeaker is known sample for
sample. Reply audio arrives up to ``TTS_AUDIO_LEAD_MS`` ahead of real time; it waits in a
`PlayoutBuffer` that the output drains in real time, one block per callback. Every block
drained (silence included) is recorded in the `FarEnd` with the time it leaves the speaker,
which is the echo canceller's reference. ``tts/status`` for the satellite holds the buffer on
``paused`` (the lead already sent is kept for the resume) and empties it on ``stopped``, so
a barge-in silences the speaker at once, not a lead later; an interrupt on ``wake/event``
holds it already, a hop before TTS reports the pause.

`SoundDeviceOutput` drains the buffer from a PortAudio output callback and stamps each block
with PortAudio's DAC time; the benches' simulated room drains it from its own clock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, Protocol, Self

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, bytes_to_int16, resample
from tars.contracts.audio import tts_audio_topic
from tars.contracts.tts import TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Bus, Message, RawMessage
from tars.services.mic.device import close_stream, start_stream
from tars.services.mic.reference import FarEnd

_LOGGER = logging.getLogger(__name__)

LOCAL = "local"
"""Satellite id of TTS status messages that name none."""
_STREAM_CALL_TIMEOUT_S = 5.0


class PlayoutBuffer:
    """Thread-safe FIFO of 16 kHz samples waiting for the speaker, with hold and flush."""

    def __init__(self, max_s: float = 30.0) -> None:
        """Hold at most ``max_s`` seconds (older audio is dropped when more arrives)."""
        self._lock = threading.Lock()
        self._chunks: deque[Int16Array] = deque()
        self._queued = 0
        self._max = round(max_s * SAMPLE_RATE)
        self._held = False
        self.held_at: float | None = None
        """Wall-clock time of the last hold (for benches: when the speaker went quiet)."""

    @property
    def queued(self) -> int:
        """Samples waiting."""
        return self._queued

    def push(self, samples: Int16Array) -> None:
        """Queue samples behind the ones waiting."""
        if samples.size == 0:
            return
        with self._lock:
            self._chunks.append(samples)
            self._queued += samples.size
            while self._queued > self._max and len(self._chunks) > 1:
                self._queued -= self._chunks.popleft().size

    def hold(self, held: bool) -> None:
        """While held, pulls give silence and consume nothing."""
        with self._lock:
            if held and not self._held:
                self.held_at = time.time()
            self._held = held

    def flush(self) -> None:
        """Drop everything waiting and release a hold."""
        with self._lock:
            self._chunks.clear()
            self._queued = 0
            self._held = False

    def pull(self, count: int) -> Int16Array:
        """The next ``count`` samples to play (silence after what is queued)."""
        out = np.zeros(count, dtype=np.int16)
        copied = 0
        with self._lock:
            while not self._held and copied < count and self._chunks:
                head = self._chunks[0]
                take = min(head.size, count - copied)
                out[copied : copied + take] = head[:take]
                copied += take
                if take == head.size:
                    self._chunks.popleft()
                else:
                    self._chunks[0] = head[take:]
            self._queued -= copied
        return out


class AudioOutput(Protocol):
    """A loudspeaker that drains a `PlayoutBuffer` in real time into a `FarEnd`."""

    async def __aenter__(self) -> Self:
        """Open the device and start draining."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop and close the device."""
        ...


class SatellitePlayback:
    """Feeds ``tts/audio/<satellite>`` into the playout buffer and follows ``tts/status``."""

    def __init__(self, satellite: str, playout: PlayoutBuffer) -> None:
        """Play the replies meant for ``satellite`` through ``playout``."""
        self._satellite = satellite
        self._playout = playout
        self.pieces = 0
        """Reply audio pieces received."""

    def attach(self, bus: Bus) -> None:
        """Subscribe to the satellite's reply audio, TTS status and barge-ins."""
        bus.subscribe_raw(tts_audio_topic(self._satellite), self._on_audio)
        bus.subscribe(TOPIC_TTS_STATUS, self._on_status)
        bus.subscribe(TOPIC_WAKE_EVENT, self._on_wake)

    async def _on_wake(self, message: Message) -> None:
        # A barge-in is answered by a pause: hold the speaker now instead of a hop later.
        # The pause's "resumed" or "stopped" status (or the next reply) releases it.
        event = message.data
        if event.type == "interrupt" and (event.satellite or LOCAL) == self._satellite:
            self._playout.hold(True)

    async def _on_audio(self, message: RawMessage) -> None:
        rate_text = message.properties.get("rate", str(SAMPLE_RATE))
        try:
            rate = int(rate_text)
        except ValueError:
            _LOGGER.warning("reply audio with a bad rate property %r dropped", rate_text)
            return
        samples = bytes_to_int16(message.payload[: len(message.payload) // 2 * 2])
        self._playout.push(resample(samples, rate, SAMPLE_RATE))
        self.pieces += 1

    async def _on_status(self, message: Message) -> None:
        status = message.data
        if (status.satellite or LOCAL) != self._satellite:
            return
        if status.event == "paused":
            self._playout.hold(True)
        elif status.event in ("resumed", "speaking_start"):
            self._playout.hold(False)
        elif status.event == "stopped":
            self._playout.flush()


class SoundDeviceOutput:
    """Plays the playout buffer on a sound card and records what left it, with DAC times."""

    def __init__(
        self,
        device: str | int | None,
        playout: PlayoutBuffer,
        far_end: FarEnd,
        *,
        block_ms: int = 10,
    ) -> None:
        """Prepare the output; nothing is opened until ``async with``."""
        if isinstance(device, str) and device.strip().isdigit():
            device = int(device)
        self._device = device
        self._playout = playout
        self._far_end = far_end
        self._block = SAMPLE_RATE * block_ms // 1000
        self._stream: Any = None

    async def __aenter__(self) -> Self:
        """Open a 16 kHz mono output stream (PortAudio converts for the device).

        Raises:
            MicError: no output device or the stream would not start.
        """
        from tars.services.mic.device import _import_sounddevice
        from tars.services.mic.sources import MicError

        sd = _import_sounddevice()
        options = {
            "device": self._device,
            "channels": 1,
            "samplerate": SAMPLE_RATE,
            "dtype": "int16",
            "blocksize": self._block,
            "latency": "low",
            "callback": self._on_block,
        }
        try:
            self._stream = await asyncio.wait_for(
                asyncio.to_thread(start_stream, sd.OutputStream, options), _STREAM_CALL_TIMEOUT_S
            )
        except (sd.PortAudioError, TimeoutError, ValueError) as err:
            raise MicError(f"cannot start output device {self._device!r}: {err}") from err
        _LOGGER.info("playing replies on %r", self._device or "the default output")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop and close the stream."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.wait_for(asyncio.to_thread(close_stream, stream), _STREAM_CALL_TIMEOUT_S)

    def _on_block(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio thread. The DAC time of the block's first sample is on the stream's
        # clock; its offset from "now" maps it to wall-clock time.
        block = self._playout.pull(frames)
        outdata[:, 0] = block
        lead = float(time_info.outputBufferDacTime) - float(time_info.currentTime)
        self._far_end.played(block, time.time() + max(0.0, lead))
