"""Backchannels: what a listener says to show they follow does not take the turn."""

from __future__ import annotations

import pytest

from tars.text.backchannel import is_backchannel


@pytest.mark.parametrize(
    "text", ["Mm-hmm.", "Mhm", "Uh huh", "Yeah, yeah.", "Okay.", "Right.", "I see.", "Yes, go on"]
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize(
    "text", ["", "Stop.", "Yeah, stop.", "What time is it?", "Okay, tell me a joke", "No."]
)
def test_not_backchannels(text: str) -> None:
    assert not is_backchannel(text)
