"""The text table and chart of `tars bench turns`, and the order material is played in."""

from __future__ import annotations

from collections import Counter

from tars.audio.pcm import silence
from tars.bench import material
from tars.bench.turns_report import chart, latency_line, table_lines


def row(kind: str, pause: int | str, **values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "kind": kind,
        "pause_ms": pause,
        "n": 4,
        "cut_off": 0.5,
        "rescued": 0.25,
        "lost": 0.25,
        "split": 0.0,
        "dropped": 0.0,
        "rejections": 1,
        "complete": 0.75,
        "whole_after_ms_p50": 812.4,
    }
    return {**base, **values}


def test_table_lines_show_shares_as_percentages() -> None:
    lines = table_lines([row("spliced", 300), row("spliced", "all", whole_after_ms_p50=None)])
    assert lines[0].split()[:4] == ["kind", "pause", "n", "cut"]
    assert lines[1].split() == [
        "spliced", "300", "ms", "4", "50%", "25%", "25%", "0%", "0%", "1", "75%", "812", "ms",
    ]  # fmt: skip
    assert lines[2].split()[1] == "all"
    assert lines[2].endswith("-")


def commands(p50: float, p90: float) -> dict[str, object]:
    return {
        "turns": [{"utterance": "what time is it"}, {"utterance": "x", "error": "no reply"}],
        "voice_to_voice_ms": {"n": 1, "p50": p50, "p90": p90},
        "stages_p50_ms": {"stt_final": 412.0, "tts": 300.2},
    }


def test_latency_line_names_percentiles_stages_and_failures() -> None:
    line = latency_line(commands(950.0, 1400.0))
    assert "p50 950 ms, p90 1400 ms" in line
    assert "1 without reply" in line
    assert "stt_final 412" in line


def test_chart_has_per_kind_bars_and_latency_per_mode() -> None:
    results = {
        "modes": {
            "model": {
                "rows": [row("spliced", 300), row("spliced", "all")],
                "commands": commands(900, 1300),
            },
        }
    }
    values = chart(results)
    assert values["model: spliced cut off %"] == 50.0
    assert values["model: spliced lost %"] == 25.0
    assert values["model: voice-to-voice p90, x10 ms"] == 130.0
    assert not any("300" in key for key in values)  # per-kind totals only


def test_schedule_fills_every_cell_and_rotates_pauses_per_request() -> None:
    plan = list(material.schedule(per_cell=4))
    cells = Counter((kind, pause) for kind, _, pause, _ in plan)
    assert set(cells.values()) == {4}
    assert len(cells) == len(material.KINDS) * len(material.PAUSES_MS)
    pauses_of_first_request = {pause for _, request, pause, _ in plan if request == 0}
    assert len(pauses_of_first_request) > 1  # a request is not always heard with one pause


def test_interleave_alternates_kinds() -> None:
    clip = material.Clip
    request = material.REQUESTS[0]
    clips = [clip(kind, "v", request, 300, silence(0.0)) for kind in "aaabbc"]
    assert [c.kind for c in material.interleave(clips)] == list("abcaba")


def test_request_text_joins_the_halves() -> None:
    assert material.Request("Set a timer for", "ten minutes").text == "Set a timer for ten minutes"
    assert material.Request("what time is it", "").text == "what time is it"
