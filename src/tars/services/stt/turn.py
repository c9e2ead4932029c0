"""End-of-turn hints from partial transcripts.

A fixed hangover makes every request wait the same silence. When the partial
transcript of the audio so far already reads as a finished request ("What time
is it?"), the user is very likely done, and the service can shorten the
hangover of the current utterance with
`UtteranceSegmenter.set_hangover_ms(hangover_for(...))`. A transcript that
trails off on a function word ("set a timer for") keeps the full hangover.
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
    stripped = text.strip()
    if not stripped.endswith(_FINAL_PUNCTUATION) or stripped.endswith(("...", "\u2026")):
        return False
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] not in _CONTINUATION_WORDS


def hangover_for(text: str, default_ms: float, short_ms: float) -> float:
    """Pick the hangover for an utterance from its latest partial transcript.

    Args:
        text: The latest partial transcript.
        default_ms: The normal hangover, in ms.
        short_ms: The hangover once the request reads as complete, in ms.

    Returns:
        ``short_ms`` when `looks_complete` holds, else ``default_ms``.
    """
    return short_ms if looks_complete(text) else default_ms


def partial_worth_publishing(
    text: str,
    previous: str,
    *,
    min_chars: int = 4,
    min_new_chars: int = 2,
    min_alpha_ratio: float = 0.5,
) -> bool:
    """py-tars's rule for publishing a partial transcript.

    Args:
        text: The new partial.
        previous: The last partial published for this utterance ("" if none).
        min_chars: Shortest partial published, in characters.
        min_new_chars: Characters needed beyond the prefix shared with ``previous``.
        min_alpha_ratio: Lowest fraction of letters among visible characters.
    """
    stripped = text.strip()
    visible = [c for c in stripped if not c.isspace()]
    if len(stripped) < min_chars or not visible:
        return False
    if sum(c.isalpha() for c in visible) / len(visible) < min_alpha_ratio:
        return False
    shared = 0
    for new, old in zip(stripped, previous.strip(), strict=False):
        if new != old:
            break
        shared += 1
    return len(stripped) - shared >= min_new_chars
