"""A router on the in-memory bus plus a peer that plays wake, STT, LLM and TTS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

from tars.contracts import conversation, llm, movement, stt, tts, wake
from tars.contracts.health import HealthPing, health_topic
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.metrics import Metrics
from tars.runtime.settings import ConversationSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings

WATCHED = (
    tts.TOPIC_TTS_SAY,
    tts.TOPIC_TTS_CONTROL,
    llm.TOPIC_LLM_REQUEST,
    llm.TOPIC_LLM_CANCEL,
    llm.TOPIC_LLM_PREFILL,
    conversation.TOPIC_CONVERSATION_TURN,
    conversation.ROUTER_STATE_PATTERN,
    movement.TOPIC_MOVEMENT_COMMAND,
    movement.TOPIC_MOVEMENT_STOP,
    health_topic("router"),
)
FIXED_NOW = dt.datetime(2025, 3, 4, 15, 15)


class Peer:
    """Publishes as every other service and records what the router publishes."""

    def __init__(self, bus: MemoryBus, router_metrics: Metrics | None = None) -> None:
        self.bus = bus
        self.router_metrics = router_metrics or Metrics("router")
        self.seen: list[Message] = []
        self._arrived = asyncio.Event()
        for pattern in WATCHED:
            bus.subscribe(pattern, self._record)

    async def _record(self, message: Message) -> None:
        self.seen.append(message)
        self._arrived.set()

    def of(self, topic_prefix: str) -> list[Any]:
        """Payloads seen on topics starting with ``topic_prefix``, in arrival order."""
        return [m.data for m in self.seen if m.topic.startswith(topic_prefix)]

    async def wait_for(
        self,
        topic_prefix: str,
        predicate: Callable[[Any], bool] = lambda _: True,
        within_s: float = 2.0,
        *,
        skip: int = 0,
    ) -> Any:
        """The first payload on ``topic_prefix`` matching ``predicate`` (waits for it).

        ``skip`` ignores that many earlier payloads of the topic (``len(peer.of(topic))``
        taken before an action waits for what the action caused).
        """
        async with asyncio.timeout(within_s):
            while True:
                for data in self.of(topic_prefix)[skip:]:
                    if predicate(data):
                        return data
                self._arrived.clear()
                await self._arrived.wait()

    async def settle(self) -> None:
        """Let queued handlers run (a few loop turns)."""
        for _ in range(20):
            await asyncio.sleep(0)

    async def final(self, text: str, satellite: str = "local", **fields: Any) -> None:
        """Publish a final transcript."""
        await self.bus.publish(
            stt.TOPIC_STT_FINAL, stt.FinalTranscript(text=text, satellite=satellite, **fields)
        )

    async def partial(self, text: str, satellite: str = "local", **fields: Any) -> None:
        """Publish a partial transcript."""
        await self.bus.publish(
            stt.TOPIC_STT_PARTIAL, stt.PartialTranscript(text=text, satellite=satellite, **fields)
        )

    async def wake(self, satellite: str = "local", kind: wake.WakeEventType = "wake") -> None:
        """Publish a wake event."""
        await self.bus.publish(
            wake.TOPIC_WAKE_EVENT, wake.WakeEvent(type=kind, satellite=satellite)
        )

    async def delta(self, request_id: str, text: str | None, *, done: bool = False) -> None:
        """Publish one LLM stream delta."""
        await self.bus.publish(
            llm.TOPIC_LLM_STREAM, llm.LLMStreamDelta(id=request_id, delta=text, done=done)
        )

    async def response(
        self,
        request_id: str,
        reply: str | None = None,
        error: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """Publish the final LLM response."""
        response = llm.LLMResponse(id=request_id, reply=reply, error=error, error_code=error_code)
        await self.bus.publish(llm.TOPIC_LLM_RESPONSE, response)

    async def tts_status(self, event: tts.TtsEvent, utt_id: str, satellite: str = "local") -> None:
        """Publish a playback event."""
        await self.bus.publish(
            tts.TOPIC_TTS_STATUS, tts.TtsStatus(event=event, utt_id=utt_id, satellite=satellite)
        )

    async def rejected(
        self,
        heard_in: stt.ListenReason,
        text: str = "uh",
        satellite: str = "local",
        utt_id: str | None = None,
    ) -> None:
        """Publish an utterance stt rejected."""
        await self.bus.publish(
            stt.TOPIC_STT_REJECTED,
            stt.RejectedTranscript(
                text=text,
                filter="common_words",
                reason="common-word ratio 0.10 < 0.30",
                heard_in=heard_in,
                utt_id=utt_id,
                satellite=satellite,
            ),
        )

    async def continuation(self, utt_id: str, satellite: str = "local") -> None:
        """Publish that the user kept talking after the final ``utt_id``."""
        await self.bus.publish(
            stt.TOPIC_STT_CONTINUATION,
            stt.TurnContinuation(utt_id=utt_id, satellite=satellite, gap_s=0.4),
        )

    async def health(self, service: str, ok: bool, event: str = "ready") -> None:
        """Publish the retained health of ``service``."""
        await self.bus.publish(health_topic(service), HealthPing(ok=ok, event=event))

    def says(self, utt_id: str | None = None) -> list[tts.TtsSay]:
        """tts/say payloads (of one reply when ``utt_id`` is given)."""
        return [s for s in self.of(tts.TOPIC_TTS_SAY) if utt_id is None or s.utt_id == utt_id]


@contextlib.asynccontextmanager
async def router_running(
    *, llm_healthy: bool = True, **overrides: Any
) -> AsyncIterator[tuple[RouterService, Peer]]:
    """Run a router (wake acks and the announcement off unless overridden) and a peer.

    ``overrides`` naming a :class:`ConversationSettings` field (``wake_window_s``,
    ``live_mode``...) go there, the rest to :class:`RouterSettings`. Unless ``llm_healthy``
    is false, an llm service has reported healthy before the router starts.

    Ordering: each subscription has its own worker, but workers wake in the order messages
    were published and take the router's lock in turn, so a message the peer publishes is
    handled before any the peer publishes after it. Tests rely on this to check a counter
    once a later message has had its visible effect.
    """
    router_fields: dict[str, Any] = {"wake_ack_enabled": False, "online_announce": False}
    clock_fields: dict[str, Any] = {}
    for key, value in overrides.items():
        (clock_fields if key in ConversationSettings.model_fields else router_fields)[key] = value
    broker = MemoryBroker()
    router_bus, peer_bus = MemoryBus("router", broker), MemoryBus("peer", broker)
    router = RouterService(
        RouterSettings(**router_fields),
        conversation=ConversationSettings(**clock_fields),
        wallclock=lambda: FIXED_NOW,
    )
    router.attach(router_bus)
    peer = Peer(peer_bus, router_bus.metrics)
    tasks = [asyncio.create_task(peer_bus.run(), name="test:peer-bus")]
    try:
        await peer_bus.wait_connected()
        if llm_healthy:  # retained: the router gets it as it connects, before anything else
            await peer.health("llm", True)
        tasks.append(asyncio.create_task(router_bus.run(), name="test:router-bus"))
        await router_bus.wait_connected()
        tasks.append(asyncio.create_task(router.run(), name="test:router"))
        await peer.wait_for(health_topic("router"))
        yield router, peer
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
