"""Engine selection and WAV parsing (no model is loaded here)."""

from __future__ import annotations

import io
import logging
import wave
from pathlib import Path

import numpy as np
import pytest

from tars.services.tts import synth
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import (
    PiperSynthesizer,
    SynthesisError,
    SynthesizerUnavailableError,
    load_synthesizer,
    parse_wav,
)


class StubEspeak:
    def __init__(self, voice: str, wpm: int) -> None:
        self.voice, self.wpm = voice, wpm


def unavailable(message: str) -> object:
    def factory(*args: object, **kwargs: object) -> object:
        raise SynthesizerUnavailableError(message)

    return factory


def wav_bytes(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def test_parse_wav_reads_mono_and_mixes_stereo() -> None:
    samples, rate = parse_wav(wav_bytes(np.array([1, -2, 3], dtype=np.int16), 22_050))
    assert rate == 22_050
    assert samples.tolist() == [1, -2, 3]
    stereo, _ = parse_wav(wav_bytes(np.array([10, 20, 30, 50], dtype=np.int16), 8_000, 2))
    assert stereo.tolist() == [15, 40]


def test_parse_wav_rejects_garbage() -> None:
    with pytest.raises(SynthesisError):
        parse_wav(b"RIFF nonsense")


def test_missing_voice_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SynthesizerUnavailableError, match="not found"):
        PiperSynthesizer(tmp_path / "missing.onnx")


def test_espeak_engine_is_used_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "EspeakSynthesizer", StubEspeak)
    monkeypatch.setattr(synth, "PiperSynthesizer", unavailable("should not be tried"))
    engine = load_synthesizer(TtsSettings(engine="espeak", espeak_voice="en-gb", espeak_wpm=150))
    assert isinstance(engine, StubEspeak)
    assert (engine.voice, engine.wpm) == ("en-gb", 150)


def test_piper_failure_falls_back_to_espeak_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(synth, "PiperSynthesizer", unavailable("piper-tts is not installed"))
    monkeypatch.setattr(synth, "EspeakSynthesizer", StubEspeak)
    with caplog.at_level(logging.WARNING, logger=synth.__name__):
        engine = load_synthesizer(TtsSettings(engine="piper"))
    assert isinstance(engine, StubEspeak)
    assert "falling back to espeak-ng" in caplog.text


def test_no_engine_at_all_names_both_causes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth, "PiperSynthesizer", unavailable("piper-tts is not installed"))
    monkeypatch.setattr(synth, "EspeakSynthesizer", unavailable("espeak-ng is not installed"))
    with pytest.raises(SynthesizerUnavailableError, match="piper-tts.*espeak-ng"):
        load_synthesizer(TtsSettings(engine="piper"))


def test_espeak_without_binary_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(SynthesizerUnavailableError, match="apt-get install espeak-ng"):
        synth.EspeakSynthesizer()


def test_custom_voice_path_is_passed_to_piper(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    sentinel = object()

    def fake_piper(model_path: Path | None, options: synth.PiperOptions) -> object:
        seen.append((model_path, options))
        return sentinel

    monkeypatch.setattr(synth, "PiperSynthesizer", fake_piper)
    engine: object = load_synthesizer(TtsSettings(voice_path="/voices/tars.onnx", length_scale=1.1))
    assert engine is sentinel
    assert seen == [(Path("/voices/tars.onnx"), synth.PiperOptions(1.1, None, None, None))]
