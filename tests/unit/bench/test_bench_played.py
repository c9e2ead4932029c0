"""When the rig considers stt done with a clip, and the finals it hands to the scoring."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from tars.audio.pcm import silence, tone
from tars.bench.played import Played, settled, speech_end_s, tts_idle
from tars.contracts.stt import FinalTranscript, PartialTranscript, RejectedTranscript
from tars.contracts.tts import TtsStatus

OFFSET = 1_000_000.0
"""time.time() - perf_counter() in these tests."""
SAT = "turns"


def final(end_s: float, text: str = "Set a timer for ten minutes", **fields: Any) -> Any:
    return FinalTranscript(text=text, satellite=SAT, speech_end_ts=OFFSET + end_s, **fields)


def rejection() -> RejectedTranscript:
    return RejectedTranscript(
        text="hm", filter="no_speech", reason="-", heard_in="live", satellite=SAT
    )


def test_not_settled_before_stt_reaches_the_end_of_speech() -> None:
    # A final for the first half only (its speech ended 1 s before the clip's) arrives
    # late, after the clip's end of speech: stt is lagging, not done.
    events = [(10.8, "stt/final", final(end_s=9.0, text="Set a timer for"))]
    assert not settled(events, SAT, speech_end=10.0, settle_s=1.0, wall_offset=OFFSET, now=13.0)


def test_settled_once_a_final_ends_with_the_clip_and_stt_went_quiet() -> None:
    events = [(10.9, "stt/final", final(end_s=9.9))]
    assert not settled(events, SAT, 10.0, 1.0, OFFSET, now=11.5)
    assert settled(events, SAT, 10.0, 1.0, OFFSET, now=12.0)


def test_partials_keep_the_clip_open() -> None:
    events = [
        (10.9, "stt/final", final(end_s=9.9)),
        (11.6, "stt/partial", PartialTranscript(text="and", satellite=SAT)),
    ]
    assert not settled(events, SAT, 10.0, 1.0, OFFSET, now=12.2)


def test_a_rejection_after_the_speech_also_ends_the_clip() -> None:
    events = [(10.5, "stt/rejected", rejection())]
    assert settled(events, SAT, 10.0, 1.0, OFFSET, now=11.6)


def test_other_satellites_are_ignored() -> None:
    other = FinalTranscript(text="hi there", satellite="other", speech_end_ts=OFFSET + 9.9)
    assert not settled([(10.5, "stt/final", other)], SAT, 10.0, 1.0, OFFSET, now=20.0)


def status(event: str) -> TtsStatus:
    return TtsStatus(event=event, text="Okay.", utt_id="u1", satellite=SAT)


def test_tts_idle_waits_for_the_reply_to_end() -> None:
    assert not tts_idle([(1.0, "tts/status", status("speaking_start"))], SAT)
    ended = [
        (1.0, "tts/status", status("speaking_start")),
        (2.0, "tts/status", status("speaking_end")),
    ]
    assert tts_idle(ended, SAT)
    assert tts_idle([], SAT)


def test_tts_idle_leaves_time_for_a_reply_to_start() -> None:
    just_now = [(time.perf_counter(), "stt/final", final(end_s=1.0))]
    assert not tts_idle(just_now, SAT, grace_s=1.5)
    assert tts_idle(just_now, SAT, grace_s=0.0)


def test_speech_end_is_the_last_loud_frame() -> None:
    clip = np.concatenate([silence(0.5), tone(1.0, 300), silence(0.7)])
    assert speech_end_s(clip) == pytest.approx(1.5, abs=0.02)
    assert speech_end_s(silence(1.0)) == 0.0


def test_played_finals_are_timed_from_the_end_of_speech() -> None:
    events = [
        (9.2, "stt/final", FinalTranscript(text="Set a timer for", utt_id="a", satellite=SAT)),
        (
            11.0,
            "stt/final",
            FinalTranscript(
                text="Set a timer for ten minutes", utt_id="b", satellite=SAT, continues="a"
            ),
        ),
    ]
    heard = Played(events, started=7.0, speech_end=10.0).finals()
    assert [(round(f.at_s, 3), f.utt_id, f.continues) for f in heard] == [
        (-0.8, "a", None),
        (1.0, "b", "a"),
    ]
