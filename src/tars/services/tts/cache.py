"""Phrase cache: short fixed phrases (wake acks, announcements) kept as ready audio.

Entries are WAV files named by the SHA-1 of the voice id and the normalised text, so a
cache folder survives restarts and a voice change never serves the old voice. The least
recently used entries are pruned past the size cap; file modification times carry the
use order across restarts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import wave
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tars.audio.pcm import Int16Array, read_wav, write_wav
from tars.services.tts.synth import Synthesizer
from tars.services.tts.text import clean_text

_LOGGER = logging.getLogger(__name__)


def normalise_phrase(text: str) -> str:
    """Cache form of a phrase: Markdown stripped, whitespace collapsed, lower case."""
    return clean_text(text).lower()


def phrase_key(text: str, voice_id: str) -> str:
    """SHA-1 hex digest identifying ``text`` spoken by ``voice_id``."""
    return hashlib.sha1(f"{voice_id}\n{normalise_phrase(text)}".encode()).hexdigest()


class PhraseCache:
    """LRU cache of synthesised phrases, in memory and as WAV files in a folder.

    Safe to use from the event loop and a worker thread at once (``preload`` runs in a
    thread while ``get`` serves the loop).
    """

    def __init__(self, directory: Path, synthesizer: Synthesizer, *, max_entries: int = 32):
        """Index the folder (created if missing); files beyond the cap are pruned.

        Args:
            directory: Where the WAV files live.
            synthesizer: Voice used by :meth:`preload`; its id and rate key the entries.
            max_entries: Most phrases kept (py-tars kept 16).

        Raises:
            ValueError: ``max_entries`` below 1.
        """
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._dir = directory
        self._synth = synthesizer
        self._max = max_entries
        self._lock = threading.Lock()
        # key -> samples, or None while only the file is known (loaded on first use).
        self._entries: OrderedDict[str, Int16Array | None] = OrderedDict()
        directory.mkdir(parents=True, exist_ok=True)
        files = sorted(directory.glob("*.wav"), key=lambda path: path.stat().st_mtime)
        for path in files:
            self._entries[path.stem] = None
        with self._lock:
            self._prune()

    def __len__(self) -> int:
        """Number of cached phrases."""
        return len(self._entries)

    @property
    def sample_rate(self) -> int:
        """Rate of the audio :meth:`get` returns, in Hz."""
        return self._synth.sample_rate

    def get(self, text: str) -> Int16Array | None:
        """Cached audio of ``text`` in this voice, or None.

        Reads one small file the first time an entry from an earlier run is used.
        """
        key = phrase_key(text, self._synth.voice_id)
        with self._lock:
            if key not in self._entries:
                return None
            samples = self._entries[key]
            if samples is None:
                samples = self._load(key)
                if samples is None:
                    return None
                self._entries[key] = samples
            self._entries.move_to_end(key)
        self._touch(key)
        return samples

    def put(self, text: str, samples: Int16Array) -> None:
        """Store audio of ``text`` (at :attr:`sample_rate`) and prune to the cap."""
        key = phrase_key(text, self._synth.voice_id)
        write_wav(self._path(key), samples, self.sample_rate)
        with self._lock:
            self._entries[key] = samples
            self._entries.move_to_end(key)
            self._prune()

    def preload(self, texts: Iterable[str]) -> int:
        """Synthesise the phrases not cached yet and load the others into memory.

        Blocking and CPU-heavy: run off the event loop.

        Returns:
            How many phrases were synthesised.
        """
        made = 0
        for text in texts:
            if not normalise_phrase(text) or self.get(text) is not None:
                continue
            parts = list(self._synth.synthesize(clean_text(text)))
            samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
            self.put(text, samples)
            made += 1
        _LOGGER.info("phrase cache: %d synthesised, %d cached", made, len(self))
        return made

    def _path(self, key: str) -> Path:
        return self._dir / f"{key}.wav"

    def _load(self, key: str) -> Int16Array | None:
        try:
            return read_wav(self._path(key), self.sample_rate)
        except (OSError, EOFError, ValueError, wave.Error) as err:
            _LOGGER.warning("dropping unreadable cache entry %s: %s", key, err)
            del self._entries[key]
            self._path(key).unlink(missing_ok=True)
            return None

    def _touch(self, key: str) -> None:
        try:
            os.utime(self._path(key))
        except OSError as err:
            _LOGGER.debug("cannot touch cache entry %s: %s", key, err)

    def _prune(self) -> None:
        """Drop the least recently used entries past the cap (caller holds the lock)."""
        while len(self._entries) > self._max:
            key, _ = self._entries.popitem(last=False)
            self._path(key).unlink(missing_ok=True)
