"""Figures of any report by path, and which way each is better."""

from __future__ import annotations

import math

import pytest

from tars.bench.figures import direction, flatten


def test_flatten_reads_nested_numbers_and_named_list_items() -> None:
    tree = {
        "qos1": {"hop_ms": {"n": 3, "p50": 0.4}, "lost": 0},
        "ok": True,
        "model": "tiny.en",
        "nan": math.nan,
        "rows": [{"kind": "spliced", "pause_ms": 300, "cut_off": 0.25}, {"kind": "x"}],
        "samples": [1.0, 2.0],
    }
    assert dict(flatten(tree)) == {
        "qos1.hop_ms.n": 3.0,
        "qos1.hop_ms.p50": 0.4,
        "qos1.lost": 0.0,
        "rows[spliced@300].pause_ms": 300.0,
        "rows[spliced@300].cut_off": 0.25,
    }


def test_flatten_skips_items_whose_name_repeats() -> None:
    tree = {"turns": [{"utterance": "hi", "latency_ms": 1}, {"utterance": "hi", "latency_ms": 2}]}
    assert dict(flatten(tree)) == {"turns[hi].latency_ms": 1.0}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("bus.qos1.hop_ms.p50", "lower"),
        ("voice.tts.rtf.mean", "lower"),
        ("stt.accuracy.wer", "lower"),
        ("stt.accuracy.wer_by_set.piper", "lower"),
        ("stt.accuracy.rtf", "lower"),
        ("stack.total_mib", "lower"),
        ("llm.runs.a.load_s", "lower"),
        ("wake.false_accepts", "lower"),
        ("wake.cpu_ms_per_audio_s", "lower"),
        ("turns.modes.model.rows[spliced@300].cut_off", "lower"),
        ("memory.sizes.1000.ingest_turns_per_s", "higher"),
        ("bus.qos0.throughput.msgs_per_s", "higher"),
        ("wake.detection_rate", "higher"),
        ("memory.sizes.1000.top1_accuracy", "higher"),
        ("llm.runs.a.quality.passed", "higher"),
        ("bus.qos1.hop_ms.n", "none"),
        ("wake.threshold", "none"),
        ("voice.voice.target_p50_ms", "none"),
        ("stt.cpu_count", "none"),
        ("stt.accuracy.utterances", "none"),
        ("stt.accuracy.audio_s", "none"),
        ("bus.qos0.throughput.sent", "none"),
        ("bus.qos0.throughput.delivered", "none"),
        ("stt.streamed.service_counters.turn.incomplete", "none"),
        ("voice.stack.rss_mib.tts", "lower"),
        ("voice.voice_llm.text_correct", "higher"),
        ("voice.voice_llm.empty_replies", "lower"),
    ],
)
def test_direction_from_the_nearest_name(path: str, expected: str) -> None:
    assert direction(path) == expected
