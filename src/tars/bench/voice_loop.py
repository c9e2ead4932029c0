"""The whole voice loop timed turn by turn: end of speech to the first reply audio.

`VoiceRig` runs wake, stt, router and tts in this process on a broker (each on its own
MQTT connection), plays a synthesised utterance as real-time frames on
``audio/<satellite>/pcm`` and times the end of speech in the input audio to the first
reply piece on ``tts/audio/<satellite>``, with the stages in between.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tars.audio.pcm import Int16Array, bytes_to_int16, silence
from tars.bench.report import percentiles
from tars.bench.rig import Event, Rig, UrlFor, speech_end_s
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, ConversationTurn
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.runtime.settings import RuntimeSettings

VOICE_UTTERANCES = (
    "what time is it",
    "what is the date today",
    "say hello Sam",
    "what's the time",
    "what day is it",
    "set a timer for ten seconds",
)
"""Rule-answered requests timed end to end, each spoken after the wake word."""
WAKE_WORD = "okay nabu"


@dataclass
class VoiceTurn:
    """What one spoken request produced."""

    heard: str
    """The stt/final text."""
    reply_text: str
    """What the router answered (conversation/turn), empty if no turn came."""
    reply_audio: Int16Array
    """Reply audio received on tts/audio/<satellite>."""
    rate: int
    """Its sample rate, Hz."""
    latency_ms: float
    """End of speech in the input audio to the first reply audio piece."""
    stages_ms: dict[str, float] = field(default_factory=dict)
    """Where the latency went (see :meth:`VoiceRig.turn`)."""
    gaps_ms: list[float] = field(default_factory=list)
    """Silences a listener playing the reply audio as it arrives hears inside the reply
    (audio late after the previous piece ran out), ms, in order (see `playback_gaps`)."""


class VoiceRig(Rig):
    """wake + stt + router + tts in this process (by default), timing whole spoken turns."""

    async def turn(self, speech: Int16Array, satellite: str | None = None) -> VoiceTurn:
        """Play ``speech`` (16 kHz) in real time and wait for the spoken reply.

        Stages: ``stt_final`` = end of speech to stt/final (VAD hangover + transcription),
        ``transcribe`` = the STT's own transcription time, ``router`` = stt/final to the
        first tts/say of the reply, ``tts`` = that tts/say to the first reply audio piece.

        Raises:
            TimeoutError: no reply within 30 s.
        """
        name = satellite or self.satellite
        since = self.say(speech, name)
        speech_end = await self.feed_started(since) + speech_end_s(speech)
        start = await self.find(since, lambda e: _reply_start(e, name))
        utt_id = start[2].utt_id
        await self.find(since, lambda e: _is_status(e, "speaking_end", utt_id))
        with contextlib.suppress(TimeoutError):
            await self.find(since, lambda e: e[1] == TOPIC_CONVERSATION_TURN, 3.0)
        return _voice_turn(self.events[since:], name, utt_id, speech_end, start[2].sample_rate)


def _voice_turn(
    events: list[Event], satellite: str, utt_id: str, speech_end: float, rate: int | None
) -> VoiceTurn:
    audio = [e for e in events if e[1] == "audio" and e[2].properties.get("utt_id") == utt_id]
    final = next(
        (e for e in events if e[1] == TOPIC_STT_FINAL and e[2].satellite == satellite), None
    )
    say = next((e for e in events if e[1] == TOPIC_TTS_SAY and e[2].utt_id == utt_id), None)
    turn = next((e[2] for e in events if e[1] == TOPIC_CONVERSATION_TURN), None)
    stages: dict[str, float] = {}
    if final is not None:
        stages["stt_final"] = (final[0] - speech_end) * 1000.0
        stages["transcribe"] = final[2].transcribe_ms or 0.0
    if final is not None and say is not None:
        stages["router"] = (say[0] - final[0]) * 1000.0
    if say is not None and audio:
        stages["tts"] = (audio[0][0] - say[0]) * 1000.0
    if isinstance(turn, ConversationTurn):
        stages.update({f"turn.{k}": v for k, v in turn.timings_ms.items()})
    samples = [bytes_to_int16(e[2].payload) for e in audio]
    durations = [piece.size / rate for piece in samples] if rate else []
    pieces = [(e[0], seconds) for e, seconds in zip(audio, durations, strict=False)]
    return VoiceTurn(
        heard=final[2].text if final is not None else "",
        reply_text=turn.reply if isinstance(turn, ConversationTurn) else "",
        reply_audio=np.concatenate(samples) if samples else silence(0.0),
        rate=rate or 0,
        latency_ms=(audio[0][0] - speech_end) * 1000.0 if audio else float("nan"),
        stages_ms={k: round(v, 1) for k, v in stages.items()},
        gaps_ms=[round(gap, 1) for gap in playback_gaps(pieces)],
    )


def playback_gaps(pieces: list[tuple[float, float]], floor_ms: float = 20.0) -> list[float]:
    """Silent gaps, in ms, that a listener playing audio pieces as they arrive would hear.

    Each piece (arrival time, duration, both in s) plays as soon as it arrives and the one
    before it has finished; a piece arriving after the previous one ran out leaves a gap.
    Gaps up to ``floor_ms`` (network and scheduling jitter) are left out.

    Example:
        >>> [round(gap) for gap in playback_gaps([(0.0, 1.0), (0.5, 1.0), (2.4, 1.0)])]
        [400]
    """
    gaps: list[float] = []
    playing_until: float | None = None
    for arrival, duration in pieces:
        if playing_until is not None and (arrival - playing_until) * 1000.0 > floor_ms:
            gaps.append((arrival - playing_until) * 1000.0)
        start = arrival if playing_until is None else max(arrival, playing_until)
        playing_until = start + duration
    return gaps


def _is_status(event: Event, name: str, utt_id: str | None) -> bool:
    data = event[2]
    return event[1] == TOPIC_TTS_STATUS and data.event == name and data.utt_id == utt_id


def _reply_start(event: Event, satellite: str) -> bool:
    data = event[2]
    return (
        event[1] == TOPIC_TTS_STATUS
        and data.event == "speaking_start"
        and data.satellite == satellite
        and not data.wake_ack
        and not data.system_announce
    )


def spoken_request(text: str) -> Int16Array:
    """The wake word and ``text`` spoken by the Piper voice at 16 kHz, padded with silence."""
    from tars.audio import speech

    return speech.utterance(speech.piper(WAKE_WORD), speech.piper(text), gap_s=0.3, pad_s=0.5)


async def measure_voice(
    url_for: UrlFor,
    runtime: RuntimeSettings,
    utterances: tuple[str, ...] = VOICE_UTTERANCES,
) -> dict[str, Any]:
    """Voice-to-voice latency over ``utterances`` (wake word first), with stage splits."""
    clips = [await asyncio.to_thread(spoken_request, text) for text in utterances]
    turns: list[dict[str, Any]] = []
    async with VoiceRig(url_for, runtime) as rig:
        for text, clip in zip(utterances, clips, strict=True):
            turns.append(await timed_turn(rig, text, clip))
            await asyncio.sleep(1.0)
    return {**summarise(turns), "target_p50_ms": 800}


async def timed_turn(
    rig: VoiceRig, text: str, clip: Int16Array, satellite: str | None = None
) -> dict[str, Any]:
    """One turn as a report entry: what was heard and answered, latency and stages."""
    try:
        turn = await rig.turn(clip, satellite)
    except TimeoutError:
        return {"utterance": text, "error": "no reply"}
    return {
        "utterance": text,
        "heard": turn.heard,
        "reply": turn.reply_text,
        "latency_ms": round(turn.latency_ms, 1),
        "stages_ms": turn.stages_ms,
    }


def summarise(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """The turns with voice-to-voice percentiles and the median of each stage."""
    latencies = [t["latency_ms"] for t in turns if "latency_ms" in t]
    stages: dict[str, list[float]] = {}
    for entry in turns:
        for name, value in entry.get("stages_ms", {}).items():
            stages.setdefault(name, []).append(value)
    return {
        "turns": turns,
        "voice_to_voice_ms": percentiles(latencies),
        "stages_p50_ms": {name: percentiles(values)["p50"] for name, values in stages.items()},
    }
