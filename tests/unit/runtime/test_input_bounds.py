"""Bounds on input: payload size at decode, text length, frame size, satellite admission."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from tests.support.collect import Collector

from tars.contracts import llm, tts
from tars.contracts.codec import ContractError, decode, encode
from tars.contracts.limits import (
    MAX_REQUEST_CHARS,
    MAX_SAY_CHARS,
    PCM_FRAME_MAX_BYTES,
    SAY_MAX_BYTES,
    excerpt,
    split_text,
)
from tars.runtime.bus import RawMessage
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.satellites import (
    OwnershipSettings,
    SatellitePolicy,
    parse_partition,
    partition_of,
)
from tars.services.router.outputs import Outputs


def huge_say(size: int = 1_000_000) -> bytes:
    document = {"id": "x", "type": "tts.say", "ts": 1, "source": "t", "data": {"text": "a" * size}}
    return json.dumps(document).encode()


def test_a_payload_past_the_topic_bound_is_refused_before_parsing() -> None:
    with pytest.raises(ContractError) as caught:
        decode(tts.TOPIC_TTS_SAY, huge_say())
    assert caught.value.reason == "too_large"
    assert f"> {SAY_MAX_BYTES}" in caught.value.detail
    assert len(caught.value.detail) < 200  # a short excerpt, never the megabyte


def test_text_past_its_bound_is_refused_as_too_long() -> None:
    with pytest.raises(ContractError) as caught:
        decode(tts.TOPIC_TTS_SAY, huge_say(MAX_SAY_CHARS + 1))
    assert caught.value.reason == "too_long"
    fits = decode(tts.TOPIC_TTS_SAY, huge_say(MAX_SAY_CHARS))
    assert len(fits.data.text) == MAX_SAY_CHARS
    with pytest.raises(ValueError):
        llm.LLMRequest(id="r", text="a" * (MAX_REQUEST_CHARS + 1))


def test_excerpt_is_short_and_printable() -> None:
    assert excerpt(b"\xff" * 10_000).endswith("...")
    assert len(excerpt(b"x" * 10_000)) < 100
    assert excerpt(b"short") == "'short'"


@pytest.mark.parametrize("size", [1, 5, 4000, 9001])
def test_split_text_keeps_every_word_within_the_bound(size: int) -> None:
    text = " ".join(f"w{index}" for index in range(size))
    pieces = split_text(text, 100)
    assert all(0 < len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces) == text


def test_split_text_cuts_a_word_longer_than_the_bound() -> None:
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_text("") == [""]


async def test_bus_refuses_a_huge_json_payload_and_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker()
    service, client = MemoryBus("tts", broker), MemoryBus("router", broker)
    said = Collector()
    service.subscribe(tts.TOPIC_TTS_SAY, said)
    tasks = [asyncio.create_task(bus.run()) for bus in (service, client)]
    try:
        await client.wait_connected()
        with caplog.at_level(logging.ERROR):
            await client.publish_raw(tts.TOPIC_TTS_SAY, huge_say())
        await client.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="still here"))
        await said.wait_for(lambda m: m.data.text == "still here", 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert service.metrics.count("rejected.too_large") == 1
    assert len(said.messages) == 1
    logged = [record.getMessage() for record in caplog.records]
    assert any("bytes >" in line for line in logged)
    assert all(len(line) < 400 for line in logged)


async def test_bus_refuses_an_oversized_audio_frame() -> None:
    broker = MemoryBroker()
    service, mic = MemoryBus("stt", broker), MemoryBus("mic", broker)
    frames: list[RawMessage] = []
    got = asyncio.Event()

    async def on_frame(message: RawMessage) -> None:
        frames.append(message)
        got.set()

    service.subscribe_raw("audio/+/pcm", on_frame)
    tasks = [asyncio.create_task(bus.run()) for bus in (service, mic)]
    try:
        await mic.wait_connected()
        await mic.publish_raw("audio/den/pcm", b"\x00" * (PCM_FRAME_MAX_BYTES + 2))
        await mic.publish_raw("audio/den/pcm", b"\x00" * 640)
        await asyncio.wait_for(got.wait(), 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert [len(frame.payload) for frame in frames] == [640]
    assert service.metrics.count("rejected.too_large") == 1


def test_policy_allowlist_and_explicit_ownership() -> None:
    policy = SatellitePolicy(allowed=frozenset({"den", "hall"}), owned=frozenset({"den"}))
    assert policy.refusal("den") is None
    assert policy.refusal("hall") == "not_owned"
    assert policy.refusal("attic") == "not_allowed"
    assert SatellitePolicy().refusal("anything") is None


def test_hash_partitions_split_satellites_between_workers_exactly_once() -> None:
    satellites = [f"sat{index}" for index in range(40)]
    workers = [SatellitePolicy(partition=(index, 3)) for index in range(3)]
    for satellite in satellites:
        owners = [w for w in workers if w.refusal(satellite) is None]
        assert len(owners) == 1
    assert partition_of("den", 4) == partition_of("den", 4)  # stable across calls


def test_ownership_settings_parse_and_validate() -> None:
    settings = OwnershipSettings(satellites="den, hall|attic", satellite_partition="")
    policy = settings.satellite_policy("den|hall|attic|porch")
    assert policy.owned == frozenset({"den", "hall", "attic"})
    assert policy.allowed == frozenset({"den", "hall", "attic", "porch"})
    assert parse_partition("1/2") == (1, 2)
    with pytest.raises(ValueError):
        OwnershipSettings(satellite_partition="2/2")


async def test_router_splits_a_long_announcement_into_bounded_pieces() -> None:
    broker = MemoryBroker()
    router, listener = MemoryBus("router", broker), MemoryBus("tts", broker)
    said = Collector()
    listener.subscribe(tts.TOPIC_TTS_SAY, said)
    tasks = [asyncio.create_task(bus.run()) for bus in (router, listener)]
    text = " ".join(["word"] * 2500)  # 12,499 characters
    try:
        await listener.wait_connected()
        await router.wait_connected()
        await Outputs(router).announce(text, utt_id="u", satellite=None)
        await said.wait_for(lambda m: bool(m.data.last), 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    pieces = [m.data for m in said.messages]
    assert len(pieces) == 4
    assert all(len(piece.text) <= MAX_SAY_CHARS for piece in pieces)
    assert [piece.last for piece in pieces] == [False, False, False, True]
    assert " ".join(piece.text for piece in pieces) == text


def test_encode_refuses_text_past_the_bound_at_the_producer() -> None:
    with pytest.raises(ValueError):
        encode(tts.TOPIC_TTS_SAY, tts.TtsSay(text="a" * (MAX_SAY_CHARS + 1)))
