"""The in-memory bus: wildcard routing, isolation of slow handlers, rejection, request/reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tars.contracts import memory, stt, tts
from tars.contracts.codec import encode
from tars.runtime.bus import Message, RawMessage
from tars.runtime.memory_bus import MemoryBroker, MemoryBus


@contextlib.asynccontextmanager
async def running(*buses: MemoryBus) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(bus.run(), name=f"test:{bus.service}") for bus in buses]
    try:
        for bus in buses:
            await asyncio.wait_for(bus.wait_connected(), 1)
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_wildcard_subscription_receives_validated_models() -> None:
    broker = MemoryBroker()
    producer, consumer = MemoryBus("stt", broker), MemoryBus("router", broker)
    got: list[Message] = []
    arrived = asyncio.Event()

    async def on_final(message: Message) -> None:
        got.append(message)
        arrived.set()

    consumer.subscribe("stt/+", on_final)
    async with running(producer, consumer):
        await producer.publish(stt.TOPIC_STT_FINAL, stt.FinalTranscript(text="hello"))
        await asyncio.wait_for(arrived.wait(), 1)
    assert isinstance(got[0].data, stt.FinalTranscript)
    assert got[0].data.text == "hello"
    assert got[0].envelope.source == "stt"


async def test_slow_handler_does_not_delay_another_subscription() -> None:
    broker = MemoryBroker()
    sender, service = MemoryBus("router", broker), MemoryBus("tts", broker)
    release = asyncio.Event()
    fast_seen = asyncio.Event()

    async def slow(_: Message) -> None:
        await release.wait()

    async def fast(_: Message) -> None:
        fast_seen.set()

    service.subscribe(tts.TOPIC_TTS_SAY, slow)
    service.subscribe(tts.TOPIC_TTS_CONTROL, fast)
    async with running(sender, service):
        await sender.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="long reply"))
        await sender.publish(tts.TOPIC_TTS_CONTROL, tts.TtsControl(action="stop"))
        await asyncio.wait_for(fast_seen.wait(), 1)
        assert not release.is_set()
        release.set()


async def test_invalid_payloads_are_counted_and_the_next_message_is_handled() -> None:
    broker = MemoryBroker()
    consumer = MemoryBus("tts", broker)
    texts: list[str] = []
    good = asyncio.Event()

    async def on_say(message: Message) -> None:
        texts.append(message.data.text)
        good.set()

    consumer.subscribe(tts.TOPIC_TTS_SAY, on_say)
    async with running(consumer):
        for bad in (b"{nope", b'{"text": 5}', b'{"text": "x", "extra": 1}'):
            broker.route(tts.TOPIC_TTS_SAY, bad, {}, False)
        broker.route(tts.TOPIC_TTS_SAY, encode(tts.TOPIC_TTS_SAY, tts.TtsSay(text="ok")), {}, False)
        await asyncio.wait_for(good.wait(), 1)
    assert texts == ["ok"]
    assert consumer.metrics.count("rejected") == 3
    assert consumer.metrics.count("rejected.invalid_json") == 1


async def test_handler_exception_is_contained() -> None:
    broker = MemoryBroker()
    sender, consumer = MemoryBus("router", broker), MemoryBus("tts", broker)
    seen: list[str] = []
    done = asyncio.Event()

    async def flaky(message: Message) -> None:
        if message.data.text == "boom":
            raise RuntimeError("handler bug")
        seen.append(message.data.text)
        done.set()

    consumer.subscribe(tts.TOPIC_TTS_SAY, flaky)
    async with running(sender, consumer):
        await sender.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="boom"))
        await sender.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="after"))
        await asyncio.wait_for(done.wait(), 1)
    assert seen == ["after"]
    assert consumer.metrics.count("handler_errors") == 1


async def test_duplicate_deliveries_are_dropped() -> None:
    broker = MemoryBroker()
    consumer = MemoryBus("tts", broker)
    texts: list[str] = []

    async def on_say(message: Message) -> None:
        texts.append(message.data.text)

    consumer.subscribe(tts.TOPIC_TTS_SAY, on_say)
    payload = encode(tts.TOPIC_TTS_SAY, tts.TtsSay(text="once"), id="fixed-id")
    async with running(consumer):
        broker.route(tts.TOPIC_TTS_SAY, payload, {}, False)
        broker.route(tts.TOPIC_TTS_SAY, payload, {}, False)
        await asyncio.sleep(0.05)
    assert texts == ["once"]
    assert consumer.metrics.count("duplicates") == 1


async def test_request_from_inside_a_handler_does_not_deadlock() -> None:
    broker = MemoryBroker()
    llm_bus, memory_bus = MemoryBus("llm", broker), MemoryBus("memory", broker)
    answers: list[int] = []
    finished = asyncio.Event()

    async def on_query(message: Message) -> None:
        results = memory.MemoryResults(query=message.data.text, k=1, results=[])
        await memory_bus.publish(memory.TOPIC_MEMORY_RESULTS, results, id=message.envelope.id)

    async def on_request(_: Message) -> None:
        reply = await llm_bus.request(
            memory.TOPIC_MEMORY_QUERY,
            memory.MemoryQuery(text="paris"),
            reply_topic=memory.TOPIC_MEMORY_RESULTS,
            timeout_s=1,
        )
        answers.append(reply.data.k)
        finished.set()

    memory_bus.subscribe(memory.TOPIC_MEMORY_QUERY, on_query)
    llm_bus.expect_replies(memory.TOPIC_MEMORY_RESULTS)
    llm_bus.subscribe(stt.TOPIC_STT_FINAL, on_request)
    async with running(llm_bus, memory_bus):
        await llm_bus.publish(stt.TOPIC_STT_FINAL, stt.FinalTranscript(text="go"))
        await asyncio.wait_for(finished.wait(), 2)
    assert answers == [1]


async def test_request_times_out_without_reply() -> None:
    broker = MemoryBroker()
    llm_bus = MemoryBus("llm", broker)
    llm_bus.expect_replies(memory.TOPIC_MEMORY_RESULTS)
    async with running(llm_bus):
        with pytest.raises(TimeoutError):
            await llm_bus.request(
                memory.TOPIC_MEMORY_QUERY,
                memory.MemoryQuery(text="x"),
                reply_topic=memory.TOPIC_MEMORY_RESULTS,
                timeout_s=0.05,
            )


async def test_raw_audio_and_retained_health() -> None:
    broker = MemoryBroker()
    mic, listener = MemoryBus("mic", broker), MemoryBus("stt", broker)
    frames: list[RawMessage] = []
    got = asyncio.Event()

    async def on_pcm(message: RawMessage) -> None:
        frames.append(message)
        got.set()

    listener.subscribe_raw("audio/+/pcm", on_pcm)
    async with running(mic, listener):
        await mic.publish_raw("audio/kitchen/pcm", b"\x01\x00" * 320, properties={"seq": "7"})
        await asyncio.wait_for(got.wait(), 1)
    assert frames[0].properties == {"seq": "7"}
    assert len(frames[0].payload) == 640

    late: list[Message] = []
    late_seen = asyncio.Event()

    async def on_health(message: Message) -> None:
        late.append(message)
        late_seen.set()

    watcher = MemoryBus("ui", broker)
    watcher.subscribe("system/health/+", on_health)
    async with running(watcher):
        await asyncio.wait_for(late_seen.wait(), 1)
    mic_health = [message for message in late if message.topic == "system/health/mic"]
    assert mic_health
    assert mic_health[0].retained
