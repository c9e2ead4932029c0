"""A flood on one topic of a service, then a control message of the same service.

Each service gives every subscription its own queue and worker, so a control message
(``movement/stop``, a barge-in ``wake/event``) must not wait until a flood on another of the
service's topics has been worked through. Two scenarios on a running stack:

* movement: 10,000 ``movement/command`` then a ``movement/stop``. Every command the service
  works through is answered (forwarded, or refused with a status naming its id), so the
  order of the answers shows whether the stop overtook the queued flood; a marker command
  published after the flood and before the stop shows when the flood was done.
* router: 10,000 ``stt/partial`` of one satellite then a barge-in ``wake/event`` on it; the
  router's retained ``router/state/<sat>`` turning ``listening`` is the barge-in handled. A
  marker after the flood (a typed question on a second satellite, sent on the flood's
  connection, so the router reads it after the whole flood) shows when the router had read
  the flood: its answer moves that satellite's state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tars.contracts import movement as mv
from tars.contracts.conversation import RouterState, router_state_topic
from tars.contracts.stt import (
    TOPIC_STT_FINAL,
    TOPIC_STT_PARTIAL,
    FinalTranscript,
    PartialTranscript,
)
from tars.contracts.wake import TOPIC_WAKE_EVENT, WakeEvent
from tars.runtime.bus import Message
from tars.runtime.mqtt_bus import MqttBus

FLOOD_MESSAGES = 10_000
"""Messages in one flood (the issue's figure)."""
_BATCH = 500
"""Flood publishes awaited together. Floods go at QoS 0 (partials' own QoS; commands sent
fire-and-forget), as fast as one client can send them; the control message at QoS 1."""


@dataclass(frozen=True, slots=True)
class FloodResult:
    """What one flood-then-control run showed."""

    service: str
    flood: int
    control_delay_ms: float
    """From publishing the control message to seeing its effect on the bus."""
    control_acted_ms: float
    """From publishing the control message to the service publishing its effect (the time
    stamped in the effect): the delay without the observer's own lag in reading it."""
    control_acked_ms: float
    """From publishing the control message (QoS 1) to the broker's acknowledgement: the part
    of the delay spent behind the publisher's own earlier messages in the broker."""
    flood_answers_before_control: int
    """Flood messages whose answer was seen before the control's effect (-1: no answers)."""
    flood_answers_after_control: int
    """Flood messages answered after the control's effect: the flood was still queued."""
    marker_after_control: bool
    """The marker published after the flood (before the control) was answered after it."""
    flood_seconds: float
    """From the first flood publish to the last flood answer (or the control's effect)."""


class Seen:
    """Messages seen on the observer, with arrival times, and a way to wait for one."""

    def __init__(self) -> None:
        self.items: list[tuple[float, Message]] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        """Record ``message`` (the bus handler)."""
        self.items.append((time.monotonic(), message))
        self._changed.set()

    async def wait(
        self, predicate: Callable[[Message], bool], timeout_s: float, since: int = 0
    ) -> float:
        """Arrival time of the first message from index ``since`` on matching ``predicate``."""
        arrived, _ = await self.first(predicate, timeout_s, since)
        return arrived

    async def first(
        self, predicate: Callable[[Message], bool], timeout_s: float, since: int = 0
    ) -> tuple[float, Message]:
        """The first message from index ``since`` on matching ``predicate``, and its arrival."""
        position = since  # each message is looked at once: the observer must keep up
        async with asyncio.timeout(timeout_s):
            while True:
                while position < len(self.items):
                    arrived, message = self.items[position]
                    position += 1
                    if predicate(message):
                        return arrived, message
                self._changed.clear()
                await self._changed.wait()


async def _publish_all(publishes: list[Callable[[], Awaitable[Any]]]) -> None:
    for start in range(0, len(publishes), _BATCH):
        await asyncio.gather(*(publish() for publish in publishes[start : start + _BATCH]))


def _status_id(message: Message) -> str | None:
    data = message.data
    return getattr(data, "request_id", None)


async def flood_movement(
    publisher: MqttBus, observer: MqttBus, seen: Seen, count: int, timeout_s: float
) -> FloodResult:
    """``count`` commands, a marker, then a stop; see :mod:`tars.bench.flood`."""
    tag = f"fl{time.monotonic_ns() % 10**9}"
    del observer  # subscribed by the caller before it ran

    def command(index: int | str) -> Callable[[], Awaitable[Any]]:
        model = mv.MovementCommand(id=f"{tag}-{index}", command="wave", speed=0.5)
        return lambda: publisher.publish(mv.TOPIC_MOVEMENT_COMMAND, model, qos=0)

    start = len(seen.items)
    began = time.monotonic()
    await _publish_all([command(index) for index in range(count)] + [command("end")])
    sent_stop, sent_wall = time.monotonic(), time.time()
    await publisher.publish(mv.TOPIC_MOVEMENT_STOP, mv.EmergencyStopCommand(reason=tag))
    acked = time.monotonic()
    stop_seen, stop = await seen.first(
        lambda m: m.topic == mv.TOPIC_MOVEMENT_STATUS and m.data.event == "emergency_stop",
        timeout_s,
        start,
    )
    marker_seen = await seen.wait(lambda m: _status_id(m) == f"{tag}-end", timeout_s, start)
    first_answer: dict[str, float] = {}
    for arrived, message in seen.items[start:]:
        request_id = _status_id(message) or ""
        if request_id.startswith(f"{tag}-") and request_id != f"{tag}-end":
            first_answer.setdefault(request_id, arrived)
    answers = list(first_answer.values())
    return FloodResult(
        service="movement",
        flood=count,
        control_delay_ms=(stop_seen - sent_stop) * 1e3,
        control_acted_ms=(stop.data.timestamp - sent_wall) * 1e3,
        control_acked_ms=(acked - sent_stop) * 1e3,
        flood_answers_before_control=sum(1 for arrived in answers if arrived < stop_seen),
        flood_answers_after_control=sum(1 for arrived in answers if arrived > stop_seen),
        marker_after_control=marker_seen > stop_seen,
        flood_seconds=max([marker_seen, *answers]) - began,
    )


async def flood_router(
    stt: MqttBus, wake: MqttBus, seen: Seen, count: int, timeout_s: float
) -> FloodResult:
    """``count`` partial transcripts of one satellite, a marker, then a wake word on it."""
    satellite = f"flood{time.monotonic_ns() % 10**6}"
    partial = PartialTranscript(text="and then the", utt_id=f"{satellite}-u", satellite=satellite)
    marker = FinalTranscript(
        text="what time is it", utt_id=f"{satellite}-m", satellite=f"{satellite}m", source="text"
    )
    start = len(seen.items)
    began = time.monotonic()
    await _publish_all([lambda: stt.publish(TOPIC_STT_PARTIAL, partial) for _ in range(count)])
    await stt.publish(TOPIC_STT_FINAL, marker)
    sent, sent_wall = time.monotonic(), time.time()
    await wake.publish(TOPIC_WAKE_EVENT, WakeEvent(type="wake", satellite=satellite))
    acked = time.monotonic()
    topic, marker_topic = router_state_topic(satellite), router_state_topic(f"{satellite}m")

    def listening(message: Message) -> bool:
        state = message.data
        return (
            message.topic == topic
            and isinstance(state, RouterState)
            and (state.phase == "listening")
        )

    handled, state = await seen.first(listening, timeout_s, start)
    marker_seen = await seen.wait(lambda m: m.topic == marker_topic, timeout_s, start)
    return FloodResult(
        service="router",
        flood=count,
        control_delay_ms=(handled - sent) * 1e3,
        control_acted_ms=(state.envelope.ts - sent_wall) * 1e3,
        control_acked_ms=(acked - sent) * 1e3,
        flood_answers_before_control=-1,
        flood_answers_after_control=-1,
        marker_after_control=marker_seen > handled,
        flood_seconds=max(marker_seen, handled) - began,
    )


def observe(observer: MqttBus) -> Seen:
    """Subscribe ``observer`` (before it runs) to what the flood scenarios watch."""
    seen = Seen()
    observer.subscribe(mv.TOPIC_MOVEMENT_STATUS, seen)
    observer.subscribe("router/state/+", seen)
    return seen
