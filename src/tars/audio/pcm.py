"""Raw PCM helpers for the internal audio format: 16 kHz, mono, signed 16-bit little-endian."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
"""Internal sample rate of every audio frame on the bus, in Hz."""
SAMPLE_WIDTH = 2
"""Bytes per sample (signed 16-bit little-endian)."""
CHANNELS = 1
"""Channel count of the internal format."""

Int16Array = npt.NDArray[np.int16]
Float32Array = npt.NDArray[np.float32]


def bytes_to_int16(payload: bytes) -> Int16Array:
    """Interpret raw s16le bytes as samples (a trailing odd byte is dropped)."""
    usable = len(payload) - (len(payload) % SAMPLE_WIDTH)
    return np.frombuffer(payload[:usable], dtype="<i2").astype(np.int16, copy=False)


def int16_to_bytes(samples: Int16Array) -> bytes:
    """Serialise samples as raw s16le bytes."""
    return samples.astype("<i2", copy=False).tobytes()


def int16_to_float(samples: Int16Array) -> Float32Array:
    """Scale s16 samples to float32 in [-1, 1)."""
    return (samples.astype(np.float32) / 32768.0).astype(np.float32, copy=False)


def float_to_int16(samples: Float32Array) -> Int16Array:
    """Scale float samples in [-1, 1] to s16, clipping anything outside."""
    clipped = np.clip(samples, -1.0, 1.0) * 32767.0
    return clipped.astype(np.int16)


def rms(samples: Int16Array) -> float:
    """Root mean square of s16 samples, in s16 units (0 for an empty array)."""
    if samples.size == 0:
        return 0.0
    as_float = samples.astype(np.float64)
    return float(np.sqrt(np.mean(as_float * as_float)))


def resample(samples: Int16Array, rate_in: int, rate_out: int) -> Int16Array:
    """Resample s16 mono audio by linear interpolation.

    Linear interpolation is enough for speech going into VAD, Whisper and the
    wake-word front end (all of which low-pass internally); it keeps numpy the
    only dependency.
    """
    if rate_in == rate_out or samples.size == 0:
        return samples
    duration = samples.size / rate_in
    count_out = max(1, round(duration * rate_out))
    positions = np.linspace(0, samples.size - 1, count_out)
    interpolated = np.interp(positions, np.arange(samples.size), samples.astype(np.float32))
    return np.clip(np.round(interpolated), -32768, 32767).astype(np.int16)


def to_mono(samples: npt.NDArray[np.int16], channels: int) -> Int16Array:
    """Mix interleaved multi-channel s16 samples down to mono."""
    if channels == 1:
        return samples
    frames = samples.reshape(-1, channels).astype(np.int32)
    mixed: Int16Array = frames.mean(axis=1).astype(np.int16)
    return mixed


def read_wav(path: Path, rate: int = SAMPLE_RATE) -> Int16Array:
    """Read a 16-bit PCM WAV file as mono samples at ``rate``.

    Raises:
        ValueError: the file is not 16-bit PCM.
    """
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != SAMPLE_WIDTH:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
        channels = wav.getnchannels()
        rate_in = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    samples = to_mono(np.frombuffer(raw, dtype="<i2").astype(np.int16), channels)
    return resample(samples, rate_in, rate)


def write_wav(path: Path, samples: Int16Array, rate: int = SAMPLE_RATE) -> None:
    """Write mono s16 samples to a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(rate)
        wav.writeframes(int16_to_bytes(samples))


def silence(seconds: float, rate: int = SAMPLE_RATE) -> Int16Array:
    """Digital silence of the given length."""
    return np.zeros(round(seconds * rate), dtype=np.int16)


def white_noise(seconds: float, amplitude: float = 300.0, seed: int = 0) -> Int16Array:
    """Gaussian white noise at 16 kHz with the given s16 standard deviation."""
    generator = np.random.default_rng(seed)
    noise = generator.normal(0.0, amplitude, round(seconds * SAMPLE_RATE))
    return np.clip(noise, -32768, 32767).astype(np.int16)


def tone(seconds: float, frequency: float, amplitude: float = 6000.0) -> Int16Array:
    """A pure sine tone at 16 kHz."""
    times = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * frequency * times)).astype(np.int16)


def frames(samples: Int16Array, frame_ms: int = 20) -> list[bytes]:
    """Split samples into raw s16le frames of ``frame_ms`` (the last one may be short)."""
    step = SAMPLE_RATE * frame_ms // 1000
    return [int16_to_bytes(samples[i : i + step]) for i in range(0, samples.size, step)]
