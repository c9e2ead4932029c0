"""The stt pipeline for one utterance: gate -> turn decision -> transcriber -> filters.

`UtterancePipeline.handle` takes the segmenter's events of one satellite, in order:

* `SpeechStarted`: a new utterance; speech this soon after a final continues that turn
  (``stt/continuation`` goes out at once unless TTS is playing there, where it may be echo);
* `PartialDue`: at a pause, the transcript so far and the turn model vote on the end of
  turn (`turn.EndOfTurnPolicy`), which sets the hangover; while speaking, a partial;
* `UtteranceEnded`: the gate decides (in audio time) whether anybody listened; the pause
  transcript is reused when no speech followed it, and the `Publisher` filters and publishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tars.audio.pcm import SAMPLE_RATE, Int16Array
from tars.contracts.base import new_id
from tars.contracts.stt import (
    TOPIC_STT_BARGE_IN,
    TOPIC_STT_CONTINUATION,
    TurnContinuation,
    VoiceBargeIn,
)
from tars.runtime.bus import Bus
from tars.runtime.settings import ConversationSettings
from tars.services.stt.endpoint import (
    PartialDue,
    SegmenterEvent,
    SpeechStarted,
    UtteranceEnded,
)
from tars.services.stt.publisher import Heard, Publisher
from tars.services.stt.session import Decision, Window, cut_audio
from tars.services.stt.settings import SttSettings
from tars.services.stt.stream import HeldUtterance, PauseTranscript, SatelliteStream
from tars.services.stt.transcriber import Transcriber, Transcript, TranscriptionError
from tars.services.stt.turn import EndOfTurnPolicy, TurnDecision
from tars.services.stt.turn_model import TurnModel

_LOGGER = logging.getLogger(__name__)

_BEHIND_FRAMES = 10
"""Queued frames beyond which interval partials are skipped (the worker is behind)."""
_MIN_TRANSCRIBE_S = 0.3
"""Shortest audio worth transcribing, in seconds."""


class UtterancePipeline:
    """Turns one satellite's segmenter events into finals, partials and rejections.

    Args:
        settings: The ``STT_*`` settings.
        conversation: Windows shared with the router (the continuation window).
        bus: For metrics and the continuation event.
        publisher: Filters and publishes.
        policy: The end-of-turn policy.
        closed_command: Whether a transcript is a whole command answered by rule.
        backlog: Frames still queued for a satellite (partials are skipped when behind).
    """

    def __init__(
        self,
        settings: SttSettings,
        conversation: ConversationSettings,
        bus: Bus,
        publisher: Publisher,
        policy: EndOfTurnPolicy,
        *,
        closed_command: Callable[[str], bool],
        backlog: Callable[[str], int],
    ) -> None:
        self._settings = settings
        self._conversation = conversation
        self._bus = bus
        self._publisher = publisher
        self._policy = policy
        self._closed_command = closed_command
        self._backlog = backlog
        self.transcriber: Transcriber | None = None
        """Set by the service once loaded."""
        self.turn_model: TurnModel | None = None
        """Set by the service once loaded (None: the policy does without)."""
        # Transcriptions get threads of their own: queued behind the Whisper lock they would
        # otherwise fill the loop's default executor and starve every other to_thread user
        # (the VAD here, the wake detector when both services share a process).
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stt-transcribe")
        self._turn_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stt-turn")

    async def handle(self, stream: SatelliteStream, event: SegmenterEvent) -> None:
        """Take one segmenter event of ``stream`` through the pipeline."""
        if isinstance(event, SpeechStarted):
            await self._on_speech_started(stream, event)
        elif isinstance(event, PartialDue):
            await self._on_partial_due(stream, event)
        else:
            await self._on_utterance(stream, event)

    async def _on_speech_started(self, stream: SatelliteStream, event: SpeechStarted) -> None:
        self._bus.metrics.inc("speech_started")
        window_s = self._conversation.continuation_window_s
        continued = stream.start_utterance(new_id(), event.start_s, window_s)
        await self._voice_barge_in(stream, event)
        if continued is None:
            return
        self._bus.metrics.inc("continuations")
        if stream.gate.tts_speaking:
            # The reply is playing: this may be its echo. Only the transcript can tell, so
            # the router learns of the continuation from the final (``continues``).
            return
        gap = max(0.0, event.start_s - continued.speech_end_s)
        await self._bus.publish(
            TOPIC_STT_CONTINUATION,
            TurnContinuation(utt_id=continued.utt_id, satellite=stream.satellite, gap_s=gap),
        )

    async def _voice_barge_in(self, stream: SatelliteStream, event: SpeechStarted) -> None:
        """Speech over a reply on an echo-cancelled satellite: listen, and ask for a pause.

        The echo canceller took the reply out of the audio, so speech the VAD confirms now is
        the user's (or a residue the transcript filters reject later). An interrupt window
        opens at its start, as a wake word's would, and ``stt/barge_in`` goes out at once.
        """
        gate = stream.gate
        if not (self._settings.voice_barge_in and gate.echo_cancelled and gate.tts_speaking):
            return
        start_ts = stream.times.wall(event.start_s)
        # A little before the first speech window, so its pre-roll is inside the window.
        window = Window(
            "interrupt", start_ts - 0.05, start_ts + self._conversation.wake_window_s, voice=True
        )
        gate.open(window)
        stream.voice_window = window
        self._bus.metrics.inc("voice_barge_ins")
        _LOGGER.info("speech over the reply on %s: voice barge-in", stream.satellite)
        await self._bus.publish(
            TOPIC_STT_BARGE_IN,
            VoiceBargeIn(
                utt_id=stream.utt_id, satellite=stream.satellite, speech_start_ts=start_ts
            ),
        )

    def _decide(self, stream: SatelliteStream, start_ts: float, end_ts: float) -> Decision:
        """The gate's decision, unless the utterance continues the last turn."""
        decision = stream.gate.decide(start_ts, end_ts)
        last = stream.continuing
        fresh_wake = decision.cut_ts is not None and decision.reason in ("wake", "interrupt")
        if last is None or fresh_wake:
            return decision
        return Decision(True, "continuation")

    async def _on_partial_due(self, stream: SatelliteStream, event: PartialDue) -> None:
        if event.reason == "interval" and (
            not self._settings.streaming_partials
            or self._backlog(stream.satellite) > _BEHIND_FRAMES
        ):
            return
        times = stream.times
        decision = self._decide(
            stream, times.wall(stream.speech_start_s), times.wall(event.speech_end_s)
        )
        if not decision.accepted:
            return
        margin = self._settings.wake_cut_margin_ms / 1000
        audio = cut_audio(event.samples, times.wall(event.audio_start_s), decision.cut_ts, margin)
        if audio.size < _MIN_TRANSCRIBE_S * SAMPLE_RATE:
            return
        audio = stream.joined(audio)
        if event.reason == "pause":
            transcript, turn = await self._judge_pause(audio)
            text = self._publisher.strip_wake(transcript.text)
            _LOGGER.debug("pause: %r %s (p=%s)", text, turn.verdict, turn.probability)
            stream.pause = PauseTranscript(
                event.speech_end_s, decision.cut_ts, transcript, text, turn
            )
            stream.segmenter.set_hangover_ms(turn.hangover_ms)
            self._bus.metrics.inc(f"turn.{turn.verdict}")
            end_ts = times.wall(event.speech_end_s)
            await self._publisher.partial(stream, text, transcript, turn.verdict, end_ts)
            return
        transcript = await self._transcribe(audio)
        text = self._publisher.strip_wake(transcript.text)
        await self._publisher.partial(stream, text, transcript)

    async def _judge_pause(self, audio: Int16Array) -> tuple[Transcript, TurnDecision]:
        """Transcribe and run the turn model at a pause, in parallel; decide the end of turn."""
        probability_task = asyncio.ensure_future(self._turn_probability(audio))
        try:
            transcript = await self._transcribe(audio)
        except BaseException:
            probability_task.cancel()
            raise
        probability = await probability_task
        words = self._publisher.strip_wake(transcript.text)
        closed = bool(words) and self._closed_command(words)
        return transcript, self._policy.decide(words, probability, closed=closed)

    async def _turn_probability(self, audio: Int16Array) -> float | None:
        model = self.turn_model
        if model is None:
            return None
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            probability = await loop.run_in_executor(
                self._turn_pool, model.complete_probability, audio
            )
        except Exception:
            # A failing model must not lose the utterance: the policy then waits longer.
            self._bus.metrics.inc("turn_model_errors")
            _LOGGER.exception("turn model failed")
            return None
        self._bus.metrics.observe("turn_model_ms", (time.perf_counter() - started) * 1000)
        return probability

    async def _on_utterance(self, stream: SatelliteStream, event: UtteranceEnded) -> None:
        try:
            await self._utterance(stream, event)
        finally:
            voice, stream.voice_window = stream.voice_window, None
            stream.gate.consume(voice)  # one utterance per voice barge-in

    async def _utterance(self, stream: SatelliteStream, event: UtteranceEnded) -> None:
        times = stream.times
        start_ts, end_ts = times.wall(event.speech_start_s), times.wall(event.speech_end_s)
        audio_start_ts = times.wall(event.audio_start_s)
        decision = self._decide(stream, start_ts, end_ts)
        if not decision.accepted:
            self._bus.metrics.inc(f"gated.{decision.reason}")
            _LOGGER.debug("utterance not transcribed: %s", decision.reason)
            if decision.reason == "not_listening" and self._settings.held_utterance_s > 0:
                until = time.monotonic() + self._settings.held_utterance_s
                stream.held = [h for h in stream.held if h.until > time.monotonic()][-1:]
                stream.held.append(HeldUtterance(event, start_ts, end_ts, audio_start_ts, until))
            return
        await self._finalize(stream, event, decision, start_ts, end_ts, audio_start_ts)

    async def retry_held(self, stream: SatelliteStream) -> None:
        """A wake event arrived: transcribe held utterances its window now covers."""
        now = time.monotonic()
        held, stream.held = [h for h in stream.held if h.until > now], []
        for item in held:
            decision = stream.gate.decide(item.start_ts, item.end_ts)
            if decision.accepted:
                _LOGGER.info("late wake event: transcribing an utterance already ended")
                await self._finalize(
                    stream, item.event, decision, item.start_ts, item.end_ts, item.audio_start_ts
                )

    async def _finalize(
        self,
        stream: SatelliteStream,
        event: UtteranceEnded,
        decision: Decision,
        start_ts: float,
        end_ts: float,
        audio_start_ts: float,
    ) -> None:
        pause, stream.pause = stream.pause, None
        margin = self._settings.wake_cut_margin_ms / 1000
        audio = cut_audio(event.samples, audio_start_ts, decision.cut_ts, margin)
        if audio.size < _MIN_TRANSCRIBE_S * SAMPLE_RATE:
            self._bus.metrics.inc("too_short")
            if decision.window is not None and decision.window.voice:
                # A cough or a click paused the reply: say so, and it resumes at once.
                heard = Heard(event, decision, start_ts, end_ts, audio, None)
                await self._publisher.rejected(stream, heard, "", "too_short", "under 0.3 s")
            return
        audio = stream.joined(audio)
        if (
            pause is not None
            and pause.speech_end_s == event.speech_end_s
            and pause.cut_ts == decision.cut_ts
        ):
            transcript, turn = pause.transcript, pause.turn
            self._bus.metrics.inc("pause_transcript_reused")
        else:
            transcript, turn = await self._transcribe(audio), None
        heard = Heard(
            event=event,
            decision=decision,
            speech_start_ts=max(start_ts, decision.cut_ts or start_ts),
            speech_end_ts=end_ts,
            audio=audio,
            turn=turn,
        )
        await self._publisher.final(stream, heard, transcript)

    async def _transcribe(self, audio: Int16Array) -> Transcript:
        transcriber = self.transcriber
        if transcriber is None:
            raise TranscriptionError("model", "the transcriber is not loaded yet")
        loop = asyncio.get_running_loop()
        transcript = await loop.run_in_executor(self._pool, transcriber.transcribe, audio)
        self._bus.metrics.observe("transcribe_ms", transcript.elapsed_s * 1000)
        return transcript
