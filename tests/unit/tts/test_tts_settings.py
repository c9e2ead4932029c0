"""TtsSettings: defaults and environment parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tars.services.tts.settings import TtsSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TTS_ENGINE", "TTS_SINK", "TTS_CACHE_SIZE", "TTS_PRELOAD_PHRASES"):
        monkeypatch.delenv(name, raising=False)
    settings = TtsSettings()
    assert settings.engine == "piper"
    assert settings.voice_path == ""
    assert settings.length_scale is None
    assert settings.sink == "sounddevice"
    assert settings.cache_size == 32
    assert settings.audio_chunk_ms == 40
    assert settings.preload_phrases == ("Hmm?", "Huh?", "Yes?", "System online.")


def test_environment_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_ENGINE", "espeak")
    monkeypatch.setenv("TTS_SINK", "mqtt")
    monkeypatch.setenv("TTS_LENGTH_SCALE", "0.9")
    monkeypatch.setenv("TTS_PRELOAD_PHRASES", "Yes? | On it. ||")
    settings = TtsSettings()
    assert settings.engine == "espeak"
    assert settings.sink == "mqtt"
    assert settings.length_scale == pytest.approx(0.9)
    assert settings.preload_phrases == ("Yes?", "On it.")


def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_SINK", "speaker")
    with pytest.raises(ValidationError, match="sink"):
        TtsSettings()


def test_settings_are_frozen() -> None:
    settings = TtsSettings()
    with pytest.raises(ValidationError):
        settings.cache_size = 3  # type: ignore[misc]
