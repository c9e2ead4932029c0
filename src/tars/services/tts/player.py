"""Playback of one utterance: synthesis in a worker thread, audio out through a sink.

The synthesiser runs in a worker thread and hands chunks (one per sentence) to the
event loop through a small bounded hand-off, so the first sentence plays while the
next ones are synthesised, and a paused or stopped sink holds synthesis back too.
Control (pause, resume, stop) goes straight to the sink and never waits behind playback.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from tars.audio.pcm import Int16Array
from tars.services.tts.sinks import AudioSink
from tars.services.tts.synth import Synthesizer
from tars.services.tts.text import clean_text

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlaybackResult:
    """What happened to one utterance."""

    completed: bool
    """True when it played to the end, False when it was stopped."""
    first_audio_s: float | None
    """From the play call to the first chunk reaching the sink, in s (None: no audio)."""
    audio_s: float
    """Audio handed to the sink, in s."""
    synth_s: float
    """Time spent inside the synthesiser, in s."""
    elapsed_s: float
    """From the play call to its return, in s."""
    chunks: int
    """Chunks handed to the sink."""

    @property
    def real_time_factor(self) -> float | None:
        """Synthesis time per second of audio (None when there was no audio)."""
        return self.synth_s / self.audio_s if self.audio_s > 0 else None


@dataclass(frozen=True)
class _End:
    error: Exception | None = None


class _Handoff:
    """Bounded hand-off of chunks from the synthesis thread to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, depth: int) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Int16Array | _End] = asyncio.Queue()
        # Counts free places; the thread takes one per chunk, the loop gives it back.
        self._slots = threading.Semaphore(depth)
        self._cancelled = threading.Event()
        self.synth_s = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def produce(self, source: Callable[[], Iterator[Int16Array]]) -> None:
        """Worker-thread side: pull chunks from the synthesiser until done or cancelled."""
        error: Exception | None = None
        chunks: Iterator[Int16Array] | None = None
        try:
            chunks = source()
            while not self._cancelled.is_set():
                began = time.perf_counter()
                chunk = next(chunks, None)
                self.synth_s += time.perf_counter() - began
                if chunk is None:
                    break
                self._slots.acquire()
                if self._cancelled.is_set():
                    break
                self._post(chunk)
        except Exception as err:  # handed to the loop, which re-raises it from play()
            error = err
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # run the generator's clean-up now, in this thread
            self._post(_End(error))

    async def get(self) -> Int16Array | None:
        """Loop side: the next chunk, None at the end or once cancelled."""
        item = await self._queue.get()
        if isinstance(item, _End):
            if item.error is not None and not self.cancelled:
                raise item.error
            return None
        self._slots.release()
        return None if self.cancelled else item

    def cancel(self) -> None:
        """Stop the producer after its current chunk and wake the consumer (loop side)."""
        if not self.cancelled:
            self._cancelled.set()
            self._slots.release()
            self._queue.put_nowait(_End())

    def _post(self, item: Int16Array | _End) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:
            _LOGGER.debug("event loop closed before synthesis ended")


class Player:
    """Plays utterances one at a time on a sink, with pause, resume and stop.

    A pause that arrives between utterances holds the next one until resume or stop,
    as py-tars did for a pause that came before its player started.
    """

    def __init__(self, synthesizer: Synthesizer, sink: AudioSink, *, handoff_chunks: int = 2):
        """Create a player.

        Args:
            synthesizer: The speech engine.
            sink: Where audio goes.
            handoff_chunks: Chunks (sentences) synthesised ahead of the one playing.
        """
        self.synthesizer = synthesizer
        self.sink = sink
        self._depth = handoff_chunks
        self._lock = asyncio.Lock()
        self._current: _Handoff | None = None
        self._paused = False

    @property
    def playing(self) -> bool:
        """Whether an utterance is in progress."""
        return self._current is not None

    @property
    def paused(self) -> bool:
        """Whether output is held."""
        return self._paused

    async def play(self, text: str, on_audio: Callable[[], None] | None = None) -> PlaybackResult:
        """Speak ``text`` (Markdown is cleaned first); returns when played or stopped.

        ``on_audio`` is called as the first chunk goes to the sink (its synthesis is done).

        Raises:
            Exception: whatever the synthesiser or the sink raised (the sink is stopped).
        """
        speakable = clean_text(text)
        if not speakable:
            return PlaybackResult(True, None, 0.0, 0.0, 0.0, 0)
        synth = self.synthesizer
        return await self._run(lambda: synth.synthesize(speakable), synth.sample_rate, on_audio)

    async def play_samples(
        self, samples: Int16Array, rate: int, on_audio: Callable[[], None] | None = None
    ) -> PlaybackResult:
        """Play ready-made audio (a cached phrase) with the same controls as :meth:`play`."""
        return await self._run(lambda: iter([samples]), rate, on_audio)

    async def pause(self) -> None:
        """Hold output (and, once the hand-off is full, synthesis)."""
        self._paused = True
        if self._current is not None:
            await self.sink.pause()

    async def resume(self) -> None:
        """Continue after a pause."""
        self._paused = False
        if self._current is not None:
            await self.sink.resume()

    async def stop(self) -> None:
        """Drop the rest of the current utterance and skip its remaining sentences."""
        self._paused = False
        handoff = self._current
        if handoff is not None:
            handoff.cancel()
            await self.sink.stop()

    async def _run(
        self,
        source: Callable[[], Iterator[Int16Array]],
        rate: int,
        on_audio: Callable[[], None] | None = None,
    ) -> PlaybackResult:
        async with self._lock:
            began = time.perf_counter()
            handoff = _Handoff(asyncio.get_running_loop(), self._depth)
            self._current = handoff
            producer = asyncio.create_task(
                asyncio.to_thread(handoff.produce, source), name="tts-synthesis"
            )
            try:
                pumped = await self._pump(handoff, rate, began, on_audio)
                completed, first_s, samples, chunks = pumped
            except BaseException:
                handoff.cancel()
                await self.sink.stop()
                raise
            finally:
                handoff.cancel()
                self._current = None
                await producer
        result = PlaybackResult(
            completed=completed,
            first_audio_s=first_s,
            audio_s=samples / rate,
            synth_s=handoff.synth_s,
            elapsed_s=time.perf_counter() - began,
            chunks=chunks,
        )
        _LOGGER.debug(
            "utterance %s: first audio %s s, %.2f s audio, rtf %s",
            "done" if completed else "stopped",
            first_s,
            result.audio_s,
            result.real_time_factor,
        )
        return result

    async def _pump(
        self, handoff: _Handoff, rate: int, began: float, on_audio: Callable[[], None] | None
    ) -> tuple[bool, float | None, int, int]:
        await self.sink.start(rate)
        if self._paused:
            await self.sink.pause()
        first_s: float | None = None
        samples = chunks = 0
        while (chunk := await handoff.get()) is not None:
            if first_s is None:
                first_s = time.perf_counter() - began
            if not chunks and on_audio is not None:
                on_audio()  # before the write: a paced write lasts as long as its audio
            await self.sink.write(np.asarray(chunk, dtype=np.int16))
            samples += chunk.size
            chunks += 1
        if handoff.cancelled:
            await self.sink.stop()  # idempotent; covers a stop that raced sink.start()
            return False, first_s, samples, chunks
        await self.sink.finish()
        # A stop during finish() cuts the tail short: that is not a completed utterance.
        return not handoff.cancelled, first_s, samples, chunks
