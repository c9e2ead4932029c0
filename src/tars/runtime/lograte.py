"""Thinning for log lines that hostile input or a flood can repeat without end."""

from __future__ import annotations

import collections
from collections.abc import Hashable

FIRST_LOGGED = 20
"""Occurrences of one key logged in full."""
LOG_EVERY = 1000
"""After those, one line per this many occurrences, with the count so far."""


class LogBudget:
    """Says which occurrences of a repeated event get a log line, per key.

    The first ``first`` occurrences of a key are logged, then the ``every``-th, 2×``every``-th
    and so on, each with the count so far. Only the lines are thinned: callers count every
    occurrence in their metrics. At most ``max_keys`` keys are remembered (the least recently
    seen is forgotten first), so input spread over endless topics cannot grow it.
    """

    def __init__(
        self, first: int = FIRST_LOGGED, every: int = LOG_EVERY, max_keys: int = 1024
    ) -> None:
        self._first = first
        self._every = every
        self._max_keys = max_keys
        self._counts: collections.OrderedDict[Hashable, int] = collections.OrderedDict()

    def count(self, key: Hashable) -> int | None:
        """Count one occurrence of ``key``: its number when it gets a line, else None."""
        number = self._counts.get(key, 0) + 1
        self._counts[key] = number
        self._counts.move_to_end(key)
        if len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)
        if number <= self._first or number % self._every == 0:
            return number
        return None

    def note(self, number: int) -> str:
        """What a line adds about the lines left out: nothing while every one is logged."""
        if number <= self._first:
            return ""
        return f" ({number} so far; one line per {self._every})"
