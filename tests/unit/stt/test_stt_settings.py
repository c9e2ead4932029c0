"""SttSettings from the environment, and the engine configs built from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tars.services.stt.factory import filter_thresholds, segmenter_config
from tars.services.stt.models import resolve_model_dir
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import TranscriptionError


def test_defaults_match_py_tars() -> None:
    settings = SttSettings()
    assert settings.backend == "whisper"
    assert settings.model == "tiny.en"
    assert settings.noise_min_rms == 220
    assert settings.partial_interval_ms == 600
    assert settings.cough_phrases == ("thank you", "hello", "okay", "hi")
    thresholds = filter_thresholds(settings)
    assert thresholds.min_duration_s == 0.5
    assert thresholds.min_common_ratio == 0.40
    assert thresholds.max_no_speech == 0.6
    assert thresholds.min_avg_logprob == -1.2


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STT_BACKEND", "openai")
    monkeypatch.setenv("STT_OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("STT_COMMON_WORDS_EXTRA", "tars, nabu ,")
    monkeypatch.setenv("STT_HANGOVER_MS", "450")
    monkeypatch.setenv("STT_NOISE_GATE", "false")
    settings = SttSettings()
    assert settings.backend == "openai"
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings)
    assert settings.common_words_extra == ("tars", "nabu")
    config = segmenter_config(settings)
    assert config.hangover_ms == 450
    assert config.noise_gate is None


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STT_BACKEND", "ws")
    with pytest.raises(ValidationError, match="backend"):
        SttSettings()


def test_settings_are_frozen() -> None:
    settings = SttSettings()
    with pytest.raises(ValidationError):
        settings.model = "base"  # type: ignore[misc]


def test_model_path_must_hold_a_model(tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError) as caught:
        resolve_model_dir(str(tmp_path), tmp_path)
    assert caught.value.code == "model"
    assert "STT_MODEL" in caught.value.message
    (tmp_path / "model.bin").write_bytes(b"x")
    assert resolve_model_dir(str(tmp_path), tmp_path) == tmp_path
