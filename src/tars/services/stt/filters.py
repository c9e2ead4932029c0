"""The transcript suppression chain (py-tars ``suppression.py``, same thresholds).

A `FilterChain` runs small filter objects in order and returns the first
`Rejection`, which the service publishes with its reason. Three groups:

* acoustic gates (duration, RMS, active ratio, no-speech and log-prob), skipped
  when the transcript's confidence is above ``bypass_confidence`` (0.95), as in py-tars;
* text gates (length, alphabetic and punctuation ratios, common-word ratio), which
  guess at hallucinations from the words alone. They apply only when the acoustic
  evidence is weak (`Evidence`): py-tars applied them to everything, and its
  common-word ratio rejected clear, confidently transcribed requests with unusual words;
* checks that always apply: cough guard, lexical gate, repeat of the last
  published text, echo of recent TTS text and recent-phrase repeat.

Deviation from py-tars: texts in ``allowed_short`` ("stop", "yes", "no", ...)
skip the quality gates and the cough and lexical checks, because py-tars's
length, duration and single-token gates reject exactly the one-word commands a
voice assistant must never miss. Repeat and echo checks still apply to them.

Time is always passed in (`FilterContext.now`), never read, so results are
deterministic. Rules live in `tars.services.stt.filter_rules`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

_NORMALISE = re.compile(r"[^a-z0-9' ]+")


def normalise(text: str) -> str:
    """Lower-case, drop punctuation and collapse spaces (for comparing texts)."""
    return " ".join(_NORMALISE.sub(" ", text.lower()).split())


@dataclass(frozen=True)
class Candidate:
    """A transcript about to be published, with what is known about its audio."""

    text: str
    """The transcript text."""
    duration_s: float
    """Speech duration (first to last speech window), in seconds."""
    rms: float
    """RMS of the speech audio, in s16 units."""
    active_ratio: float
    """Fraction of the utterance's windows that were speech (0-1)."""
    confidence: float | None = None
    """Transcriber confidence (0-1), None when the backend gives none."""
    no_speech_prob: float | None = None
    """Probability of no speech (0-1), None when unknown."""
    avg_logprob: float | None = None
    """Mean token log-probability, None when unknown."""
    continues_text: str = ""
    """Text of the earlier final this transcript continues ("" for a new turn)."""

    def new_words(self) -> str:
        """The normalised words after those of `continues_text` (all of them for a new turn).

        A continuation is transcribed with the earlier part in front, so checks about what
        was just heard (echo of the reply that started playing) look at the rest only.
        """
        words = normalise(self.text).split()
        earlier = normalise(self.continues_text).split()
        shared = 0
        for heard, known in zip(words, earlier, strict=False):
            if heard != known:
                break
            shared += 1
        # Whisper may reword the end of the earlier part: without a clear shared prefix, the
        # new words are those beyond the earlier part's length.
        cut = shared if shared >= len(earlier) // 2 else len(earlier)
        return " ".join(words[cut:])


@dataclass(frozen=True)
class Evidence:
    """Thresholds above which the audio itself shows a transcript is real speech.

    Whisper's hallucinations come from noise, silence and clicks: the decoder doubts its
    tokens (low mean log-probability), its no-speech head fires, or the VAD heard speech in
    only a few windows. A transcript clear on all three is not judged by its words.
    """

    max_no_speech: float = 0.3
    min_avg_logprob: float = -0.8
    min_active_ratio: float = 0.4

    def strong(self, candidate: Candidate) -> bool:
        """Whether ``candidate``'s audio is clearly speech (unknown scores are not)."""
        return (
            candidate.no_speech_prob is not None
            and candidate.no_speech_prob <= self.max_no_speech
            and candidate.avg_logprob is not None
            and candidate.avg_logprob >= self.min_avg_logprob
            and candidate.active_ratio >= self.min_active_ratio
        )


@dataclass(frozen=True)
class FilterContext:
    """What the filters need to know besides the candidate."""

    now: float
    """Current time on the caller's monotonic clock, in seconds."""
    addressed: bool = False
    """The user was expected to speak to TARS: right after the wake word, or right after a
    reply (a follow-up). Requests there carry names and unusual words ("who wrote Romeo and
    Juliet", misheard as "Romi-O"), so the common-word gate is lowered."""
    tts_texts: tuple[str, ...] = ()
    """Texts TTS spoke recently (for echo suppression)."""
    published: tuple[tuple[str, float], ...] = ()
    """Recently published transcripts as (text, time), oldest first."""


@dataclass(frozen=True)
class Rejection:
    """Why a candidate was suppressed."""

    filter: str
    """Name of the filter that rejected it (stable, for logs and metrics)."""
    reason: str
    """Human-readable reason with the measured value and the threshold."""


class TranscriptFilter(Protocol):
    """One suppression rule."""

    @property
    def name(self) -> str:
        """Stable name used in `Rejection.filter`."""
        ...

    def check(self, candidate: Candidate, context: FilterContext) -> str | None:
        """Return a rejection reason, or None when the candidate passes."""
        ...


class FilterChain:
    """Runs acoustic gates, text gates, then the always-on checks; returns the first rejection.

    Args:
        acoustic: Filters skipped when confidence exceeds ``bypass_confidence``.
        text: Filters that apply only when the acoustic evidence is weak.
        always: Filters that apply whatever the confidence.
        bypass_confidence: Confidence above which ``acoustic`` and ``text`` are skipped.
        evidence: What counts as strong acoustic evidence.
        allowed_short: Normalised texts that skip the gates and ``exemptible`` filters.
        exemptible: Names of ``always`` filters that ``allowed_short`` texts skip.
    """

    def __init__(
        self,
        acoustic: Sequence[TranscriptFilter],
        text: Sequence[TranscriptFilter],
        always: Sequence[TranscriptFilter],
        *,
        bypass_confidence: float = 0.95,
        evidence: Evidence | None = None,
        allowed_short: Iterable[str] = (),
        exemptible: Iterable[str] = ("cough", "lexical"),
    ) -> None:
        self._acoustic = tuple(acoustic)
        self._text = tuple(text)
        self._always = tuple(always)
        self._bypass = bypass_confidence
        self._evidence = evidence or Evidence()
        self._allowed = frozenset(normalise(text) for text in allowed_short)
        self._exemptible = frozenset(exemptible)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        """Return the first failing filter's rejection, or None to publish."""
        allowed = normalise(candidate.text) in self._allowed
        confident = candidate.confidence is not None and candidate.confidence > self._bypass
        filters: list[TranscriptFilter] = []
        if not (allowed or confident):
            filters.extend(self._acoustic)
            if not self._evidence.strong(candidate):
                filters.extend(self._text)
        filters.extend(f for f in self._always if not (allowed and f.name in self._exemptible))
        for rule in filters:
            reason = rule.check(candidate, context)
            if reason is not None:
                return Rejection(filter=rule.name, reason=reason)
        return None


class RecentTexts:
    """A bounded, time-stamped list of texts (published transcripts, TTS sentences).

    Args:
        max_items: How many texts to keep.
        max_age_s: Texts older than this are dropped from `snapshot`, in seconds.
    """

    def __init__(self, max_items: int = 5, max_age_s: float = 8.0) -> None:
        self._items: deque[tuple[str, float]] = deque(maxlen=max_items)
        self._max_age_s = max_age_s

    def record(self, text: str, now: float) -> None:
        """Remember ``text`` as seen at ``now``."""
        self._items.append((text, now))

    def snapshot(self, now: float) -> tuple[tuple[str, float], ...]:
        """The texts still young enough at ``now``, oldest first."""
        return tuple(item for item in self._items if now - item[1] <= self._max_age_s)

    def texts(self, now: float) -> tuple[str, ...]:
        """Only the texts of `snapshot`."""
        return tuple(text for text, _ in self.snapshot(now))

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
