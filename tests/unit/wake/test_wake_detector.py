"""Threshold, retrigger guard, stream time and energy of ThresholdDetector, with a fake model."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest

from tars.audio.pcm import Int16Array, rms, silence, tone
from tars.services.wake.detector import Detection, ThresholdDetector, WakeDetector
from tars.services.wake.settings import WakeSettings

FRAME = 320  # 20 ms


class ScriptedScorer:
    """Returns a scripted probability per chunk (None: the model did not run)."""

    def __init__(self, scores: Iterable[float | None], default_threshold: float = 0.85) -> None:
        self._scores = list(scores)
        self._default = default_threshold
        self.resets = 0

    @property
    def wake_word(self) -> str:
        return "fake_word"

    @property
    def default_threshold(self) -> float:
        return self._default

    def score(self, samples: Int16Array) -> float | None:
        return self._scores.pop(0) if self._scores else 0.0

    def reset(self) -> None:
        self.resets += 1


def feed(detector: WakeDetector, chunks: int, chunk: Int16Array | None = None) -> list[Detection]:
    samples = silence(FRAME / 16000) if chunk is None else chunk
    found = [detector.process(samples) for _ in range(chunks)]
    return [d for d in found if d is not None]


def peaks(*at_chunks: int, total: int, width: int = 3) -> list[float | None]:
    scores: list[float | None] = [0.01] * total
    for start in at_chunks:
        for index in range(start, start + width):
            scores[index] = 0.95
    return scores


def test_default_threshold_is_the_models_and_can_be_overridden() -> None:
    assert ThresholdDetector(ScriptedScorer([], 0.9)).threshold == 0.9
    assert ThresholdDetector(ScriptedScorer([], 0.9), threshold=0.5).threshold == 0.5


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_threshold_outside_unit_interval_is_rejected(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        ThresholdDetector(ScriptedScorer([]), threshold=threshold)


def test_fires_at_threshold_with_stream_time_from_sample_count() -> None:
    detector = ThresholdDetector(ScriptedScorer([0.2, None, 0.84, 0.85]), threshold=0.85)
    assert feed(detector, 3) == []
    detection = detector.process(silence(0.02))
    assert detection is not None
    assert detection.wake_word == "fake_word"
    assert detection.probability == 0.85
    assert detection.threshold == 0.85
    assert detection.audio_time_s == pytest.approx(4 * 0.02)


def test_a_long_plateau_fires_once() -> None:
    scores = peaks(10, total=200, width=150)  # 3 s above threshold, far beyond the guard
    assert len(feed(ThresholdDetector(ScriptedScorer(scores), retrigger_s=1.0), 200)) == 1


def test_retrigger_guard_suppresses_a_second_word_within_the_guard() -> None:
    scores = peaks(10, 35, total=100)  # peaks 0.5 s apart
    found = feed(ThresholdDetector(ScriptedScorer(scores), retrigger_s=1.0), 100)
    assert [round(d.audio_time_s, 2) for d in found] == [0.22]


def test_retrigger_guard_lets_a_later_word_through() -> None:
    scores = peaks(10, 70, total=100)  # peaks 1.2 s apart
    found = feed(ThresholdDetector(ScriptedScorer(scores), retrigger_s=1.0), 100)
    assert [round(d.audio_time_s, 2) for d in found] == [0.22, 1.42]


def test_zero_guard_still_needs_the_score_to_dip() -> None:
    scores = peaks(10, 14, total=30)
    assert len(feed(ThresholdDetector(ScriptedScorer(scores), retrigger_s=0.0), 30)) == 2


def test_reset_restarts_stream_time_and_guard() -> None:
    scorer = ScriptedScorer(peaks(5, total=10) + peaks(5, total=10))
    detector = ThresholdDetector(scorer, retrigger_s=10.0)
    assert len(feed(detector, 10)) == 1
    detector.reset()
    assert scorer.resets == 1
    found = feed(detector, 10)
    assert [round(d.audio_time_s, 2) for d in found] == [0.12]


def test_energy_is_rms_over_the_last_750_ms() -> None:
    loud = tone(1.0, 440.0, amplitude=8000.0)
    quiet = tone(1.0, 440.0, amplitude=1000.0)
    audio = np.concatenate([loud, quiet[:4000]])  # ends 250 ms into the quiet part
    chunks = [audio[i : i + FRAME] for i in range(0, audio.size, FRAME)]
    scorer = ScriptedScorer([0.0] * (len(chunks) - 1) + [0.99])
    detector = ThresholdDetector(scorer, energy_window_s=0.75)
    found = [d for d in (detector.process(c) for c in chunks) if d is not None]
    assert len(found) == 1
    assert found[0].energy == pytest.approx(rms(audio[-12000:]), rel=1e-6)
    assert rms(quiet[:4000]) < found[0].energy < rms(loud)


def test_non_int16_input_is_rejected() -> None:
    detector = ThresholdDetector(ScriptedScorer([]))
    with pytest.raises(ValueError, match="int16"):
        detector.process(np.zeros(FRAME, dtype=np.float32))


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAKE_MODEL", "hey_jarvis")
    monkeypatch.setenv("WAKE_DETECTION_THRESHOLD", "0.7")
    monkeypatch.setenv("WAKE_INTERRUPT_WINDOW_SEC", "4")
    monkeypatch.setenv("WAKE_CANCEL_PHRASES", json.dumps(["halt"]))
    settings = WakeSettings()
    assert settings.model == "hey_jarvis"
    assert settings.detection_threshold == 0.7
    assert settings.min_retrigger_sec == 1.0
    config = settings.barge_in()
    assert config.interrupt_window_s == 4.0
    assert config.cancel_phrases == ("halt",)


def test_settings_reject_a_bad_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAKE_DETECTION_THRESHOLD", "1.5")
    with pytest.raises(ValueError, match="detection_threshold"):
        WakeSettings()


def test_unknown_model_names_the_choices(tmp_path: Path) -> None:
    from tars.services.wake.micro import MicroWakeWordScorer, WakeModelError

    with pytest.raises(WakeModelError, match="okay_nabu, hey_jarvis"):
        MicroWakeWordScorer("hey_tars")
    garbage = tmp_path / "word.tflite"
    garbage.write_bytes(b"not a model at all")
    with pytest.raises(WakeModelError, match="not a TFLite model"):
        MicroWakeWordScorer(str(garbage))
    config = tmp_path / "other.json"
    config.write_text(json.dumps({"type": "openwakeword", "model": "word.tflite"}))
    with pytest.raises(WakeModelError, match="not a microWakeWord config"):
        MicroWakeWordScorer(str(config))
    onnx = tmp_path / "word.onnx"
    onnx.write_bytes(b"onnx")
    with pytest.raises(WakeModelError, match="expected a .json config or a .tflite"):
        MicroWakeWordScorer(str(onnx))
