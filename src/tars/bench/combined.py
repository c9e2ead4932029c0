"""`tars bench` (or `all`): every suite, one JSON report and one stage chart.

Each suite runs as `tars bench <suite>` in its own process (``tars.bench.child``) and
writes its own ``bench-<suite>.json``; this module gathers whatever those reports hold,
without knowing any suite's figures, into ``bench.json``: the machine, the revision, the
load before and after, and per suite its status (``ok``, ``partial``: it reported but
exited with an error, ``failed``, ``unavailable``), why, how long it took, its results and
its headline figures. A suite that fails is recorded and the next one runs. ``bench.png``
is the voice-turn latency per stage of every suite that reports turns with stages (the
convention is in ``tars.bench.stage_chart``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tars.bench import machine, size, stage_chart
from tars.bench.child import ChildResult, run_suite_process

REPORT_FILE = "bench.json"
CHART_FILE = "bench.png"
SUITES_ENV = "TARS_BENCH_SUITES"
"""Comma-separated suites a combined run is limited to (the ``--suites`` option wins)."""
TIMEOUT_ENV = "TARS_BENCH_SUITE_TIMEOUT_S"
"""Seconds one suite may run before it is stopped and recorded as failed."""
DEFAULT_TIMEOUT_S = 3600.0
SETTING_PREFIXES = ("TARS_", "STT_", "LLM_", "TTS_", "WAKE_", "ROUTER_", "MEMORY_", "MQTT_WIRE")
PRIVATE_WORDS = ("KEY", "TOKEN", "PASSWORD", "SECRET", "URL", "CERT")

SuiteRunner = Callable[[str, Path, float], ChildResult]
"""Runs one suite writing its reports into a folder (a child process by default)."""


def selected(requested: str | None, known: Sequence[str]) -> list[str]:
    """The suites to run: ``requested`` (comma-separated), else ``TARS_BENCH_SUITES``, else all."""
    raw = requested if requested is not None else os.environ.get(SUITES_ENV, "")
    chosen = [name.strip() for name in raw.split(",") if name.strip()]
    return chosen or list(known)


def timeout_s() -> float:
    """Per-suite time limit from ``TARS_BENCH_SUITE_TIMEOUT_S``."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    return float(raw) if raw.strip() else DEFAULT_TIMEOUT_S


def run_all(
    suites: Sequence[str],
    out_dir: Path,
    known: Sequence[str],
    runner: SuiteRunner = run_suite_process,
) -> int:
    """Run ``suites`` one after the other, write the combined report and chart.

    Returns 0 when every suite reported and exited cleanly, else 1.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    started_at = _now()
    before = machine.describe()
    entries: dict[str, dict[str, Any]] = {}
    for number, suite in enumerate(suites, 1):
        print(f"== bench {suite} ({number}/{len(suites)}) ==", flush=True)
        if suite not in known:
            entries[suite] = _unknown(suite, known)
        else:
            entries[suite] = run_one(suite, out_dir, runner)
        print(f"== bench {suite}: {_status_line(entries[suite])} ==", flush=True)
    report = combine(entries, before, started_at)
    report["chart"] = write_chart(out_dir / CHART_FILE, report)
    (out_dir / REPORT_FILE).write_text(json.dumps(report, indent=2))
    print_summary(report, out_dir)
    return 0 if all(entry["status"] == "ok" for entry in entries.values()) else 1


def run_one(suite: str, out_dir: Path, runner: SuiteRunner) -> dict[str, Any]:
    """Run one suite into a scratch folder, move its files to ``out_dir``, describe it."""
    with tempfile.TemporaryDirectory(prefix=f"tars-bench-{suite}-") as scratch:
        try:
            done = runner(suite, Path(scratch), timeout_s())
        except Exception as err:  # the runner itself failing must not stop the other suites
            done = ChildResult(None, 0.0, [f"{type(err).__name__}: {err}"])
        reports = _read_reports(Path(scratch))
        files = _move_files(Path(scratch), out_dir)
    return suite_entry(suite, done, reports, files)


def suite_entry(
    suite: str, done: ChildResult, reports: Mapping[str, Mapping[str, Any]], files: list[str]
) -> dict[str, Any]:
    """A suite's entry in the combined report, from how it ended and what it wrote."""
    entry: dict[str, Any] = {"status": _status(done, reports), "exit_code": done.exit_code}
    if entry["status"] != "ok":
        entry["reason"] = _reason(done)
    entry["elapsed_s"] = done.elapsed_s
    own = reports.get(suite)
    if own is not None:
        entry["measured_at"] = own.get("measured_at")
        entry["headline"] = own.get("headline", {})
        entry["results"] = own.get("results", {})
    others = {name: report for name, report in reports.items() if name != suite}
    if others:
        entry["more"] = {
            name: {"headline": r.get("headline", {}), "results": r.get("results", {})}
            for name, r in others.items()
        }
    entry["files"] = files
    return entry


def _status(done: ChildResult, reports: Mapping[str, Any]) -> str:
    if done.exit_code == 0 and reports:
        return "ok"
    if reports:
        return "partial"
    if done.exit_code == 2 and any("not available" in line for line in done.tail):
        return "unavailable"
    return "failed"


def _reason(done: ChildResult) -> str:
    if done.exit_code is None and done.elapsed_s >= timeout_s():
        return f"stopped after {done.elapsed_s:.0f} s ({TIMEOUT_ENV}={timeout_s():.0f})"
    last = done.tail[-1] if done.tail else "no output"
    code = "no exit code" if done.exit_code is None else f"exit code {done.exit_code}"
    return f"{code}: {last.strip()}"


def _unknown(suite: str, known: Sequence[str]) -> dict[str, Any]:
    return {
        "status": "unavailable",
        "exit_code": None,
        "reason": f"no suite {suite!r} (suites: {', '.join(known)})",
        "elapsed_s": 0.0,
        "files": [],
    }


def _read_reports(folder: Path) -> dict[str, dict[str, Any]]:
    reports: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("bench-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a half-written report is no report; the status says the suite failed
        if isinstance(data, dict):
            reports[str(data.get("suite") or path.stem.removeprefix("bench-"))] = data
    return reports


def _move_files(scratch: Path, out_dir: Path) -> list[str]:
    moved = []
    for path in sorted(scratch.iterdir()):
        if path.is_file():
            shutil.move(path, out_dir / path.name)
            moved.append(path.name)
    return moved


def combine(
    entries: Mapping[str, Mapping[str, Any]], before: Mapping[str, Any], started_at: str
) -> dict[str, Any]:
    """The combined report: run description, machine, and every suite's entry."""
    return {
        "report": "tars-bench",
        "version": 1,
        "started_at": started_at,
        "finished_at": _now(),
        "machine": dict(before),
        "load_avg_after": machine.load_average(),
        "settings": {"suite_timeout_s": timeout_s(), "quick": size.quick(), "env": settings_env()},
        "suites": {name: dict(entry) for name, entry in entries.items()},
    }


def settings_env() -> dict[str, str]:
    """The environment that changes what the suites measure (secrets and addresses left out)."""
    return {
        name: value
        for name, value in sorted(os.environ.items())
        if name.startswith(SETTING_PREFIXES) and not any(word in name for word in PRIVATE_WORDS)
    }


def write_chart(path: Path, report: Mapping[str, Any]) -> dict[str, Any]:
    """Draw the stage chart of ``report``; what it shows, or why there is none."""
    results = {
        suite: entry["results"]
        for suite, entry in report["suites"].items()
        if isinstance(entry.get("results"), Mapping)
    }
    groups = stage_chart.stage_groups(results)
    described: dict[str, Any] = {"groups": stage_chart.summary(groups)}
    try:
        stage_chart.draw(path, groups, chart_subtitle(report))
    except ImportError as err:
        path.unlink(missing_ok=True)  # an older chart would pass for this run's
        described["error"] = f"{type(err).__name__}: {err}"
        return described
    described["file"] = path.name
    if not groups:
        described["note"] = stage_chart.NO_TURNS
    return described


def chart_subtitle(report: Mapping[str, Any]) -> str:
    """The conditions under the chart title: machine, revision, date and load."""
    m = report["machine"]
    load = m.get("load_avg") or ["?"]
    return (
        f"{m.get('cpu_model')} x{m.get('cpu_count')}, {m.get('memory_gib')} GiB, "
        f"Python {m.get('python')}, rev {m.get('git_revision')}, {report['started_at']}, "
        f"load {load[0]}"
    )


def print_summary(report: Mapping[str, Any], out_dir: Path) -> None:
    """One line per suite with its headline figures, then where the report is."""
    print("\nsummary:")
    for suite, entry in report["suites"].items():
        print(f"  {suite}: {_status_line(entry)}")
        headline = entry.get("headline") or {}
        if headline:
            print("    " + "; ".join(f"{k} {_number(v)}" for k, v in headline.items()))
    chart = report["chart"]
    print(f"report: {out_dir / REPORT_FILE}")
    print(
        f"chart: {out_dir / CHART_FILE}" if "file" in chart else f"chart: none ({chart['error']})"
    )


def _status_line(entry: Mapping[str, Any]) -> str:
    reason = f" ({entry['reason']})" if entry.get("reason") else ""
    return f"{entry['status']} in {entry['elapsed_s']:.0f} s{reason}"


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
