"""Dispatch `tars bench`: one suite in this process, or every suite as a combined run.

A suite module ``tars.bench.<suite>`` provides ``main(out_dir: Path, runtime:
RuntimeSettings) -> int`` that measures, prints a short summary and writes its report with
``tars.bench.report.write``. `tars bench` (or `all`, or ``--suites``) runs the suites one
per process through ``tars.bench.combined`` and writes ``bench.json`` and ``bench.png``;
adding a suite is adding its name to ``SUITES``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import cast

from tars.runtime.settings import RuntimeSettings

SUITES = (
    "bus",
    "stt",
    "wake",
    "voice",
    "duplex",
    "turns",
    "memory",
    "llm",
    "stack",
    "soak",
    "faults",
)
"""Suites in the order a combined run runs them (a missing module is reported unavailable)."""

SuiteMain = Callable[[Path, RuntimeSettings], int]


def _suite_main(suite: str) -> SuiteMain | None:
    name = f"tars.bench.{suite}"
    if importlib.util.find_spec(name) is None:
        return None
    return cast(SuiteMain, importlib.import_module(name).main)


def run(suite: str, out: str, runtime: RuntimeSettings, only: str | None = None) -> int:
    """Run one suite, or every suite (``all``, or the comma-separated ``only``)."""
    if suite == "all" or only is not None:
        from tars.bench import combined

        chosen = combined.selected(only, SUITES)
        return combined.run_all(chosen, Path(out), SUITES)
    main = _suite_main(suite) if suite in SUITES else None
    if main is None:
        print(f"bench {suite}: not available (suites: {', '.join(SUITES)}, all)")
        return 2
    return main(Path(out), runtime)


def compare(paths: list[str], out: str) -> int:
    """`--compare OLD [NEW]`: NEW defaults to the latest combined report in ``out``."""
    from tars.bench import combined
    from tars.bench import compare as comparing

    if len(paths) > 2:
        print("bench --compare takes OLD.json and optionally NEW.json")
        return 2
    new = Path(paths[1]) if len(paths) == 2 else Path(out) / combined.REPORT_FILE
    return comparing.run(Path(paths[0]), new)
