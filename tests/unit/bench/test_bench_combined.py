"""The combined run: every suite's report gathered generically, failures recorded, one chart."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tars.bench import combined, report
from tars.bench.child import ChildResult

KNOWN = ("bus", "voice", "broken", "crashing", "missing", "extra")


def fake_runner(suite: str, folder: Path, timeout_s: float) -> ChildResult:
    """Stand-in for the child process: writes what the real suites write, or fails."""
    assert timeout_s > 0
    if suite == "bus":
        report.write(folder, "bus", {"qos1": {"hop_ms": {"p50": 0.4}}}, {"qos1 hop p50 ms": 0.4})
    elif suite == "voice":
        turns = [
            {"utterance": f"u{i}", "latency_ms": 400.0 + i, "stages_ms": {"stt_final": 300.0,
             "router": 3.0 + i, "tts": 97.0}} for i in range(3)
        ]  # fmt: skip
        report.write(folder, "voice", {"voice": {"turns": turns}, "rtf": 0.2})
        report.write(folder, "voice-llm", {"turns_answered": 2})
    elif suite == "broken":
        return ChildResult(1, 1.5, ["Traceback (most recent call last):", "OSError: no model"])
    elif suite == "crashing":
        raise RuntimeError("could not start")
    elif suite == "missing":
        return ChildResult(2, 0.5, ["bench missing: not available (suites: ...)"])
    return ChildResult(0, 2.0, ["report: ..."])


Ran = tuple[int, dict[str, Any], str, Path]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """One combined run of every kind of suite (drawing the chart takes a second)."""
    out_dir = tmp_path_factory.mktemp("bench")
    suites = ["bus", "voice", "broken", "crashing", "missing", "extra", "nosuch"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = combined.run_all(suites, out_dir, KNOWN, runner=fake_runner)
    data = json.loads((out_dir / combined.REPORT_FILE).read_text())
    return code, data, printed.getvalue(), out_dir


def test_every_suite_is_recorded_with_its_status(ran: Ran) -> None:
    code, data, _, _ = ran
    statuses = {name: entry["status"] for name, entry in data["suites"].items()}
    assert statuses == {
        "bus": "ok",
        "voice": "ok",
        "broken": "failed",
        "crashing": "failed",
        "missing": "unavailable",
        "extra": "failed",  # exited cleanly but wrote no report
        "nosuch": "unavailable",
    }
    assert code == 1
    suites = data["suites"]
    assert suites["broken"]["reason"] == "exit code 1: OSError: no model"
    assert suites["crashing"]["reason"] == "no exit code: RuntimeError: could not start"
    assert "no suite 'nosuch'" in suites["nosuch"]["reason"]


def test_results_and_headlines_come_from_what_the_suites_wrote(ran: Ran) -> None:
    _, data, out, out_dir = ran
    bus = data["suites"]["bus"]
    assert bus["results"] == {"qos1": {"hop_ms": {"p50": 0.4}}}
    assert bus["headline"] == {"qos1 hop p50 ms": 0.4}
    assert bus["files"] == ["bench-bus.json", "bench-bus.png"]
    assert data["suites"]["voice"]["more"]["voice-llm"]["results"] == {"turns_answered": 2}
    assert (out_dir / "bench-voice-llm.json").exists()
    assert data["machine"]["cpu_count"] >= 1
    assert "git_revision" in data["machine"]
    assert "qos1 hop p50 ms 0.4" in out


def test_the_chart_shows_the_voice_turns(ran: Ran) -> None:
    _, data, _, out_dir = ran
    chart = data["chart"]
    assert chart["file"] == combined.CHART_FILE
    [group] = chart["groups"]
    assert group["label"] == "voice"
    assert group["p50_ms"] == {"stt_final": 300.0, "router": 4.0, "tts": 97.0}
    with Image.open(out_dir / combined.CHART_FILE) as picture:
        assert picture.size == (600, 600)


def test_suites_come_from_the_option_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(combined.SUITES_ENV, "bus, memory")
    assert combined.selected(None, KNOWN) == ["bus", "memory"]
    assert combined.selected("stt", KNOWN) == ["stt"]
    monkeypatch.delenv(combined.SUITES_ENV)
    assert combined.selected(None, KNOWN) == list(KNOWN)
