"""A bus's subscriptions: each with its own bounded queue and worker task(s).

A slow handler on one topic never delays another topic: every subscription queues its own
messages and works them off with its own workers. A full queue drops its oldest message
(for audio and streams the freshest data matters); every drop is counted, and logged
thinned (see :mod:`~tars.runtime.lograte`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tars.contracts.limits import IMAGE_MAX_BYTES
from tars.contracts.registry import lookup, topic_matches
from tars.runtime.bus import Message, RawMessage, topic_filter
from tars.runtime.lograte import LogBudget
from tars.runtime.logs import log_context
from tars.runtime.metrics import Metrics

_LOGGER = logging.getLogger(__name__)


@dataclass(eq=False)
class Subscription:
    """One subscription: its filter, handler, queue and how it is read from the broker."""

    pattern: str
    handler: Callable[[Any], Awaitable[None]]
    qos: int
    raw: bool
    workers: int
    queue: asyncio.Queue[Any]
    ident: int
    """MQTT v5 subscription identifier: which subscriptions a message was delivered for.
    Subscriptions with the same filter on the same connection share one: the broker keeps
    one subscription per filter (a second SUBSCRIBE replaces the first, identifier too)."""
    max_bytes: int
    priority: bool
    """Read from the broker apart from the others (a control topic)."""


class Subscriptions:
    """The subscriptions of one bus and the worker tasks that call their handlers."""

    def __init__(self, service: str, metrics: Metrics, queue_size: int, budget: LogBudget):
        self._service = service
        self._metrics = metrics
        self._queue_size = queue_size
        self._budget = budget
        self._items: list[Subscription] = []
        self._workers: list[asyncio.Task[None]] = []

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._items)

    def add(
        self,
        pattern: str,
        handler: Callable[[Any], Awaitable[None]],
        qos: int,
        *,
        raw: bool,
        workers: int,
        priority: bool,
    ) -> Subscription:
        """Register a subscription (its workers start at once when the bus already runs)."""
        spec = lookup(topic_filter(pattern))
        # A filter wider than one topic (``#``) is bounded by the largest any topic allows.
        max_bytes = spec.max_bytes if spec is not None else IMAGE_MAX_BYTES
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self._queue_size)
        ident = self._ident_for(pattern, priority)
        workers = max(1, workers)
        subscription = Subscription(
            pattern, handler, qos, raw, workers, queue, ident, max_bytes, priority
        )
        self._items.append(subscription)
        if self._workers:
            self._start(subscription)
        return subscription

    def _ident_for(self, pattern: str, priority: bool) -> int:
        for sub in self._items:
            if sub.pattern == pattern and sub.priority == priority:
                return sub.ident
        return max((sub.ident for sub in self._items), default=0) + 1

    def matching(
        self, topic: str, ids: frozenset[int] | None, priority: bool | None
    ) -> list[Subscription]:
        """The subscriptions ``topic`` is for: among ``ids`` (None: any), of that priority."""
        return [
            sub
            for sub in self._items
            if (ids is None or sub.ident in ids)
            and (priority is None or sub.priority == priority)
            and topic_matches(sub.pattern, topic)
        ]

    def broker_filters(self, priority: bool) -> list[tuple[str, int, int]]:
        """``(filter, qos, identifier)`` to subscribe on the connection serving ``priority``.

        One per filter, at the highest QoS any subscription to it asked for.
        """
        filters: dict[int, tuple[str, int, int]] = {}
        for sub in self._items:
            if sub.priority == priority:
                _, qos, _ = filters.get(sub.ident, (sub.pattern, sub.qos, sub.ident))
                filters[sub.ident] = (sub.pattern, max(qos, sub.qos), sub.ident)
        return list(filters.values())

    def has_priority(self) -> bool:
        """Whether any subscription is a priority one."""
        return any(sub.priority for sub in self._items)

    # -- workers ------------------------------------------------------------------------
    def start_workers(self) -> None:
        """Start every subscription's workers (the bus owns them until stop_workers)."""
        for subscription in self._items:
            self._start(subscription)

    def _start(self, subscription: Subscription) -> None:
        for index in range(subscription.workers):
            name = f"{self._service}:handle:{subscription.pattern}:{index}"
            self._workers.append(asyncio.create_task(self._work(subscription), name=name))

    async def stop_workers(self) -> None:
        """Cancel the workers and wait for them."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    def enqueue(self, sub: Subscription, item: Message | RawMessage) -> None:
        """Queue ``item`` for ``sub``'s handler, dropping the oldest queued one when full."""
        if sub.queue.full():
            sub.queue.get_nowait()
            self._metrics.inc("dropped_overflow")
            number = self._budget.count((sub.pattern, "queue_full"))
            if number is not None:
                note = self._budget.note(number)
                _LOGGER.warning("queue full on %s, dropped the oldest message%s", sub.pattern, note)
        sub.queue.put_nowait(item)

    async def _work(self, sub: Subscription) -> None:
        while True:
            item = await sub.queue.get()
            await self._invoke(sub, item)

    async def _invoke(self, sub: Subscription, item: Message | RawMessage) -> None:
        fields: dict[str, str | None] = {"topic": item.topic}
        if isinstance(item, Message):
            data = item.data
            fields["request_id"] = getattr(data, "id", None) or getattr(data, "request_id", None)
            fields["utt_id"] = getattr(data, "utt_id", None)
            fields["satellite"] = getattr(data, "satellite", None)
        with log_context(**{k: v if isinstance(v, str) else None for k, v in fields.items()}):
            start = time.perf_counter()
            try:
                await sub.handler(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._metrics.inc("handler_errors")
                _LOGGER.exception("handler for %s failed", sub.pattern)
            finally:
                elapsed_ms = (time.perf_counter() - start) * 1e3
                self._metrics.observe(f"handle:{sub.pattern}", elapsed_ms)
