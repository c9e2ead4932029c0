"""SentenceChunker: py-tars router chunking, shared by the router and TTS."""

from __future__ import annotations

import pytest

from tars.text.sentences import SentenceChunker, split_sentences


def feed_all(chunker: SentenceChunker, deltas: list[str]) -> list[list[str]]:
    return [chunker.feed(delta) for delta in deltas]


def test_first_sentence_is_emitted_as_soon_as_its_boundary_is_confirmed() -> None:
    chunker = SentenceChunker()
    emitted = feed_all(chunker, ["Hel", "lo there", ".", " How", " are", " you?", " Fine"])
    assert emitted == [[], [], [], ["Hello there."], [], [], ["How are you?"]]
    assert chunker.pending == "Fine"
    assert chunker.flush() == "Fine"
    assert chunker.pending == ""


def test_one_delta_can_complete_several_sentences() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("One. Two! Three? Four; five: six") == [
        "One.",
        "Two!",
        "Three?",
        "Four;",
        "five:",
    ]
    assert chunker.flush() == "six"


def test_decimals_times_and_abbreviations_do_not_split() -> None:
    text = "It is 3.5 degrees at 10:30, e.g. mild. Dr. Smith agrees, i.e. fine. Wait... what?"
    assert split_sentences(text) == [
        "It is 3.5 degrees at 10:30, e.g. mild.",
        "Dr. Smith agrees, i.e. fine.",
        "Wait...",
        "what?",
    ]


@pytest.mark.parametrize("cut", range(1, 12))
def test_streamed_decimal_survives_any_delta_split(cut: int) -> None:
    text = "Pi is 3.14 and the time is 10:30 now."
    chunker = SentenceChunker()
    emitted = chunker.feed(text[:cut]) + chunker.feed(text[cut:])
    assert emitted == []
    assert chunker.flush() == text


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert split_sentences('He said "stop." Then (he left.) Done') == [
        'He said "stop."',
        "Then (he left.)",
        "Done",
    ]


def test_hard_cap_cuts_at_the_last_space() -> None:
    chunker = SentenceChunker(min_chars=5, max_chars=20, hard_max_chars=30)
    words = "alpha bravo charlie delta echo foxtrot golf hotel"
    chunks = chunker.feed(words)
    assert chunks == ["alpha bravo charlie delta echo"]
    assert chunker.flush() == "foxtrot golf hotel"


def test_hard_cap_without_spaces_cuts_at_the_cap() -> None:
    chunker = SentenceChunker(min_chars=1, max_chars=5, hard_max_chars=10)
    assert chunker.feed("x" * 25) == ["x" * 10, "x" * 10]
    assert chunker.flush() == "x" * 5


def test_default_hard_cap_is_2000_characters() -> None:
    chunker = SentenceChunker()
    long_text = "word " * 500  # 2500 characters, no boundary
    chunks = chunker.feed(long_text)
    assert len(chunks) == 1
    assert 1990 <= len(chunks[0]) <= 2000
    assert chunker.flush() is not None


def test_length_mode_merges_short_sentences_up_to_min_chars() -> None:
    chunker = SentenceChunker(boundary_only=False, min_chars=20, max_chars=60)
    assert chunker.feed("Hi. Yes. This one is long enough. ") == [
        "Hi. Yes. This one is long enough."
    ]


def test_length_mode_cuts_at_max_chars() -> None:
    chunker = SentenceChunker(boundary_only=False, min_chars=10, max_chars=25)
    chunks = chunker.feed("no boundary here just words going on and on ")
    assert chunks[0] == "no boundary here just"
    assert all(len(chunk) <= 25 for chunk in chunks)


def test_custom_boundaries() -> None:
    chunker = SentenceChunker(boundary_chars="!")
    assert chunker.feed("Not here. But here! ok") == ["Not here. But here!"]


def test_flush_of_blank_text_is_none_and_reset_drops_pending() -> None:
    chunker = SentenceChunker()
    assert chunker.flush() is None
    chunker.feed("   ")
    assert chunker.flush() is None
    chunker.feed("half a sentence")
    chunker.reset()
    assert chunker.flush() is None


def test_chunks_rebuild_the_text() -> None:
    text = "First one. Second, with 2.5 things! Third? Last bit"
    chunks = split_sentences(text)
    assert " ".join(chunks) == text
    assert len(chunks) == 4


def test_split_sentences_reuses_a_configured_chunker() -> None:
    chunker = SentenceChunker(boundary_chars="?")
    chunker.feed("stale pending text")
    assert split_sentences("A. B? C.", chunker) == ["A. B?", "C."]


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="boundary"):
        SentenceChunker(boundary_chars="")
    with pytest.raises(ValueError, match="min_chars"):
        SentenceChunker(min_chars=100, max_chars=50)
