"""Splicing a pause into a sentence at the right gap, and noise at a given SNR."""

from __future__ import annotations

import numpy as np
import pytest

from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence, tone
from tars.bench import splice


def word(frequency: float, seconds: float = 0.3, soft: bool = True) -> Int16Array:
    """A stand-in for a spoken word: a tone, with soft edges unless told otherwise."""
    samples = tone(seconds, frequency).astype(np.float64)
    if soft:
        ramp = np.minimum(1.0, np.arange(samples.size) / 160)
        samples *= ramp * ramp[::-1]
    return samples.astype(np.int16)


def sentence(*parts: Int16Array) -> Int16Array:
    return np.concatenate(parts)


def test_active_bounds_and_trim_drop_the_silence_around_speech() -> None:
    audio = sentence(silence(0.5), word(440), silence(0.25))
    start, end = splice.active_bounds(audio)
    assert start == pytest.approx(0.5 * SAMPLE_RATE, abs=160)
    assert end == pytest.approx(0.8 * SAMPLE_RATE, abs=160)
    assert splice.trim(audio, margin_s=0.0).size == pytest.approx(0.3 * SAMPLE_RATE, abs=320)
    assert splice.active_bounds(silence(0.2)) == (0, 0)


def test_find_gap_prefers_the_quiet_gap_near_the_expected_point() -> None:
    # Gap between the 2nd and 3rd word at 0.6-0.64 s; the estimate is 100 ms late.
    audio = sentence(word(300), word(500), silence(0.04), word(700))
    at = splice.find_gap(audio, expected_s=0.72)
    assert 0.595 <= at / SAMPLE_RATE <= 0.645


def test_find_gap_keeps_to_the_search_window() -> None:
    audio = sentence(word(300), silence(0.05), word(500), word(700), word(900))
    at = splice.find_gap(audio, expected_s=0.95, search_s=0.1)
    assert 0.85 <= at / SAMPLE_RATE <= 1.05  # the far gap at 0.3 s is out of reach


def test_split_point_finds_the_boundary_despite_final_lengthening() -> None:
    # Words run into each other (no dip in energy at all), and the prefix spoken alone
    # stretches its last word by 40 %: its duration alone would put the split 120 ms late.
    whole = sentence(*(word(f, soft=False) for f in (300, 800, 2000, 1200)))
    prefix = sentence(word(300, soft=False), word(800, 0.42, soft=False))
    at = splice.split_point(whole, prefix)
    assert at / SAMPLE_RATE == pytest.approx(0.6, abs=0.03)


def test_insert_pause_adds_exact_silence_at_the_point() -> None:
    audio = sentence(word(300), word(600))
    at = 4800
    spliced = splice.insert_pause(audio, at, 0.5)
    assert spliced.size == audio.size + 8000
    assert not spliced[at : at + 8000].any()
    assert np.array_equal(spliced[:at], audio[:at])
    assert np.array_equal(spliced[at + 8000 :], audio[at:])


def test_add_noise_sits_at_the_requested_snr() -> None:
    audio = sentence(silence(1.0), word(440, 1.0), silence(1.0))
    noisy = splice.add_noise(audio, snr_db=35.0, seed=3)
    noise = (noisy.astype(np.float64) - audio)[: SAMPLE_RATE // 2]
    expected = splice.speech_rms(audio) / 10 ** (35 / 20)
    assert float(np.sqrt(np.mean(noise**2))) == pytest.approx(expected, rel=0.1)
    assert np.array_equal(splice.add_noise(audio, 35.0, seed=3), noisy)  # reproducible
