"""What a service process carries: light services without numpy, malloc settings, percentiles."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from tars.runtime.malloc import tune_malloc
from tars.runtime.metrics import Histogram, percentile

LIGHT_MODULES = (
    "tars.commands.run",
    "tars.commands.up",
    "tars.services.router.service",
    "tars.services.movement.service",
    "tars.services.mcp.service",
    "tars.services.ui_web.service",
)
"""What `tars up` (the supervisor) and the services without an audio or vision engine import
at start; numpy alone costs each of them ~13 MiB resident."""


def test_light_services_start_without_numpy() -> None:
    imports = "; ".join(f"import {name}" for name in LIGHT_MODULES)
    probe = f"import sys; {imports}; print(sorted(m for m in sys.modules if m == 'numpy'))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout


@pytest.mark.parametrize("size", [1, 2, 3, 10, 1024])
def test_percentile_is_numpys_linear_rule(size: int) -> None:
    values = sorted(random.Random(size).uniform(0, 500) for _ in range(size))
    for q in (0, 50, 90, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


def test_histogram_summary_uses_the_recent_window() -> None:
    histogram = Histogram(window=4)
    assert histogram.summary().p50 == 0.0  # nothing observed yet
    for value in (1000.0, 1.0, 2.0, 3.0, 4.0):
        histogram.observe(value)
    summary = histogram.summary()
    assert (summary.count, summary.p50, summary.max) == (5, 2.5, 4.0)
    assert summary.p90 == pytest.approx(3.7)


def test_malloc_tuning_leaves_an_operators_choice_alone() -> None:
    for variable in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES"):
        assert tune_malloc({variable: "4"}) is False


def test_malloc_tuning_and_release_apply_on_glibc() -> None:
    # TARS runs on Debian (glibc); mallopt changes the whole process, so try it in a child.
    probe = (
        "from tars.runtime.malloc import release_free_memory, tune_malloc;"
        "applied = tune_malloc({}); release_free_memory(); print(applied)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "True"
