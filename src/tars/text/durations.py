"""Timer phrases: durations in digits or number words, and how to say them back.

"set a timer for one minute and 30 seconds" -> 90 s, said back as "one minute and thirty
seconds"; the done message is "Your one minute and thirty second timer is done."
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600,
}  # fmt: skip
_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUES = {word: value for value, word in enumerate(_ONES)} | {
    word: value * 10 for value, word in enumerate(_TENS) if word != "_"
}
_UNIT_NAMES = ((3600, "hour"), (60, "minute"), (1, "second"))


@dataclass(frozen=True, slots=True)
class Duration:
    """A parsed timer length.

    Attributes:
        seconds: Total length, seconds.
        spoken: The length in words, e.g. "five minutes".
        adjective: The length as a modifier, e.g. "five minute".
    """

    seconds: int
    spoken: str
    adjective: str


def number_to_words(value: int) -> str:
    """Spell a non-negative integer below one million in English words."""
    if value < 20:
        return _ONES[value]
    if value < 100:
        tens, ones = divmod(value, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    thousands, rest = divmod(value, 1000)
    return f"{number_to_words(thousands)} thousand" + (f" {number_to_words(rest)}" if rest else "")


def _parse_number(words: list[str]) -> int | None:
    """Value of a run of number words or digits ("twenty five", "a", "90"), or None."""
    if len(words) == 1 and words[0].isdigit():
        return int(words[0])
    if words in (["a"], ["an"]):
        return 1
    total, current = 0, 0
    for word in words:
        if word in _WORD_VALUES:
            current += _WORD_VALUES[word]
        elif word == "hundred" and current:
            current *= 100
        elif word == "thousand" and current:
            total, current = total + current * 1000, 0
        else:
            return None
    return total + current if words else None


def parse_duration(text: str) -> Duration | None:
    """Find a timer length in ``text``.

    Accepts digits and number words, several units joined by "and" or commas
    ("1 hour 5 minutes", "one minute and 30 seconds", "a minute").

    Returns:
        The duration, or None when no positive length is found.
    """
    tokens = re.findall(r"[a-z]+|\d+", text.lower().replace("-", " "))
    seconds = 0
    number_words: list[str] = []
    for token in tokens:
        if token in _UNITS:
            value = _parse_number(number_words)
            if value is not None:
                seconds += value * _UNITS[token]
            number_words = []
        elif (
            token.isdigit() or token in _WORD_VALUES or token in ("a", "an", "hundred", "thousand")
        ):
            if token.isdigit() or token in ("a", "an") or number_words in (["a"], ["an"]):
                number_words = []
            number_words.append(token)
        else:
            number_words = []
    return describe(seconds) if seconds > 0 else None


def describe(seconds: int) -> Duration:
    """Spell a length: 90 -> "one minute and thirty seconds" / "one minute and thirty second"."""
    parts: list[tuple[int, str]] = []
    rest = seconds
    for size, name in _UNIT_NAMES:
        count, rest = divmod(rest, size)
        if count:
            parts.append((count, name))
    spoken = [f"{number_to_words(n)} {name}{'' if n == 1 else 's'}" for n, name in parts]
    adjective = [f"{number_to_words(n)} {name}" for n, name in parts]
    return Duration(seconds, _join(spoken), _join(adjective))


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
