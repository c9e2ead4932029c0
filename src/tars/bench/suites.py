"""Dispatch `tars bench <suite>`: each suite is a module ``tars.bench.<suite>`` with ``main``.

A suite module provides ``main(out_dir: Path, runtime: RuntimeSettings) -> int`` that
measures, prints a short summary and writes its report with ``tars.bench.report.write``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import cast

from tars.runtime.settings import RuntimeSettings

SUITES = ("bus", "stt", "wake", "voice", "turns", "memory", "llm", "stack")
"""Suites in the order `tars bench all` runs them."""

SuiteMain = Callable[[Path, RuntimeSettings], int]


def _suite_main(suite: str) -> SuiteMain | None:
    name = f"tars.bench.{suite}"
    if importlib.util.find_spec(name) is None:
        return None
    return cast(SuiteMain, importlib.import_module(name).main)


def run(suite: str, out: str, runtime: RuntimeSettings) -> int:
    """Run one suite (or ``all``) and return the exit code."""
    chosen = list(SUITES) if suite == "all" else [suite]
    status = 0
    for name in chosen:
        main = _suite_main(name) if name in SUITES else None
        if main is None:
            print(f"bench {name}: not available (suites: {', '.join(SUITES)}, all)")
            status = 2
            continue
        status = max(status, main(Path(out), runtime))
    return status
