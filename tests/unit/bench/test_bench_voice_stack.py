"""`tars bench voice` arithmetic: gaps a listener hears in reply audio, the turn schedule."""

from __future__ import annotations

import pytest

from tars.bench.voice_loop import playback_gaps
from tars.bench.voice_stack import LLM_QUESTIONS, group_summary, schedule


def test_back_to_back_and_early_pieces_leave_no_gap() -> None:
    # 40 ms pieces arriving 200 ms ahead, then in real time: continuous audio.
    early = [(0.0, 0.04 * 5)] + [(0.04 * i, 0.04) for i in range(1, 20)]
    assert playback_gaps(early) == []


def test_a_late_piece_leaves_the_silence_since_the_audio_ran_out() -> None:
    gaps = playback_gaps([(0.0, 1.0), (0.2, 0.5), (1.5 + 0.35, 0.5), (2.3, 0.1)])
    assert gaps == [pytest.approx(350.0)]


def test_jitter_under_the_floor_is_not_a_gap() -> None:
    assert playback_gaps([(0.0, 1.0), (1.015, 1.0)]) == []


def test_llm_and_rule_turns_alternate_and_the_timer_goes_last() -> None:
    rules = ("what time is it", "set a timer for ten seconds", "what day is it")
    turns = list(schedule(rules, LLM_QUESTIONS[:3]))
    assert [kind for kind, _, _ in turns] == ["llm", "rule", "llm", "rule", "llm", "rule"]
    assert turns[-1][1] == "set a timer for ten seconds"
    assert [question for _, _, question in turns if question] == list(LLM_QUESTIONS[:3])


def test_the_summary_counts_gaps_drops_and_wrong_answers() -> None:
    entries = [
        {"utterance": "a", "latency_ms": 900.0, "gaps_ms": [120.0, 450.0], "reply": "Paris.",
         "text_ok": True, "audio_ok": True, "audio_s": 2.0},
        {"utterance": "b", "latency_ms": 1100.0, "gaps_ms": [], "reply": "",
         "text_ok": False, "audio_ok": False, "audio_s": 0.0},
        {"utterance": "c", "error": "no reply", "text_ok": False},
    ]  # fmt: skip
    summary = group_summary(entries)
    assert summary["turns_played"] == 3
    assert summary["dropped"] == 1
    assert summary["gaps_over_300ms"] == 1
    assert summary["turns_with_gaps_over_300ms"] == 1
    assert summary["max_gap_ms"] == 450.0
    assert summary["empty_replies"] == 1
    assert (summary["text_correct"], summary["audio_correct"]) == (1, 1)
    assert summary["voice_to_voice_ms"]["p50"] == pytest.approx(1000.0)
