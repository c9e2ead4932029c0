"""Stripping a leading wake phrase ("Okay, Nabu. What time is it?") from a transcript.

py-tars double-escaped its word-boundary anchor, so the pattern never matched. Here each
phrase becomes a pattern whose words may be separated by spaces, commas, full stops or
hyphens, "ok" and "okay" are interchangeable, and punctuation after the phrase goes with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEPARATOR = r"[\s,.!?;:\-]+"
_TRAILING = r"(?:[\s,.!?;:\-]+|$)"
_SYNONYMS = {"ok": "(?:ok|okay)", "okay": "(?:ok|okay)"}


class WakePhrases:
    """A compiled set of wake phrases.

    Example:
        >>> WakePhrases(["okay nabu"]).strip_leading("Okay, Nabu. What time is it?")
        'What time is it?'
    """

    def __init__(self, phrases: Iterable[str]) -> None:
        """Compile the phrases (case-insensitive; longer phrases are tried first)."""
        alternatives = []
        for phrase in sorted({p.strip().lower() for p in phrases if p.strip()}, key=len)[::-1]:
            words = re.findall(r"[a-z0-9']+", phrase)
            if words:
                alternatives.append(_SEPARATOR.join(_SYNONYMS.get(w, re.escape(w)) for w in words))
        self._pattern = (
            re.compile(rf"^[\s,.!?;:\-]*(?:{'|'.join(alternatives)}){_TRAILING}", re.IGNORECASE)
            if alternatives
            else None
        )

    def strip_leading(self, text: str) -> str:
        """Remove every leading wake phrase (a doubled "hey tars, hey tars" too).

        Returns:
            The rest of the text, stripped; ``text`` stripped when it starts with no phrase.
        """
        rest = text.strip()
        if self._pattern is None:
            return rest
        while (match := self._pattern.match(rest)) is not None and match.end() > 0:
            rest = rest[match.end() :].strip()
        return rest

    def starts_with_phrase(self, text: str) -> bool:
        """Whether ``text`` begins with a wake phrase."""
        return self.strip_leading(text) != text.strip()
