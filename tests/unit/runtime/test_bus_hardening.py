"""The bus under hostile or flooding input: thinned logs with exact counts, strict replies,
one broker subscription per filter and connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from tests.support.collect import Collector

from tars.contracts import memory, tts
from tars.runtime.bus import Message
from tars.runtime.lograte import LogBudget
from tars.runtime.logs import configure_logging
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.metrics import Metrics
from tars.runtime.subscriptions import Subscriptions


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


@pytest.fixture(autouse=True)
def _capture_bus_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


def test_log_budget_logs_the_first_twenty_then_one_in_a_thousand_per_key() -> None:
    budget = LogBudget()
    logged = [n for n in range(1, 2501) if budget.count(("a", "x")) is not None]
    assert logged == [*range(1, 21), 1000, 2000]
    assert budget.count(("b", "x")) == 1  # another key starts afresh
    assert budget.note(20) == ""
    assert budget.note(2000) == " (2000 so far; one line per 1000)"


def test_log_budget_forgets_the_least_recent_key_past_its_bound() -> None:
    budget = LogBudget(first=1, every=10, max_keys=2)
    for key in ("a", "b", "a", "c"):  # "b" is the least recently seen when "c" arrives
        budget.count(key)
    assert budget.count("a") is None  # remembered: its third occurrence is not logged
    assert budget.count("b") == 1  # forgotten: counted afresh


async def test_rejections_are_counted_exactly_and_logged_thinned_per_topic_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker()
    service, sender = MemoryBus("tts", broker), MemoryBus("router", broker)
    says = Collector()
    service.subscribe(tts.TOPIC_TTS_SAY, says)
    async with running(service, sender):
        for _ in range(2500):
            broker.route(tts.TOPIC_TTS_SAY, b'{"id": "x", "type": ', {}, False)
        broker.route(tts.TOPIC_TTS_SAY, b'{"id":"b","type":"tts.say","data":{"text":5}}', {}, False)
        await sender.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="ok"))
        await says.wait_for(lambda m: m.data.text == "ok", 1)
    rejected = lines(caplog, "rejected message")
    assert service.metrics.count("rejected") == 2501
    assert service.metrics.count("rejected.invalid_json") == 2500
    assert len(rejected) == 20 + 2 + 1  # 2,500 of one reason: 22 lines; another reason: 1
    assert "(1000 so far; one line per 1000)" in rejected[20]


async def test_queue_overflow_drops_are_counted_exactly_and_logged_thinned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker()
    service, sender = MemoryBus("tts", broker), MemoryBus("router", broker)
    release, last_handled = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def slow(message: Message) -> None:
        await release.wait()
        handled.append(message.data.utt_id)
        if message.data.utt_id == "u2599":
            last_handled.set()

    service.subscribe(tts.TOPIC_TTS_SAY, slow)
    async with running(service, sender):
        for index in range(2600):
            await sender.publish(tts.TOPIC_TTS_SAY, tts.TtsSay(text="x", utt_id=f"u{index}"))
        release.set()
        await asyncio.wait_for(last_handled.wait(), 5)  # the newest survive
    dropped = service.metrics.count("dropped_overflow")
    assert dropped + len(handled) == 2600  # every message is either handled or counted
    assert len(lines(caplog, "queue full on")) == min(dropped, 20) + dropped // 1000


async def test_a_request_is_answered_only_on_its_reply_topic() -> None:
    """The requester also hears its own request (same envelope id): that is not the reply."""
    broker = MemoryBroker()
    llm_bus, memory_bus = MemoryBus("llm", broker), MemoryBus("memory", broker)
    heard = Collector()

    async def on_query(message: Message) -> None:
        results = memory.MemoryResults(query=message.data.text, k=1, results=[])
        await memory_bus.publish(memory.TOPIC_MEMORY_RESULTS, results, id=message.envelope.id)

    memory_bus.subscribe(memory.TOPIC_MEMORY_QUERY, on_query)
    llm_bus.subscribe(memory.TOPIC_MEMORY_QUERY, heard)
    llm_bus.expect_replies(memory.TOPIC_MEMORY_RESULTS)
    async with running(llm_bus, memory_bus):
        reply = await llm_bus.request(
            memory.TOPIC_MEMORY_QUERY,
            memory.MemoryQuery(text="paris"),
            reply_topic=memory.TOPIC_MEMORY_RESULTS,
            timeout_s=1,
        )
        echo = await heard.wait_for(lambda m: m.envelope.id == reply.envelope.id, 1)
    assert echo.topic == memory.TOPIC_MEMORY_QUERY  # seen, with the request's id...
    assert reply.topic == memory.TOPIC_MEMORY_RESULTS  # ...but only the reply resolved it
    assert isinstance(reply.data, memory.MemoryResults)


async def test_one_broker_subscription_per_filter_and_connection() -> None:
    async def handler(_: object) -> None:
        return None

    subscriptions = Subscriptions("tts", Metrics("tts"), 10, LogBudget())
    json_sub = subscriptions.add("tts/control", handler, 0, raw=False, workers=1, priority=True)
    raw_sub = subscriptions.add("tts/control", handler, 1, raw=True, workers=1, priority=True)
    main_sub = subscriptions.add("tts/control", handler, 1, raw=False, workers=1, priority=False)
    say_sub = subscriptions.add("tts/say", handler, 1, raw=False, workers=1, priority=False)
    assert json_sub.ident == raw_sub.ident  # one broker subscription: one identifier
    assert len({json_sub.ident, main_sub.ident, say_sub.ident}) == 3
    assert subscriptions.broker_filters(priority=True) == [("tts/control", 1, json_sub.ident)]
    assert subscriptions.broker_filters(priority=False) == [
        ("tts/control", 1, main_sub.ident),
        ("tts/say", 1, say_sub.ident),
    ]
    both = subscriptions.matching("tts/control", frozenset({json_sub.ident}), priority=True)
    assert both == [json_sub, raw_sub]


def test_logging_set_up_quiets_paho_packet_logs_under_aiomqtts_logger() -> None:
    root, mqtt = logging.getLogger(), logging.getLogger("mqtt")
    saved = (list(root.handlers), root.level, mqtt.level)
    try:
        configure_logging("tts", "DEBUG", "json")
        bus_logger = mqtt.getChild("tars-tts-1234abcd")  # where a bus's paho logs go
        assert root.isEnabledFor(logging.DEBUG)
        assert not bus_logger.isEnabledFor(logging.DEBUG)
        assert bus_logger.isEnabledFor(logging.ERROR)  # socket errors still reach the bus
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        mqtt.setLevel(saved[2])
