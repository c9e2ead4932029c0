"""What `tars listen` makes of the bus: readiness without a model, rejections that get a reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from tars.commands.listen import Observer
from tars.contracts import stt
from tars.contracts.health import HealthPing, health_topic
from tars.runtime.memory_bus import MemoryBroker, MemoryBus


@contextlib.asynccontextmanager
async def observed(*services: str) -> AsyncIterator[tuple[Observer, MemoryBus, list[str]]]:
    broker = MemoryBroker()
    lines: list[str] = []
    observer = Observer(set(services), lines.append)
    watcher, peer = MemoryBus("cli", broker), MemoryBus("peer", broker)
    observer.attach(watcher)
    tasks = [asyncio.create_task(bus.run(), name=f"test:{bus.service}") for bus in (watcher, peer)]
    try:
        await watcher.wait_connected()
        await peer.wait_connected()
        yield observer, peer, lines
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_llm_without_a_model_does_not_hold_up_the_turn() -> None:
    async with observed("router", "llm") as (observer, peer, lines):
        await peer.publish(health_topic("router"), HealthPing(ok=True, event="ready"))
        await peer.publish(
            health_topic("llm"),
            HealthPing(ok=False, event="model_unavailable", err="no model file"),
        )
        await asyncio.wait_for(observer.ready.wait(), 2.0)
        assert observer.failed is None
        assert "[llm] not available: no model file" in lines


async def test_a_rejection_after_the_wake_word_is_waited_for_but_background_talk_is_not() -> None:
    async with observed() as (observer, peer, lines):
        await peer.publish(
            stt.TOPIC_STT_REJECTED,
            stt.RejectedTranscript(text="mm", filter="empty", reason="nothing", heard_in="live"),
        )
        await peer.publish(stt.TOPIC_STT_CONTINUATION, stt.TurnContinuation(utt_id="u1", gap_s=0.5))
        await asyncio.wait_for(observer.last_final.wait(), 2.0)
        before_wake = observer.expects_reply
        observer.last_final.clear()
        await peer.publish(
            stt.TOPIC_STT_REJECTED,
            stt.RejectedTranscript(text="mm", filter="empty", reason="nothing", heard_in="wake"),
        )
        await asyncio.wait_for(observer.last_final.wait(), 2.0)
        assert (before_wake, observer.expects_reply) == (False, True)
        assert "[rejected] 'mm' in the wake window: nothing" in lines
        assert "[continues] after 0.50 s of silence" in lines
