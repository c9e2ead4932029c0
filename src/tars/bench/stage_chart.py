"""Voice-turn latency per stage: stacked bars of the stage p50s and p90s, from any suite.

The naming convention the chart reads (any suite may follow it, no code here changes):

- A *turn group* is a mapping anywhere in a suite's results with a ``turns`` list whose
  entries carry ``stages_ms`` (what ``tars.bench.voice_loop.summarise`` writes). Its label
  is its own ``label`` string, or the suite and the key path (``voice``, ``turns
  modes.model.commands``).
- A turn may say who answered it in ``answered_by`` (``rules``, ``llm``, ...): each value
  gets its own bars, so rule- and LLM-answered turns are drawn side by side.
- In ``stages_ms``, a name without a dot is one consecutive segment of end of speech to
  first reply audio (``stt_final``, ``router``, ``llm_first_sentence``, ``tts``); they are
  stacked, known names in that order, others after them. A dotted name
  (``stt_final.transcribe``, ``turn.llm_ms``) is a detail inside a segment and is not
  stacked; ``transcribe`` is read as such a detail too (its older spelling).
- The group's measured voice-to-voice p50/p90 (``voice_to_voice_ms``, else each turn's
  ``latency_ms``) is marked on its bars: stacked stage percentiles need not add up to it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STAGE_ORDER = ("stt_final", "router", "llm_first_sentence", "llm", "tts")
"""Known consecutive segments, in the order they happen."""
DETAILS = frozenset({"transcribe"})
"""Undotted names that are details inside a segment (older spellings)."""
QUANTILES = (50, 90)
DPI = 100
NO_TURNS = "no suite in this run timed voice turns by stage (the voice and turns suites do)"


def figure_size(bars: int) -> tuple[int, int]:
    """Width and height in pixels of a chart with ``bars`` bars."""
    return max(600, 130 * bars + 250), 600


@dataclass
class StageGroup:
    """One bar pair: the stage percentiles of a set of turns."""

    label: str
    stages: dict[str, list[float]] = field(default_factory=dict)
    """Segment name to its value per turn, ms."""
    total_ms: dict[int, float] = field(default_factory=dict)
    """Measured voice-to-voice latency per quantile (50, 90), ms."""

    def quantile(self, stage: str, q: int) -> float:
        """The ``q``th percentile of one stage (0 when no turn had it)."""
        values = self.stages.get(stage, [])
        return float(np.percentile(values, q)) if values else 0.0


def stage_groups(suites: Mapping[str, Mapping[str, Any]]) -> list[StageGroup]:
    """Every turn group in ``{suite: results}``, split by ``answered_by``."""
    groups: list[StageGroup] = []
    for suite, results in suites.items():
        for path, group in _turn_groups(results, ()):
            label = group.get("label") or _label(suite, path)
            groups += _split(str(label), group)
    return groups


def _label(suite: str, path: tuple[str, ...]) -> str:
    """``suite path.to.group``, the suite named once (``voice``, ``voice llm``)."""
    rest = list(path[1:] if path[:1] == (suite,) else path)
    if rest and rest[0].startswith(f"{suite}_"):
        rest[0] = rest[0].removeprefix(f"{suite}_")
    return " ".join([suite, ".".join(rest)]).strip()


def _turn_groups(
    tree: Mapping[str, Any], path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    turns = tree.get("turns")
    if isinstance(turns, list) and any(_stages(turn) for turn in turns):
        yield path, tree
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _turn_groups(value, (*path, str(key)))


def _stages(turn: object) -> Mapping[str, Any]:
    stages = turn.get("stages_ms") if isinstance(turn, Mapping) else None
    return stages if isinstance(stages, Mapping) else {}


def _split(label: str, group: Mapping[str, Any]) -> list[StageGroup]:
    by_answer: dict[str, list[Mapping[str, Any]]] = {}
    for turn in group["turns"]:
        if _stages(turn):
            by_answer.setdefault(str(turn.get("answered_by", "")), []).append(turn)
    split = len(by_answer) > 1
    built = []
    for answer, turns in by_answer.items():
        name = f"{label} ({answer or 'other'})" if answer or split else label
        built.append(_group(name, turns, None if split else group.get("voice_to_voice_ms")))
    return built


def _group(label: str, turns: list[Mapping[str, Any]], measured: object) -> StageGroup:
    built = StageGroup(label)
    for turn in turns:
        for name, value in _stages(turn).items():
            if "." not in name and name not in DETAILS and isinstance(value, int | float):
                built.stages.setdefault(name, []).append(float(value))
    if isinstance(measured, Mapping) and measured.get("n"):
        built.total_ms = {q: float(measured[f"p{q}"]) for q in QUANTILES if f"p{q}" in measured}
    else:
        latencies = [float(t["latency_ms"]) for t in turns if _finite(t.get("latency_ms"))]
        if latencies:
            built.total_ms = {q: float(np.percentile(latencies, q)) for q in QUANTILES}
    return built


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and bool(np.isfinite(value))


def stage_names(groups: list[StageGroup]) -> list[str]:
    """Segments in stacking order: the known ones first, then others as first seen."""
    seen = [name for group in groups for name in group.stages]
    extra = [name for name in dict.fromkeys(seen) if name not in STAGE_ORDER]
    return [name for name in STAGE_ORDER if name in seen] + extra


def summary(groups: list[StageGroup]) -> list[dict[str, Any]]:
    """The charted numbers, for the JSON report."""
    return [
        {
            "label": group.label,
            "turns": max((len(v) for v in group.stages.values()), default=0),
            **{
                f"p{q}_ms": {name: round(group.quantile(name, q), 1) for name in group.stages}
                for q in QUANTILES
            },
            "voice_to_voice_ms": {f"p{q}": round(v, 1) for q, v in group.total_ms.items()},
        }
        for group in groups
    ]


def _wrapped(label: str) -> str:
    """A bar label on short lines, so neighbouring labels do not overlap."""
    return textwrap.fill(label.replace(".", " "), 18, break_on_hyphens=False)


def draw(path: Path, groups: list[StageGroup], subtitle: str) -> None:
    """Write the stacked-bar PNG (needs matplotlib, the ``bench`` extra).

    With no group the chart still comes, saying that no suite of the run timed voice turns,
    so a run always leaves one report and one chart of its own.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = stage_names(groups)
    labels = [f"{_wrapped(group.label)}\np{q}" for group in groups for q in QUANTILES]
    width, height = figure_size(len(labels))
    figure, axes = plt.subplots(figsize=(width / DPI, height / DPI), dpi=DPI)
    positions = np.arange(len(labels), dtype=float)
    bottoms = np.zeros(len(labels))
    colours = plt.get_cmap("tab10")
    for index, stage in enumerate(stages):
        heights = np.array([group.quantile(stage, q) for group in groups for q in QUANTILES])
        axes.bar(positions, heights, 0.7, bottom=bottoms, label=stage, color=colours(index % 10))
        bottoms += heights
    totals = [group.total_ms.get(q, np.nan) for group in groups for q in QUANTILES]
    axes.scatter(positions, totals, marker="D", color="black", zorder=3, label="voice-to-voice")
    for position, total in zip(positions, totals, strict=True):
        if np.isfinite(total):
            axes.annotate(f"{total:.0f}", (position, total), xytext=(0, 6), ha="center",
                          textcoords="offset points", fontsize=8)  # fmt: skip
    if not groups:
        axes.text(0.5, 0.5, NO_TURNS, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks(positions, labels, fontsize=8)
    axes.set_ylabel("ms from end of speech")
    axes.set_title(f"tars bench: voice-turn latency per stage\n{subtitle}", fontsize=10)
    if groups:
        axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
