"""Choosing the shortened Whisper window and spotting window hallucinations."""

from __future__ import annotations

import pytest

from tars.services.stt.window import repeats_itself, window_for


@pytest.mark.parametrize(
    ("duration_s", "shortest_s", "expected"),
    [
        (1.5, 10.0, 10.0),  # short commands use the shortest window
        (6.0, 10.0, 10.0),
        (7.5, 10.0, 12.0),  # at least 4 s of silence after the speech
        (25.9, 10.0, None),  # would need 30 s: use the full window
        (2.0, 0.0, None),  # disabled
    ],
)
def test_window_for(duration_s: float, shortest_s: float, expected: float | None) -> None:
    assert window_for(duration_s, shortest_s) == expected


@pytest.mark.parametrize(
    ("text", "repeated"),
    [
        ("What is the date today? What is the date today? What is", False),
        ("What is the date today? What is the date today?", True),
        ("Say hello, Sam. Say hello, Sam.", True),
        ("Stop. Stop.", True),
        ("What time is it?", False),
        ("It is late. It is very late.", False),
        ("", False),
    ],
)
def test_repeats_itself(text: str, repeated: bool) -> None:
    assert repeats_itself(text) is repeated
