"""End-of-turn hints and the WER helper."""

from __future__ import annotations

import pytest

from tars.services.stt.turn import EndOfTurnPolicy, partial_worth_publishing
from tars.services.stt.wer import corpus_wer, edit_distance, normalise_words, number_words, wer
from tars.text.finished import ends_unfinished, looks_complete


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("What time is it?", True),
        ("Turn on the kitchen lights.", True),
        ("Stop!", True),
        ("Set a timer for.", False),
        ("Set a timer for...", False),
        ("Turn on the", False),
        ("what time is it", False),
        ("How many legs does a spider have?", True),  # the question closes on "have"
        ("Do you know what day it is?", True),
        ("My name is.", False),
        ("How old is?", False),
        ("", False),
        ("?", False),
    ],
)
def test_looks_complete(text: str, complete: bool) -> None:
    assert looks_complete(text) is complete


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("who wrote Romeo and Juliet", False),  # Whisper left the full stop off
        ("What is the capital of France?", False),
        ("what is the capital of", True),
        ("Set a timer for.", True),
        ("Tell me about...", True),
        ("how many legs does a spider have", False),
        ("what time is", True),  # right after the opener: "...it" comes next
        ("can you tell me if it is", True),  # the "if" clause is still open
        ("I think the answer is", True),  # no question to close
        ("what will it be", True),  # "be" rarely ends a question
        ("", True),
    ],
)
def test_ends_unfinished_ignores_a_missing_full_stop(text: str, unfinished: bool) -> None:
    assert ends_unfinished(text) is unfinished


def test_model_policy_needs_every_signal_to_end_early() -> None:
    policy = EndOfTurnPolicy(complete_ms=150, open_ms=700, unsure_ms=1000, incomplete_ms=2500)
    command = policy.decide("What time is it?", 0.9, closed=True)
    assert (command.verdict, command.hangover_ms, command.probability) == ("complete", 150, 0.9)
    # Finished-sounding, but an open request may go on after a thinking pause.
    request = policy.decide("Remind me to water the plants.", 0.95)
    assert (request.verdict, request.hangover_ms) == ("open", 700)
    # Either signal alone is not enough: a flat synthetic voice, or Whisper's full stop.
    assert policy.decide("What time is it?", 0.2, closed=True).verdict == "unsure"
    assert policy.decide("Set a timer for", 0.97).hangover_ms == 1000
    neither = policy.decide("Set a timer for", 0.1)
    assert (neither.verdict, neither.hangover_ms) == ("incomplete", 2500)
    # No words yet, or no model result: never end early.
    assert policy.decide("", 0.99).verdict == "unsure"
    assert policy.decide("What time is it?", None).verdict == "unsure"
    assert policy.uses_model


def test_punctuation_and_fixed_policies() -> None:
    old = EndOfTurnPolicy(mode="punctuation", default_ms=600, punctuation_ms=250)
    assert old.decide("What time is it?", None).hangover_ms == 250
    assert old.decide("Set a timer for", None).hangover_ms == 600
    assert not old.uses_model
    fixed = EndOfTurnPolicy(mode="fixed", default_ms=600)
    assert fixed.decide("What time is it?", 0.99).hangover_ms == 600


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (42, "forty two"),
        (99, "ninety nine"),
    ],
)
def test_number_words(value: int, words: str) -> None:
    assert number_words(value) == words


def test_number_words_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        number_words(100)


def test_normalise_words() -> None:
    assert normalise_words("Set a timer for 5 minutes.") == [
        "set",
        "a",
        "timer",
        "for",
        "five",
        "minutes",
    ]
    assert normalise_words("It's twenty-one, OK?") == ["it's", "twenty", "one", "ok"]
    assert normalise_words("Call 21 now") == ["call", "twenty", "one", "now"]
    assert normalise_words("Room 101") == ["room", "101"]


def test_edit_distance_counts_each_kind() -> None:
    assert edit_distance(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert edit_distance(["a", "b", "c"], ["a", "x", "c"]) == 1  # substitution
    assert edit_distance(["a", "b", "c"], ["a", "c"]) == 1  # deletion
    assert edit_distance(["a", "b", "c"], ["a", "b", "c", "d"]) == 1  # insertion
    assert edit_distance([], ["a", "b"]) == 2


def test_wer_and_corpus_wer() -> None:
    assert wer("Set a timer for five minutes", "set a timer for 5 minutes.") == 0.0
    assert wer("what time is it", "what time is") == pytest.approx(0.25)
    pairs = [
        ("what time is it", "what time is"),
        ("turn on the kitchen lights", "turn on the lights"),
    ]
    assert corpus_wer(pairs) == pytest.approx(2 / 9)
    assert corpus_wer([]) == 0.0
    assert wer("", "noise") == 1.0


@pytest.mark.parametrize(
    ("text", "previous", "publish"),
    [
        ("Set a timer", "", True),
        ("Set", "", False),  # too short
        ("... ?!", "", False),  # not letters
        ("Set a timer.", "Set a timer", False),  # one new character
        ("Set a timer for", "Set a timer", True),
        ("Turn off", "Turn on", True),  # changed, not just extended
        ("Set a timer", "Set a timer", False),
    ],
)
def test_partial_worth_publishing(text: str, previous: str, publish: bool) -> None:
    assert partial_worth_publishing(text, previous) is publish
