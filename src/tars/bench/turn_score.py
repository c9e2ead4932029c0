"""Scoring of paused requests: was the first final cut off, and did a continuation rescue it?

Whisper spells and formats freely ("ten minutes" or "10 minutes", "Sam." or "Sam's"), so
a phrase counts as present when most of its content words appear in the transcript after
the WER normalisation (numbers spelled out), allowing small spelling differences.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tars.services.stt.wer import normalise_words

_FUNCTION_TEXT = "a an the to in on at for of my and or with about some is are be me it this that"
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
"""Words too common to prove that a phrase was heard."""
_SIMILAR = 0.8
"""Character similarity at which two words of four letters or more count as the same."""
_PRESENT = 0.5
"""Share of a phrase's content words that must appear for the phrase to count as heard."""


def content_words(phrase: str) -> list[str]:
    """The words of ``phrase`` that prove it was heard (all of them if none is content)."""
    words = normalise_words(phrase)
    return [w for w in words if w not in _FUNCTION_WORDS] or words


def _same(expected: str, heard: str) -> bool:
    if expected == heard or heard.rstrip("s").removesuffix("'") == expected.rstrip("s"):
        return True
    if min(len(expected), len(heard)) < 4:
        return False
    return difflib.SequenceMatcher(None, expected, heard).ratio() >= _SIMILAR


def coverage(transcript: str, phrase: str) -> float:
    """Share of the content words of ``phrase`` found in ``transcript`` (1.0 for no words)."""
    wanted = content_words(phrase)
    if not wanted:
        return 1.0
    heard = normalise_words(transcript)
    found = sum(any(_same(word, other) for other in heard) for word in wanted)
    return found / len(wanted)


def holds(transcript: str, phrase: str) -> bool:
    """Whether ``transcript`` contains ``phrase`` (most of its content words)."""
    return coverage(transcript, phrase) >= _PRESENT


@dataclass(frozen=True)
class HeardFinal:
    """One stt/final of a played clip."""

    at_s: float
    """Arrival, in s after the end of speech in the clip (negative: during the clip)."""
    utt_id: str
    """Its utterance id."""
    text: str
    """Its text."""
    continues: str | None = None
    """The earlier final it replaces, if any."""


@dataclass(frozen=True)
class Outcome:
    """How stt handled one paused request."""

    dropped: bool
    """No final at all."""
    cut_off: bool
    """The first final lacks the words after the pause."""
    rescued: bool
    """Cut off, and a final continuing it holds the whole request."""
    split: bool
    """Cut off, not rescued, and the rest came as a final of its own (not linked)."""
    rejections: int
    """stt/rejected messages during the clip."""
    whole_after_ms: float | None
    """End of speech to the first final holding the whole request, in ms (None: never)."""
    first: str = ""
    """Text of the first final."""
    continued: bool = False
    """A later final continues the first (whatever its text)."""
    first_missing: bool = False
    """The first final lacks the words *before* the pause (misheard or rejected)."""

    @property
    def complete(self) -> bool:
        """The whole request arrived: in the first final or in one continuing it."""
        return self.whole_after_ms is not None


def _chain(finals: Sequence[HeardFinal]) -> list[HeardFinal]:
    """The first final and every later final continuing it, directly or through another."""
    ids = {finals[0].utt_id}
    chain = [finals[0]]
    for final in finals[1:]:
        if final.continues is not None and final.continues in ids:
            ids.add(final.utt_id)
            chain.append(final)
    return chain


def score(first: str, second: str, finals: Sequence[HeardFinal], rejections: int = 0) -> Outcome:
    """Score one request spoken as ``first`` <pause> ``second`` from the finals it produced.

    Args:
        first: Words before the pause.
        second: Words after the pause.
        finals: The finals of the clip, in arrival order.
        rejections: How many stt/rejected came for the clip.
    """
    if not finals:
        return Outcome(True, False, False, False, rejections, None)
    ordered = sorted(finals, key=lambda final: final.at_s)
    head = ordered[0]
    cut_off = not holds(head.text, second)
    chain = _chain(ordered)
    whole = [f for f in chain if holds(f.text, first) and holds(f.text, second)]
    rescued = cut_off and any(f is not head for f in whole)
    linked = {f.utt_id for f in chain}
    split = (
        cut_off
        and not rescued
        and any(f.utt_id not in linked and holds(f.text, second) for f in ordered)
    )
    after = round(whole[0].at_s * 1000.0, 1) if whole else None
    missing = not holds(head.text, first)
    continued = len(chain) > 1
    return Outcome(False, cut_off, rescued, split, rejections, after, head.text, continued, missing)


def streamed_text(finals: Iterable[HeardFinal]) -> str:
    """What a consumer ends up with: each final, with a continuing final replacing the earlier."""
    kept: dict[str, str] = {}
    for final in sorted(finals, key=lambda f: f.at_s):
        if final.continues is not None:
            kept.pop(final.continues, None)
        kept[final.utt_id] = final.text
    return " ".join(text.strip() for text in kept.values() if text.strip())


def _share(count: int, total: int) -> float:
    return round(count / total, 3) if total else 0.0


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return round((ordered[middle - 1] + ordered[middle]) / 2, 1)


def row(outcomes: Sequence[Outcome]) -> dict[str, float | int | None]:
    """Report figures of a group of outcomes: shares of all turns, and counts.

    ``lost``: cut off and no final continued it (``split`` counts those whose rest came
    as a final of its own). ``complete``: the whole request arrived, words included.
    """
    total = len(outcomes)
    return {
        "n": total,
        "cut_off": _share(sum(o.cut_off for o in outcomes), total),
        "rescued": _share(sum(o.rescued for o in outcomes), total),
        # Lost to turn-taking: nothing continued the cut-off final. A continuation that
        # misheard words is a recognition error, which "complete" counts instead.
        "lost": _share(sum(o.cut_off and not o.continued for o in outcomes), total),
        "split": _share(sum(o.split for o in outcomes), total),
        "dropped": _share(sum(o.dropped for o in outcomes), total),
        "rejections": sum(o.rejections for o in outcomes),
        "complete": _share(sum(o.complete for o in outcomes), total),
        "whole_after_ms_p50": _median(
            [o.whole_after_ms for o in outcomes if o.whole_after_ms is not None]
        ),
    }


def rows(scored: Iterable[tuple[str, int, Outcome]]) -> list[dict[str, object]]:
    """One row per (kind, pause ms), then one per kind over all pauses (pause ``"all"``).

    Args:
        scored: (kind, pause ms, outcome) per played clip.
    """
    groups: dict[tuple[str, int], list[Outcome]] = {}
    for kind, pause_ms, outcome in scored:
        groups.setdefault((kind, pause_ms), []).append(outcome)
    kinds = list(dict.fromkeys(kind for kind, _ in groups))
    table: list[dict[str, object]] = []
    for kind in kinds:
        pauses = sorted(p for k, p in groups if k == kind)
        table += [{"kind": kind, "pause_ms": p, **row(groups[(kind, p)])} for p in pauses]
        every = [o for p in pauses for o in groups[(kind, p)]]
        table.append({"kind": kind, "pause_ms": "all", **row(every)})
    return table


def percent(value: object) -> str:
    """A share as a whole percentage for the text table (``-`` when missing)."""
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{100 * value:.0f}%"
