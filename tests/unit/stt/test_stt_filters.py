"""The suppression chain: one test per rejection reason, plus bypasses."""

from __future__ import annotations

import dataclasses

import pytest

from tars.services.stt.filter_rules import COMMON_WORDS, Thresholds, build_chain, syllables
from tars.services.stt.filters import Candidate, FilterContext, RecentTexts, normalise

GOOD = Candidate(
    text="Turn on the kitchen lights.",
    duration_s=1.4,
    rms=3000.0,
    active_ratio=0.85,
    confidence=0.8,
    no_speech_prob=0.05,
    avg_logprob=-0.3,
)
WEAK = dataclasses.replace(GOOD, no_speech_prob=0.45)
"""Passes the acoustic gates, but the no-speech head has doubts: the text gates apply."""
NOW = FilterContext(now=100.0)


def rejected_by(candidate: Candidate, context: FilterContext = NOW) -> str | None:
    rejection = build_chain().check(candidate, context)
    return None if rejection is None else rejection.filter


def test_a_clean_command_passes() -> None:
    assert build_chain().check(GOOD, NOW) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"duration_s": 0.45}, "duration"),
        ({"rms": 200.0}, "rms"),
        ({"active_ratio": 0.2}, "active_ratio"),
        ({"no_speech_prob": 0.7}, "no_speech"),
        ({"avg_logprob": -1.3}, "avg_logprob"),
    ],
)
def test_each_acoustic_gate(changes: dict[str, object], expected: str) -> None:
    assert rejected_by(dataclasses.replace(GOOD, **changes)) == expected  # type: ignore[arg-type]


TEXT_GATES = [
    ({"text": "Hm"}, "length"),
    ({"text": "It 42 12 99 1"}, "alpha_ratio"),
    ({"text": "Turn on the lights?!?!?!?!?"}, "punct_ratio"),
    ({"text": "Subtitles provided by amara community volunteers"}, "common_words"),
]


@pytest.mark.parametrize(("changes", "expected"), TEXT_GATES)
def test_each_text_gate_applies_when_the_evidence_is_weak(
    changes: dict[str, object], expected: str
) -> None:
    assert rejected_by(dataclasses.replace(WEAK, **changes)) == expected  # type: ignore[arg-type]


# "Hm" is left to the always-on lexical gate, whatever the evidence.
@pytest.mark.parametrize(("changes", "expected"), TEXT_GATES[1:])
def test_text_gates_never_reject_clear_speech(changes: dict[str, object], expected: str) -> None:
    assert rejected_by(dataclasses.replace(GOOD, **changes)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "doubt", [{"no_speech_prob": 0.45}, {"avg_logprob": -0.9}, {"active_ratio": 0.35}]
)
def test_any_weak_acoustic_score_brings_back_the_text_gates(doubt: dict[str, object]) -> None:
    hallucination = dataclasses.replace(GOOD, **doubt)  # type: ignore[arg-type]
    hallucination = dataclasses.replace(hallucination, text="Subtitles provided by amara fans")
    assert rejected_by(hallucination) == "common_words"


def test_a_confident_long_request_passes() -> None:
    # py-tars rejected this (common-word ratio 0.32 < 0.40) and the user heard nothing.
    request = dataclasses.replace(
        GOOD,
        text="Say the quick brown fox jumps over the lazy dog and runs all the way home "
        "across the wide green fields past the old mill.",
        duration_s=6.5,
    )
    assert rejected_by(request) is None


def test_rejection_reason_names_value_and_threshold() -> None:
    rejection = build_chain().check(dataclasses.replace(GOOD, duration_s=0.31), NOW)
    assert rejection is not None
    assert rejection.reason == "speech 310 ms < 500 ms"


def test_high_confidence_skips_the_quality_gates() -> None:
    weak = dataclasses.replace(GOOD, duration_s=0.3, rms=100.0, no_speech_prob=0.9)
    assert rejected_by(weak) == "duration"
    assert rejected_by(dataclasses.replace(weak, confidence=0.96)) is None


def test_unknown_scores_skip_only_their_gates() -> None:
    unknown = dataclasses.replace(GOOD, confidence=None, no_speech_prob=None, avg_logprob=None)
    assert rejected_by(unknown) is None
    assert rejected_by(dataclasses.replace(unknown, duration_s=0.2)) == "duration"


def test_speech_addressed_to_tars_lowers_the_common_word_ratio() -> None:
    answer = dataclasses.replace(WEAK, text="Paris obviously darling, my Francois friend")
    assert rejected_by(answer) == "common_words"
    assert rejected_by(answer, FilterContext(now=100.0, addressed=True)) is None
    allowed_words = Thresholds(common_words_extra=("paris", "obviously", "darling"))
    assert build_chain(allowed_words).check(answer, NOW) is None


@pytest.mark.parametrize(
    ("changes", "reason_part"),
    [
        ({"text": "Thank you.", "duration_s": 0.55}, "lasted 550 ms"),
        ({"text": "Hello!", "active_ratio": 0.2}, "active ratio"),
        ({"text": "Hi.", "duration_s": 0.9}, "1 syllable"),
    ],
)
def test_cough_guard(changes: dict[str, object], reason_part: str) -> None:
    # Confident, so only the always-on checks run.
    candidate = dataclasses.replace(GOOD, confidence=0.99, **changes)  # type: ignore[arg-type]
    rejection = build_chain().check(candidate, NOW)
    assert rejection is not None
    assert rejection.filter == "cough"
    assert reason_part in rejection.reason


def test_cough_phrase_long_and_clear_passes() -> None:
    assert rejected_by(dataclasses.replace(GOOD, text="Thank you!", confidence=0.99)) is None


@pytest.mark.parametrize("text", ["Yeah", "Brr shh tsk"])
def test_lexical_gate(text: str) -> None:
    assert rejected_by(dataclasses.replace(GOOD, text=text, confidence=0.99)) == "lexical"


def test_allowed_short_commands_skip_gates_but_not_repeats() -> None:
    stop = dataclasses.replace(GOOD, text="Stop.", duration_s=0.35, confidence=0.6)
    assert rejected_by(stop) is None
    assert build_chain(Thresholds(allowed_short=())).check(stop, NOW) is not None
    recent = FilterContext(now=100.0, published=(("stop", 97.0),))
    assert rejected_by(stop, recent) == "repeat"


def test_repeat_of_last_within_cooldown_only() -> None:
    published = (("Turn on the kitchen lights", 95.0),)
    assert rejected_by(GOOD, FilterContext(now=100.0, published=published)) == "repeat"
    assert rejected_by(GOOD, FilterContext(now=103.5, published=published)) is None


def test_recent_phrase_repeat_looks_past_the_last() -> None:
    published = (("turn on the kitchen lights!", 96.0), ("what time is it", 99.0))
    assert rejected_by(GOOD, FilterContext(now=100.0, published=published)) == "recent_repeat"
    assert rejected_by(GOOD, FilterContext(now=104.5, published=published)) is None


@pytest.mark.parametrize(
    "spoken",
    [
        "Turn on the kitchen lights.",  # exact
        "Turn on the kitchen light.",  # fuzzy >= 0.85
        "Sure. Turn on the kitchen lights now? Done.",  # one sentence of a longer reply
    ],
)
def test_echo_of_tts(spoken: str) -> None:
    context = FilterContext(now=100.0, tts_texts=(spoken,))
    assert rejected_by(GOOD, context) == "echo"


def test_unrelated_tts_text_is_not_echo() -> None:
    context = FilterContext(now=100.0, tts_texts=("The weather is sunny today.",))
    assert rejected_by(GOOD, context) is None


def test_recent_texts_expire_and_are_bounded() -> None:
    history = RecentTexts(max_items=2, max_age_s=8.0)
    history.record("a", 0.0)
    history.record("b", 5.0)
    history.record("c", 6.0)
    assert history.texts(7.0) == ("b", "c")
    assert history.snapshot(13.5) == (("c", 6.0),)
    history.clear()
    assert history.texts(7.0) == ()


def test_helpers() -> None:
    assert normalise("  Turn ON, the   lights!! ") == "turn on the lights"
    assert syllables("okay") == 2
    assert syllables("hi") == 1
    assert 85 <= len(COMMON_WORDS) <= 100


def test_a_continuation_is_checked_for_echo_in_its_new_words_only() -> None:
    spoken = FilterContext(now=100.0, tts_texts=("It is 3:15 PM.",))
    echo = dataclasses.replace(
        GOOD, text="What time is it? It is 3:15 PM.", continues_text="What time is it?"
    )
    assert rejected_by(echo, spoken) == "echo"
    more = dataclasses.replace(
        GOOD,
        text="Remind me to water the plants on Sunday.",
        continues_text="Remind me to water the plants.",
    )
    assert more.new_words() == "on sunday"
    assert rejected_by(more, spoken) is None
    # Whisper reworded the earlier part: the new words are those past its length.
    reworded = dataclasses.replace(
        GOOD, text="Remind me to water my plants on Sunday", continues_text="Remind me to water"
    )
    assert reworded.new_words() == "my plants on sunday"
