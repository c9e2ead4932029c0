"""The quick size of the benchmarks: ``TARS_BENCH_QUICK=1`` measures less of everything.

A quick run keeps every suite and every figure, with fewer samples (suites that honour it
say so in their report as ``"quick": true``): for a first look, for tests of the bench
itself, and for a loaded machine. Figures from a quick run are noisier; compare them with
care.
"""

from __future__ import annotations

import os

QUICK_ENV = "TARS_BENCH_QUICK"


def quick() -> bool:
    """Whether ``TARS_BENCH_QUICK`` asks for the quick size."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def sized(full: int, quick_size: int) -> int:
    """``quick_size`` in a quick run, else ``full``."""
    return quick_size if quick() else full
