"""The turn decision: at each pause, how much more silence ends the user's turn.

A fixed hangover either cuts people off at a thinking pause or makes every request wait.
Here two signals vote at every pause the segmenter reports: the turn model, which hears
from the audio whether the voice sounds finished, and the transcript so far, which reads
as finished ("What time is it?") or not ("set a timer for"). Agreement on "finished" ends
the turn at once; disagreement or "not finished" keeps listening, up to a longer cap.
Neither signal alone ends a turn early: synthetic or flat voices fool the model, and
Whisper punctuates a half sentence as if it were whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tars.contracts.stt import TurnVerdict
from tars.text.finished import looks_complete

EndOfTurnMode = Literal["model", "punctuation", "fixed"]
"""How the end of a turn is decided (``STT_END_OF_TURN``)."""


@dataclass(frozen=True)
class TurnDecision:
    """The verdict at one pause and the silence that now ends the turn."""

    verdict: TurnVerdict
    hangover_ms: float
    probability: float | None
    """The turn model's probability that the turn is complete (None: not run)."""


@dataclass(frozen=True)
class EndOfTurnPolicy:
    """Decides at each pause how much more silence ends the turn.

    In ``model`` mode three signals vote: the turn model on the audio (prosody), the
    transcript so far (`looks_complete`), and whether that transcript is a whole command
    TARS answers by rule ("what time is it", "set a timer for five minutes": nothing can
    follow it). All three: end now. Audio and words finished but an open request ("remind
    me to water the plants" may go on "... on Sunday"): wait ``open_ms``, longer than the
    thinking pauses people make mid-request. Audio and words disagree: ``unsure_ms``. Both
    unfinished: up to ``incomplete_ms`` (a person looking for the next word).
    ``punctuation`` mode is the old heuristic (the transcript alone shortens the hangover),
    kept for comparison; ``fixed`` always waits ``default_ms``.

    Attributes:
        mode: Which signals decide.
        threshold: Turn-model probability at or above which the audio sounds finished.
        complete_ms: Silence that ends a finished, closed command, in ms.
        open_ms: Silence that ends a finished-sounding open request, in ms.
        unsure_ms: Silence that ends a turn the signals disagree on, in ms.
        incomplete_ms: Silence that ends a turn both signals call unfinished, in ms.
        default_ms: The fixed hangover (``fixed`` mode, and ``punctuation`` when incomplete).
        punctuation_ms: Silence that ends a complete-looking transcript in ``punctuation`` mode.
    """

    mode: EndOfTurnMode = "model"
    threshold: float = 0.5
    complete_ms: float = 150.0
    open_ms: float = 700.0
    unsure_ms: float = 1000.0
    incomplete_ms: float = 2500.0
    default_ms: float = 600.0
    punctuation_ms: float = 250.0

    @property
    def uses_model(self) -> bool:
        """Whether the turn model must be run at pauses."""
        return self.mode == "model"

    def decide(
        self, text: str | None, probability: float | None, *, closed: bool = False
    ) -> TurnDecision:
        """The decision at a pause.

        Args:
            text: The transcript of the utterance so far (None: too short to transcribe).
            probability: The turn model's probability (None: not run, or it failed).
            closed: ``text`` is a whole command answered by rule (nothing can follow it).
        """
        text_says = looks_complete(text) if text else None
        if self.mode == "fixed":
            return TurnDecision("unsure", self.default_ms, probability)
        if self.mode == "punctuation":
            if text_says:
                return TurnDecision("complete", self.punctuation_ms, probability)
            return TurnDecision("unsure", self.default_ms, probability)
        if probability is None:  # the model failed: never end early on the transcript alone
            return TurnDecision("unsure", self.unsure_ms, probability)
        audio_says = probability >= self.threshold
        if text_says is None:  # no words yet: the audio alone never ends a turn early
            return TurnDecision("unsure", self.unsure_ms, probability)
        if audio_says and text_says:
            if closed:
                return TurnDecision("complete", self.complete_ms, probability)
            return TurnDecision("open", self.open_ms, probability)
        if audio_says or text_says:
            return TurnDecision("unsure", self.unsure_ms, probability)
        return TurnDecision("incomplete", self.incomplete_ms, probability)


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
