"""Whether a transcript reads as a finished request, shared by stt and router.

stt votes with it at every pause (with the turn model); the router asks whether a pause the
two signals disagree on stopped mid-sentence before it starts the LLM there.
"""

from __future__ import annotations

import re

# Words a request does not end on: articles, prepositions, conjunctions,
# possessives and auxiliaries. Whisper often adds a full stop to a partial even
# when the speaker is mid-sentence, so punctuation alone is not enough.
_CONTINUATION_TEXT = """
a an the and or but so because if than then to for of in on at by with from into onto
about as my your his her its our their this that these those is are was were be been
am do does did can could will would should shall may might must have has had please
what which who whom whose where when why how set turn play tell give make let
"""
_CONTINUATION_WORDS = frozenset(_CONTINUATION_TEXT.split())
# A question may end on one of these ("how many legs does a spider have", "do you know what
# day it is") once its opener and subject came before; modals and "be" rarely end one.
_QUESTION_CLOSER_TEXT = "is are was were do does did have has had"
_QUESTION_OPENER_TEXT = """
what which who whom whose where when why how is are was were am do does did can could
will would should shall may might must have has had
"""
# Words that open a clause the trailing auxiliary may belong to ("... if it is").
_CLAUSE_OPENER_TEXT = "if whether that because unless until while"
_QUESTION_CLOSERS = frozenset(_QUESTION_CLOSER_TEXT.split())
_QUESTION_OPENERS = frozenset(_QUESTION_OPENER_TEXT.split())
_CLAUSE_OPENERS = frozenset(_CLAUSE_OPENER_TEXT.split())
_WORD = re.compile(r"[a-z0-9']+")
_FINAL_PUNCTUATION = (".", "?", "!")


def looks_complete(text: str) -> bool:
    """Guess whether a transcript is a finished request.

    Args:
        text: A partial transcript as the transcriber returned it.

    Returns:
        True when it ends with sentence-final punctuation (not an ellipsis) and its
        last word is not one a sentence continues after.
    """
    return text.strip().endswith(_FINAL_PUNCTUATION) and not ends_unfinished(text)


def ends_unfinished(text: str) -> bool:
    """Whether a transcript visibly stops mid-sentence, whatever its punctuation.

    True when it has no words, ends with an ellipsis, or its last word is one a sentence
    continues after ("set a timer for", "what is the"), unless that word closes a question
    ("how many legs does a spider have"). Whisper leaves the final punctuation off many
    finished requests, so its absence alone proves nothing here.
    """
    stripped = text.strip()
    if stripped.endswith(("...", "\u2026")):
        return True
    words = _WORD.findall(stripped.lower())
    if not words:
        return True
    return words[-1] in _CONTINUATION_WORDS and not _closes_question(words)


def _closes_question(words: list[str]) -> bool:
    """Whether the last word is an auxiliary that closes a question ("...does a spider have").

    It does when a question word or an inverted auxiliary opened the sentence and at least
    two words (the subject) stand between it and the last one. Right after the opener
    ("what is", "how old is") or inside a clause still open ("... if it is") the sentence
    goes on.
    """
    if words[-1] not in _QUESTION_CLOSERS:
        return False
    opener = next((i for i, word in enumerate(words[:-1]) if word in _QUESTION_OPENERS), None)
    if opener is None:
        return False
    between = words[opener + 1 : -1]
    return len(between) >= 2 and _CLAUSE_OPENERS.isdisjoint(between)
