"""Services of the voice loop run in this process, fed with real-time audio over a broker.

`Rig` starts some of wake, stt, router and tts (each on its own MQTT connection, as
`tars up` would), plays utterances as 20 ms frames on ``audio/<satellite>/pcm`` and
records what comes back: stt finals, rejections and continuations, tts/say, tts/status,
conversation turns and the reply audio on ``tts/audio/<satellite>``. It can also stand
in for the LLM with a fixed answer, so requests no rule handles still get a spoken reply
without a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Self

from tars.audio.pcm import Int16Array, frames, silence
from tars.bench.microphone import Microphone
from tars.bench.played import (
    FRAME_MS,
    STT_ACTIVITY,
    Event,
    Played,
    satellite_of,
    settled,
    speech_end_s,
    tts_idle,
)
from tars.contracts import llm
from tars.contracts.audio import TTS_AUDIO_PATTERN
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.health import HEALTH_PATTERN
from tars.contracts.tts import TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.runtime import broker
from tars.runtime.bus import Message, RawMessage
from tars.runtime.connect import private_broker_settings
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service, serve
from tars.runtime.settings import MqttSettings, RuntimeSettings

VOICE_SERVICES = ("tts", "router", "stt", "wake")
"""Services the whole loop runs, consumers first."""
TURN_TIMEOUT_S = 30.0
"""Longest wait for a reply."""
TTS_IDLE_LIMIT_S = 15.0
"""Longest wait for a reply to finish playing before the next clip."""
UrlFor = Callable[[str], "str | MqttSettings"]
"""MQTT URL (or settings) per broker user."""

__all__ = ["VOICE_SERVICES", "Event", "Played", "Rig", "UrlFor", "private_broker", "speech_end_s"]


class Rig:
    """Chosen services of the voice loop in this process, each on its own MQTT connection."""

    def __init__(
        self,
        url_for: UrlFor,
        runtime: RuntimeSettings,
        satellite: str = "bench",
        *,
        services: tuple[str, ...] = VOICE_SERVICES,
        prebuilt: Mapping[str, Service] | None = None,
        llm_answer: str | None = None,
        floor: Int16Array | None = None,
    ) -> None:
        """Prepare the rig.

        Args:
            url_for: MQTT URL (or settings) for a broker user (each service logs in as itself).
            runtime: Runtime settings (the data dir) handed to every service's ``build``.
            satellite: The default remote satellite the utterances come from.
            services: Services to run (their ``build`` reads the environment).
            prebuilt: Services already built, by name, used instead of building them.
            llm_answer: If set, the rig answers every llm/request with this text.
            floor: Audio repeated between clips (background noise); digital silence if None.
        """
        self.satellite = satellite
        self._url_for = url_for
        self._runtime = runtime
        self._services = services
        self._prebuilt = dict(prebuilt or {})
        self._llm_answer = llm_answer
        quiet = floor if floor is not None and floor.size else silence(FRAME_MS / 1000)
        self._floor = frames(quiet, FRAME_MS)
        self._mics: dict[str, Microphone] = {}
        self._mic_tasks: list[asyncio.Task[None]] = []
        self._mic_stop = asyncio.Event()
        self._probe = MqttBus("cli", _mqtt(url_for("cli")), health=False)
        self._llm: MqttBus | None = None
        self._events: list[Event] = []
        self._changed = asyncio.Event()
        self._ready: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        for topic in (TOPIC_TTS_STATUS, TOPIC_TTS_SAY, TOPIC_CONVERSATION_TURN, *STT_ACTIVITY):
            self._probe.subscribe(topic, self._on_message)
        self._probe.subscribe(HEALTH_PATTERN, self._on_health)
        self._probe.subscribe_raw(TTS_AUDIO_PATTERN, self._on_audio)

    async def __aenter__(self) -> Self:
        """Start the probe and the services; return once all report ready."""
        try:
            await self._start()
        except BaseException:
            await self.__aexit__(None, None, None)  # leave nothing running behind a failure
            raise
        return self

    async def _start(self) -> None:
        self._tasks.append(asyncio.create_task(self._probe.run(), name="rig:probe"))
        await asyncio.wait_for(self._probe.wait_connected(), 10.0)
        if self._llm_answer is not None:
            self._llm = MqttBus("llm", _mqtt(self._url_for("llm")))
            self._llm.subscribe(llm.TOPIC_LLM_REQUEST, self._on_llm_request)
            self._tasks.append(asyncio.create_task(self._llm.run(), name="rig:llm"))
            await asyncio.wait_for(self._llm.wait_connected(), 10.0)
            await self._llm.set_health(True, "ready")  # the router asks only a healthy llm
        for name in self._services:
            service = self._prebuilt.get(name)
            if service is None:
                module = importlib.import_module(f"tars.services.{name}.service")
                service = module.build(self._runtime)
            bus = MqttBus(name, _mqtt(self._url_for(name)))
            self._tasks.append(asyncio.create_task(serve(service, bus, self._stop), name=name))
        await self._wait(lambda: self._ready >= set(self._services), 180.0)

    async def __aexit__(self, *exc: object) -> None:
        """Stop the microphones and the services, then the probe and the LLM stand-in."""
        # The flag as well as the cancel: Python 3.11's wait_for (inside aiomqtt's publish)
        # can swallow a cancellation, which would leave a microphone running.
        self._mic_stop.set()
        for task in self._mic_tasks:
            task.cancel()
        await asyncio.gather(*self._mic_tasks, return_exceptions=True)
        self._stop.set()
        helpers = 2 if self._llm is not None else 1
        services = self._tasks[helpers:]
        if services:
            await asyncio.wait(services, timeout=10.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_ready(self, services: Iterable[str], limit_s: float = 300.0) -> None:
        """Wait until each of ``services`` (run elsewhere, e.g. by `tars up`) reports ready.

        Raises:
            TimeoutError: some did not within ``limit_s``.
        """
        wanted = set(services)
        await self._wait(lambda: self._ready >= wanted, limit_s)

    @property
    def events(self) -> list[Event]:
        """Everything recorded so far, in arrival order."""
        return self._events

    def say(self, speech: Int16Array, satellite: str | None = None) -> int:
        """Queue ``speech`` on the satellite's microphone; returns the index of its events.

        The clip's ``feed`` event (payload: the satellite) is recorded when its first
        frame goes out; see `feed_started`.
        """
        name = satellite or self.satellite
        since = len(self._events)
        mic = self._mics.get(name)
        if mic is None:
            mic = self._mics[name] = Microphone(
                name, self._floor, self._publish_frame, lambda at: self._record(at, "feed", name)
            )
            task = asyncio.create_task(mic.run(self._mic_stop), name=f"rig:mic:{name}")
            self._mic_tasks.append(task)
        mic.say(speech)
        return since

    async def play(
        self,
        speech: Int16Array,
        satellite: str | None = None,
        *,
        settle_s: float = 1.0,
        limit_s: float = 6.0,
    ) -> Played:
        """Play ``speech`` in real time and wait until stt is done with it.

        Done means: stt reached the end of the clip's speech (a final ending with it, or a
        rejection after it) and said nothing more for ``settle_s``, or ``limit_s`` passed
        after the end of speech; then any reply on the satellite has finished playing.
        """
        name = satellite or self.satellite
        end_s = speech_end_s(speech)
        since = self.say(speech, name)
        began = await self.feed_started(since)
        speech_end = began + end_s
        offset = time.time() - time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await self._wait(
                lambda: settled(self._events[since:], name, speech_end, settle_s, offset),
                end_s + limit_s,
            )
        with contextlib.suppress(TimeoutError):  # a reply still playing would gate the next clip
            await self._wait(lambda: tts_idle(self._events[since:], name), TTS_IDLE_LIMIT_S)
        mine = [e for e in self._events[since:] if satellite_of(e) in (name, None)]
        return Played(mine, began, speech_end)

    async def feed_started(self, since: int) -> float:
        """``perf_counter`` time of the first frame of the feed started after ``since``."""
        event = await self.find(since, lambda e: e[1] == "feed", 5.0)
        return float(event[0])

    async def find(
        self, since: int, check: Callable[[Event], bool], limit_s: float = TURN_TIMEOUT_S
    ) -> Event:
        """The first event from index ``since`` on that passes ``check``, waiting for it.

        Raises:
            TimeoutError: none within ``limit_s``.
        """
        found: list[Event] = []

        def look() -> bool:
            found[:] = [e for e in self._events[since:] if check(e)]
            return bool(found)

        await self._wait(look, limit_s)
        return found[0]

    async def _wait(self, check: Callable[[], bool], limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while not check():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the voice rig waited too long")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    def _record(self, at: float, topic: str, data: Any) -> None:
        self._events.append((at, topic, data))
        self._changed.set()

    async def _publish_frame(self, topic: str, frame: bytes, properties: Mapping[str, str]) -> None:
        await self._probe.publish_raw(topic, frame, properties=properties)

    async def _on_message(self, message: Message) -> None:
        self._record(time.perf_counter(), message.topic, message.data)

    async def _on_audio(self, message: RawMessage) -> None:
        self._record(time.perf_counter(), "audio", message)

    async def _on_health(self, message: Message) -> None:
        name = message.topic.rsplit("/", 1)[-1]
        if message.data.ok and message.data.event in ("ready", "heartbeat"):
            self._ready.add(name)
        self._changed.set()

    async def _on_llm_request(self, message: Message) -> None:
        request: llm.LLMRequest = message.data
        answer = llm.LLMResponse(
            id=request.id, reply=self._llm_answer, provider="bench", satellite=request.satellite
        )
        assert self._llm is not None
        await self._llm.publish(llm.TOPIC_LLM_RESPONSE, answer)


def _mqtt(target: str | MqttSettings) -> MqttSettings:
    if isinstance(target, MqttSettings):
        return target
    # A URL here is the bench's own loopback broker: plain MQTT even if MQTT_TLS_* is set.
    return private_broker_settings(target, reconnect_min_s=0.1, reconnect_max_s=0.5)


@contextlib.asynccontextmanager
async def private_broker(directory: Path) -> AsyncIterator[broker.BrokerConfig]:
    """A generated Mosquitto for the bench, stopped on exit."""
    config = broker.generate(directory)
    process = broker.MosquittoProcess(config)
    process.start()
    try:
        yield config
    finally:
        process.stop()
