"""Synthesis of a reply's next piece while the current one plays, so sentences follow without gaps.

An LLM reply reaches TTS one sentence per ``tts/say``. Played strictly one after the other,
each sentence would be synthesised only once the one before it had finished playing, and the
listener would hear that synthesis time (hundreds of ms on two cores busy with the LLM) as
silence between sentences. The lane hands the next queued piece of the reply it is speaking
to a :class:`Prefetch` once the current piece's audio has started (not before: the two would
compete for the one Piper voice and delay the current piece's first audio); when the current
piece has played, the next one's audio is ready.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import numpy as np

from tars.audio.pcm import Int16Array
from tars.services.tts.synth import Synthesizer
from tars.services.tts.text import clean_text

_LOGGER = logging.getLogger(__name__)


class Prefetch:
    """At most one piece synthesised ahead, in a worker thread, keyed by the piece object."""

    def __init__(self, synthesizer: Synthesizer) -> None:
        """Synthesise with ``synthesizer`` (the player's)."""
        self._synthesizer = synthesizer
        self._key: object | None = None
        self._task: asyncio.Task[Int16Array | None] | None = None
        self._cancel = threading.Event()
        self._dropped: set[asyncio.Task[Int16Array | None]] = set()

    @property
    def busy(self) -> bool:
        """Whether a piece is being (or has been) synthesised ahead and not taken yet."""
        return self._task is not None

    def start(self, key: object, text: str) -> None:
        """Synthesise ``text`` for ``key`` now, unless a piece is already held ahead."""
        if self._task is not None:
            return
        self._key = key
        self._cancel = threading.Event()
        self._task = asyncio.create_task(
            asyncio.to_thread(self._render, text, self._cancel), name="tts:prefetch"
        )

    def take(self, key: object) -> asyncio.Task[Int16Array | None] | None:
        """The synthesis started for ``key`` (then forgotten here), or None."""
        if self._task is None or self._key is not key:
            return None
        task, self._task, self._key = self._task, None, None
        return task

    def discard(self) -> None:
        """Drop the piece held ahead; its synthesis stops at the next sentence boundary."""
        task, self._task, self._key = self._task, None, None
        if task is None:
            return
        self._cancel.set()
        # The thread cannot be interrupted mid-sentence: keep the task until it ends.
        self._dropped.add(task)
        task.add_done_callback(self._dropped.discard)

    async def aclose(self) -> None:
        """Discard the piece held ahead and wait for any synthesis still running."""
        self.discard()
        if self._dropped:
            await asyncio.gather(*self._dropped, return_exceptions=True)

    def _render(self, text: str, cancel: threading.Event) -> Int16Array | None:
        """Worker thread: the whole piece's audio, or None when discarded or unspeakable."""
        speakable = clean_text(text)
        if not speakable:
            return None
        chunks: list[Int16Array] = []
        try:
            for chunk in self._synthesizer.synthesize(speakable):
                if cancel.is_set():
                    return None
                chunks.append(chunk)
        except Exception:  # the lane falls back to synthesising the piece as it plays it
            _LOGGER.exception("synthesis ahead failed")
            return None
        return np.concatenate(chunks) if chunks else None
