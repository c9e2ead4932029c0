"""`tars bench --compare`: ratio per figure, its direction, and what only one report has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tars.bench.compare import compare, figures_of, lines, run


def combined(**suites: dict[str, Any]) -> dict[str, Any]:
    return {"report": "tars-bench", "machine": {"cpu_count": 2}, "suites": suites}


OLD = combined(
    bus={"status": "ok", "elapsed_s": 20.0, "results": {"qos1": {"hop_ms": {"p50": 0.5}}}},
    memory={"status": "ok", "elapsed_s": 100.0, "results": {"ingest_turns_per_s": 400.0}},
    stt={"status": "ok", "elapsed_s": 60.0, "results": {"wer": 0.1, "rtf": 0.2}},
    llm={"status": "ok", "elapsed_s": 10.0, "results": {"load_s": 2.0}},
)
NEW = combined(
    bus={"status": "ok", "elapsed_s": 20.5, "results": {"qos1": {"hop_ms": {"p50": 0.25}}}},
    memory={"status": "ok", "elapsed_s": 90.0, "results": {"ingest_turns_per_s": 300.0}},
    stt={"status": "ok", "elapsed_s": 60.0, "results": {"wer": 0.1, "streamed_wer": 0.12}},
    llm={"status": "failed", "reason": "exit code 1", "elapsed_s": 3.0},
)


def test_ratios_and_verdicts_follow_each_figures_direction() -> None:
    result = {r.path: (round(r.ratio or 0, 3), r.verdict) for r in compare(OLD, NEW).ratios}
    assert result == {
        "bus.elapsed_s": (1.025, "~"),
        "bus.qos1.hop_ms.p50": (0.5, "better"),
        "memory.elapsed_s": (0.9, "better"),
        "memory.ingest_turns_per_s": (0.75, "worse"),
        "stt.elapsed_s": (1.0, "~"),
        "stt.wer": (1.0, "~"),
    }


def test_figures_only_in_one_report_and_failed_suites_are_listed() -> None:
    comparison = compare(OLD, NEW)
    assert comparison.only_old == ["stt.rtf"]  # llm's figures: its status line says why
    assert comparison.only_new == ["stt.streamed_wer"]
    assert comparison.failed == {"llm": ("ok", "failed")}
    text = "\n".join(lines(comparison))
    assert "suite llm: ok in old, failed in new" in text
    assert "only in new (1): stt.streamed_wer" in text
    assert "6 figures: 2 better, 1 worse" in text


def test_a_zero_old_value_has_no_ratio() -> None:
    old = combined(wake={"results": {"false_accepts": 0, "missed_count": 0}})
    new = combined(wake={"results": {"false_accepts": 2, "missed_count": 0}})
    verdicts = {r.path: (r.ratio, r.verdict) for r in compare(old, new).ratios}
    assert verdicts == {"wake.false_accepts": (None, "n/a"), "wake.missed_count": (None, "~")}


def test_a_single_suite_report_reads_as_one_suite() -> None:
    single = {"suite": "bus", "measured_at": "x", "results": {"qos0": {"hop_ms": {"p50": 1.0}}}}
    assert figures_of(single) == {"bus.qos0.hop_ms.p50": 1.0}


def test_run_prints_the_table_and_refuses_a_file_that_is_no_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, other = tmp_path / "old.json", tmp_path / "new.json", tmp_path / "other.json"
    old.write_text(json.dumps(OLD))
    new.write_text(json.dumps(NEW))
    other.write_text(json.dumps({"hello": 1}))
    assert run(old, new) == 0
    out = capsys.readouterr().out
    assert "bus.qos1.hop_ms.p50" in out
    assert "0.500  lower  better" in out
    assert run(old, other) == 2
    assert "not a tars bench report" in capsys.readouterr().out
