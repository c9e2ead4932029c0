"""Markdown clean-up before synthesis."""

from __future__ import annotations

import pytest

from tars.services.tts.text import clean_text


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("**Bold** and *italic* and __strong__ and _em_", "Bold and italic and strong and em"),
        ("Run `make test` now.", "Run make test now."),
        ("See [the docs](https://example.com/x) or ![a cat](cat.png).", "See the docs or a cat."),
        ("Visit <https://example.com>.", "Visit https://example.com."),
        ("# Title\nBody text.", "Title. Body text."),
        ("## Done!\nNext.", "Done! Next."),
        ("- first\n* second\n+ third\n1. fourth\n2) fifth", "first. second. third. fourth. fifth."),
        ("- already ends:\n- with punctuation?", "already ends: with punctuation?"),
        ("> quoted\n> more", "quoted more"),
        ("Above\n\n---\n\nBelow", "Above Below"),
        ("```python\nprint('hi')\n```", "print('hi')"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a, b. 1, 2."),
        ("  lots \n\n of\t\tspace  ", "lots of space"),
        ("keep my_var_name and 3.5 and 10:30", "keep my_var_name and 3.5 and 10:30"),
        ("It costs 3 * 4 = 12.", "It costs 3 times 4 = 12."),
        ("", ""),
        ("** **\n``\n---", ""),
    ],
)
def test_clean_text(raw: str, spoken: str) -> None:
    assert clean_text(raw) == spoken


def test_plain_text_is_unchanged() -> None:
    text = "Hello there. The answer is 42, give or take; ask again!"
    assert clean_text(text) == text
