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
    continues after ("set a timer for", "what is the"). Whisper leaves the final
    punctuation off many finished requests, so its absence alone proves nothing here.
    """
    stripped = text.strip()
    if stripped.endswith(("...", "\u2026")):
        return True
    words = _WORD.findall(stripped.lower())
    return not words or words[-1] in _CONTINUATION_WORDS
