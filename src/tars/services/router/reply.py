"""One reply in progress: LLM deltas to sentences, what was spoken, reconciliation, timings.

Stream deltas and the final response arrive on separate subscriptions, so either may be
handled first. The final response is authoritative: whatever of it has not been sent to TTS
yet (the residual) is spoken, and later deltas of that reply are ignored.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from tars.text.sentences import SentenceChunker

_LOGGER = logging.getLogger(__name__)

Route = Literal["rule", "llm", "error"]

FIRST_CLAUSE_MIN_WORDS = 4
"""A reply's first piece may end at a comma once it has this many words, so TTS starts on
the first clause instead of waiting for the whole first sentence (0: whole sentences only)."""
_CLAUSE_END = re.compile(r"[,\u2013\u2014]+(?=\s)")
"""A comma or dash followed by whitespace ("1,000" is no clause end)."""


def _squash(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Reply:
    """State of one reply (an LLM request, or a rule answer).

    Attributes:
        id: Request id (also the TTS utt_id of every piece).
        satellite: Where it is spoken.
        user_text: What the user said.
        route: Who answers.
        stt_ts: End-of-speech (or transcript) time of the user turn, Unix seconds.
        timings_ms: Per-stage timings, milliseconds.
        spoken: Pieces sent to TTS, in order.
        complete: The last piece has been sent; no more text for this reply.
        interrupted: Barge-in or stop cut the reply short.
        continued: The user kept talking after the request: a later final replaces it.
        llm_id: Id of the LLM request answering it when that is not ``id`` (a preemptive
            request started before the final, see :mod:`~tars.services.router.preempt`).
    """

    id: str
    satellite: str
    user_text: str
    route: Route = "llm"
    stt_ts: float | None = None
    chunker: SentenceChunker = field(default_factory=SentenceChunker)
    timings_ms: dict[str, float] = field(default_factory=dict)
    spoken: list[str] = field(default_factory=list)
    complete: bool = False
    interrupted: bool = False
    continued: bool = False
    started: float = field(default_factory=time.monotonic)
    first_say_wall: float | None = None
    first_clause_min_words: int = FIRST_CLAUSE_MIN_WORDS
    llm_id: str = ""
    _held: list[str] = field(default_factory=list)

    @property
    def request_id(self) -> str:
        """Id of the LLM request whose stream, response and cancel belong to this reply."""
        return self.llm_id or self.id

    @property
    def text(self) -> str:
        """The reply as actually sent to TTS."""
        return " ".join(self.spoken)

    def feed(self, delta: str) -> list[str]:
        """Add a stream delta; returns the sentences now ready to speak.

        A sentence that ends the text received so far is held back until more text (or the
        end of the stream) arrives, so the final piece can always carry ``last=true``. Until
        a first piece is out, a long enough first clause counts as a sentence.
        """
        if self.complete:
            return []
        ready = self._held + self.chunker.feed(delta)
        self._held = []
        if not ready and not self.spoken:
            ready = self._first_clause()
        if ready and not self.chunker.pending.strip():
            self._held = [ready.pop()]
        return ready

    def _first_clause(self) -> list[str]:
        """The pending text up to its first clause end after enough words, taken out of it."""
        if self.first_clause_min_words <= 0:
            return []
        pending = self.chunker.pending
        for match in _CLAUSE_END.finditer(pending):
            clause = pending[: match.end()].strip()
            if len(clause.split()) >= self.first_clause_min_words:
                self.chunker.reset()
                # No sentence ends in the rest (the chunker would have cut there already).
                return [clause, *self.chunker.feed(pending[match.end() :].lstrip())]
        return []

    def restart_stream(self) -> None:
        """Drop the text received but not spoken: a new stream answers the reply."""
        self.chunker.reset()
        self._held = []

    def finish_stream(self) -> str | None:
        """The stream ended: the last piece (held sentence plus any unfinished text)."""
        if self.complete:
            return None
        rest = self.chunker.flush()
        pieces = self._held + ([rest] if rest else [])
        self._held = []
        return " ".join(pieces) or None

    def residual(self, final: str) -> str | None:
        """What of the final reply has not been sent to TTS yet (None: nothing more to say).

        On a mismatch between the spoken pieces and the final text nothing more is said when
        something was already spoken (a desync is logged); otherwise the whole reply is.
        """
        self.chunker.reset()
        self._held = []
        final_flat, spoken_flat = _squash(final), _squash(self.text)
        if final_flat.startswith(spoken_flat):
            return final_flat[len(spoken_flat) :].strip() or None
        _LOGGER.warning(
            "stream desync on %s: spoken %d chars do not prefix the %d-char reply",
            self.id,
            len(spoken_flat),
            len(final_flat),
        )
        return None if self.spoken else final_flat or None

    def mark(self, stage: str) -> None:
        """Record ``stage`` (first time only) as milliseconds since the reply started."""
        self.timings_ms.setdefault(stage, round((time.monotonic() - self.started) * 1e3, 1))
