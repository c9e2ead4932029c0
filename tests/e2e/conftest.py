"""Engines shared by the end-to-end tests, each loaded once per test session."""

from __future__ import annotations

import pytest
from tests.support.voice import load_piper, load_turn_model, load_whisper

from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.tts.synth import PiperSynthesizer


@pytest.fixture(scope="session")
def whisper() -> WhisperTranscriber:
    """Whisper tiny.en: the stt services' transcriber and the ear that checks spoken replies."""
    return load_whisper()


@pytest.fixture(scope="session")
def piper_voice() -> PiperSynthesizer:
    """The Piper voice: the tts services' synthesiser and the voice of the user."""
    return load_piper()


@pytest.fixture(scope="session")
def turn_model() -> TurnModel | None:
    """The stt services' end-of-turn model (Smart Turn), shared like Whisper."""
    return load_turn_model()
