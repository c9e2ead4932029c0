"""Figures of a benchmark report: every number by its path, and which way is better.

A suite reports whatever nested mapping it hands to ``tars.bench.report.write``; this
module reads any of them the same way, so a new suite needs no code here. Numbers inside
lists (per-turn or per-clip details) are left out: they are evidence, not figures.

Which way is better is read from the figure's name, nearest key first: ``*_ms``, ``wer``,
``rtf``, ``*_mib``, seconds (``*_s``), cut-offs, losses, drops, false accepts and errors are
better lower; rates (``*per_s``, ``throughput``), accuracy, detection and quality are better
higher; counts, settings and sizes (``n``, ``threshold``, ``cpu_count`` ...) have no
direction. Name new figures with those words and compare reads them right.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

Direction = Literal["lower", "higher", "none"]

STATISTICS = frozenset({"p50", "p90", "p95", "p99", "max", "min", "mean", "median"})
"""Leaf keys that summarise their parent: the parent's name says what they measure."""
NEUTRAL = frozenset(
    {
        "n",
        "count",
        "total",
        "expected",
        "positives",
        "negatives",
        "replies",
        "threshold",
        "cpu_count",
        "target_p50_ms",
        "negative_audio_s",
        "pause_ms",
        "top1_total",
        "sent",
        "utterances",
        "turns_played",
    }
)
"""Keys that describe the run rather than measure it (and ``*audio_s``: how much was played)."""
NEUTRAL_PARENTS = frozenset({"service_counters", "conditions", "settings", "machine"})
"""Groups of counts and conditions: nothing in them is better one way."""
ID_KEYS = ("label", "name", "mode", "kind", "pause_ms", "utterance", "voice")
"""Fields that name an item of a list (joined with ``@`` when several are present)."""
_LOWER_FIRST = (r"cpu_ms", r"ms_per", r"load_avg")
"""Checked before the 'higher' words: a cost per unit is still a cost."""
_HIGHER = (
    r"per_s",
    r"/s\b",
    r"throughput",
    r"accuracy",
    r"detection_rate",
    r"\bdetected\b",
    r"quality",
    r"passed",
    r"top1",
    r"rescued",
    r"complete",
    r"\bfinals\b",
    r"recall",
    r"precision",
    r"correct",
)
_LOWER = (
    r"_ms\b",
    r"\bms\b",
    r"_ms_",
    r"latency",
    r"wer",
    r"rtf",
    r"mib",
    r"gib",
    r"rss",
    r"_s\b",
    r"\bs\b",
    r"cut_?off",
    r"\blost",
    r"dropped",
    r"split",
    r"false",
    r"missed",
    r"double",
    r"reject",
    r"error",
    r"fail",
    r"gap",
    r"empty",
)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every finite number in ``tree`` as (dotted path, value); booleans skipped.

    A list of mappings that name themselves (see ``ID_KEYS``) is read item by item as
    ``path[name]``; other lists are details and are skipped.
    """
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from flatten(value, path)
        elif isinstance(value, list):
            for name, item in _named_items(value):
                yield from flatten(item, f"{path}[{name}]")
        elif _is_number(value):
            yield path, float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _named_items(items: list[Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Mapping):
            continue
        parts = [str(item[k]) for k in ID_KEYS if isinstance(item.get(k), str | int)]
        name = "@".join(parts)
        if name and name not in seen:  # a repeated name would pair the wrong items
            seen.add(name)
            yield name, item


def direction(path: str) -> Direction:
    """Which way is better for the figure at ``path`` (see the module docstring)."""
    keys = path.split(".")
    if any(key in NEUTRAL_PARENTS for key in keys) or _neutral(keys[-1]):
        return "none"
    if keys[-1] in STATISTICS:
        keys = keys[:-1]
    found = _direction_of(keys[-1].lower())
    if found != "none":
        return found
    # A parent names the unit of its members (``rss_mib.tts``, ``wer_by_set.piper``); a
    # parent that is better higher only groups them (``throughput.sent``, ``accuracy.n``).
    for parent in keys[-2:-4:-1]:
        if _neutral(parent):
            return "none"
        if _direction_of(parent.lower()) == "lower":
            return "lower"
    return "none"


def _neutral(name: str) -> bool:
    return name in NEUTRAL or (name.endswith("audio_s") and "_per_" not in name)


def _direction_of(name: str) -> Direction:
    if any(re.search(pattern, name) for pattern in _LOWER_FIRST):
        return "lower"
    if any(re.search(pattern, name) for pattern in _HIGHER):
        return "higher"
    if any(re.search(pattern, name) for pattern in _LOWER):
        return "lower"
    return "none"
