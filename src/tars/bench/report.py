"""Benchmark reports: a JSON file plus a PNG bar chart per suite."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from tars.bench.machine import describe


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of a list of milliseconds (zeros when empty)."""
    if not values_ms:
        return {"n": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    array = np.asarray(values_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(array, [50, 90, 99])
    return {
        "n": len(values_ms),
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
        "max": round(float(array.max()), 3),
        "mean": round(float(array.mean()), 3),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on (see ``tars.bench.machine.describe``)."""
    return describe()


def write(
    out_dir: Path, suite: str, results: dict[str, Any], chart: dict[str, float] | None = None
) -> Path:
    """Write ``bench-<suite>.json`` (and ``bench-<suite>.png`` from ``chart``); return the JSON.

    ``results`` is any JSON-ready mapping: `tars bench` gathers it into the combined report
    and ``--compare`` reads every number in it (``tars.bench.figures`` says how a figure's
    name tells which way is better). ``chart`` holds the headline figures, drawn as bars
    and kept in the JSON as ``headline``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "suite": suite,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "headline": dict(chart or {}),
        "results": results,
    }
    target = out_dir / f"bench-{suite}.json"
    target.write_text(json.dumps(report, indent=2))
    if chart:
        _bar_chart(out_dir / f"bench-{suite}.png", suite, chart)
    return target


def _bar_chart(path: Path, title: str, values: dict[str, float]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return  # the JSON report is the record; the chart needs the bench extra
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(values) + 1.5))
    labels = list(values)
    axes.barh(labels, [values[label] for label in labels], color="#4c72b0")
    axes.invert_yaxis()
    axes.set_title(f"tars bench {title}")
    for index, label in enumerate(labels):
        axes.text(values[label], index, f" {values[label]:.3g}", va="center")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
