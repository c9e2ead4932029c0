"""Whisper log-mel features for the turn model, checked against the wheel's own copy."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tars.audio.pcm import SAMPLE_RATE, tone
from tars.services.stt import melspec
from tars.services.stt.turn_model import SMART_TURN_FILE, smart_turn_path


def reference_features() -> ModuleType:
    """pipecat's vendored NumPy feature code, loaded from its file (pipecat is not imported)."""
    model = smart_turn_path()
    source = Path(str(model).removesuffix(SMART_TURN_FILE)) / (
        "pipecat/audio/turn/smart_turn/_whisper_features.py"
    )
    spec = importlib.util.spec_from_file_location("smart_turn_reference_features", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fit_window_keeps_the_end_and_pads_in_front() -> None:
    short = np.ones(SAMPLE_RATE, dtype=np.float32)
    fitted = melspec.fit_window(short)
    assert fitted.size == melspec.WINDOW_SAMPLES
    assert fitted[:-SAMPLE_RATE].max() == 0.0
    assert fitted[-SAMPLE_RATE:].min() == 1.0
    long = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    assert melspec.fit_window(long)[-1] == long[-1]
    assert melspec.fit_window(long)[0] == long[2 * SAMPLE_RATE]


@pytest.mark.parametrize("seconds", [0.5, 3.0, 9.0])
def test_features_match_the_reference_implementation(seconds: float) -> None:
    rng = np.random.default_rng(7)
    audio = tone(seconds, 220.0, amplitude=6000.0).astype(np.float32) / 32768.0
    audio += rng.normal(0, 0.01, audio.size).astype(np.float32)
    window = melspec.fit_window(audio)
    ours = melspec.log_mel(window)
    theirs = reference_features().compute_whisper_log_mel_features(window, do_normalize=True)
    assert ours.shape == (melspec.N_MELS, melspec.FRAMES) == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_features_refuse_audio_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="mono samples"):
        melspec.log_mel(np.zeros(100, dtype=np.float32))
