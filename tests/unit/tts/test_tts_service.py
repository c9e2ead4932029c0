"""The TTS service on the in-memory bus with a fake synthesiser: order, status, controls."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tars.audio.pcm import Int16Array, bytes_to_int16
from tars.contracts.audio import TTS_AUDIO_PATTERN, satellite_of
from tars.contracts.health import health_topic
from tars.contracts.tts import (
    TOPIC_TTS_CONTROL,
    TOPIC_TTS_SAY,
    TOPIC_TTS_STATUS,
    TtsControl,
    TtsSay,
    TtsStatus,
)
from tars.runtime.bus import Message, RawMessage
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.services.tts.queue import StoppedReplies
from tars.services.tts.service import TtsService
from tars.services.tts.settings import TtsSettings
from tars.services.tts.sinks import AudioSink, NullSink
from tars.text.sentences import split_sentences

RATE = 16_000
WAIT_S = 10.0
_NUMBER = re.compile(r"\d+")


class FakeSynth:
    """One chunk per sentence, every sample equal to the first number in the sentence."""

    voice_id = "fake-voice"
    sample_rate = RATE

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds
        self.sentences: list[str] = []

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        for sentence in split_sentences(text):
            self.sentences.append(sentence)
            found = _NUMBER.search(sentence)
            value = int(found.group()) if found else 1
            yield np.full(int(self.seconds * RATE), value, dtype=np.int16)


@dataclass
class Audio:
    satellite: str
    values: Int16Array
    properties: dict[str, str]


@dataclass
class Peer:
    """The router side: publishes says and controls, collects statuses, audio and health."""

    bus: MemoryBus
    statuses: list[TtsStatus] = field(default_factory=list)
    audio: list[Audio] = field(default_factory=list)
    health: list[str | None] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.bus.subscribe(TOPIC_TTS_STATUS, self._on_status)
        self.bus.subscribe(health_topic("tts"), self._on_health)
        self.bus.subscribe_raw(TTS_AUDIO_PATTERN, self._on_audio)

    async def _on_status(self, message: Message) -> None:
        self.statuses.append(message.data)
        self.changed.set()

    async def _on_health(self, message: Message) -> None:
        self.health.append(message.data.event)
        self.changed.set()

    async def _on_audio(self, message: RawMessage) -> None:
        satellite = satellite_of(message.topic) or "?"
        values = bytes_to_int16(message.payload)
        self.audio.append(Audio(satellite, values, dict(message.properties)))
        self.changed.set()

    async def say(self, text: str, **fields: object) -> None:
        await self.bus.publish(TOPIC_TTS_SAY, TtsSay.model_validate({"text": text, **fields}))

    async def control(self, action: str, **fields: object) -> None:
        control = TtsControl.model_validate({"action": action, **fields})
        await self.bus.publish(TOPIC_TTS_CONTROL, control)

    async def wait_for(self, check: Callable[[], bool], limit_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + limit_s
        while not check():
            remaining = deadline - time.monotonic()
            assert remaining > 0, "condition not met in time"
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.05))

    def events(self, satellite: str | None = None) -> list[tuple[str, str | None, str | None]]:
        return [
            (status.event, status.utt_id, status.reason)
            for status in self.statuses
            if satellite is None or status.satellite == satellite
        ]

    def ended(self, utt_id: str | None, satellite: str = "kitchen") -> bool:
        return any(
            status.event == "speaking_end" and status.utt_id == utt_id
            for status in self.statuses
            if status.satellite == satellite
        )

    def values(self, satellite: str = "kitchen") -> list[int]:
        """Distinct sample values in arrival order, consecutive repeats collapsed."""
        seen: list[int] = []
        for audio in self.audio:
            if audio.satellite != satellite:
                continue
            for value in np.unique(audio.values):
                if not seen or seen[-1] != int(value):
                    seen.append(int(value))
        return seen

    def samples(self, satellite: str = "kitchen") -> int:
        return sum(audio.values.size for audio in self.audio if audio.satellite == satellite)


def settings(**overrides: object) -> TtsSettings:
    fields: dict[str, object] = {"cache_enable": False, "audio_lead_ms": 0, "sink": "null"}
    fields.update(overrides)
    return TtsSettings.model_validate(fields)


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    synth: FakeSynth | None = None,
    local_sink: AudioSink | None = None,
    **overrides: object,
) -> AsyncIterator[tuple[Peer, FakeSynth, TtsService]]:
    synth = synth or FakeSynth()
    broker = MemoryBroker()
    peer = Peer(MemoryBus("router", broker))
    sink = local_sink
    service = TtsService(
        settings(**overrides),
        tmp_path,
        synthesizer=synth,
        local_sink=(lambda _: sink) if sink is not None else None,
    )
    stop = asyncio.Event()
    peer_task = asyncio.create_task(peer.bus.run(), name="test:peer")
    await peer.bus.wait_connected()
    serving = asyncio.create_task(serve(service, MemoryBus("tts", broker), stop), name="test:tts")
    try:
        await peer.wait_for(lambda: "ready" in peer.health)
        yield peer, synth, service
    finally:
        stop.set()
        await asyncio.wait_for(serving, WAIT_S)
        peer_task.cancel()
        await asyncio.gather(peer_task, return_exceptions=True)


async def test_health_goes_loading_then_ready(tmp_path: Path) -> None:
    async with running(tmp_path) as (peer, _, _):
        assert peer.health.index("loading") < peer.health.index("ready")


async def test_pieces_of_a_reply_play_in_order_between_one_start_and_one_end(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (peer, _, _):
        await peer.say("Piece 1. Piece 2.", utt_id="r1", satellite="kitchen")
        await peer.say("Piece 3.", utt_id="r1", satellite="kitchen")
        await peer.say("Piece 4.", utt_id="r1", satellite="kitchen", last=True)
        await peer.say("Alone 5.", satellite="kitchen")
        await peer.wait_for(lambda: peer.ended(None))
    assert peer.values() == [1, 2, 3, 4, 5]
    assert peer.events() == [
        ("speaking_start", "r1", None),
        ("speaking_end", "r1", None),
        ("speaking_start", None, None),
        ("speaking_end", None, None),
    ]
    start = peer.statuses[0]
    assert start.satellite == "kitchen"
    assert start.sample_rate == RATE
    reply = [audio for audio in peer.audio if audio.properties.get("utt_id") == "r1"]
    assert [int(audio.properties["seq"]) for audio in reply] == list(range(len(reply)))
    assert {audio.properties["rate"] for audio in peer.audio} == {str(RATE)}
    assert sum(audio.values.size for audio in reply) == 4 * int(0.1 * RATE)


async def test_local_satellite_plays_on_the_local_sink(tmp_path: Path) -> None:
    sink = NullSink()
    async with running(tmp_path, local_sink=sink) as (peer, _, _):
        await peer.say("Hello 7.", utt_id="loc", last=True)
        await peer.wait_for(lambda: peer.ended("loc", satellite="local"))
    assert [int(chunk[0]) for chunk in sink.chunks] == [7]
    assert peer.audio == []
    start = peer.statuses[0]
    assert (start.event, start.satellite, start.sample_rate) == ("speaking_start", "local", None)


async def test_pause_holds_audio_and_resume_continues_without_loss(tmp_path: Path) -> None:
    async with running(tmp_path, FakeSynth(seconds=1.0)) as (peer, _, _):
        await peer.say("Long 1. Long 2.", utt_id="p", satellite="kitchen", last=True)
        await peer.wait_for(lambda: peer.samples() > 0)
        await peer.control("pause", reason="wake_interrupt", id="p")
        await peer.wait_for(lambda: ("paused", "p", "wake_interrupt") in peer.events())
        await asyncio.sleep(0.1)  # a piece already being sent may still land
        held = peer.samples()
        await asyncio.sleep(0.5)
        assert peer.samples() == held, "audio went out while paused"
        assert not peer.ended("p")
        await peer.control("resume", reason="wake_interrupt")
        await peer.wait_for(lambda: peer.ended("p"))
    assert ("resumed", "p", "wake_interrupt") in peer.events()
    assert peer.samples() == 2 * RATE
    assert peer.values() == [1, 2]


async def test_stop_drops_the_rest_of_the_reply_and_its_late_pieces(tmp_path: Path) -> None:
    async with running(tmp_path, FakeSynth(seconds=0.5)) as (peer, synth, _):
        await peer.say("First 1. First 2.", utt_id="s", satellite="kitchen")
        await peer.say("Queued 3.", utt_id="s", satellite="kitchen")
        await peer.wait_for(lambda: peer.samples() > 0)
        await peer.control("stop", reason="cancel")
        await peer.wait_for(lambda: peer.ended("s"))
        await peer.say("Late 4.", utt_id="s", satellite="kitchen", last=True)
        await peer.say("Next 5.", utt_id="n", satellite="kitchen", last=True)
        await peer.wait_for(lambda: peer.ended("n"))
    assert peer.values() == [1, 5]
    assert peer.samples() < RATE  # the first sentence was cut short
    # The queued piece may have been synthesised ahead while the first played; the piece
    # that came after the stop never was.
    assert not any("4" in sentence for sentence in synth.sentences)
    assert peer.events() == [
        ("speaking_start", "s", None),
        ("stopped", "s", "cancel"),
        ("speaking_end", "s", "stopped"),
        ("speaking_start", "n", None),
        ("speaking_end", "n", None),
    ]


async def test_stop_by_id_before_a_reply_arrives_drops_it(tmp_path: Path) -> None:
    async with running(tmp_path) as (peer, synth, _):
        await peer.control("stop", reason="cancel", id="gone")
        await peer.say("Never 1.", utt_id="gone", satellite="kitchen", last=True)
        await peer.say("Kept 2.", utt_id="kept", satellite="kitchen", last=True)
        await peer.wait_for(lambda: peer.ended("kept"))
    assert peer.values() == [2]
    assert synth.sentences == ["Kept 2."]


async def test_control_acts_while_a_long_utterance_plays(tmp_path: Path) -> None:
    async with running(tmp_path, FakeSynth(seconds=5.0)) as (peer, _, _):
        await peer.say("Very long 1.", utt_id="long", satellite="kitchen", last=True)
        await peer.wait_for(lambda: peer.samples() > 0)
        began = time.perf_counter()
        await peer.control("stop", reason="cancel", satellite="kitchen")
        await peer.wait_for(lambda: peer.ended("long"))
        print(f"stop took effect after {(time.perf_counter() - began) * 1000:.1f} ms")
    assert peer.samples() < 5 * RATE


async def test_two_satellites_play_independently(tmp_path: Path) -> None:
    async with running(tmp_path, FakeSynth(seconds=0.6)) as (peer, _, _):
        await peer.say("Kitchen 1. Kitchen 2.", utt_id="k", satellite="kitchen", last=True)
        await peer.say("Office 8. Office 9.", utt_id="o", satellite="office", last=True)
        await peer.wait_for(lambda: peer.ended("k") and peer.ended("o", satellite="office"))
        # Stopping one satellite leaves the other alone.
        await peer.say("Kitchen 3.", utt_id="k2", satellite="kitchen", last=True)
        await peer.say("Office 7.", utt_id="o2", satellite="office", last=True)
        await peer.wait_for(lambda: peer.samples("office") > 2 * int(0.6 * RATE))
        await peer.control("stop", satellite="office")
        await peer.wait_for(lambda: peer.ended("k2") and peer.ended("o2", satellite="office"))
    assert peer.values("kitchen") == [1, 2, 3]
    assert peer.values("office") == [8, 9, 7]
    events = [(status.event, status.satellite) for status in peer.statuses]
    # Both replies started before either of them ended: they played at the same time.
    first_end = events.index(("speaking_end", "kitchen"))
    assert ("speaking_start", "office") in events[:first_end]
    assert peer.samples("kitchen") == 3 * int(0.6 * RATE)
    assert peer.samples("office") < 3 * int(0.6 * RATE)


async def test_cached_phrase_plays_without_synthesis(tmp_path: Path) -> None:
    async with running(tmp_path, cache_enable=True, preload_phrases="Yes 6?") as (peer, synth, _):
        preloaded = list(synth.sentences)
        await peer.say("Yes 6?", wake_ack=True, satellite="kitchen")
        await peer.wait_for(lambda: peer.ended(None))
    assert preloaded == ["Yes 6?"]
    assert synth.sentences == preloaded
    assert peer.values() == [6]
    assert peer.statuses[-1].wake_ack is True


async def test_reply_without_last_piece_ends_after_the_idle_limit(tmp_path: Path) -> None:
    async with running(tmp_path, reply_idle_s=0.3) as (peer, _, _):
        await peer.say("Dangling 1.", utt_id="d", satellite="kitchen")
        await peer.wait_for(lambda: peer.ended("d"))
    assert peer.events()[-1] == ("speaking_end", "d", "timeout")


async def test_new_reply_supersedes_an_unfinished_one(tmp_path: Path) -> None:
    async with running(tmp_path) as (peer, _, _):
        await peer.say("Old 1.", utt_id="old", satellite="kitchen")
        await peer.say("New 2.", utt_id="new", satellite="kitchen", last=True)
        await peer.wait_for(lambda: peer.ended("new"))
    assert peer.events() == [
        ("speaking_start", "old", None),
        ("speaking_end", "old", "superseded"),
        ("speaking_start", "new", None),
        ("speaking_end", "new", None),
    ]


def test_stopped_replies_are_forgotten_after_the_ttl() -> None:
    now = [0.0]
    stopped = StoppedReplies(10.0, clock=lambda: now[0])
    stopped.add("a")
    now[0] = 5.0
    assert "a" in stopped
    now[0] = 10.5
    assert "a" not in stopped
