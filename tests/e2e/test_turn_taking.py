"""Turn-taking through the voice stack: pauses, continuations, filters and rejections.

The services of each scenario run in this process, each on its own MQTT connection to a
real Mosquitto, with real engines (microWakeWord, Silero VAD + Smart Turn + Whisper tiny.en,
Piper) shared by the session fixtures; the llm service, where one runs, talks to a scripted
OpenAI-compatible server. The test is the satellite's microphone and nothing more: it plays
speech as real-time 20 ms frames on ``audio/<satellite>/pcm`` (silence in between, like a
real microphone) and watches what the services publish; it never publishes their events.

* A request with a 450 ms pause in the middle (espeak-ng SSML ``<break>`` inside one
  sentence) gives one final holding all of it, and the router answers it once, also where
  the words before the pause are a whole sentence ("Remind me to water the plants": Smart
  Turn hears it as finished, but it is an open request, not a closed command).
* A request whose first half sounds finished ("Remind me to water the plants." ... 800 ms
  ... "On Sunday.") gives a first final; the second half continues it: ``stt/continuation``,
  the first reply (a slow LLM stream) is cancelled and stopped, and one final with
  ``continues`` holds the whole request, which the LLM answers once and TTS speaks.
* A long, confidently transcribed request full of uncommon words passes the filters (the
  py-tars common-word gate alone would reject it) and the router's "say" rule repeats it.
* A mumble after the wake word is rejected and published with its reason on
  ``stt/rejected``, and the router says it did not catch that.

Everything is awaited as an event with a deadline. Where a test proves that something did
*not* happen, it waits for a later event that must come after it (stt handles one
satellite's audio in order, so the final of a later request closes the earlier one).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.openai_server import OpenAIServer, RecordedRequest, Reply, text_stream
from tests.support.voice import Microphone, spoken

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence
from tars.bench.splice import trim
from tars.bench.turn_score import holds
from tars.contracts.audio import tts_audio_topic
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.health import HEALTH_PATTERN
from tars.contracts.llm import TOPIC_LLM_CANCEL, TOPIC_LLM_REQUEST
from tars.contracts.stt import (
    TOPIC_STT_CONTINUATION,
    TOPIC_STT_FINAL,
    TOPIC_STT_REJECTED,
)
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Message, RawMessage
from tars.runtime.service import Service, serve
from tars.runtime.settings import ConversationSettings
from tars.services.llm.service import LlmService
from tars.services.llm.settings import LlmSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings
from tars.services.stt.filter_rules import COMMON_WORDS
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings
from tars.services.stt.turn_model import TurnModel
from tars.services.stt.whisper_engine import WhisperTranscriber
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.synth import PiperSynthesizer
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings
from tars.text.commands import normalize

pytestmark = [pytest.mark.e2e, pytest.mark.engine, pytest.mark.broker]

WAIT_S = 30.0
"""Deadline of every awaited event (the machine may be shared and slow)."""
AUDIO_TOLERANCE_S = 0.3
"""Slack between a stop and the last reply audio already on its way."""
APART_S = 2.0
"""Silence between two requests: longer than the continuation window (1.5 s)."""
FIRST_HALF = "Remind me to water the plants"
SECOND_HALF = "on Sunday"
QUICK_BROWN_FOX = (
    "Say the quick brown fox jumps over the lazy dog and runs all the way home "
    "across the wide green fields past the old mill."
)


# -- what the satellite's owner sees ---------------------------------------------------------
@dataclass(frozen=True)
class AudioPiece:
    """One piece of reply audio on ``tts/audio/<satellite>``."""

    at: float
    """Arrival, ``time.monotonic()``."""
    utt_id: str | None
    seconds: float


@dataclass
class Seen:
    """Everything the services published about one satellite (messages and reply audio)."""

    satellite: str
    messages: Collector = field(default_factory=Collector)
    audio: list[AudioPiece] = field(default_factory=list)

    async def on_message(self, message: Message) -> None:
        satellite = getattr(message.data, "satellite", None)
        if satellite is None or satellite == self.satellite:
            await self.messages(message)

    async def on_audio(self, message: RawMessage) -> None:
        rate = int(message.properties.get("rate", "22050"))
        utt_id = message.properties.get("utt_id")
        self.audio.append(AudioPiece(time.monotonic(), utt_id, len(message.payload) / 2 / rate))

    def mark(self) -> int:
        """Index of the next message (for ``since``)."""
        return len(self.messages.messages)

    def on(self, topic: str, since: int = 0) -> list[Any]:
        """Payloads published on ``topic`` (from message ``since`` on)."""
        return [m.data for m in self.messages.messages[since:] if m.topic == topic]

    async def wait(
        self, topic: str, check: Callable[[Any], bool] = lambda _: True, since: int = 0
    ) -> Any:
        """The payload of the first message on ``topic`` that passes ``check``."""
        found = await self.messages.wait_for(
            lambda m: m.topic == topic and check(m.data), WAIT_S, since
        )
        return found.data

    def arrival(self, topic: str, check: Callable[[Any], bool]) -> float:
        """When the first message on ``topic`` passing ``check`` arrived."""
        return self.timed(topic, check)[0][0]

    def timed(self, topic: str, check: Callable[[Any], bool]) -> list[tuple[float, Any]]:
        """(arrival, payload) of the messages on ``topic`` that pass ``check``."""
        return [
            (at, message.data)
            for message, at in zip(self.messages.messages, self.messages.arrivals, strict=True)
            if message.topic == topic and check(message.data)
        ]

    def summary(self) -> str:
        """A readable trace of the control events (not audio), for failure messages."""
        begin = self.messages.arrivals[0] if self.messages.arrivals else 0.0
        lines = []
        for message, at in zip(self.messages.messages, self.messages.arrivals, strict=True):
            if message.topic in _DETAIL:
                lines.append(
                    f"  {at - begin:6.2f} {message.topic}: {_DETAIL[message.topic](message.data)}"
                )
        return "\n".join(lines)


_DETAIL: dict[str, Callable[[Any], str]] = {
    TOPIC_WAKE_EVENT: lambda d: f"{d.type}",
    TOPIC_STT_FINAL: lambda d: (
        f"{d.text!r} utt={d.utt_id} in={d.heard_in} continues={d.continues} "
        f"p_done={d.turn_complete}"
    ),
    TOPIC_STT_REJECTED: lambda d: f"{d.text!r} {d.filter}: {d.reason} in={d.heard_in}",
    TOPIC_STT_CONTINUATION: lambda d: f"utt={d.utt_id} gap={d.gap_s:.2f}",
    TOPIC_TTS_SAY: lambda d: f"{d.text[:50]!r} utt={d.utt_id}",
    TOPIC_TTS_STATUS: lambda d: f"{d.event} utt={d.utt_id} {d.reason or ''}",
    TOPIC_TTS_CONTROL: lambda d: f"{d.action} id={d.id} {d.reason or ''}",
    TOPIC_LLM_REQUEST: lambda d: f"{d.text!r} id={d.id} preemptive={d.preemptive}",
    TOPIC_LLM_CANCEL: lambda d: f"id={d.id} {d.reason or ''}",
    TOPIC_CONVERSATION_TURN: lambda d: (
        f"{d.user_text!r} -> {d.reply[:40]!r} id={d.id} interrupted={d.interrupted}"
    ),
}
_WATCHED = tuple(_DETAIL)


# -- the stack -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Engines:
    """The session's engines, handed to the services instead of loading their own."""

    whisper: WhisperTranscriber
    turn_model: TurnModel | None
    voice: PiperSynthesizer


@pytest.fixture
def engines(
    whisper: WhisperTranscriber, turn_model: TurnModel | None, piper_voice: PiperSynthesizer
) -> Engines:
    return Engines(whisper, turn_model, piper_voice)


@dataclass
class Stack:
    mic: Microphone
    seen: Seen

    async def say(self, audio: Int16Array) -> None:
        """Play ``audio`` on the satellite's microphone; return once its last frame is out."""
        # Bounded like every wait here: a stalled microphone fails the test, never hangs it.
        await asyncio.wait_for(self.mic.say(audio), audio.size / SAMPLE_RATE + WAIT_S)


def _services(
    names: Iterable[str],
    engines: Engines,
    data_dir: Path,
    server: OpenAIServer | None,
    conversation: ConversationSettings,
) -> list[Service]:
    built: dict[str, Callable[[], Service]] = {
        "wake": lambda: WakeService(WakeSettings()),
        "stt": lambda: SttService(
            SttSettings(),
            conversation=conversation,
            transcriber=engines.whisper,
            turn_model=engines.turn_model,
        ),
        "router": lambda: RouterService(
            RouterSettings(online_announce=False, wake_ack_enabled=False),
            conversation=conversation,
        ),
        "llm": lambda: LlmService(
            LlmSettings(base_url=server.base_url if server else "", model="test-model")
        ),
        "tts": lambda: TtsService(
            TtsSettings(sink="null", cache_enable=False), data_dir, synthesizer=engines.voice
        ),
    }
    return [built[name]() for name in names]


@contextlib.asynccontextmanager
async def voice_stack(
    broker: TestBroker,
    engines: Engines,
    data_dir: Path,
    satellite: str,
    services: tuple[str, ...],
    server: OpenAIServer | None = None,
    conversation: ConversationSettings | None = None,
) -> AsyncIterator[Stack]:
    """``services`` on their own connections, ready, and the satellite's microphone."""
    client = broker.bus("cli", health=False)
    seen = Seen(satellite)
    for topic in _WATCHED:
        client.subscribe(topic, seen.on_message)
    client.subscribe_raw(tts_audio_topic(satellite), seen.on_audio)
    health = Collector()
    client.subscribe(HEALTH_PATTERN, health)
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        if server is not None:
            await stack.enter_async_context(server)
        await stack.enter_async_context(running(client))
        tasks = [
            asyncio.create_task(
                serve(service, broker.bus(service.name), stop, heartbeat_s=60),
                name=f"test:{service.name}",
            )
            for service in _services(
                services, engines, data_dir, server, conversation or ConversationSettings()
            )
        ]
        try:
            for name in services:
                await health.wait_for(partial(_ready, name), 60)
            async with Microphone(client, satellite) as mic:
                yield Stack(mic, seen)
        finally:
            stop.set()
            _, late = await asyncio.wait(tasks, timeout=10)
            pending = late
            while pending:
                # Again until it lands: on Python 3.11 asyncio.wait_for (inside aiomqtt's
                # publish) can swallow a cancel that races its own completion.
                for task in pending:
                    task.cancel()
                _, pending = await asyncio.wait(pending, timeout=2.5)
            await asyncio.gather(*tasks, return_exceptions=True)
            assert not late, f"services that did not stop: {[t.get_name() for t in late]}"


def _ready(name: str, message: Message) -> bool:
    return (
        message.topic.endswith(f"/{name}")
        and message.data.ok
        and message.data.event == "ready"
        and not message.retained
    )


def status(event: str, utt_id: str | None) -> Callable[[Any], bool]:
    return lambda d: d.event == event and d.utt_id == utt_id


def holds_both(text: str, first: str, second: str) -> bool:
    """Whether ``text`` holds both halves of a request (tolerant to Whisper's spelling)."""
    return holds(text, first) and holds(text, second)


def wake_word(voice: PiperSynthesizer) -> Int16Array:
    return trim(spoken(voice, "Okay Nabu."))


# -- the scenarios ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("What is the weather like in", "Paris tomorrow", id="open-first-half"),
        pytest.param(FIRST_HALF, SECOND_HALF, id="whole-sentence-first-half"),
    ],
)
async def test_pause_inside_a_request_gives_one_final(
    mqtt_broker: TestBroker, engines: Engines, tmp_path: Path, first: str, second: str
) -> None:
    # Live mode: no wake word, so the same samples reach the VAD, Smart Turn and Whisper
    # on every run (a wake word's cut point moves with its detection time).
    markup = f'<speak>{first} <break time="450ms"/> {second}</speak>'
    request = np.concatenate([silence(0.3), trim(speech.espeak_ssml(markup, "en-us", 150))])
    later = trim(spoken(engines.voice, "What time is it?"))
    live = ConversationSettings(live_mode=True)
    services = ("stt", "router")
    sat = "turn-pause"
    async with voice_stack(mqtt_broker, engines, tmp_path, sat, services, None, live) as stack:
        seen = stack.seen
        await stack.say(request)
        try:
            final = await seen.wait(TOPIC_STT_FINAL)
            print(f"\n  first final {final.text!r} (turn model p_done={final.turn_complete})")
            assert holds_both(final.text, first, second), final.text
            answered = await seen.wait(TOPIC_CONVERSATION_TURN, lambda d: d.id == final.utt_id)
            # stt handles a satellite's audio in order: once the final of a later request is
            # out, anything more about the first one would have been published before it.
            closing = seen.mark()
            await stack.say(np.concatenate([silence(APART_S), later]))
            next_final = await seen.wait(TOPIC_STT_FINAL, since=closing)
            await seen.wait(TOPIC_CONVERSATION_TURN, lambda d: d.id == next_final.utt_id)
        finally:
            print(seen.summary())
        finals = seen.on(TOPIC_STT_FINAL)
        turns = seen.on(TOPIC_CONVERSATION_TURN)
    assert final.continues is None
    assert final.heard_in == "live"
    assert "time" in next_final.text.lower()
    assert [f.utt_id for f in finals] == [final.utt_id, next_final.utt_id]
    assert seen.on(TOPIC_STT_CONTINUATION) == []
    assert seen.on(TOPIC_STT_REJECTED) == []
    assert [t.id for t in turns] == [final.utt_id, next_final.utt_id], "answered once"
    assert holds_both(answered.user_text, first, second)


SLOW_FIRST_REPLY = [
    "Sure. ",
    *(f"I will remind you about the plants, reminder number {n}. " for n in range(1, 30)),
]
"""The reply to the first half alone: streamed slowly, so it is in flight when cut."""
WHOLE_REPLY = "Okay, I will remind you to water the plants on Sunday."


def answer_by_request(request: RecordedRequest) -> Reply:
    """The whole request gets its answer at once; the first half alone a slow stream."""
    if holds(request.user_text, SECOND_HALF):
        return text_stream([WHOLE_REPLY])
    return text_stream(SLOW_FIRST_REPLY, delay_s=2.0)


async def test_continuation_after_a_premature_final_is_answered_once(
    mqtt_broker: TestBroker, engines: Engines, tmp_path: Path
) -> None:
    voice = engines.voice
    first = trim(spoken(voice, f"{FIRST_HALF}."))
    second = trim(spoken(voice, "On Sunday."))
    clip = np.concatenate(
        [silence(0.3), wake_word(voice), silence(0.3), first, silence(0.8), second, silence(0.5)]
    )
    server = OpenAIServer(choose=answer_by_request)
    services = ("wake", "stt", "router", "llm", "tts")
    sat = "turn-continued"
    async with voice_stack(mqtt_broker, engines, tmp_path, sat, services, server) as stack:
        seen = stack.seen
        await stack.say(clip)
        try:
            premature = await seen.wait(TOPIC_STT_FINAL)
            first_id = premature.utt_id
            continuation = await seen.wait(TOPIC_STT_CONTINUATION)
            # The first reply's request: the last one asked for the first half (a request
            # sent at an earlier pause of it was superseded, under the utterance id).
            asked = [r for r in seen.on(TOPIC_LLM_REQUEST) if r.id.startswith(first_id)]
            cancel = await seen.wait(TOPIC_LLM_CANCEL, lambda d: d.id == asked[-1].id)
            stop = await seen.wait(
                TOPIC_TTS_CONTROL, lambda d: d.action == "stop" and d.id == first_id
            )
            cut = await seen.wait(TOPIC_CONVERSATION_TURN, lambda d: d.id == first_id)
            whole = await seen.wait(TOPIC_STT_FINAL, lambda d: d.continues == first_id)
            say = await seen.wait(TOPIC_TTS_SAY, lambda d: d.utt_id == whole.utt_id)
            end = await seen.wait(TOPIC_TTS_STATUS, status("speaking_end", whole.utt_id))
        finally:
            print(f"\n{seen.summary()}")
        stopped_at = seen.arrival(TOPIC_TTS_CONTROL, lambda d: d is stop)
        first_audio = [p for p in seen.audio if p.utt_id == first_id]
        late_audio = [p for p in first_audio if p.at > stopped_at + AUDIO_TOLERANCE_S]
        whole_audio = sum(p.seconds for p in seen.audio if p.utt_id == whole.utt_id)
        finals = seen.on(TOPIC_STT_FINAL)
        late_says = [
            say
            for at, say in seen.timed(TOPIC_TTS_SAY, lambda d: d.utt_id == first_id)
            if at > stopped_at
        ]
        first_requests = [r for r in server.requests if not holds(r.user_text, SECOND_HALF)]
        whole_requests = [r for r in server.requests if holds(r.user_text, SECOND_HALF)]
        for request in first_requests:  # the server saw each one hang up
            await asyncio.wait_for(request.closed_early.wait(), 10)
        cancelled = {c.id for c in seen.on(TOPIC_LLM_CANCEL)}
    print(
        f"  premature final {premature.text!r} (p_done={premature.turn_complete}), "
        f"continued after {continuation.gap_s:.2f} s; whole {whole.text!r}; "
        f"first reply: {len(first_requests)} request(s) at the server, "
        f"{sum(p.seconds for p in first_audio):.2f} s of audio; answer {whole_audio:.2f} s"
    )
    assert not holds(premature.text, SECOND_HALF), premature.text
    assert continuation.utt_id == first_id
    assert cancel.reason == "continuation"
    assert cut.interrupted, "the first reply ends cut short"
    assert holds_both(whole.text, FIRST_HALF, SECOND_HALF), whole.text
    assert [f.utt_id for f in finals] == [first_id, whole.utt_id]
    assert len(whole_requests) == 1, [r.user_text for r in server.requests]
    assert whole_requests[0].completed.is_set()
    assert all(r.id in cancelled for r in asked), "every request for the first half is cancelled"
    assert len(first_requests) <= len(asked)
    assert say.text == WHOLE_REPLY
    assert end.reason is None, "the answer plays to its end"
    assert whole_audio > 1.0
    assert late_audio == [], f"{len(late_audio)} pieces of the first reply after its stop"
    assert late_says == [], "the router kept speaking the first reply after stopping it"


async def test_confident_long_request_passes_the_filters(
    mqtt_broker: TestBroker, engines: Engines, tmp_path: Path
) -> None:
    voice = engines.voice
    clip = spoken(voice, "Okay Nabu.", QUICK_BROWN_FOX)
    services = ("wake", "stt", "router", "tts")
    async with voice_stack(mqtt_broker, engines, tmp_path, "turn-long", services) as stack:
        seen = stack.seen
        await stack.say(clip)
        try:
            final = await seen.wait(TOPIC_STT_FINAL)
            say = await seen.wait(TOPIC_TTS_SAY, lambda d: d.utt_id == final.utt_id)
            await seen.wait(TOPIC_TTS_STATUS, status("speaking_start", final.utt_id))
        finally:
            print(f"\n{seen.summary()}")
        rejected = seen.on(TOPIC_STT_REJECTED)
    words = normalize(final.text).split()
    common = sum(word in COMMON_WORDS for word in words) / len(words)
    print(f"  final {final.text!r}: common-word ratio {common:.2f}, confidence {final.confidence}")
    assert holds(final.text, QUICK_BROWN_FOX), final.text
    assert rejected == []
    # Below py-tars's 0.40 common-word floor: only the strong acoustic evidence let it through.
    assert common < 0.40
    assert normalize(say.text) == normalize(final.text).removeprefix("say ")


async def test_rejection_after_the_wake_word_is_published_and_answered(
    mqtt_broker: TestBroker, engines: Engines, tmp_path: Path
) -> None:
    voice = engines.voice
    clip = np.concatenate(
        [silence(0.3), wake_word(voice), silence(1.0), trim(spoken(voice, "Hmm.")), silence(0.5)]
    )
    services = ("wake", "stt", "router")
    async with voice_stack(mqtt_broker, engines, tmp_path, "turn-mumble", services) as stack:
        seen = stack.seen
        await stack.say(clip)
        try:
            rejected = await seen.wait(TOPIC_STT_REJECTED)
            say = await seen.wait(TOPIC_TTS_SAY)
        finally:
            print(f"\n{seen.summary()}")
    print(f"  rejected {rejected.text!r} by {rejected.filter}: {rejected.reason}")
    assert rejected.heard_in == "wake"
    assert rejected.filter == "duration"
    assert "< 500 ms" in rejected.reason
    assert say.text == RouterSettings().not_heard_text
    assert say.utt_id == rejected.utt_id
    assert seen.on(TOPIC_STT_FINAL) == []


async def test_a_question_goes_to_the_llm_at_its_pause_before_the_final(
    mqtt_broker: TestBroker, engines: Engines, tmp_path: Path
) -> None:
    # At the pause after a question that sounds and reads finished, stt still waits a little
    # in case the user goes on; the router asks the LLM already (preemptive), and the final,
    # with the same words, takes that request over: one request, answered once.
    question = trim(spoken(engines.voice, "What is the capital of France?"))
    clip = np.concatenate([silence(0.3), question, silence(1.5)])
    answer = "Paris is the capital of France."
    server = OpenAIServer(choose=lambda _: text_stream([answer]))
    live = ConversationSettings(live_mode=True)
    services = ("stt", "router", "llm", "tts")
    sat = "turn-preempt"
    async with voice_stack(mqtt_broker, engines, tmp_path, sat, services, server, live) as stack:
        seen = stack.seen
        await stack.say(clip)
        try:
            final = await seen.wait(TOPIC_STT_FINAL)
            say = await seen.wait(TOPIC_TTS_SAY, lambda d: d.utt_id == final.utt_id)
            await seen.wait(TOPIC_TTS_STATUS, status("speaking_end", final.utt_id))
            turn = await seen.wait(TOPIC_CONVERSATION_TURN, lambda d: d.id == final.utt_id)
        finally:
            print(f"\n{seen.summary()}")
        asked = seen.timed(TOPIC_LLM_REQUEST, lambda _: True)
        final_at = seen.arrival(TOPIC_STT_FINAL, lambda d: d is final)
    print(f"  asked {final_at - asked[0][0]:.2f} s before the final ({final.text!r})")
    assert "capital" in final.text.lower()
    assert [(request.id, request.preemptive) for _, request in asked] == [(final.utt_id, True)]
    assert asked[0][0] < final_at, "the LLM was asked before the final"
    assert len(server.requests) == 1
    assert seen.on(TOPIC_LLM_CANCEL) == []
    assert say.text == answer
    assert (turn.reply, turn.interrupted) == (answer, False)
