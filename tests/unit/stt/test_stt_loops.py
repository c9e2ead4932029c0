"""Whisper's decoding loops collapse to what was said once."""

from __future__ import annotations

import pytest

from tars.services.stt.loops import collapse_loops


@pytest.mark.parametrize(
    ("heard", "said"),
    [
        ("Tell me the joke. Tell me the joke. Tell", "Tell me the joke."),
        ("Tell me the joke. Tell me the joke. Tell me", "Tell me the joke."),
        ("What time is it? what time is it? What time", "What time is it?"),
        ("Wave. Take a bow. Take a bow. Take a", "Wave. Take a bow."),
    ],
)
def test_a_repeated_sentence_is_kept_once(heard: str, said: str) -> None:
    assert collapse_loops(heard) == said


@pytest.mark.parametrize(
    "text",
    [
        "What time is it?",
        "Set a timer. Then tell me a joke.",
        "Say hello. Say goodbye.",
        "Turn left. Turn left slowly.",
        "Stop. Stop. Stop.",  # said three times: nothing unfinished after it
        "Tell me a joke. Tell",  # one sentence and a start: not yet a loop
        "It is 9.30. Thanks",
        "",
    ],
)
def test_anything_else_is_left_as_it_was(text: str) -> None:
    assert collapse_loops(text) == text
