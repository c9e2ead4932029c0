"""Whisper log-mel features in NumPy, for the Smart Turn model.

Smart Turn v3 is a Whisper-tiny encoder with a classification head, so it reads exactly what
Whisper's feature extractor produces: a 400-point STFT (25 ms Hann window, 10 ms hop, centred
with reflect padding) of the waveform, its power projected onto 80 Slaney-normalised mel
bands, then log10, clamped to 8 below the maximum and scaled to about [-1, 1]. Smart Turn
also normalises the waveform to zero mean and unit variance first, and reads 8 s of audio
(800 frames), the speech at the end and silence padded in front.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

from tars.audio.pcm import SAMPLE_RATE

N_FFT = 400
HOP = 160
N_MELS = 80
WINDOW_S = 8
"""Seconds of audio the turn model reads."""
WINDOW_SAMPLES = WINDOW_S * SAMPLE_RATE
FRAMES = WINDOW_SAMPLES // HOP
"""Feature frames in the model's window (800)."""

# The Slaney mel scale: linear below 1 kHz, logarithmic above.
_LINEAR_STEP_HZ = 200.0 / 3.0
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_STEP_HZ
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    mel = hz / _LINEAR_STEP_HZ
    above = hz >= _BREAK_HZ
    mel[above] = _BREAK_MEL + np.log(hz[above] / _BREAK_HZ) / _LOG_STEP
    return mel


def _mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
    hz = mel * _LINEAR_STEP_HZ
    above = mel >= _BREAK_MEL
    hz[above] = _BREAK_HZ * np.exp(_LOG_STEP * (mel[above] - _BREAK_MEL))
    return hz


@functools.cache
def mel_filters() -> NDArray[np.float64]:
    """The ``(N_MELS, N_FFT // 2 + 1)`` triangular filter bank, Slaney area-normalised."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges_mel = np.linspace(0.0, _hz_to_mel(np.array([SAMPLE_RATE / 2.0]))[0], N_MELS + 2)
    edges_hz = _mel_to_hz(edges_mel)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    # Equal area per band, so wide high-frequency bands do not dominate.
    return np.asarray(triangles * (2.0 / (upper - lower)), dtype=np.float64)


@functools.cache
def _hann() -> NDArray[np.float64]:
    # Periodic Hann (as torch.hann_window), not the symmetric one np.hanning returns.
    return np.asarray(np.hanning(N_FFT + 1)[:-1], dtype=np.float64)


def fit_window(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """The last `WINDOW_S` seconds of ``audio``, silence padded in front when shorter."""
    if audio.size >= WINDOW_SAMPLES:
        return np.asarray(audio[-WINDOW_SAMPLES:], dtype=np.float32)
    padded = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    padded[WINDOW_SAMPLES - audio.size :] = audio
    return padded


def log_mel(audio: NDArray[np.float32], *, normalize: bool = True) -> NDArray[np.float32]:
    """Whisper log-mel features of exactly `WINDOW_SAMPLES` samples: shape ``(80, 800)``.

    Args:
        audio: 16 kHz float audio, `WINDOW_SAMPLES` long (see `fit_window`).
        normalize: Scale the waveform to zero mean and unit variance first (Smart Turn does).

    Raises:
        ValueError: ``audio`` is not one-dimensional and `WINDOW_SAMPLES` long.
    """
    if audio.ndim != 1 or audio.size != WINDOW_SAMPLES:
        raise ValueError(f"expected {WINDOW_SAMPLES} mono samples, got shape {audio.shape}")
    wave = audio.astype(np.float32)
    if normalize:
        wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
    padded = np.pad(wave.astype(np.float64), N_FFT // 2, mode="reflect")
    # A strided view, not a copy; the last centred frame is dropped, as Whisper does.
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:FRAMES]
    power = np.abs(np.fft.rfft(frames * _hann(), axis=1)) ** 2
    mel = np.maximum(mel_filters() @ power.T, 1e-10)
    logs = np.log10(mel)
    logs = np.maximum(logs, logs.max() - 8.0)
    return np.asarray((logs + 4.0) / 4.0, dtype=np.float32)
