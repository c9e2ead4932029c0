"""Whisper's decoding loops: the same sentence transcribed again and again.

On a short utterance padded to its window, Whisper tiny sometimes keeps decoding after the
speech ends and repeats what it heard, until the window or the token limit stops it
mid-sentence: "Tell me the joke. Tell me the joke. Tell". The user said it once, and a rule
or the LLM must get it once.
"""

from __future__ import annotations

import re

_SENTENCE = re.compile(r"[^.!?]+[.!?]+|[^.!?]+$")
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def collapse_loops(text: str) -> str:
    """``text`` said once, when it ends the way a decoding loop does.

    The signature of a loop is its end: an unfinished piece whose words begin the sentence
    before it again (Whisper stopped mid-repeat). Only then are the sentences that repeat the
    one before them (same words, any case or punctuation) dropped with that piece; a user
    who says the same sentence twice, with nothing unfinished after it, keeps both.
    """
    pieces = [m.group(0) for m in _SENTENCE.finditer(text)]
    if len(pieces) < 3 or not _restarts(pieces[-1], pieces[-2]):
        return text
    kept = [pieces[0]]
    for piece in pieces[1:-1]:
        if _words(piece) != _words(kept[-1]):
            kept.append(piece)
    return "".join(kept).strip()


def _restarts(last: str, before: str) -> bool:
    """Whether ``last`` is unfinished and its words begin ``before`` again."""
    words, previous = _words(last), _words(before)
    unfinished = not last.rstrip().endswith((".", "!", "?"))
    return (
        unfinished
        and bool(words)
        and len(words) < len(previous)
        and previous[: len(words)] == words
    )
