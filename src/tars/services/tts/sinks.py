"""Audio sinks: where synthesised speech goes (WAV file, a callback, nowhere).

The sound-card sink lives in :mod:`tars.services.tts.device`. Every sink plays one
utterance at a time: ``start(rate)``, any number of ``write(chunk)``, then ``finish()``
(or ``stop()``, which drops what is not played yet). ``pause``/``resume``/``stop`` never
wait behind ``write``: a write blocked by pacing or by a pause wakes up and returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from tars.audio.pcm import Int16Array, int16_to_bytes, write_wav
from tars.services.tts.pacing import PacedSink
from tars.services.tts.settings import SinkKind, TtsSettings

_LOGGER = logging.getLogger(__name__)

SendAudio = Callable[[bytes, int], Awaitable[None]]
"""Async callback taking raw s16le mono bytes and their sample rate in Hz."""


class AudioSink(Protocol):
    """Plays int16 mono audio of one utterance at a time."""

    async def start(self, rate: int) -> None:
        """Begin an utterance at ``rate`` Hz; clears any earlier pause or stop."""
        ...

    async def write(self, chunk: Int16Array) -> None:
        """Queue audio; may wait for room (pacing, pause); returns at once once stopped."""
        ...

    async def pause(self) -> None:
        """Hold output where it is (nothing is dropped)."""
        ...

    async def resume(self) -> None:
        """Continue output after a pause."""
        ...

    async def stop(self) -> None:
        """Drop everything not played yet and end the utterance."""
        ...

    async def finish(self) -> None:
        """Wait until everything written has been played (returns early on stop)."""
        ...

    async def close(self) -> None:
        """Release the device or file; the sink is not used afterwards."""
        ...


class NullSink(PacedSink):
    """Discards audio but records it; honours pause and stop (for tests and headless runs)."""

    def __init__(self, *, paced: bool = False) -> None:
        """Create the sink; ``paced`` makes it consume audio no faster than real time."""
        super().__init__(paced=paced)
        self.chunks: list[Int16Array] = []
        """Every chunk accepted during the current utterance."""

    async def start(self, rate: int) -> None:
        """Begin an utterance and forget the previous one's chunks."""
        await super().start(rate)
        self.chunks = []

    async def write(self, chunk: Int16Array) -> None:
        """Accept a chunk unless stopped (waits while paused)."""
        seconds = chunk.size / self.rate
        if await self._admit():
            self.chunks.append(chunk)
            self._emitted(seconds)


class WavFileSink(PacedSink):
    """Writes each utterance to a WAV file (the part played so far when stopped)."""

    def __init__(self, target: Path, *, paced: bool = False) -> None:
        """Create the sink.

        Args:
            target: A ``.wav`` path rewritten by every utterance, or a folder that gets
                one numbered file per utterance.
            paced: Accept audio no faster than real time, like a speaker.
        """
        super().__init__(paced=paced)
        self._target = target
        self._count = 0
        self._parts: list[Int16Array] = []
        self._open = False
        self.last_path: Path | None = None
        """File written by the last finished or stopped utterance."""

    async def start(self, rate: int) -> None:
        """Begin a new file."""
        await super().start(rate)
        self._parts = []
        self._open = True

    async def write(self, chunk: Int16Array) -> None:
        """Add a chunk to the file (waits while paused)."""
        seconds = chunk.size / self.rate
        if await self._admit():
            self._parts.append(chunk)
            self._emitted(seconds)

    async def finish(self) -> None:
        """Wait for pacing, then write the file."""
        await super().finish()
        await self._save()

    async def stop(self) -> None:
        """Drop the rest and write what was accepted so far."""
        await super().stop()
        await self._save()

    async def _save(self) -> None:
        if not self._open:
            return
        self._open = False
        self._count += 1
        if self._target.suffix.lower() == ".wav":
            path = self._target
        else:
            path = self._target / f"tts-{time.strftime('%Y%m%d-%H%M%S')}-{self._count:04d}.wav"
        samples = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.int16)
        await asyncio.to_thread(write_wav, path, samples, self.rate)
        self.last_path = path
        _LOGGER.debug("wrote %s (%.2f s)", path, samples.size / max(self.rate, 1))


class CallbackSink(PacedSink):
    """Hands audio to an async callback as raw s16le pieces (for ``tts/audio/<satellite>``).

    Pieces are sent no more than ``lead_ms`` ahead of real time, so pause and stop also
    hold back a remote speaker, and :meth:`finish` returns about when it stops playing.
    """

    def __init__(
        self, send: SendAudio, *, piece_ms: int = 40, paced: bool = True, lead_ms: int = 200
    ) -> None:
        """Create the sink.

        Args:
            send: Coroutine function called with ``(pcm_bytes, rate)`` for every piece.
            piece_ms: Duration of each piece, in ms (the last one of a chunk may be shorter).
            paced: Send in real time (plus the lead) rather than as fast as possible.
            lead_ms: With pacing, how far ahead of real time pieces may be sent, in ms.
        """
        super().__init__(paced=paced, lead_s=lead_ms / 1000)
        self._send = send
        self._piece_ms = piece_ms

    async def write(self, chunk: Int16Array) -> None:
        """Send a chunk piece by piece (waits while paused, stops mid-chunk on stop)."""
        step = max(1, self.rate * self._piece_ms // 1000)
        for offset in range(0, chunk.size, step):
            piece = chunk[offset : offset + step]
            seconds = piece.size / self.rate
            if not await self._admit():
                return
            await self._send(int16_to_bytes(piece), self.rate)
            self._emitted(seconds)


def create_sink(kind: SinkKind, settings: TtsSettings, send: SendAudio | None = None) -> AudioSink:
    """Build a sink of the given kind from the settings.

    Args:
        kind: ``sounddevice``, ``wav``, ``mqtt`` or ``null``.
        settings: TTS settings (device, folders, piece size, lead).
        send: The publish callback, required for ``mqtt``.

    Raises:
        ValueError: ``mqtt`` without a ``send`` callback.
    """
    if kind == "sounddevice":
        # Imported here: the device module pulls in the sound-card machinery.
        from tars.services.tts.device import SoundDeviceSink

        name = settings.output_device.strip()
        device: int | str | None = int(name) if name.isdigit() else (name or None)
        return SoundDeviceSink(device, block_ms=settings.device_block_ms)
    if kind == "wav":
        return WavFileSink(settings.wav_dir, paced=settings.wav_paced)
    if kind == "mqtt":
        if send is None:
            raise ValueError("the mqtt sink needs a send callback")
        return CallbackSink(send, piece_ms=settings.audio_chunk_ms, lead_ms=settings.audio_lead_ms)
    return NullSink()
