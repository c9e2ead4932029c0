"""What the voice rig recorded while a clip played, and when stt is done with a clip."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tars.audio.pcm import SAMPLE_RATE, Int16Array, rms
from tars.bench.turn_score import HeardFinal
from tars.contracts.stt import (
    TOPIC_STT_CONTINUATION,
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    TOPIC_STT_REJECTED,
)
from tars.contracts.tts import TOPIC_TTS_STATUS

Event = tuple[float, str, Any]
"""(``time.perf_counter()`` at arrival, topic or ``audio``/``feed``, payload model)."""
STT_OUTCOMES = (TOPIC_STT_FINAL, TOPIC_STT_REJECTED, TOPIC_STT_CONTINUATION)
"""What stt publishes about an utterance."""
STT_ACTIVITY = (*STT_OUTCOMES, TOPIC_STT_PARTIAL)
"""What shows that stt is still working on a satellite's audio."""
_END_TOLERANCE_S = 0.35
"""How far the VAD's end of speech may fall before the loudness-based one (less than the
shortest pause plus the shortest second half, so a first half's final never counts)."""
SPEECH_RMS = 300.0
"""RMS of a 20 ms frame above which the input audio counts as speech."""
FRAME_MS = 20
"""Length of one published audio frame, in ms."""


@dataclass
class Played:
    """What stt (and the services after it) made of one played clip."""

    events: list[Event]
    """Everything recorded for the clip's satellite from the start of the feed."""
    started: float
    """``perf_counter`` time of the first frame."""
    speech_end: float
    """``perf_counter`` time of the end of speech in the clip."""

    def of(self, topic: str) -> list[Event]:
        """The events of one topic."""
        return [event for event in self.events if event[1] == topic]

    def finals(self) -> list[HeardFinal]:
        """The clip's stt finals, timed from its end of speech."""
        return [
            HeardFinal(
                at_s=at - self.speech_end,
                utt_id=data.utt_id or f"final-{index}",
                text=data.text,
                continues=getattr(data, "continues", None),
            )
            for index, (at, _, data) in enumerate(self.of(TOPIC_STT_FINAL))
        ]


def satellite_of(event: Event) -> str | None:
    """The satellite an event is about (None when it names none)."""
    if event[1] == "feed":
        return str(event[2])
    if event[1] == "audio":
        return str(event[2].topic).rsplit("/", 1)[-1]
    return getattr(event[2], "satellite", None)


def settled(
    events: list[Event],
    satellite: str,
    speech_end: float,
    settle_s: float,
    wall_offset: float,
    now: float | None = None,
) -> bool:
    """Whether stt is done with a clip on ``satellite`` whose speech ended at ``speech_end``.

    Done: stt has reached the end of the clip's speech (see `_reaches_end`), and said
    nothing about the satellite for ``settle_s`` since (a continuation may still come
    before then). A loaded machine makes stt lag seconds behind the audio, so arrival
    times alone cannot tell which utterance a final belongs to.

    Args:
        events: The events since the clip was queued.
        satellite: The clip's satellite.
        speech_end: ``perf_counter`` time of the end of speech in the clip.
        settle_s: Quiet needed after the last stt message.
        wall_offset: ``time.time() - time.perf_counter()``, to compare with stt's timestamps.
        now: The current ``perf_counter`` time (for tests).
    """
    now = time.perf_counter() if now is None else now
    mine = [e for e in events if e[1] in STT_ACTIVITY and satellite_of(e) == satellite]
    if now < speech_end or not any(_reaches_end(e, speech_end, wall_offset) for e in mine):
        return False
    return now - max(e[0] for e in mine) >= settle_s


def _reaches_end(event: Event, speech_end: float, wall_offset: float) -> bool:
    """A final whose speech ends with the clip's, or a rejection after the clip's speech."""
    if event[1] == TOPIC_STT_FINAL:
        end_ts = event[2].speech_end_ts
        return end_ts is not None and end_ts >= speech_end + wall_offset - _END_TOLERANCE_S
    return event[1] == TOPIC_STT_REJECTED and event[0] > speech_end


def tts_idle(events: list[Event], satellite: str, grace_s: float = 1.5) -> bool:
    """Whether no reply is playing on ``satellite`` and none is about to start.

    A reply is over once its last status is ``speaking_end`` or ``stopped``; with no
    status yet, a reply may still be on its way until ``grace_s`` after the last final.
    """
    statuses = [e for e in events if e[1] == TOPIC_TTS_STATUS and satellite_of(e) == satellite]
    if statuses:
        return statuses[-1][2].event in ("speaking_end", "stopped")
    finals = [e[0] for e in events if e[1] == TOPIC_STT_FINAL and satellite_of(e) == satellite]
    return not finals or time.perf_counter() - finals[-1] >= grace_s


def speech_end_s(speech: Int16Array) -> float:
    """End of the last 20 ms frame louder than the speech threshold, in s from the start."""
    step = SAMPLE_RATE * FRAME_MS // 1000
    loud = [i for i in range(0, speech.size, step) if rms(speech[i : i + step]) > SPEECH_RMS]
    return (loud[-1] + step) / SAMPLE_RATE if loud else 0.0
