"""Cut-off and rescue scoring of paused requests, tolerant to Whisper's formatting."""

from __future__ import annotations

import pytest

from tars.bench.turn_score import HeardFinal, coverage, holds, rows, score, streamed_text


@pytest.mark.parametrize(
    ("transcript", "phrase"),
    [
        ("Set a timer for 10 minutes.", "ten minutes"),
        ("Remind me to call the dentist at 9 tomorrow morning.", "at nine tomorrow morning"),
        ("Say hello to my friend Sam's.", "my friend Sam"),
        ("Add milk and eggs to the shopping-list", "to the shopping list"),
        ("What's the weather like in Paris, tomorrow?", "in Paris tomorrow"),
        ("Tell me a joke about penguin", "penguins"),
        ("Turn the volume down a little bit", "a little bit"),  # function words only
    ],
)
def test_phrase_is_found_despite_formatting(transcript: str, phrase: str) -> None:
    assert holds(transcript, phrase)


@pytest.mark.parametrize(
    ("transcript", "phrase"),
    [
        ("Set a timer for", "ten minutes"),
        ("Remind me to water the plants.", "on Sunday"),
        ("What is the weather like?", "in Paris tomorrow"),
        ("Turn on the lights in", "the living room"),
    ],
)
def test_missing_second_half_is_not_found(transcript: str, phrase: str) -> None:
    assert not holds(transcript, phrase)


def test_coverage_counts_content_words() -> None:
    assert coverage("in Paris", "in Paris tomorrow") == pytest.approx(0.5)
    assert coverage("anything", "") == 1.0


def final(at_s: float, utt_id: str, text: str, continues: str | None = None) -> HeardFinal:
    return HeardFinal(at_s=at_s, utt_id=utt_id, text=text, continues=continues)


FIRST, SECOND = "Set a timer for", "ten minutes"


def test_whole_first_final_is_not_cut_off() -> None:
    outcome = score(FIRST, SECOND, [final(0.4, "a", "Set a timer for 10 minutes.")])
    assert (outcome.cut_off, outcome.rescued, outcome.dropped) == (False, False, False)
    assert outcome.complete
    assert outcome.whole_after_ms == pytest.approx(400.0)


def test_cut_off_then_rescued_by_a_continuing_final() -> None:
    finals = [
        final(-0.8, "a", "Set a timer for."),
        final(0.9, "b", "Set a timer for 10 minutes.", continues="a"),
    ]
    outcome = score(FIRST, SECOND, finals, rejections=1)
    assert outcome.cut_off
    assert outcome.rescued
    assert outcome.continued
    assert not outcome.split
    assert outcome.rejections == 1
    assert outcome.whole_after_ms == pytest.approx(900.0)


def test_rescue_through_a_chain_of_continuations() -> None:
    finals = [
        final(-1.5, "a", "Set a"),
        final(-0.6, "b", "Set a timer for", continues="a"),
        final(0.7, "c", "Set a timer for ten minutes", continues="b"),
    ]
    assert score(FIRST, SECOND, finals).rescued


def test_rest_as_an_unlinked_final_is_split_not_rescued() -> None:
    finals = [final(-0.8, "a", "Set a timer for."), final(0.6, "b", "10 minutes.")]
    outcome = score(FIRST, SECOND, finals)
    assert outcome.cut_off
    assert outcome.split
    assert not outcome.rescued
    assert not outcome.complete


def test_continuation_missing_the_first_half_is_not_a_rescue() -> None:
    finals = [final(-0.8, "a", "Set a timer for."), final(0.6, "b", "10 minutes.", "a")]
    outcome = score(FIRST, SECOND, finals)
    assert outcome.continued
    assert not outcome.rescued
    assert not outcome.split


def test_no_final_is_dropped() -> None:
    outcome = score(FIRST, SECOND, [], rejections=2)
    assert outcome.dropped
    assert not outcome.cut_off
    assert outcome.rejections == 2


def test_finals_are_taken_in_arrival_order() -> None:
    finals = [final(0.9, "b", "Set a timer for ten minutes", "a"), final(-0.8, "a", "Set a")]
    assert score(FIRST, SECOND, finals).rescued


def test_streamed_text_replaces_continued_finals() -> None:
    finals = [
        final(-0.8, "a", "Set a timer for."),
        final(0.9, "b", "Set a timer for ten minutes.", continues="a"),
        final(3.0, "c", "Thanks."),
    ]
    assert streamed_text(finals) == "Set a timer for ten minutes. Thanks."
    assert streamed_text([]) == ""


def test_rows_per_cell_and_per_kind() -> None:
    whole = score(FIRST, SECOND, [final(0.4, "a", "Set a timer for ten minutes")])
    lost = score(FIRST, SECOND, [final(-0.8, "a", "Set a timer for")])
    rescued = score(
        FIRST,
        SECOND,
        [final(-0.8, "a", "Set a timer for"), final(1.0, "b", "Set a timer for 10 minutes", "a")],
    )
    dropped = score(FIRST, SECOND, [], rejections=1)
    table = rows(
        [
            ("spliced", 800, lost),
            ("spliced", 300, whole),
            ("spliced", 800, rescued),
            ("fragments", 300, dropped),
        ]
    )
    assert [(r["kind"], r["pause_ms"]) for r in table] == [
        ("spliced", 300),
        ("spliced", 800),
        ("spliced", "all"),
        ("fragments", 300),
        ("fragments", "all"),
    ]
    cell = table[1]
    assert cell["n"] == 2
    assert (cell["cut_off"], cell["rescued"], cell["lost"]) == (1.0, 0.5, 0.5)
    assert cell["complete"] == 0.5
    assert cell["whole_after_ms_p50"] == 1000.0
    every = table[2]
    assert every["n"] == 3
    assert every["cut_off"] == pytest.approx(0.667)
    assert every["whole_after_ms_p50"] == pytest.approx(700.0)
    assert table[4]["dropped"] == 1.0
    assert table[4]["rejections"] == 1
    assert table[4]["whole_after_ms_p50"] is None


def test_a_misheard_continuation_is_not_lost_but_not_complete() -> None:
    misheard = score(
        FIRST, SECOND, [final(-0.8, "a", "Set a timer for"), final(0.9, "b", "Set a time", "a")]
    )
    cell = rows([("ssml", 500, misheard)])[0]
    assert cell["cut_off"] == 1.0
    assert cell["lost"] == 0.0
    assert cell["complete"] == 0.0


def test_first_half_missing_is_flagged() -> None:
    outcome = score(FIRST, SECOND, [final(0.5, "a", "10 minutes")], rejections=1)
    assert outcome.first_missing
    assert not outcome.cut_off
    assert not outcome.complete
