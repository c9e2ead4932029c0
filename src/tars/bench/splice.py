"""Pure audio edits for the turn-taking material: find a word boundary, insert a pause, add noise.

A pause spliced into a sentence synthesised in one go keeps the mid-sentence intonation a
person has when they hesitate. The boundary is found from the first half synthesised
alone (aligned to the sentence, see `split_point`) and refined by the energy envelope
(the quietest point near there, between two words).
"""

from __future__ import annotations

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, rms

ENVELOPE_MS = 10
"""Frame length of the energy envelope, in ms."""
_STEP = SAMPLE_RATE * ENVELOPE_MS // 1000
_ACTIVE_RATIO = 0.03
"""A frame is speech when its RMS is above this fraction of the loudest frame's."""
_DISTANCE_COST_S = 0.12
"""Each this many seconds away from the expected point weighs like e times more energy."""


def envelope(samples: Int16Array) -> np.ndarray:
    """RMS per 10 ms frame (the last partial frame included)."""
    return np.array([rms(samples[i : i + _STEP]) for i in range(0, samples.size, _STEP)])


def active_bounds(samples: Int16Array) -> tuple[int, int]:
    """First and one-past-last sample of the speech in ``samples`` (0, 0 when silent).

    Frames count as speech relative to the loudest frame, so the bounds do not depend
    on the voice's overall level.
    """
    energy = envelope(samples)
    if energy.size == 0 or energy.max() <= 0:
        return 0, 0
    loud = np.flatnonzero(energy > energy.max() * _ACTIVE_RATIO)
    return int(loud[0]) * _STEP, min(samples.size, (int(loud[-1]) + 1) * _STEP)


def trim(samples: Int16Array, margin_s: float = 0.03) -> Int16Array:
    """``samples`` without the silence around the speech, keeping ``margin_s`` each side."""
    start, end = active_bounds(samples)
    margin = round(margin_s * SAMPLE_RATE)
    return samples[max(0, start - margin) : min(samples.size, end + margin)]


def find_gap(samples: Int16Array, expected_s: float, search_s: float = 0.3) -> int:
    """Sample index of the inter-word gap nearest ``expected_s``.

    Scores every envelope frame within ``search_s`` of the expected point by its log
    energy plus a distance penalty, so a clearly quieter gap a little further away
    wins over a shallow dip inside a word right at the expected point.

    Args:
        samples: The whole sentence.
        expected_s: Where the split should fall, in seconds from the start of ``samples``.
        search_s: How far either side to look, in seconds.

    Returns:
        The middle of the chosen frame, moved to the nearest zero crossing.
    """
    energy = envelope(samples)
    centre = expected_s * SAMPLE_RATE / _STEP
    low = max(1, int(centre - search_s * SAMPLE_RATE / _STEP))
    high = min(energy.size - 1, int(centre + search_s * SAMPLE_RATE / _STEP) + 1)
    if high <= low:
        return int(np.clip(round(expected_s * SAMPLE_RATE), 0, samples.size))
    frames = np.arange(low, high)
    # Smoothing over three frames keeps one quiet frame inside a plosive from winning.
    smooth = np.convolve(energy, np.ones(3) / 3, mode="same")[low:high]
    distance_s = np.abs(frames - centre) * _STEP / SAMPLE_RATE
    score = np.log(smooth + 1.0) + distance_s / _DISTANCE_COST_S
    best = int(frames[int(np.argmin(score))])
    return _zero_crossing(samples, best * _STEP + _STEP // 2)


def _zero_crossing(samples: Int16Array, index: int, reach: int = 80) -> int:
    """The sign change nearest ``index`` within ``reach`` samples (else ``index``): no click."""
    low, high = max(1, index - reach), min(samples.size, index + reach)
    window = samples[low - 1 : high].astype(np.int32)
    crossings = np.flatnonzero(np.signbit(window[:-1]) != np.signbit(window[1:])) + low
    if crossings.size == 0:
        return index
    return int(crossings[np.argmin(np.abs(crossings - index))])


def split_point(sentence: Int16Array, prefix_alone: Int16Array) -> int:
    """Where the first half ends inside ``sentence``, given that half spoken on its own.

    The prefix's duration alone runs long (a phrase spoken on its own ends with final
    lengthening), and connected speech rarely has a silent gap between words, so the
    prefix is aligned to the sentence by dynamic time warping of log band energies
    (same voice, same phonemes: the spectra match closely), and the energy envelope then
    moves the point to the quietest frame a few tens of ms around it.
    """
    onset, _ = active_bounds(sentence)
    start, end = active_bounds(prefix_alone)
    frames = open_end_alignment(
        band_energies(prefix_alone[start:end]), band_energies(sentence[onset:])
    )
    return find_gap(sentence, (onset + frames * _STEP) / SAMPLE_RATE, search_s=0.05)


def band_energies(samples: Int16Array, bands: int = 24) -> np.ndarray:
    """Log energy in ``bands`` log-spaced bands per 10 ms hop (25 ms windows), mean removed."""
    window, hop = SAMPLE_RATE * 25 // 1000, _STEP
    signal = samples.astype(np.float64) / 32768.0
    count = max(1, 1 + (signal.size - window) // hop)
    index = np.arange(window)[None, :] + hop * np.arange(count)[:, None]
    framed = signal[np.minimum(index, max(0, signal.size - 1))] * np.hanning(window)
    power = np.abs(np.fft.rfft(framed, axis=1)) ** 2
    edges = np.unique(np.geomspace(2, power.shape[1] - 1, bands + 1).astype(int))
    log: np.ndarray = np.log(np.add.reduceat(power, edges, axis=1)[:, :-1] + 1e-8)
    centred: np.ndarray = log - log.mean(axis=0)
    return centred


def open_end_alignment(query: np.ndarray, reference: np.ndarray) -> int:
    """How many frames of ``reference`` the whole of ``query`` aligns to (DTW, open end).

    Both start together; the end of ``query`` may fall anywhere in ``reference``. The
    best end minimises the accumulated distance per step of the path.
    """
    cost = np.sqrt(((query[:, None, :] - reference[None, :, :]) ** 2).sum(axis=-1))
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, rows + 1):
        # Diagonal and vertical steps vectorise; the horizontal one runs along the row.
        from_above = np.minimum(total[i - 1, :-1], total[i - 1, 1:]) + cost[i - 1]
        row = total[i]
        for j in range(1, cols + 1):
            row[j] = min(from_above[j - 1], row[j - 1] + cost[i - 1, j - 1])
    per_step = total[rows, 1:] / (rows + np.arange(1, cols + 1))
    return int(np.argmin(per_step)) + 1


def insert_pause(samples: Int16Array, at: int, pause_s: float) -> Int16Array:
    """``samples`` with ``pause_s`` of digital silence inserted before sample ``at``."""
    gap = np.zeros(round(pause_s * SAMPLE_RATE), dtype=np.int16)
    return np.concatenate([samples[:at], gap, samples[at:]])


def speech_rms(samples: Int16Array) -> float:
    """RMS over the speech frames only (the level an SNR is measured against)."""
    energy = envelope(samples)
    if energy.size == 0 or energy.max() <= 0:
        return 0.0
    loud = energy[energy > energy.max() * _ACTIVE_RATIO]
    return float(np.sqrt(np.mean(loud * loud)))


def add_noise(samples: Int16Array, snr_db: float, seed: int = 0) -> Int16Array:
    """``samples`` plus Gaussian noise ``snr_db`` below the speech level (pauses included)."""
    level = speech_rms(samples) / 10 ** (snr_db / 20)
    noise = np.random.default_rng(seed).normal(0.0, level, samples.size)
    return np.clip(samples.astype(np.float64) + noise, -32768, 32767).astype(np.int16)
