"""The individual suppression rules and the default chain built from them."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from tars.services.stt.filters import (
    Candidate,
    Evidence,
    FilterChain,
    FilterContext,
    TranscriptFilter,
    normalise,
)

_COMMON_WORDS_TEXT = """
a about all am an and are as at be but by can could do does don't for from get go
good have he hello hey hi how i i'm if in is it it's just know like me my no not now
of off ok okay on one or please say see set so stop tell thank thanks that that's the
then there this time to today turn up us want was we what what's when where who why
will with would yes you your play music light lights weather timer minutes remind
"""
COMMON_WORDS = frozenset(_COMMON_WORDS_TEXT.split())
"""Built-in common words (about 90) for the dictionary-ratio gate."""

DEFAULT_ALLOWED_SHORT = ("stop", "yes", "no", "cancel", "pause", "resume", "wait", "quiet", "next")
"""One-word commands exempt from the quality, cough and lexical gates."""

_VOWEL_GROUP = re.compile(r"[aeiouy]+")
_PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class Thresholds:
    """Filter thresholds (py-tars defaults; units as in `SttSettings`, seconds here)."""

    min_duration_s: float = 0.5
    min_rms: float = 220.0
    min_active_ratio: float = 0.3
    min_length: int = 3
    min_alpha_ratio: float = 0.6
    max_punct_ratio: float = 0.35
    min_common_ratio: float = 0.40
    min_common_ratio_response: float = 0.05
    max_no_speech: float = 0.6
    min_avg_logprob: float = -1.2
    bypass_confidence: float = 0.95
    evidence: Evidence = Evidence()
    cough_phrases: tuple[str, ...] = ("thank you", "hello", "okay", "hi")
    cough_min_duration_s: float = 0.6
    cough_min_active_ratio: float = 0.25
    cough_min_syllables: int = 2
    lexical_min_single_chars: int = 5
    lexical_min_vowel_ratio: float = 0.25
    repeat_cooldown_s: float = 8.0
    echo_min_ratio: float = 0.85
    recent_count: int = 5
    common_words_extra: tuple[str, ...] = ()
    allowed_short: tuple[str, ...] = DEFAULT_ALLOWED_SHORT


def _visible(text: str) -> list[str]:
    return [c for c in text if not c.isspace()]


def syllables(word: str) -> int:
    """Rough syllable count: vowel groups, at least one per word."""
    return max(1, len(_VOWEL_GROUP.findall(word.lower())))


@dataclass(frozen=True)
class MinDuration:
    """Rejects speech shorter than ``min_s``."""

    min_s: float
    name: ClassVar[str] = "duration"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        if candidate.duration_s < self.min_s:
            return f"speech {candidate.duration_s * 1000:.0f} ms < {self.min_s * 1000:.0f} ms"
        return None


@dataclass(frozen=True)
class MinRms:
    """Rejects quiet audio (RMS below ``min_rms``)."""

    min_rms: float
    name: ClassVar[str] = "rms"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        if candidate.rms < self.min_rms:
            return f"rms {candidate.rms:.0f} < {self.min_rms:.0f}"
        return None


@dataclass(frozen=True)
class MinActiveRatio:
    """Rejects utterances that were mostly non-speech."""

    min_ratio: float
    name: ClassVar[str] = "active_ratio"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        if candidate.active_ratio < self.min_ratio:
            return f"active ratio {candidate.active_ratio:.2f} < {self.min_ratio:.2f}"
        return None


@dataclass(frozen=True)
class MinLength:
    """Rejects texts shorter than ``min_chars`` (stripped)."""

    min_chars: int
    name: ClassVar[str] = "length"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        length = len(candidate.text.strip())
        if length < self.min_chars:
            return f"{length} chars < {self.min_chars}"
        return None


@dataclass(frozen=True)
class MinAlphaRatio:
    """Rejects texts whose visible characters are mostly not letters."""

    min_ratio: float
    name: ClassVar[str] = "alpha_ratio"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        chars = _visible(candidate.text)
        ratio = sum(c.isalpha() for c in chars) / len(chars) if chars else 0.0
        if ratio < self.min_ratio:
            return f"alphabetic ratio {ratio:.2f} < {self.min_ratio:.2f}"
        return None


@dataclass(frozen=True)
class MaxPunctRatio:
    """Rejects texts made largely of punctuation ("...", "?!")."""

    max_ratio: float
    name: ClassVar[str] = "punct_ratio"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        chars = _visible(candidate.text)
        ratio = sum(c in _PUNCTUATION for c in chars) / len(chars) if chars else 0.0
        if ratio > self.max_ratio:
            return f"punctuation ratio {ratio:.2f} > {self.max_ratio:.2f}"
        return None


@dataclass(frozen=True)
class CommonWordRatio:
    """Rejects texts with too few common words (Whisper's hallucinated prose)."""

    words: frozenset[str]
    min_ratio: float
    min_ratio_response: float
    name: ClassVar[str] = "common_words"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        tokens = normalise(candidate.text).split()
        ratio = sum(t in self.words for t in tokens) / len(tokens) if tokens else 0.0
        limit = self.min_ratio_response if context.addressed else self.min_ratio
        if ratio < limit:
            return f"common-word ratio {ratio:.2f} < {limit:.2f}"
        return None


@dataclass(frozen=True)
class MaxNoSpeech:
    """Rejects transcripts the model itself thinks are not speech."""

    max_prob: float
    name: ClassVar[str] = "no_speech"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        value = candidate.no_speech_prob
        if value is not None and value > self.max_prob:
            return f"no-speech probability {value:.2f} > {self.max_prob:.2f}"
        return None


@dataclass(frozen=True)
class MinAvgLogprob:
    """Rejects low-likelihood decodes."""

    min_logprob: float
    name: ClassVar[str] = "avg_logprob"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        value = candidate.avg_logprob
        if value is not None and value < self.min_logprob:
            return f"avg log-prob {value:.2f} < {self.min_logprob:.2f}"
        return None


@dataclass(frozen=True)
class CoughGuard:
    """Rejects the stock phrases Whisper hears in coughs and clicks when they are short."""

    phrases: frozenset[str]
    min_duration_s: float
    min_active_ratio: float
    min_syllables: int
    name: ClassVar[str] = "cough"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        text = normalise(candidate.text)
        if text not in self.phrases:
            return None
        count = sum(syllables(word) for word in text.split())
        if candidate.duration_s < self.min_duration_s:
            return f"{text!r} lasted {candidate.duration_s * 1000:.0f} ms"
        if candidate.active_ratio < self.min_active_ratio:
            return f"{text!r} with active ratio {candidate.active_ratio:.2f}"
        if count < self.min_syllables:
            return f"{text!r} has {count} syllable(s)"
        return None


@dataclass(frozen=True)
class LexicalGate:
    """Rejects a lone short token and vowel-less strings ("hmm", "shh")."""

    min_single_chars: int
    min_vowel_ratio: float
    name: ClassVar[str] = "lexical"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        tokens = normalise(candidate.text).split()
        if len(tokens) == 1 and len(tokens[0]) < self.min_single_chars:
            return f"single token {tokens[0]!r} < {self.min_single_chars} chars"
        letters = [c for c in "".join(tokens) if c.isalpha()]
        ratio = sum(c in "aeiouy" for c in letters) / len(letters) if letters else 0.0
        if ratio < self.min_vowel_ratio:
            return f"vowel ratio {ratio:.2f} < {self.min_vowel_ratio:.2f}"
        return None


@dataclass(frozen=True)
class RepeatOfLast:
    """Rejects the same text as the last published one within the cooldown."""

    cooldown_s: float
    name: ClassVar[str] = "repeat"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        if not context.published:
            return None
        text, at = context.published[-1]
        age = context.now - at
        if age <= self.cooldown_s and normalise(text) == normalise(candidate.text):
            return f"same as the last transcript {age:.1f} s ago"
        return None


@dataclass(frozen=True)
class EchoOfTts:
    """Rejects text that matches (or is part of) what TTS just said."""

    min_ratio: float
    name: ClassVar[str] = "echo"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        # A continuation carries the earlier request in front: the reply that started
        # playing after it can only be in the new words.
        text = candidate.new_words() if candidate.continues_text else normalise(candidate.text)
        for spoken in map(normalise, context.tts_texts):
            if not spoken or not text:
                continue
            ratio = difflib.SequenceMatcher(None, text, spoken).ratio()
            if text == spoken or ratio >= self.min_ratio:
                return f"matches TTS text {spoken!r} (similarity {ratio:.2f})"
            # The mic often catches one sentence of a longer reply.
            if len(text.split()) >= 3 and f" {text} " in f" {spoken} ":
                return f"is part of TTS text {spoken!r}"
        return None


@dataclass(frozen=True)
class RecentRepeat:
    """Rejects text equal to any of the last ``count`` transcripts within the window."""

    count: int
    window_s: float
    name: ClassVar[str] = "recent_repeat"

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """See class docstring."""
        text = normalise(candidate.text)
        for previous, at in context.published[-self.count :]:
            if context.now - at <= self.window_s and normalise(previous) == text:
                return f"repeats a transcript from {context.now - at:.1f} s ago"
        return None


def build_chain(
    thresholds: Thresholds | None = None, extra_words: Iterable[str] = ()
) -> FilterChain:
    """The py-tars chain with the given thresholds.

    Args:
        thresholds: Threshold values; py-tars defaults when None.
        extra_words: Common words to add to `COMMON_WORDS` (besides
            ``thresholds.common_words_extra``).
    """
    t = thresholds or Thresholds()
    words = COMMON_WORDS | {w.lower() for w in (*t.common_words_extra, *extra_words)}
    acoustic: list[TranscriptFilter] = [
        MinDuration(t.min_duration_s),
        MinRms(t.min_rms),
        MinActiveRatio(t.min_active_ratio),
        MaxNoSpeech(t.max_no_speech),
        MinAvgLogprob(t.min_avg_logprob),
    ]
    text: list[TranscriptFilter] = [
        MinLength(t.min_length),
        MinAlphaRatio(t.min_alpha_ratio),
        MaxPunctRatio(t.max_punct_ratio),
        CommonWordRatio(words, t.min_common_ratio, t.min_common_ratio_response),
    ]
    always: list[TranscriptFilter] = [
        CoughGuard(
            frozenset(normalise(p) for p in t.cough_phrases),
            t.cough_min_duration_s,
            t.cough_min_active_ratio,
            t.cough_min_syllables,
        ),
        LexicalGate(t.lexical_min_single_chars, t.lexical_min_vowel_ratio),
        RepeatOfLast(t.repeat_cooldown_s),
        EchoOfTts(t.echo_min_ratio),
        RecentRepeat(t.recent_count, t.repeat_cooldown_s),
    ]
    return FilterChain(
        acoustic,
        text,
        always,
        bypass_confidence=t.bypass_confidence,
        evidence=t.evidence,
        allowed_short=t.allowed_short,
    )
