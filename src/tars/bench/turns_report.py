"""Text table and chart values of `tars bench turns` (pure: from the results dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tars.bench.turn_score import percent

COLUMNS = ("cut off", "rescued", "lost", "split", "dropped", "rejected", "complete", "whole at")
"""Columns of the per-cell table after kind, pause and n."""
LEGEND = (
    "cut off: first final lacks the words after the pause; rescued: a final continuing it "
    "holds the whole request; lost: cut off and no final continued it; split: of those, "
    "the rest came as a final of its own; dropped: no final at all; rejected: stt/rejected count; "
    "complete: the whole request arrived (first final or rescue; misrecognition counts "
    "against it); whole at: median end of speech -> first final holding the whole request"
)


def table_lines(rows: list[Mapping[str, Any]]) -> list[str]:
    """The per-cell rows as aligned text lines, with a header."""
    header = f"{'kind':<10} {'pause':>7} {'n':>3} " + " ".join(f"{c:>8}" for c in COLUMNS)
    lines = [header]
    for row in rows:
        pause = row["pause_ms"]
        whole = row["whole_after_ms_p50"]
        cells = [
            percent(row["cut_off"]),
            percent(row["rescued"]),
            percent(row["lost"]),
            percent(row["split"]),
            percent(row["dropped"]),
            str(row["rejections"]),
            percent(row["complete"]),
            "-" if whole is None else f"{whole:.0f} ms",
        ]
        label = f"{pause} ms" if isinstance(pause, int) else str(pause)
        lines.append(
            f"{row['kind']:<10} {label:>7} {row['n']:>3} " + " ".join(f"{c:>8}" for c in cells)
        )
    return lines


def latency_line(commands: Mapping[str, Any]) -> str:
    """Voice-to-voice p50/p90 of the complete commands, with the stage medians."""
    v2v = commands["voice_to_voice_ms"]
    stages = ", ".join(f"{k} {v:.0f}" for k, v in commands["stages_p50_ms"].items())
    failed = sum("error" in turn for turn in commands["turns"])
    tail = f"; {failed} without reply" if failed else ""
    return (
        f"voice-to-voice (complete commands, n={v2v['n']}): p50 {v2v['p50']:.0f} ms, "
        f"p90 {v2v['p90']:.0f} ms{tail}\n  stage p50s (ms): {stages}"
    )


def print_mode(mode: str, figures: Mapping[str, Any]) -> None:
    """Print one mode's table and latency (or why it did not run)."""
    if "error" in figures:
        print(f"\nend_of_turn = {mode}: not measured ({figures['error']})")
        return
    print(f"\nend_of_turn = {mode} ({figures['elapsed_s']:.0f} s)")
    for line in table_lines(figures["rows"]):
        print(f"  {line}")
    print(f"  {latency_line(figures['commands'])}")
    print(f"  ({LEGEND})")


def chart(results: Mapping[str, Any]) -> dict[str, float]:
    """Bars for the PNG: per mode, cut-off and lost share per kind, and latency.

    Latencies are in tens of ms so they share one axis with the percentages.
    """
    values: dict[str, float] = {}
    for mode, figures in results["modes"].items():
        if "error" in figures:
            continue
        for row in figures["rows"]:
            if row["pause_ms"] == "all":
                values[f"{mode}: {row['kind']} cut off %"] = 100 * row["cut_off"]
                values[f"{mode}: {row['kind']} lost %"] = 100 * row["lost"]
        v2v = figures["commands"]["voice_to_voice_ms"]
        values[f"{mode}: voice-to-voice p50, x10 ms"] = v2v["p50"] / 10
        values[f"{mode}: voice-to-voice p90, x10 ms"] = v2v["p90"] / 10
    return values
