"""The voice stack around a simulated room: TARS talks into the room and hears it back.

`DuplexStack` runs wake, stt, router and tts (through the voice `Rig`, each on its own MQTT
connection) plus the mic service in duplex mode, whose sound card is a `SimulatedRoom`: it
plays the satellite's replies into the room and publishes the echo-cancelled microphone. An
LLM stand-in answers every request with one fixed (long) reply. A `Recorder` keeps every
conversation event with its wall-clock arrival time, and requests are typed finals, so a
reply can be started without the user saying anything into the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from tars.audio.pcm import Int16Array, bytes_to_int16
from tars.bench.duplex_room import RoomConfig, SimulatedRoom
from tars.bench.rig import Rig, UrlFor
from tars.contracts.audio import pcm_topic
from tars.contracts.base import new_id
from tars.contracts.conversation import TOPIC_CONVERSATION_TURN
from tars.contracts.llm import TOPIC_LLM_REQUEST
from tars.contracts.stt import (
    TOPIC_STT_BARGE_IN,
    TOPIC_STT_FINAL,
    TOPIC_STT_REJECTED,
    FinalTranscript,
)
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_SAY, TOPIC_TTS_STATUS
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Message, RawMessage
from tars.runtime.mqtt_bus import MqttBus
from tars.runtime.service import Service
from tars.runtime.settings import MqttSettings, RuntimeSettings
from tars.services.mic.playback import PlayoutBuffer
from tars.services.mic.reference import FarEnd
from tars.services.mic.service import MicService
from tars.services.mic.settings import MicSettings
from tars.services.stt.stream import frame_ts

WATCHED = (
    TOPIC_WAKE_EVENT,
    TOPIC_STT_FINAL,
    TOPIC_STT_REJECTED,
    TOPIC_STT_BARGE_IN,
    TOPIC_TTS_SAY,
    TOPIC_TTS_STATUS,
    TOPIC_TTS_CONTROL,
    TOPIC_CONVERSATION_TURN,
    TOPIC_LLM_REQUEST,
)
"""Topics the recorder keeps."""


@dataclass(frozen=True)
class Seen:
    """One message, with its wall-clock arrival time."""

    at: float
    topic: str
    data: Any


@dataclass
class Recorder:
    """Every watched message about one satellite, in arrival order, awaitable."""

    satellite: str
    events: list[Seen] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    heard: list[tuple[float, Int16Array, bool]] = field(default_factory=list, repr=False)
    """The published (echo-cancelled) microphone frames: capture time, samples, and whether
    the satellite's speaker played during the frame."""

    async def on_audio(self, message: RawMessage) -> None:
        """Keep a published microphone frame."""
        speaker = message.properties.get("speaker") == "1"
        self.heard.append((frame_ts(message, 0), bytes_to_int16(message.payload), speaker))

    async def on_message(self, message: Message) -> None:
        """Keep a message of this satellite (or of none)."""
        satellite = getattr(message.data, "satellite", None)
        if satellite not in (None, self.satellite):
            return
        self.events.append(Seen(time.time(), message.topic, message.data))
        self.changed.set()

    def summary(self, since: int = 0) -> str:
        """A readable trace of the events from ``since`` on (for failure messages)."""
        start = self.events[0].at if self.events else 0.0
        lines = []
        for seen in self.events[since:]:
            data = seen.data
            detail = " ".join(
                f"{name}={getattr(data, name)!r}"
                for name in ("type", "cause", "event", "action", "text", "reason", "utt_id", "id")
                if getattr(data, name, None) is not None
            )
            lines.append(f"  {seen.at - start:7.2f} {seen.topic}: {detail[:120]}")
        return "\n".join(lines)

    def mark(self) -> int:
        """Index of the next event."""
        return len(self.events)

    def find(self, check: Callable[[Seen], bool], since: int = 0) -> list[Seen]:
        """Events from ``since`` on that pass ``check``."""
        return [seen for seen in self.events[since:] if check(seen)]

    async def wait_for(
        self, check: Callable[[Seen], bool], since: int = 0, timeout_s: float = 30.0
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


def status(event: str, utt_id: str | None = None) -> Callable[[Seen], bool]:
    """Match a tts/status ``event`` (of reply ``utt_id`` when given)."""
    return lambda s: (
        s.topic == TOPIC_TTS_STATUS
        and s.data.event == event
        and (utt_id is None or s.data.utt_id == utt_id)
    )


@dataclass
class DuplexStack:
    """The running stack: the room, the mic service, the recorder and a way to ask."""

    room: SimulatedRoom
    mic: MicService
    seen: Recorder
    satellite: str
    client: MqttBus
    """The recorder's connection (logged in as ``cli``), for typed requests and controls."""

    async def ask(self, text: str) -> str:
        """Type a request (as `tars ask` does); returns the id of its reply once it is said."""
        since = self.seen.mark()
        utt_id = new_id()
        final = FinalTranscript(text=text, utt_id=utt_id, satellite=self.satellite, source="text")
        await self.client.publish(TOPIC_STT_FINAL, final)
        # The router answers a final under the final's own id.
        await self.seen.wait_for(
            lambda s: s.topic == TOPIC_TTS_SAY and s.data.utt_id == utt_id, since
        )
        return utt_id

    async def speaking(self, reply_id: str, flowing_s: float, timeout_s: float = 60.0) -> float:
        """Wait until ``flowing_s`` of the reply has left the speaker; returns its start time."""
        start = await self.seen.wait_for(status("speaking_start", reply_id), 0, timeout_s)
        await asyncio.wait_for(self.room.speaker_played(flowing_s), timeout_s)
        return start.at

    async def idle(self, reply_id: str, timeout_s: float = 90.0) -> Seen:
        """Wait for the reply to end (played out or stopped)."""
        return await self.seen.wait_for(status("speaking_end", reply_id), 0, timeout_s)


@contextlib.asynccontextmanager
async def duplex_stack(
    url_for: UrlFor | Callable[[str], MqttSettings],
    runtime: RuntimeSettings,
    room: RoomConfig,
    *,
    reply: str,
    satellite: str = "duplex",
    prebuilt: Mapping[str, Service] | None = None,
) -> AsyncIterator[DuplexStack]:
    """Start the stack around a simulated room; every LLM request is answered with ``reply``."""
    playout, far_end = PlayoutBuffer(), FarEnd()
    simulated = SimulatedRoom(room, playout, far_end)
    mic = MicService(
        MicSettings(satellite_id=satellite, playback=True),
        source=simulated,
        output=simulated,
        playout=playout,
        far_end=far_end,
    )
    services: dict[str, Service] = {**(prebuilt or {}), "mic": mic}
    names = ("tts", "router", "stt", "wake", "mic")
    recorder = Recorder(satellite)
    mqtt = url_for("cli")
    settings = mqtt if isinstance(mqtt, MqttSettings) else MqttSettings(url=SecretStr(mqtt))
    client = MqttBus("cli", settings, health=False)
    for topic in WATCHED:
        client.subscribe(topic, recorder.on_message)
    client.subscribe_raw(pcm_topic(satellite), recorder.on_audio)
    runner = asyncio.create_task(client.run(), name="duplex:recorder")
    try:
        await asyncio.wait_for(client.wait_connected(), 10.0)
        rig = Rig(url_for, runtime, satellite, services=names, prebuilt=services, llm_answer=reply)
        async with rig:
            yield DuplexStack(simulated, mic, recorder, satellite, client)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
