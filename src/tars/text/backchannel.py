"""Backchannels: what a listener says to show they are following, not to take the turn.

"Mm-hm", "yeah", "right", "okay" said over a reply mean "go on". When the user talks over
TARS without the wake word (voice barge-in on an echo-cancelled satellite), such an utterance
must not stop the reply. Whisper spells them many ways ("Mm-hmm.", "Uh huh", "Yeah, yeah."),
so words are normalised and every word must be a backchannel word.
"""

from __future__ import annotations

import re

BACKCHANNEL_WORDS = frozenset(
    {
        "mm", "mmm", "mhm", "mmhm", "mmhmm", "hm", "hmm", "uh", "huh", "uhhuh", "um", "ah",
        "aha", "oh", "ok", "okay", "yeah", "yea", "yep", "yes", "yup", "right", "sure",
        "alright", "cool", "nice", "wow", "i", "see", "got", "it", "true", "indeed", "go", "on",
    }
)  # fmt: skip
"""Words a backchannel is made of ("I see", "got it" and "go on" included)."""
MAX_WORDS = 4
"""Longest backchannel, in words."""

_JOINED = re.compile(r"\b(m+|u+h+|m+h+m+)[- ](h+m+|h+u+h+|m+)\b")
_NON_WORD = re.compile(r"[^a-z]+")


def is_backchannel(text: str) -> bool:
    """Whether ``text`` is only a backchannel ("Mm-hmm.", "Yeah, right.", "Okay.")."""
    lowered = _JOINED.sub(lambda match: match.group(1) + match.group(2), text.lower())
    words = _NON_WORD.sub(" ", lowered.replace("'", "")).split()
    return 0 < len(words) <= MAX_WORDS and all(word in BACKCHANNEL_WORDS for word in words)
