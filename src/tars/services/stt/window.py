"""Whisper on a shortened encoder window, for short utterances.

Whisper always encodes a 30 s window, so a two-second command pays for 28 s of padding:
about 300 ms of tiny.en's 400 ms on two cores. Encoding the utterance padded with silence
to a shorter window (10 s by default) decodes commands as well at a third of the cost.
Whisper was trained on 30 s windows, so a decode that runs into its length cap or repeats
itself is reported as unusable and the caller falls back to the full window.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from tars.audio.pcm import SAMPLE_RATE, Float32Array

_FRAMES_PER_S = 100
_TOKENS_PER_S = 8  # generous: speech runs at about 3-4 tokens per second
_MARGIN_S = 4.0  # silence the model must see after the speech to end its decode
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def window_for(duration_s: float, shortest_s: float) -> float | None:
    """The encoder window (s) for an utterance, or None when the full 30 s one is needed."""
    if shortest_s <= 0:
        return None
    window = max(shortest_s, math.ceil(duration_s + _MARGIN_S))
    return window if window < 30 else None


def repeats_itself(text: str) -> bool:
    """Whether ``text`` is one sentence said two or more times (a window hallucination)."""
    sentences = [part.strip(" .!?").lower() for part in _SENTENCE_SPLIT.split(text.strip())]
    sentences = [sentence for sentence in sentences if sentence]
    return len(sentences) > 1 and len(set(sentences)) == 1


class WindowDecoder:
    """Greedy (or beam) decoding of one utterance on a shortened window.

    Args:
        model: A loaded ``faster_whisper.WhisperModel``.
        language: Language to decode in.
        beam_size: Beam width.
    """

    def __init__(self, model: Any, language: str, beam_size: int) -> None:
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._model = model
        self._beam_size = beam_size
        multilingual = bool(model.model.is_multilingual)
        self._tokenizer = Tokenizer(
            model.hf_tokenizer,
            multilingual,
            task="transcribe",
            language=language if multilingual else "en",
        )
        self._prompt = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._suppress = get_suppressed_tokens(self._tokenizer, [-1])

    def decode(self, audio: Float32Array, window_s: float) -> tuple[str, float, float] | None:
        """Text, average log-probability and no-speech probability; None if unusable.

        Blocking; run it off the event loop.
        """
        import ctranslate2

        samples = int(window_s * SAMPLE_RATE)
        padded = np.zeros(samples, dtype=np.float32)
        padded[: min(samples, audio.size)] = audio[:samples]
        features = self._model.feature_extractor(padded)[:, : int(window_s * _FRAMES_PER_S)]
        duration_s = audio.size / SAMPLE_RATE
        budget = int(duration_s * _TOKENS_PER_S) + 8
        result = self._model.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
            [self._prompt],
            beam_size=self._beam_size,
            max_length=len(self._prompt) + budget,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = [token for token in result.sequences_ids[0] if token < self._tokenizer.eot]
        if len(result.sequences_ids[0]) >= budget:
            return None  # never reached end-of-text: the window misled the decoder
        text = self._tokenizer.decode(tokens).strip()
        if repeats_itself(text):
            return None
        return text, float(result.scores[0]), float(result.no_speech_prob)
