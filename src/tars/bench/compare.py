"""`tars bench --compare old.json [new.json]`: the ratio new/old of every figure.

Reads combined reports (``bench.json``) and single-suite reports (``bench-<suite>.json``)
alike, flags each ratio better or worse by the figure's direction (see
``tars.bench.figures``) and lists the figures only one report has.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tars.bench.figures import Direction, direction, flatten

NOISE = 0.05
"""Changes smaller than this share are shown as unchanged (``~``): timings are noisy."""
METADATA = frozenset({"status", "reason", "exit_code", "headline", "measured_at", "files"})
"""Per-suite entries of a combined report that are not figures."""
NO_FIGURES = frozenset({"failed", "unavailable"})
"""Statuses of suites that measured nothing."""


@dataclass(frozen=True)
class Ratio:
    """One figure present in both reports."""

    path: str
    old: float
    new: float
    direction: Direction

    @property
    def ratio(self) -> float | None:
        """The ratio new / old (None when old is zero)."""
        return None if self.old == 0 else self.new / self.old

    @property
    def verdict(self) -> str:
        """``better``, ``worse``, ``~`` (within noise or no direction) or ``n/a``."""
        ratio = self.ratio
        if ratio is None:
            return "n/a" if self.new != 0 else "~"
        if self.direction == "none" or abs(ratio - 1.0) < NOISE:
            return "~"
        improved = ratio < 1.0 if self.direction == "lower" else ratio > 1.0
        return "better" if improved else "worse"


@dataclass(frozen=True)
class Comparison:
    """Everything ``--compare`` prints."""

    ratios: list[Ratio]
    only_old: list[str]
    only_new: list[str]
    failed: dict[str, tuple[str, str]]
    """Suite to its status in the old and the new report, where either did not succeed."""


def figures_of(report: Mapping[str, Any]) -> dict[str, float]:
    """Every figure of a combined or single-suite report, by ``<suite>.<path>``."""
    tree = {suite: _suite_figures(entry) for suite, entry in suites_of(report).items()}
    return dict(flatten(tree))


def suites_of(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The per-suite entries of a report (a single-suite report becomes one entry)."""
    if isinstance(report.get("suites"), Mapping):
        return dict(report["suites"])
    if "suite" in report and isinstance(report.get("results"), Mapping):
        return {str(report["suite"]): {"status": "ok", "results": report["results"]}}
    raise ValueError("not a tars bench report (no 'suites' and no 'suite' with 'results')")


def _suite_figures(entry: Mapping[str, Any]) -> dict[str, Any]:
    if entry.get("status", "ok") in NO_FIGURES:
        return {}  # how fast a suite failed is no figure
    figures = {k: v for k, v in entry.items() if k not in METADATA and k != "results"}
    results = entry.get("results")
    if isinstance(results, Mapping):
        figures.update(results)
    return figures


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> Comparison:
    """Pair the figures of two reports."""
    old_figures, new_figures = figures_of(old), figures_of(new)
    shared = [path for path in new_figures if path in old_figures]
    old_status = {s: str(e.get("status", "ok")) for s, e in suites_of(old).items()}
    new_status = {s: str(e.get("status", "ok")) for s, e in suites_of(new).items()}
    failed = {
        suite: (old_status.get(suite, "absent"), new_status.get(suite, "absent"))
        for suite in dict.fromkeys([*old_status, *new_status])
        if old_status.get(suite, "absent") != "ok" or new_status.get(suite, "absent") != "ok"
    }
    return Comparison(
        ratios=[Ratio(p, old_figures[p], new_figures[p], direction(p)) for p in shared],
        only_old=_only_in(old_figures, new_figures),
        only_new=_only_in(new_figures, old_figures),
        failed=failed,
    )


def _only_in(these: Mapping[str, float], other: Mapping[str, float]) -> list[str]:
    """Figures of ``these`` missing from ``other``, but none of a suite ``other`` lacks whole.

    The suite's status line says that instead of listing a thousand paths.
    """
    suites = {path.split(".", 1)[0] for path in other}
    return [p for p in these if p not in other and p.split(".", 1)[0] in suites]


def lines(comparison: Comparison) -> list[str]:
    """The comparison as text: one line per shared figure, then what only one report has."""
    width = max((len(r.path) for r in comparison.ratios), default=10)
    out = [f"{'figure':<{width}} {'old':>12} {'new':>12} {'new/old':>8}  better verdict"]
    for item in comparison.ratios:
        ratio = "-" if item.ratio is None else f"{item.ratio:.3f}"
        arrow = {"lower": "lower", "higher": "higher", "none": ""}[item.direction]
        out.append(
            f"{item.path:<{width}} {item.old:>12.4g} {item.new:>12.4g} {ratio:>8}  "
            f"{arrow:<6} {item.verdict}"
        )
    verdicts = [item.verdict for item in comparison.ratios]
    out.append(
        f"{len(verdicts)} figures: {verdicts.count('better')} better, "
        f"{verdicts.count('worse')} worse (changes under {NOISE:.0%} count as unchanged)"
    )
    for suite, (was, now) in comparison.failed.items():
        out.append(f"suite {suite}: {was} in old, {now} in new")
    if comparison.only_old:
        out.append(f"only in old ({len(comparison.only_old)}): {', '.join(comparison.only_old)}")
    if comparison.only_new:
        out.append(f"only in new ({len(comparison.only_new)}): {', '.join(comparison.only_new)}")
    return out


def load(path: Path) -> dict[str, Any]:
    """Read a report file.

    Raises:
        ValueError: the file is not JSON or not a tars bench report.
    """
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from err
    if not isinstance(report, dict):
        raise ValueError(f"{path} is not a tars bench report")
    suites_of(report)  # raises when it is not a report
    return report


def run(old_path: Path, new_path: Path) -> int:
    """Print the comparison of two report files; 2 when one cannot be read."""
    try:
        old, new = load(old_path), load(new_path)
    except ValueError as err:
        print(f"bench --compare: {err}")
        return 2
    print(f"old: {old_path} ({_machine_line(old)})")
    print(f"new: {new_path} ({_machine_line(new)})")
    print("\n".join(lines(compare(old, new))))
    return 0


def _machine_line(report: Mapping[str, Any]) -> str:
    machine = report.get("machine", {})
    cpu = machine.get("cpu_model") or machine.get("processor", "?")
    when = report.get("started_at") or report.get("measured_at", "?")
    return (
        f"{when}, {cpu}, {machine.get('cpu_count', '?')} cores, rev {machine.get('git_revision')}"
    )
