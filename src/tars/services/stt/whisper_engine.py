"""Offline transcription with faster-whisper (CTranslate2 Whisper models).

The model is loaded once in the constructor (about 0.3-0.7 s) and decoding is
greedy English by default, as in py-tars: int8 on CPU, beam 1, temperature 0,
no built-in VAD (our segmenter already cut the utterance), no conditioning on
previous text. Whisper base gains from ``beam_size=5`` in noise. Utterances short enough
are encoded on a shortened window first (see :mod:`tars.services.stt.window`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tars.audio.pcm import SAMPLE_RATE, Int16Array, int16_to_float, silence
from tars.services.stt.loops import collapse_loops
from tars.services.stt.models import resolve_model_dir
from tars.services.stt.transcriber import Transcript, TranscriptionError
from tars.services.stt.window import WindowDecoder, window_for

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class WhisperOptions:
    """How faster-whisper loads and decodes."""

    model: str = "tiny.en"
    """``tiny.en``, ``base`` or a path to a CTranslate2 Whisper directory."""
    data_dir: Path = Path("data/stt")
    """Where assembled models (Whisper base) are cached."""
    beam_size: int = 1
    """Beam width; 1 is greedy decoding."""
    cpu_threads: int = 0
    """CTranslate2 intra-op threads; 0 lets it choose."""
    device: str = "cpu"
    """``cpu``, ``cuda`` or ``auto``."""
    compute_type: str = "int8"
    """CTranslate2 compute type (``int8``, ``int8_float16``, ``float16``, ``default``)."""
    language: str = "en"
    """Language to decode in (English-only models ignore anything else)."""
    window_s: float = 10.0
    """Shortest encoder window for short utterances, in s (0: always the full 30 s)."""


class WhisperTranscriber:
    """A `Transcriber` backed by faster-whisper.

    Calls are serialised with a lock, so one instance can be shared by threads;
    each call blocks, so run it off the event loop.

    Args:
        options: Model and decoding options.

    Raises:
        ImportError: faster-whisper (or a model package) is not installed.
        TranscriptionError: the model cannot be found or loaded (code ``model``).
    """

    def __init__(self, options: WhisperOptions | None = None) -> None:
        self._options = options or WhisperOptions()
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise ImportError("faster-whisper is not installed; run `uv sync --extra stt`") from err
        model_dir = resolve_model_dir(self._options.model, self._options.data_dir)
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                str(model_dir),
                device=self._options.device,
                compute_type=self._options.compute_type,
                cpu_threads=self._options.cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as err:
            raise TranscriptionError(
                "model", f"cannot load Whisper from {model_dir}: {err}"
            ) from err
        self.load_s = time.perf_counter() - started
        """Seconds the model took to load."""
        self._lock = threading.Lock()
        self._window = WindowDecoder(self._model, self._options.language, self._options.beam_size)
        _LOGGER.info(
            "loaded Whisper %s from %s in %.2f s", self._options.model, model_dir, self.load_s
        )

    def warm_up(self) -> None:
        """Run one short decode so the first real request does not pay for set-up."""
        self.transcribe(silence(1.0))

    def transcribe(self, samples: Int16Array) -> Transcript:
        """Transcribe one utterance (blocking).

        Raises:
            TranscriptionError: decoding failed (code ``engine``).
        """
        audio = int16_to_float(samples)
        duration_s = samples.size / SAMPLE_RATE
        started = time.perf_counter()
        window = window_for(duration_s, self._options.window_s)
        try:
            with self._lock:
                quick = self._window.decode(audio, window) if window is not None else None
                if quick is not None:
                    text, avg_logprob, no_speech = quick
                    elapsed = time.perf_counter() - started
                    return _scored(text, avg_logprob, no_speech, duration_s, elapsed)
                segments, info = self._model.transcribe(
                    audio,
                    language=self._options.language,
                    beam_size=self._options.beam_size,
                    temperature=0.0,
                    vad_filter=False,
                    condition_on_previous_text=False,
                    without_timestamps=True,
                )
                # The segments are a lazy generator: decoding happens here.
                decoded = list(segments)
        except (RuntimeError, ValueError) as err:
            raise TranscriptionError("engine", f"Whisper decoding failed: {err}") from err
        elapsed = time.perf_counter() - started
        return _to_transcript(decoded, str(info.language), duration_s, elapsed)


def _scored(
    text: str, avg_logprob: float, no_speech: float, duration_s: float, elapsed_s: float
) -> Transcript:
    return Transcript(
        text=collapse_loops(text),
        confidence=math.exp(avg_logprob),
        no_speech_prob=no_speech,
        avg_logprob=avg_logprob,
        language="en",
        duration_s=duration_s,
        elapsed_s=elapsed_s,
    )


def _to_transcript(
    segments: list[Any], language: str, duration_s: float, elapsed_s: float
) -> Transcript:
    text = collapse_loops("".join(segment.text for segment in segments).strip())
    weights = [max(1, len(segment.tokens)) for segment in segments]
    total = sum(weights)
    if not total:
        return Transcript(text, None, None, None, language, duration_s, elapsed_s)
    avg_logprob = sum(s.avg_logprob * w for s, w in zip(segments, weights, strict=True)) / total
    no_speech = sum(s.no_speech_prob * w for s, w in zip(segments, weights, strict=True)) / total
    return replace(_scored(text, avg_logprob, no_speech, duration_s, elapsed_s), language=language)
