"""The stage chart: turn groups found by convention, stage percentiles, and the PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from tars.bench import stage_chart


def turn(stages: dict[str, float], **extra: Any) -> dict[str, Any]:
    return {"utterance": "hi", "latency_ms": 400.0, "stages_ms": stages, **extra}


RULES: dict[str, Any] = {
    "turns": [
        turn({"stt_final": 300.0 + 10 * i, "transcribe": 120.0, "router": 4.0, "tts": 90.0})
        for i in range(5)
    ]
    + [{"utterance": "lost", "error": "no reply"}],
    "voice_to_voice_ms": {"n": 5, "p50": 410.0, "p90": 450.0},
}
LLM: dict[str, Any] = {"label": "LLM-answered", "turns": [turn({"stt_final": 300.0})]}
MIXED: dict[str, Any] = {
    "turns": [
        turn(
            {"stt_final": 320.0, "router": 5.0, "llm_first_sentence": 700.0, "tts": 95.0},
            answered_by="llm",
            latency_ms=1120.0,
        ),  # fmt: skip
        turn(
            {"stt_final": 310.0, "router": 3.0, "tts": 85.0, "turn.total": 3.0},
            answered_by="rules",
            latency_ms=398.0,
        ),  # fmt: skip
    ]
}
RESULTS: dict[str, dict[str, Any]] = {
    "voice": {"tts": {"first_audio_ms": {"p50": 90.0}}, "voice": RULES, "voice_llm": LLM},
    "turns": {"modes": {"model": {"commands": MIXED}}},
    "bus": {"qos0": {"hop_ms": {"p50": 0.4}}},
}


def test_groups_are_found_anywhere_and_split_by_who_answered() -> None:
    groups = stage_chart.stage_groups(RESULTS)
    assert [g.label for g in groups] == [
        "voice",
        "LLM-answered",
        "turns modes.model.commands (llm)",
        "turns modes.model.commands (rules)",
    ]
    rules, _, llm, _ = groups
    assert rules.stages["stt_final"] == [300.0, 310.0, 320.0, 330.0, 340.0]
    assert "transcribe" not in rules.stages  # a detail inside stt_final, not a segment
    assert rules.quantile("stt_final", 50) == 320.0
    assert rules.total_ms == {50: 410.0, 90: 450.0}
    assert llm.total_ms == {50: 1120.0, 90: 1120.0}
    assert stage_chart.stage_names(groups) == ["stt_final", "router", "llm_first_sentence", "tts"]


def test_a_group_without_label_is_named_by_its_suite_and_path() -> None:
    group = {"turns": [turn({"stt_final": 1.0})]}
    found = stage_chart.stage_groups({"voice": {"voice": group, "voice_llm": group, "x": group}})
    assert [g.label for g in found] == ["voice", "voice llm", "voice x"]


def test_summary_holds_the_charted_percentiles() -> None:
    first = stage_chart.summary(stage_chart.stage_groups(RESULTS))[0]
    assert first["label"] == "voice"
    assert first["turns"] == 5
    assert first["p50_ms"] == {"stt_final": 320.0, "router": 4.0, "tts": 90.0}
    assert first["p90_ms"]["stt_final"] == 336.0
    assert first["voice_to_voice_ms"] == {"p50": 410.0, "p90": 450.0}


def test_the_png_decodes_at_the_size_for_its_bars(tmp_path: Path) -> None:
    groups = stage_chart.stage_groups(RESULTS)
    target = tmp_path / "bench.png"
    stage_chart.draw(target, groups, "test machine")
    with Image.open(target) as picture:
        picture.load()
        assert picture.format == "PNG"
        assert picture.size == stage_chart.figure_size(2 * len(groups)) == (1290, 600)
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None
    assert len(colours) > 16  # bars, text and markers, not a blank page


def test_a_run_without_turns_still_gets_its_chart(tmp_path: Path) -> None:
    target = tmp_path / "bench.png"
    stage_chart.draw(target, [], "test machine")
    with Image.open(target) as picture:
        assert picture.size == stage_chart.figure_size(0)
