"""The bus interface services depend on, and the dispatch machinery both transports share.

Every subscription owns a bounded queue and its own worker task(s), so a slow
handler on one topic never delays another topic. Payloads are decoded once per
message through the contract codec; invalid ones are counted, logged once and
dropped without disturbing the consumer.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tars.contracts.base import new_id
from tars.contracts.codec import ContractError, decode, encode_message, spec_for
from tars.contracts.envelope import Envelope
from tars.contracts.health import HealthPing, health_topic
from tars.contracts.limits import IMAGE_MAX_BYTES, excerpt
from tars.contracts.registry import lookup, topic_matches
from tars.contracts.v1 import WireMode
from tars.runtime.logs import log_context
from tars.runtime.metrics import Metrics

_LOGGER = logging.getLogger(__name__)
_REFUSAL_LOG_EVERY = 1000
"""Oversized binary frames log their first refusal, then every this many (all are counted)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded, validated JSON message."""

    topic: str
    envelope: Envelope[Any]
    retained: bool = False

    @property
    def data(self) -> Any:
        """The payload model."""
        return self.envelope.data


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A binary message (audio), with its MQTT v5 user properties."""

    topic: str
    payload: bytes
    properties: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Message], Awaitable[None]]
RawHandler = Callable[[RawMessage], Awaitable[None]]


class Bus(Protocol):
    """What a service may do with the bus; the MQTT and in-memory buses both provide it."""

    service: str
    metrics: Metrics

    def subscribe(
        self, pattern: str, handler: Handler, *, qos: int | None = None, workers: int = 1
    ) -> None:
        """Call ``handler`` for every valid JSON message on ``pattern`` (register before run)."""

    def subscribe_raw(self, pattern: str, handler: RawHandler, *, qos: int = 0) -> None:
        """Call ``handler`` for every binary message on ``pattern`` (register before run)."""

    async def publish(
        self,
        topic: str,
        data: Any,
        *,
        id: str | None = None,
        qos: int | None = None,
        retain: bool | None = None,
    ) -> str:
        """Envelope and publish a payload model; returns the envelope id."""

    async def publish_raw(
        self,
        topic: str,
        payload: bytes,
        *,
        properties: Mapping[str, str] | None = None,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish raw bytes (audio) with optional user properties."""

    async def request(
        self, topic: str, data: Any, *, reply_topic: str, timeout_s: float
    ) -> Message:
        """Publish ``data`` and wait for the reply on ``reply_topic`` with the same envelope id."""

    async def set_health(self, ok: bool, event: str | None = None, err: str | None = None) -> None:
        """Publish this service's retained health."""

    async def republish_health(self, event: str | None = None) -> None:
        """Re-send the current health with a fresh timestamp."""

    async def wait_connected(self) -> None:
        """Return once the bus is connected and subscribed."""

    async def run(self) -> None:
        """Connect and deliver messages until cancelled."""


class Dedupe:
    """Remembers recently seen ``(topic, id, seq)`` keys for a while."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._seen: collections.OrderedDict[tuple[str, str, int | None], float] = (
            collections.OrderedDict()
        )

    def seen(self, key: tuple[str, str, int | None], now: float) -> bool:
        """Record ``key`` and say whether it was already seen within the TTL."""
        if self._max == 0 or self._ttl == 0:
            return False
        while self._seen:
            oldest_key, stamp = next(iter(self._seen.items()))
            if now - stamp <= self._ttl and len(self._seen) < self._max:
                break
            del self._seen[oldest_key]
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


@dataclass(eq=False)
class _Subscription:
    pattern: str
    handler: Callable[[Any], Awaitable[None]]
    qos: int
    raw: bool
    workers: int
    queue: asyncio.Queue[Any]
    ident: int
    max_bytes: int


class BaseBus(abc.ABC):
    """Subscription bookkeeping, decoding, de-duplication, request futures and health.

    Transports subclass it and implement ``_transmit`` and ``run``. ``wire`` is how
    payloads are published (``v1``: exactly py-tars v1 JSON on py-tars topics, the TARS
    additions in a user property); every wire is understood on receipt.
    """

    def __init__(
        self,
        service: str,
        *,
        dedupe: Dedupe | None = None,
        queue_size: int = 1000,
        wire: WireMode = "tars",
    ):
        self.service = service
        self.wire: WireMode = wire
        self.metrics = Metrics(service)
        self._dedupe = dedupe or Dedupe(30.0, 4096)
        self._queue_size = queue_size
        self._subscriptions: list[_Subscription] = []
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._reply_patterns: set[str] = set()
        self._health = HealthPing(ok=True, event="starting")
        self._workers: list[asyncio.Task[None]] = []
        self._connected = asyncio.Event()

    # -- registration -------------------------------------------------------
    def subscribe(
        self, pattern: str, handler: Handler, *, qos: int | None = None, workers: int = 1
    ) -> None:
        """Call ``handler`` for each valid JSON message on ``pattern``.

        Args:
            pattern: Topic filter (``+``/``#`` wildcards, ``$share/<group>/`` allowed).
            handler: Coroutine function receiving a ``Message``.
            qos: Subscription QoS; the topic's registry default when None.
            workers: Messages of this subscription handled concurrently (1 keeps order).
        """
        spec = lookup(topic_filter(pattern))
        default_qos = spec.qos if spec is not None else 1
        self._add(pattern, handler, default_qos if qos is None else qos, raw=False, workers=workers)

    def subscribe_raw(self, pattern: str, handler: RawHandler, *, qos: int = 0) -> None:
        """Call ``handler`` for each binary message on ``pattern``."""
        self._add(pattern, handler, qos, raw=True, workers=1)

    def _add(
        self,
        pattern: str,
        handler: Callable[[Any], Awaitable[None]],
        qos: int,
        *,
        raw: bool,
        workers: int,
    ) -> None:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self._queue_size)
        ident = len(self._subscriptions) + 1
        spec = lookup(topic_filter(pattern))
        # A filter wider than one topic (``#``) is bounded by the largest any topic allows.
        max_bytes = spec.max_bytes if spec is not None else IMAGE_MAX_BYTES
        subscription = _Subscription(
            pattern, handler, qos, raw, max(1, workers), queue, ident, max_bytes
        )
        self._subscriptions.append(subscription)
        if self._workers:  # already running: start its workers now
            self._start_workers(subscription)

    # -- lifecycle ------------------------------------------------------------
    def _start_all_workers(self) -> None:
        for subscription in self._subscriptions:
            self._start_workers(subscription)

    def _start_workers(self, subscription: _Subscription) -> None:
        for index in range(subscription.workers):
            name = f"{self.service}:handle:{subscription.pattern}:{index}"
            self._workers.append(asyncio.create_task(self._work(subscription), name=name))

    async def _stop_workers(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    async def wait_connected(self) -> None:
        """Return once connected and subscribed."""
        await self._connected.wait()

    # -- incoming -----------------------------------------------------------------
    def _dispatch(
        self,
        topic: str,
        payload: bytes,
        *,
        properties: Mapping[str, str] | None = None,
        retained: bool = False,
        subscription_ids: frozenset[int] | None = None,
    ) -> None:
        """Route one incoming message to the matching subscriptions (never blocks)."""
        self.metrics.inc("messages_in")
        targets = [
            sub
            for sub in self._subscriptions
            if (subscription_ids is None or sub.ident in subscription_ids)
            and topic_matches(sub.pattern, topic)
        ]
        raw_targets = [sub for sub in targets if sub.raw]
        json_targets = [sub for sub in targets if not sub.raw]
        if raw_targets:
            raw = RawMessage(topic, payload, properties or {})
            for sub in raw_targets:
                if len(payload) > sub.max_bytes:
                    self._refuse_frame(topic, payload, sub.max_bytes)
                else:
                    self._enqueue(sub, raw)
        if not json_targets and not self._is_reply(topic):
            return
        message = self._decode(topic, payload, properties, retained)
        if message is None:
            return
        future = self._pending.pop(message.envelope.id, None)
        if future is not None and not future.done():
            future.set_result(message)
        for sub in json_targets:
            self._enqueue(sub, message)

    def _refuse_frame(self, topic: str, payload: bytes, limit: int) -> None:
        """Count an oversized binary message; log the first and then one in many."""
        self.metrics.inc("rejected")
        self.metrics.inc("rejected.too_large")
        if self.metrics.count("rejected.too_large") % _REFUSAL_LOG_EVERY == 1:
            with log_context(topic=topic):
                detail = f"{len(payload)} bytes > {limit}; starts {excerpt(payload)}"
                _LOGGER.error("rejected message: %s", detail, extra={"reason": "too_large"})

    def _is_reply(self, topic: str) -> bool:
        return any(topic_matches(pattern, topic) for pattern in self._reply_patterns)

    def _decode(
        self, topic: str, payload: bytes, properties: Mapping[str, str] | None, retained: bool
    ) -> Message | None:
        try:
            envelope = decode(topic, payload, properties)
        except ContractError as err:
            self.metrics.inc("rejected")
            self.metrics.inc(f"rejected.{err.reason}")
            with log_context(topic=topic):
                _LOGGER.error("rejected message: %s", err.detail, extra={"reason": err.reason})
            return None
        seq = getattr(envelope.data, "seq", None)
        key = (topic, envelope.id, seq if isinstance(seq, int) else None)
        if not retained and self._dedupe.seen(key, time.monotonic()):
            self.metrics.inc("duplicates")
            return None
        return Message(topic, envelope, retained)

    def _enqueue(self, sub: _Subscription, item: Any) -> None:
        if sub.queue.full():
            # Drop the oldest rather than the newest: for audio and streams the
            # freshest data matters; the drop is counted and logged, never silent.
            sub.queue.get_nowait()
            self.metrics.inc("dropped_overflow")
            _LOGGER.warning("queue full on %s, dropped the oldest message", sub.pattern)
        sub.queue.put_nowait(item)

    async def _work(self, sub: _Subscription) -> None:
        while True:
            item = await sub.queue.get()
            await self._invoke(sub, item)

    async def _invoke(self, sub: _Subscription, item: Message | RawMessage) -> None:
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
                self.metrics.inc("handler_errors")
                _LOGGER.exception("handler for %s failed", sub.pattern)
            finally:
                self.metrics.observe(f"handle:{sub.pattern}", (time.perf_counter() - start) * 1e3)

    # -- request / response -----------------------------------------------------------
    def expect_replies(self, reply_topic: str) -> None:
        """Declare a reply topic ``request`` will wait on (subscribed with the others)."""
        if reply_topic not in self._reply_patterns:
            self._reply_patterns.add(reply_topic)
            if not any(sub.pattern == reply_topic for sub in self._subscriptions):
                self._add(reply_topic, _ignore, 1, raw=False, workers=1)

    async def request(
        self, topic: str, data: Any, *, reply_topic: str, timeout_s: float
    ) -> Message:
        """Publish ``data`` and wait for the reply carrying the same envelope id.

        The reply is resolved straight from the receive path, never from a
        handler queue, so a handler can await a request without deadlocking.

        Raises:
            TimeoutError: no reply within ``timeout_s`` seconds.
        """
        if reply_topic not in self._reply_patterns:
            raise RuntimeError(f"call expect_replies({reply_topic!r}) before the bus starts")
        correlation = new_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = future
        try:
            await self.publish(topic, data, id=correlation)
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._pending.pop(correlation, None)

    # -- publishing helpers shared by transports ---------------------------------------
    async def publish(
        self,
        topic: str,
        data: Any,
        *,
        id: str | None = None,
        qos: int | None = None,
        retain: bool | None = None,
    ) -> str:
        """Envelope, validate and publish a payload model; returns the envelope id."""
        spec = spec_for(topic)
        envelope_id = id or new_id()
        encoded = encode_message(topic, data, wire=self.wire, id=envelope_id, source=self.service)
        await self._transmit(
            topic,
            encoded.payload,
            qos=spec.qos if qos is None else qos,
            retain=spec.retain if retain is None else retain,
            properties=encoded.properties or None,
        )
        self.metrics.inc("messages_out")
        return envelope_id

    async def publish_raw(
        self,
        topic: str,
        payload: bytes,
        *,
        properties: Mapping[str, str] | None = None,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish raw bytes with optional user properties."""
        await self._transmit(topic, payload, qos=qos, retain=retain, properties=properties)
        self.metrics.inc("messages_out")

    async def set_health(self, ok: bool, event: str | None = None, err: str | None = None) -> None:
        """Publish this service's retained health (kept and re-sent after reconnects)."""
        self._health = HealthPing(ok=ok, event=event, err=err)
        await self.publish(health_topic(self.service), self._health)

    async def republish_health(self, event: str | None = None) -> None:
        """Re-send the current health with a fresh timestamp (after connect, as heartbeat)."""
        current = self._health
        await self.set_health(current.ok, event or current.event, current.err)

    @abc.abstractmethod
    async def _transmit(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        properties: Mapping[str, str] | None,
    ) -> None:
        """Hand one message to the transport."""

    @abc.abstractmethod
    async def run(self) -> None:
        """Connect and deliver messages until cancelled."""


def shared_topic(topic: str, group: str) -> str:
    """``topic`` as an MQTT v5 shared subscription of ``group`` (unchanged when ``group`` is "").

    Workers subscribed with the same group split the messages between them, each delivered
    to exactly one of them; a subscriber outside the group still gets every message.
    """
    return f"$share/{group}/{topic}" if group else topic


def topic_filter(pattern: str) -> str:
    """The topic filter of a subscription pattern, without a ``$share/<group>/`` prefix."""
    return pattern.split("/", 2)[2] if pattern.startswith("$share/") else pattern


async def _ignore(_: Message) -> None:
    """Handler for reply-only subscriptions: the receive path resolves the futures."""
