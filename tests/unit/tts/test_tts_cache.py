"""Phrase cache: keys, LRU cap, persistence across instances."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tars.audio.pcm import Int16Array
from tars.services.tts.cache import PhraseCache, normalise_phrase, phrase_key


class FakeSynth:
    """Yields one chunk of ``samples`` ones per call and records the texts."""

    def __init__(self, *, samples: int = 160) -> None:
        self.sample_rate = 16_000
        self.voice_id = "fake-voice"
        self.samples = samples
        self.texts: list[str] = []

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        self.texts.append(text)
        yield np.ones(self.samples, dtype=np.int16)


def test_key_depends_on_normalised_text_and_voice() -> None:
    assert phrase_key("  **Yes?** ", "v1") == phrase_key("yes?", "v1")
    assert phrase_key("Yes?", "v1") != phrase_key("Yes!", "v1")
    assert phrase_key("Yes?", "v1") != phrase_key("Yes?", "v2")
    assert normalise_phrase("System   ONLINE.") == "system online."


def test_preload_synthesises_only_missing_phrases(tmp_path: Path) -> None:
    synth = FakeSynth(samples=100)
    cache = PhraseCache(tmp_path, synth, max_entries=8)
    assert cache.preload(["Hmm?", "Huh?", "Yes?"]) == 3
    assert cache.preload(["Hmm?", "Huh?", "Yes?", "System online."]) == 1
    assert len(synth.texts) == 4
    audio = cache.get("hmm?")
    assert audio is not None
    assert audio.dtype == np.int16
    assert audio.size == 100
    assert cache.get("Never cached.") is None


def test_least_recently_used_phrase_is_dropped(tmp_path: Path) -> None:
    cache = PhraseCache(tmp_path, FakeSynth(samples=50), max_entries=2)
    cache.preload(["Alpha.", "Bravo."])
    assert cache.get("Alpha.") is not None  # Alpha is now the most recent
    cache.preload(["Charlie."])
    assert cache.get("Bravo.") is None
    assert cache.get("Alpha.") is not None
    assert cache.get("Charlie.") is not None
    assert len(list(tmp_path.glob("*.wav"))) == 2


def test_entries_survive_a_restart_in_lru_order(tmp_path: Path) -> None:
    synth = FakeSynth(samples=80)
    first = PhraseCache(tmp_path, synth, max_entries=3)
    first.put("Old.", np.full(80, 1, dtype=np.int16))
    first.put("Newer.", np.full(80, 2, dtype=np.int16))
    first.put("Newest.", np.full(80, 3, dtype=np.int16))
    # Make the use order unambiguous on coarse file-system clocks.
    for age, text in enumerate(["Newest.", "Newer.", "Old."]):
        path = tmp_path / f"{phrase_key(text, synth.voice_id)}.wav"
        os.utime(path, (1_000_000 - age * 10, 1_000_000 - age * 10))
    second = PhraseCache(tmp_path, synth, max_entries=2)
    assert len(second) == 2
    assert second.get("Old.") is None
    newer = second.get("Newer.")
    assert newer is not None
    np.testing.assert_array_equal(newer, np.full(80, 2, dtype=np.int16))


def test_other_voice_does_not_see_entries(tmp_path: Path) -> None:
    PhraseCache(tmp_path, FakeSynth(), max_entries=4).preload(["Yes?"])
    other = FakeSynth()
    other.voice_id = "another-voice"
    assert PhraseCache(tmp_path, other, max_entries=4).get("Yes?") is None


def test_unreadable_entry_is_dropped(tmp_path: Path) -> None:
    synth = FakeSynth()
    bad = tmp_path / f"{phrase_key('Yes?', synth.voice_id)}.wav"
    bad.write_bytes(b"not a wav")
    cache = PhraseCache(tmp_path, synth, max_entries=4)
    assert cache.get("Yes?") is None
    assert len(cache) == 0
    assert not bad.exists()


def test_cap_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        PhraseCache(tmp_path, FakeSynth(), max_entries=0)
