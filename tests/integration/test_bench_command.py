"""`tars bench --suites ...`: real suites in their own processes, one report, one chart, compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tars.bench import stage_chart

pytestmark = pytest.mark.broker  # the bus suite starts its own Mosquitto


def tars(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tars", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_a_combined_run_writes_one_report_and_chart_and_compares(tmp_path: Path) -> None:
    out_dir = tmp_path / "results"
    quick = {"TARS_BENCH_QUICK": "1", "TARS_BENCH_SUITES": "bus,nosuch"}
    done = tars("bench", "--out", str(out_dir), env=quick)
    assert done.returncode == 1, done.stdout + done.stderr  # nosuch is unavailable
    report = json.loads((out_dir / "bench.json").read_text())
    bus, nosuch = report["suites"]["bus"], report["suites"]["nosuch"]
    assert nosuch["status"] == "unavailable"
    assert bus["status"] == "ok", bus.get("reason")
    assert bus["results"]["quick"] is True
    assert bus["results"]["qos1"]["hop_ms"]["n"] == 300
    assert bus["results"]["qos1"]["throughput"]["msgs_per_s"] > 0
    assert bus["headline"]["qos1 hop p50 ms"] == bus["results"]["qos1"]["hop_ms"]["p50"]
    assert (out_dir / "bench-bus.json").exists()
    assert report["machine"]["cpu_count"] == os.cpu_count()
    with Image.open(out_dir / "bench.png") as picture:
        assert picture.size == stage_chart.figure_size(0)
    assert "[bus] bench bus: 300 paced messages" in done.stdout

    compared = tars("bench", "--out", str(out_dir), "--compare", str(out_dir / "bench.json"))
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "bus.qos1.hop_ms.p50" in compared.stdout
    assert "0 better, 0 worse" in compared.stdout
    assert "suite nosuch: unavailable in old, unavailable in new" in compared.stdout
