"""The three phases of `tars bench duplex`, each against a running `DuplexStack`.

* `echo_only`: TARS speaks long replies into the room for a while and nobody else talks;
  everything stt or wake publishes about that satellite is a false alarm, and the mic's
  echo stage gives the echo return loss enhancement.
* `interruptions`: a reply plays, the user talks over it (with or without the wake word);
  detected when the reply pauses or stops after the first syllable, timed from it.
* `not_turns`: a reply plays, the user says "mm-hm" or coughs; a stop is a false stop, a
  pause a false pause (with how long it lasted).

Between trials every reply on the satellite is stopped, so each starts from a fresh one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Any

from tars.bench.duplex_material import Clip
from tars.bench.duplex_room import RoomConfig
from tars.bench.duplex_stack import DuplexStack, Seen, status
from tars.contracts.stt import TOPIC_STT_BARGE_IN, TOPIC_STT_FINAL, TOPIC_STT_REJECTED
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_SAY, TOPIC_TTS_STATUS, TtsControl
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.services.mic.echo import EchoStats
from tars.services.wake.interrupt import cancel_phrase

REQUEST = "tell me a long story"
"""The typed request every reply answers (the LLM stand-in's answer is long)."""
OUTCOME_S = 8.0
"""Longest wait for what follows a detected interruption."""


@dataclass
class Trial:
    """One interruption, backchannel or cough over a playing reply."""

    kind: str
    text: str
    voice: str
    echo_gain: float
    echo_delay_ms: float
    paused_after_ms: float | None = None
    """From the first syllable to TTS reporting the reply paused (or stopped), ms; None: it
    went on."""
    speaker_quiet_after_ms: float | None = None
    """From the first syllable to the satellite's speaker being held, ms."""
    outcome: str = "played_on"
    """``stopped``, ``resumed``, ``paused`` (still, when the trial ended) or ``played_on``."""
    pause_s: float | None = None
    """How long a paused reply stayed paused before it resumed, s."""
    heard: str | None = None
    """The final transcript, if stt published one."""
    rejected: str | None = None
    """The filter that rejected the utterance, if stt did."""


def _echo_delta(before: EchoStats, after: EchoStats) -> float | None:
    delta = EchoStats(
        frames=after.frames - before.frames,
        far_active_frames=after.far_active_frames - before.far_active_frames,
        near_power=after.near_power - before.near_power,
        out_power=after.out_power - before.out_power,
    )
    return delta.erle_db()


def _stats(stack: DuplexStack) -> EchoStats:
    echo = stack.mic.echo
    if echo is None:
        raise RuntimeError("the mic runs without an echo canceller")
    stats = echo.stats
    return EchoStats(stats.frames, stats.far_active_frames, stats.near_power, stats.out_power)


async def quiet(stack: DuplexStack) -> None:
    """Stop whatever plays on the satellite and wait until the speaker is silent."""
    since = stack.seen.mark()
    stop = TtsControl(action="stop", reason="bench", satellite=stack.satellite)
    await stack.client.publish(TOPIC_TTS_CONTROL, stop)
    with contextlib.suppress(TimeoutError):
        await stack.seen.wait_for(
            lambda s: s.topic == TOPIC_TTS_STATUS and s.data.event in ("speaking_end", "stopped"),
            since,
            3.0,
        )
    stack.room.playout.flush()


async def settle_in(stack: DuplexStack, room: RoomConfig, warm_up_s: float = 6.0) -> int:
    """Move to ``room`` and let a reply play long enough for the canceller to learn it.

    A real device's echo path does not jump between replies; here it does, so each room
    gets a reply of its own before its trials, as a device gets its first minutes.

    Returns:
        The voice barge-ins the echo caused meanwhile (a path change's false alarms).
    """
    stack.room.reconfigure(room)
    since = stack.seen.mark()
    reply_id = await stack.ask(REQUEST)
    await stack.speaking(reply_id, warm_up_s)
    await quiet(stack)
    return len(stack.seen.find(lambda s: s.topic == TOPIC_STT_BARGE_IN, since))


async def echo_only(stack: DuplexStack, seconds: float, rooms: list[RoomConfig]) -> dict[str, Any]:
    """TARS talks for ``seconds`` (shared by the rooms) with nobody else in the room.

    Each room first gets an uncounted warm-up reply (`settle_in`): right after the echo path
    jumps, the canceller is still learning it.
    """
    per_room: list[dict[str, Any]] = []
    marks: list[tuple[int, int]] = []
    played = 0.0
    learning = 0
    for room in rooms:
        learning += await settle_in(stack, room)
        since, start_s = stack.seen.mark(), stack.room.speaker_s
        before = _stats(stack)
        replies = 0
        while stack.room.speaker_s - start_s < seconds / len(rooms):
            reply_id = await stack.ask(REQUEST)
            await stack.idle(reply_id, timeout_s=180.0)
            replies += 1
        marks.append((since, stack.seen.mark()))
        played += stack.room.speaker_s - start_s
        erle = _echo_delta(before, _stats(stack))
        per_room.append(
            {
                "echo_gain": room.echo_gain,
                "echo_delay_ms": room.echo_delay_ms,
                "replies": replies,
                "erle_db": None if erle is None else round(erle, 1),
            }
        )
    events = [seen for begin, end in marks for seen in stack.seen.events[begin:end]]

    def count(check: Any) -> int:
        return sum(1 for seen in events if check(seen))

    erles = [r["erle_db"] for r in per_room if r["erle_db"] is not None]
    return {
        "tars_speaking_s": round(played, 1),
        "erle_db_mean": round(sum(erles) / len(erles), 1) if erles else None,
        "erle_db_min": min(erles) if erles else None,
        "per_room": per_room,
        "wake_false_accepts": count(
            lambda s: s.topic == TOPIC_WAKE_EVENT and s.data.type in ("wake", "interrupt")
        ),
        "transcripts_from_echo": count(
            lambda s: s.topic == TOPIC_STT_FINAL and s.data.source != "text"
        ),
        "rejections_from_echo": count(lambda s: s.topic == TOPIC_STT_REJECTED),
        "false_voice_barge_ins": count(lambda s: s.topic == TOPIC_STT_BARGE_IN),
        "false_voice_barge_ins_while_learning_a_new_path": learning,
    }


async def _over_reply(stack: DuplexStack, clip: Clip, room: RoomConfig, flowing_s: float) -> Trial:
    """Start a reply, say ``clip`` over it and record what happened to the reply."""
    reply_id = await stack.ask(REQUEST)
    await stack.speaking(reply_id, flowing_s)
    seen = stack.seen
    since = seen.mark()
    utterance = stack.room.say(clip.samples, onset_s=clip.onset_s)
    first = await utterance.onset_at
    trial = Trial(clip.kind, clip.text, clip.voice, room.echo_gain, room.echo_delay_ms)
    clip_s = clip.samples.size / 16000

    def halted(s: Seen) -> bool:
        return status("paused", reply_id)(s) or status("stopped", reply_id)(s)

    try:
        hit = await seen.wait_for(halted, since, clip_s + 3.0)
    except TimeoutError:
        return trial
    trial.paused_after_ms = round((hit.at - first) * 1000, 1)
    held_at = stack.room.playout.held_at
    if held_at is not None and held_at >= first:
        trial.speaker_quiet_after_ms = round((held_at - first) * 1000, 1)
    trial.outcome = "stopped" if hit.data.event == "stopped" else "paused"
    with contextlib.suppress(TimeoutError):
        end = await seen.wait_for(
            lambda s: status("stopped", reply_id)(s) or status("resumed", reply_id)(s),
            since,
            OUTCOME_S,
        )
        trial.outcome = end.data.event
        if end.data.event == "resumed":
            trial.pause_s = round(end.at - hit.at, 2)
    finals = seen.find(lambda s: s.topic == TOPIC_STT_FINAL and s.data.source != "text", since)
    rejected = seen.find(lambda s: s.topic == TOPIC_STT_REJECTED, since)
    trial.heard = finals[0].data.text if finals else None
    trial.rejected = rejected[0].data.filter if rejected else None
    if finals and not cancel_phrase(finals[0].data.text):
        # A question gets an answer: let it start, so the clean-up stops it too.
        with contextlib.suppress(TimeoutError):
            await seen.wait_for(
                lambda s: s.topic == TOPIC_TTS_SAY and s.data.utt_id == finals[0].data.utt_id,
                since,
                3.0,
            )
    return trial


async def run_trials(
    stack: DuplexStack, clips: list[Clip], rooms: list[RoomConfig], warm_up_s: float = 6.0
) -> list[dict[str, Any]]:
    """Each clip over a fresh reply, room by room (clip ``i`` in room ``i % len(rooms)``)."""
    trials = []
    for room_index, room in enumerate(rooms):
        mine = clips[room_index :: len(rooms)]
        if not mine:
            continue
        await settle_in(stack, room, warm_up_s)
        for index, clip in enumerate(mine):
            flowing_s = 2.0 + (index % 3)  # the user cuts in 2-4 s into the reply
            began = time.monotonic()
            trial = await _over_reply(stack, clip, room, flowing_s)
            await quiet(stack)
            trials.append(asdict(trial))
            print(
                f"  {clip.kind:11s} {clip.text or '(cough)':28s} gain {trial.echo_gain:.1f}: "
                f"{trial.outcome:9s} after {trial.paused_after_ms} ms; heard {trial.heard!r} "
                f"rejected {trial.rejected} ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
    return trials
