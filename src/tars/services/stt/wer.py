"""Word error rate, as used by the STT tests and ``tars bench stt``.

Texts are normalised before comparison: lower case, punctuation removed
(apostrophes inside words kept), hyphens split, and the numbers 0-99 spelled out
("5" -> "five", "21" -> "twenty one"), so "Set a timer for 5 minutes." matches
"set a timer for five minutes".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ONES_TEXT = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
)
_TENS_TEXT = "_ _ twenty thirty forty fifty sixty seventy eighty ninety"
_ONES = _ONES_TEXT.split()
_TENS = _TENS_TEXT.split()
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def number_words(value: int) -> str:
    """Spell out an integer from 0 to 99 ("42" -> "forty two").

    Raises:
        ValueError: ``value`` is outside 0-99.
    """
    if not 0 <= value <= 99:
        raise ValueError(f"{value} is outside 0-99")
    if value < 20:
        return _ONES[value]
    tens, ones = divmod(value, 10)
    return _TENS[tens] if ones == 0 else f"{_TENS[tens]} {_ONES[ones]}"


def normalise_words(text: str) -> list[str]:
    """The comparison words of ``text`` (see module docstring)."""
    lowered = text.lower().replace("-", " ").replace("\u2019", "'")
    words: list[str] = []
    for token in _TOKEN.findall(lowered):
        if token.isdigit() and len(token) <= 2:
            words.extend(number_words(int(token)).split())
        else:
            words.append(token)
    return words


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            cost = 0 if ref_word == hyp_word else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one hypothesis (errors / reference words).

    An empty reference scores 0.0 against an empty hypothesis and 1.0 otherwise.
    """
    return corpus_wer([(reference, hypothesis)])


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Word error rate over a set: total errors / total reference words.

    Args:
        pairs: (reference, hypothesis) texts.
    """
    errors = 0
    words = 0
    for reference, hypothesis in pairs:
        ref = normalise_words(reference)
        errors += edit_distance(ref, normalise_words(hypothesis))
        words += len(ref)
    if words == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / words
