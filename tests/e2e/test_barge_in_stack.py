"""Barge-in through the whole voice stack: every service running, the user only talks.

wake, stt, router, tts and llm run in this process, each on its own MQTT connection to a
real Mosquitto, with real engines (microWakeWord, Silero VAD + Whisper tiny.en, Piper) and
the llm service pointed at a scripted OpenAI-compatible server that streams a long story
slowly. The test is the satellite's microphone, nothing more: it plays synthesised speech
as real-time 20 ms frames on ``audio/<satellite>/pcm`` and watches what the services
publish (it never publishes a service's event itself). Reply audio comes back on
``tts/audio/<satellite>``.

Each test asks "okay nabu, tell me a long story" (no rule answers it, so the LLM does),
waits until the story is being spoken, and then barges in:

* "okay nabu, what time is it": the LLM request is cancelled (the server sees the client
  hang up), TTS stops the story and no more of it is heard, and the time is said instead
  (Whisper hears the hour in the reply audio);
* "okay nabu, stop": the story is cut the same way and nothing else is said;
* "okay nabu" alone: the story pauses, and resumes once the wake service's interrupt
  window (shortened here) passes without a request; the rest of it keeps playing.

Everything is awaited as an event with a deadline; the only fixed waits are the bounded
"nothing more happens" checks, and those count from the event that should end it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.openai_server import OpenAIServer, RecordedRequest, text_stream
from tests.support.voice import FIXED_HOUR, Microphone, fixed_clock, hear, spoken, states_an_hour

from tars.audio.pcm import Int16Array, bytes_to_int16
from tars.contracts.audio import tts_audio_topic
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN, router_state_topic
from tars.contracts.health import HEALTH_PATTERN
from tars.contracts.llm import TOPIC_LLM_CANCEL, TOPIC_LLM_REQUEST
from tars.contracts.stt import TOPIC_STT_FINAL, TOPIC_STT_PARTIAL, TOPIC_STT_REJECTED
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Message, RawMessage
from tars.runtime.service import Service, serve
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.services.wake.interrupt import cancel_phrase
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]

SERVICES = ("wake", "stt", "router", "llm", "tts")
_PLACES = ("harbour", "old mill", "lighthouse", "market", "forest", "library", "bridge", "garden")
_THINGS = ("boats", "clouds", "lanterns", "birds", "books", "flowers", "waves", "stars")
STORY = [
    f"The little robot walked slowly to the {_PLACES[i % 8]} "
    f"and spent a long while looking at the {_THINGS[(3 * i + 1) % 8]} there. "
    for i in range(48)
]
"""The LLM's long reply, one sentence (a few seconds of speech) per streamed chunk."""
STORY_CHUNK_S = 0.5
"""Pause before each chunk: the stream lasts ~25 s, far longer than any test waits for it."""
FLOWING_S = 1.0
"""Reply audio heard before the user barges in."""
AUDIO_TOLERANCE_S = 0.1
"""Slack between two subscriptions' handlers seeing messages that were in wire order."""
QUIET_S = 3.0
"""After the last event a barge-in should cause, how long nothing more may happen."""
RESUME_WINDOW_S = 1.5
"""The wake service's interrupt window in the wake-word-alone test (default 3 s)."""
WAIT_S = 30.0


# -- what the satellite's owner sees -----------------------------------------------------------
@dataclass(frozen=True)
class Seen:
    """One message seen by the test's client, with its arrival time (``time.monotonic()``)."""

    at: float
    topic: str
    data: Any = None
    raw: RawMessage | None = None

    @property
    def utt_id(self) -> str | None:
        """The reply an audio piece belongs to (its ``utt_id`` property)."""
        return None if self.raw is None else self.raw.properties.get("utt_id")

    @property
    def seconds(self) -> float:
        """Duration of an audio piece."""
        if self.raw is None:
            return 0.0
        return len(self.raw.payload) / 2 / int(self.raw.properties.get("rate", "22050"))


@dataclass
class Timeline:
    """Everything published about one satellite, in arrival order."""

    satellite: str
    events: list[Seen] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: Message) -> None:
        satellite = getattr(message.data, "satellite", None)
        if satellite is not None and satellite != self.satellite:
            return
        self._add(Seen(time.monotonic(), message.topic, message.data))

    async def on_audio(self, message: RawMessage) -> None:
        self._add(Seen(time.monotonic(), message.topic, raw=message))

    def _add(self, seen: Seen) -> None:
        self.events.append(seen)
        self.changed.set()

    def mark(self) -> int:
        """Index of the next event (for ``since``)."""
        return len(self.events)

    def find(self, check: Callable[[Seen], bool], since: int = 0) -> list[Seen]:
        return [seen for seen in self.events[since:] if check(seen)]

    async def wait_for(
        self, check: Callable[[Seen], bool], since: int = 0, timeout_s: float = WAIT_S
    ) -> Seen:
        """The first event from ``since`` on that passes ``check``.

        Raises:
            TimeoutError: none within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.find(check, since)
            if found:
                return found[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing matched within {timeout_s} s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)

    async def none_until(self, check: Callable[[Seen], bool], since: int, until: float) -> None:
        """Fail as soon as an event from ``since`` on passes ``check`` before ``until``."""
        with contextlib.suppress(TimeoutError):
            seen = await self.wait_for(check, since, max(0.0, until - time.monotonic()))
            raise AssertionError(f"unexpected {seen.topic}: {seen.data or seen.utt_id}")

    def audio(self, utt_id: str, after: float = 0.0) -> list[Seen]:
        """Reply audio pieces of ``utt_id`` that arrived after ``after``."""
        return self.find(lambda s: s.raw is not None and s.utt_id == utt_id and s.at > after)

    def samples(self, utt_id: str) -> Int16Array:
        pieces = [bytes_to_int16(s.raw.payload) for s in self.audio(utt_id) if s.raw is not None]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)

    def summary(self, since: int = 0, partials: bool = False) -> str:
        """A readable trace of the control events (not audio), for failure messages."""
        start = self.events[0].at if self.events else 0.0
        lines = []
        for seen in self.events[since:]:
            if seen.raw is not None or (seen.topic == TOPIC_STT_PARTIAL and not partials):
                continue
            data = seen.data
            detail = {
                TOPIC_WAKE_EVENT: lambda d: f"{d.type} tts_id={d.tts_id} cause={d.cause}",
                TOPIC_STT_FINAL: lambda d: f"{d.text!r} utt={d.utt_id}",
                TOPIC_STT_PARTIAL: lambda d: f"{d.text!r} turn={d.turn}",
                TOPIC_STT_REJECTED: lambda d: f"{d.text!r} {d.reason}",
                TOPIC_TTS_SAY: lambda d: f"{d.text[:40]!r} utt={d.utt_id}",
                TOPIC_TTS_STATUS: lambda d: f"{d.event} utt={d.utt_id} {d.reason or ''}",
                TOPIC_TTS_CONTROL: lambda d: f"{d.action} id={d.id} {d.reason or ''}",
                TOPIC_LLM_CANCEL: lambda d: f"id={d.id} {d.reason or ''}",
                TOPIC_LLM_REQUEST: lambda d: f"{d.text!r} id={d.id}",
            }.get(seen.topic, lambda d: str(getattr(d, "phase", "")))(data)
            lines.append(f"  {seen.at - start:7.2f} {seen.topic}: {detail}")
        return "\n".join(lines)


def status(event: str, utt_id: str) -> Callable[[Seen], bool]:
    return lambda s: (
        s.topic == TOPIC_TTS_STATUS and s.data.event == event and s.data.utt_id == utt_id
    )


def wake_event(kind: str) -> Callable[[Seen], bool]:
    return lambda s: s.topic == TOPIC_WAKE_EVENT and s.data.type == kind


def final(s: Seen) -> bool:
    return s.topic == TOPIC_STT_FINAL


# -- the stack -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Engines:
    """The session's engines, handed to the services instead of loading their own."""

    whisper: WhisperTranscriber
    turn_model: TurnModel | None
    voice: PiperSynthesizer


@dataclass
class Stack:
    mic: Microphone
    seen: Timeline
    server: OpenAIServer
    satellite: str


@contextlib.asynccontextmanager
async def voice_stack(
    broker: TestBroker,
    engines: Engines,
    data_dir: Path,
    satellite: str,
    wake: WakeSettings | None = None,
) -> AsyncIterator[Stack]:
    """All five services on their own connections, the story server and the microphone."""
    server = OpenAIServer(
        [text_stream(STORY, delay_s=STORY_CHUNK_S)], default=text_stream(["I am not sure."])
    )
    client = broker.bus("cli", health=False)
    seen = Timeline(satellite)
    for topic in (
        TOPIC_WAKE_EVENT,
        TOPIC_STT_FINAL,
        TOPIC_STT_PARTIAL,
        TOPIC_STT_REJECTED,
        TOPIC_TTS_SAY,
        TOPIC_TTS_STATUS,
        TOPIC_TTS_CONTROL,
        TOPIC_LLM_REQUEST,
        TOPIC_LLM_CANCEL,
        TOPIC_CONVERSATION_TURN,
        router_state_topic(satellite),
    ):
        client.subscribe(topic, seen.on_message)
    client.subscribe_raw(tts_audio_topic(satellite), seen.on_audio)
    health = Collector()
    client.subscribe(HEALTH_PATTERN, health)
    stop = asyncio.Event()
    async with server, running(client):
        services: list[Service] = [
            WakeService(wake or WakeSettings()),
            SttService(SttSettings(), transcriber=engines.whisper, turn_model=engines.turn_model),
            RouterService(
                RouterSettings(online_announce=False, wake_ack_enabled=False), wallclock=fixed_clock
            ),
            LlmService(LlmSettings(base_url=server.base_url, model="test-model")),
            TtsService(
                TtsSettings(sink="null", cache_enable=False),
                data_dir,
                synthesizer=engines.voice,
            ),
        ]
        tasks = [
            asyncio.create_task(
                serve(service, broker.bus(service.name), stop, heartbeat_s=60),
                name=f"test:{service.name}",
            )
            for service in services
        ]
        try:
            for name in SERVICES:
                await health.wait_for(partial(_ready, name), 60)
            async with Microphone(client, satellite) as mic:
                yield Stack(mic, seen, server, satellite)
        finally:
            stop.set()
            _, late = await asyncio.wait(tasks, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert not late, f"services that did not stop: {[t.get_name() for t in late]}"


def _ready(name: str, message: Message) -> bool:
    return (
        message.topic.endswith(f"/{name}")
        and message.data.ok
        and message.data.event == "ready"
        and not message.retained
    )


@dataclass
class Story:
    """The long reply, playing."""

    reply_id: str
    request: RecordedRequest
    flowing_at: float


async def story_playing(stack: Stack, voice: PiperSynthesizer) -> Story:
    """Ask for the long story and return once its audio has been flowing for a while."""
    seen = stack.seen
    ask = await asyncio.to_thread(spoken, voice, "Okay Nabu.", "Tell me a long story.")
    await stack.mic.say(ask)
    try:
        request = await seen.wait_for(lambda s: s.topic == TOPIC_LLM_REQUEST)
    except TimeoutError:
        print(seen.summary(partials=True))
        raise
    reply_id = request.data.id
    assert "story" in request.data.text.lower(), seen.summary()
    start = await seen.wait_for(status("speaking_start", reply_id))
    deadline = time.monotonic() + WAIT_S
    while sum(piece.seconds for piece in seen.audio(reply_id)) < FLOWING_S:
        assert time.monotonic() < deadline, "the story's audio is not flowing"
        await seen.wait_for(lambda s: s.raw is not None, since=seen.mark(), timeout_s=WAIT_S)
    recorded = stack.server.requests[0]
    assert not recorded.completed.is_set(), "the story must still be streaming"
    assert not recorded.closed_early.is_set()
    print(
        f"\nstory {reply_id}: asked, first audio {start.at - request.at:.2f} s after the request,"
        f" {recorded.chunks_sent}/{len(STORY)} chunks streamed"
    )
    return Story(reply_id, recorded, time.monotonic())


async def assert_cut(stack: Stack, story: Story, since: int) -> Seen:
    """The story was cut: LLM request cancelled, TTS stopped, no more of it heard after."""
    seen = stack.seen
    stopped = await seen.wait_for(status("stopped", story.reply_id), since)
    cancel = await seen.wait_for(
        lambda s: s.topic == TOPIC_LLM_CANCEL and s.data.id == story.reply_id, since
    )
    await asyncio.wait_for(story.request.closed_early.wait(), 10)
    assert story.request.closed_at is not None
    await seen.wait_for(status("speaking_end", story.reply_id), since)
    turn = await seen.wait_for(
        lambda s: s.topic == TOPIC_CONVERSATION_TURN and s.data.id == story.reply_id
    )
    assert turn.data.interrupted is True
    assert turn.data.route == "llm"
    assert story.request.chunks_sent < len(STORY), "the stream ran to its end"
    print(
        f"  cut: llm/cancel ({cancel.data.reason}) +{cancel.at - story.flowing_at:.2f} s, "
        f"server saw the close +{story.request.closed_at - story.flowing_at:.2f} s after "
        f"{story.request.chunks_sent}/{len(STORY)} chunks, tts stopped "
        f"+{stopped.at - story.flowing_at:.2f} s"
    )
    return stopped


# -- the scenarios ---------------------------------------------------------------------------
async def test_new_question_cuts_the_story_and_is_answered(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    question = spoken(piper_voice, "Okay Nabu.", "What time is it?")
    engines = Engines(whisper, turn_model, piper_voice)
    async with voice_stack(mqtt_broker, engines, tmp_path, "barge-ask") as stack:
        seen = stack.seen
        story = await story_playing(stack, piper_voice)
        barge = seen.mark()
        await stack.mic.say(question)
        try:
            interrupt = await seen.wait_for(wake_event("interrupt"), barge)
            assert interrupt.data.tts_id == story.reply_id
            stopped = await assert_cut(stack, story, barge)
            asked = await seen.wait_for(final, barge)
            answer_id = asked.data.utt_id
            say = await seen.wait_for(
                lambda s: s.topic == TOPIC_TTS_SAY and s.data.utt_id != story.reply_id, barge
            )
            start = await seen.wait_for(status("speaking_start", say.data.utt_id), barge)
            end = await seen.wait_for(status("speaking_end", say.data.utt_id), barge)
        finally:
            print(seen.summary())
        late = seen.audio(story.reply_id, after=stopped.at + AUDIO_TOLERANCE_S)
        requests = len(stack.server.requests)
    answer = seen.samples(say.data.utt_id)
    heard = hear(whisper, answer, start.data.sample_rate or 22050)
    print(
        f"  asked {asked.data.text!r}; answer {say.data.text!r} spoken "
        f"{start.at - asked.at:.2f} s after the final, "
        f"{answer.size / (start.data.sample_rate or 22050):.2f} s of audio heard as {heard!r}"
    )
    assert "time" in asked.data.text.lower()
    assert say.data.utt_id == answer_id, "the answer belongs to the new question"
    assert stopped.at <= start.at, "the story stops before the answer starts"
    assert late == [], f"{len(late)} pieces of the story after it stopped"
    assert end.data.reason is None, "the answer plays to its end"
    assert requests == 1, "the time is a rule: the LLM is asked nothing more"
    assert states_an_hour(heard, {FIXED_HOUR}), heard


async def test_stop_cuts_the_story_and_says_nothing(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    stop_clip = spoken(piper_voice, "Okay Nabu.", "Stop.")
    engines = Engines(whisper, turn_model, piper_voice)
    async with voice_stack(mqtt_broker, engines, tmp_path, "barge-stop") as stack:
        seen = stack.seen
        story = await story_playing(stack, piper_voice)
        barge = seen.mark()
        await stack.mic.say(stop_clip)
        try:
            await seen.wait_for(wake_event("interrupt"), barge)
            stopped = await assert_cut(stack, story, barge)
            heard = await seen.wait_for(final, barge)
            # The router has acted on the "stop" once it publishes its (silent) turn.
            handled = await seen.wait_for(
                lambda s: s.topic == TOPIC_CONVERSATION_TURN and s.data.id == heard.data.utt_id,
                barge,
            )
            quiet_from = max(heard.at, handled.at, stopped.at)
            # From the story's stop on: no new speech of any kind, for QUIET_S after the
            # last event the "stop" caused.
            await seen.none_until(
                lambda s: (
                    s.topic == TOPIC_TTS_SAY
                    or (s.topic == TOPIC_TTS_STATUS and s.data.event == "speaking_start")
                    or (s.raw is not None and s.utt_id != story.reply_id)
                ),
                seen.events.index(stopped),
                quiet_from + QUIET_S,
            )
        finally:
            print(seen.summary())
        late = seen.audio(story.reply_id, after=stopped.at + AUDIO_TOLERANCE_S)
    print(f"  heard {heard.data.text!r}; nothing said for {QUIET_S} s after it")
    assert cancel_phrase(heard.data.text), heard.data.text
    assert handled.data.reply == ""
    assert late == [], f"{len(late)} pieces of the story after it stopped"
    assert len(stack.server.requests) == 1


async def test_wake_word_alone_pauses_then_resumes_the_story(
    mqtt_broker: TestBroker,
    whisper: WhisperTranscriber,
    turn_model: TurnModel | None,
    piper_voice: PiperSynthesizer,
    tmp_path: Path,
) -> None:
    wake_only = spoken(piper_voice, "Okay Nabu.")
    engines = Engines(whisper, turn_model, piper_voice)
    wake = WakeSettings(interrupt_window_sec=RESUME_WINDOW_S)
    async with voice_stack(mqtt_broker, engines, tmp_path, "barge-wait", wake) as stack:
        seen = stack.seen
        story = await story_playing(stack, piper_voice)
        barge = seen.mark()

        def cut(s: Seen) -> bool:
            """Anything a wake word alone must not cause."""
            return (
                status("stopped", story.reply_id)(s)
                or (s.topic == TOPIC_LLM_CANCEL and s.data.id == story.reply_id)
                or (s.topic == TOPIC_TTS_SAY and s.data.utt_id != story.reply_id)
                or s.topic in (TOPIC_STT_FINAL, TOPIC_STT_REJECTED)
            )

        await stack.mic.say(wake_only)
        try:
            interrupt = await seen.wait_for(wake_event("interrupt"), barge)
            assert interrupt.data.tts_id == story.reply_id
            paused = await seen.wait_for(status("paused", story.reply_id), barge)
            # The pause ends within the window (plus slack): in a resume, or wrongly in a cut.
            outcome = await seen.wait_for(
                lambda s: wake_event("resume")(s) or cut(s), barge, RESUME_WINDOW_S + 5
            )
            assert not cut(outcome), f"a wake word alone cut the story: {outcome.topic}"
            resume = outcome
            resumed = await seen.wait_for(status("resumed", story.reply_id), barge)
            deadline = time.monotonic() + 10
            while sum(p.seconds for p in seen.audio(story.reply_id, after=resumed.at)) < 1.0:
                assert time.monotonic() < deadline, "the story did not go on after resuming"
                await seen.wait_for(lambda s: s.raw is not None, seen.mark(), 10)
            more = seen.audio(story.reply_id, after=resumed.at)
        finally:
            print(seen.summary())
        during_pause = [
            piece
            for piece in seen.audio(story.reply_id, after=paused.at + AUDIO_TOLERANCE_S)
            if piece.at < resumed.at
        ]
        cuts = seen.find(cut, barge)
        still_streaming = not story.request.closed_early.is_set()
    print(
        f"  paused +{paused.at - story.flowing_at:.2f} s, resumed after "
        f"{resumed.at - paused.at:.2f} s (window {RESUME_WINDOW_S} s), "
        f"{sum(p.seconds for p in more):.2f} s more audio"
    )
    assert resume.data.tts_id == story.reply_id
    assert cuts == [], "a wake word alone must neither stop the story nor ask anything"
    assert still_streaming, "the LLM stream was cancelled"
    assert during_pause == [], f"{len(during_pause)} pieces played while paused"
    assert resumed.at - paused.at >= RESUME_WINDOW_S * 0.8
