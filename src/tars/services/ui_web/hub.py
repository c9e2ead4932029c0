"""The web UI's state and fan-out: bus events in, one bounded outbox per browser out.

No MQTT here: the service feeds the hub from its bus handlers, and each WebSocket drains
its own `Outbox`. A page that connects gets a snapshot (health, conversation, character,
recent turns and events); afterwards it receives upserts as they happen. A slow page loses
its oldest messages (counted), never slows the bus or the other pages.
"""

from __future__ import annotations

import array
import asyncio
import collections
import math
import operator
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tars.contracts import character, conversation, health
from tars.dashboard.conversation import ConversationLog
from tars.dashboard.health import HealthBoard
from tars.runtime.metrics import Metrics

_LEVEL_INTERVAL_S = 0.1
_MAX_LEVEL_SATELLITES = 64
_TURNS_KEPT = 50
_STATES_KEPT = 64


@dataclass(frozen=True, slots=True)
class HubLimits:
    """Bounds of the hub (from the service settings)."""

    max_clients: int = 8
    client_queue: int = 2000
    event_history: int = 300
    event_max_bytes: int = 4000
    heartbeat_s: float = 10.0


@dataclass(eq=False)
class Outbox:
    """What one browser connection still has to receive."""

    queue: asyncio.Queue[str | bytes]
    speaker: str | None = None
    """Satellite whose reply audio this page plays (None: none)."""
    dropped: int = 0
    """Messages dropped because the page fell behind."""

    def offer(self, item: str | bytes) -> bool:
        """Queue ``item``, dropping the oldest when full; False when something was dropped."""
        lost = False
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            lost = True
        self.queue.put_nowait(item)
        return not lost


def _json(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def pcm_level_db(pcm: bytes) -> float:
    """RMS level of s16le samples in dBFS (-100 for silence or an empty frame)."""
    usable = len(pcm) - len(pcm) % 2
    if usable <= 0:
        return -100.0
    # array, not numpy: the web UI stays free of numpy (~13 MiB resident) for one sum a frame.
    samples = array.array("h", pcm[:usable])
    if sys.byteorder == "big":
        samples.byteswap()
    rms = math.sqrt(sum(map(operator.mul, samples, samples)) / len(samples))
    return max(-100.0, 20.0 * math.log10(rms / 32768.0)) if rms > 0 else -100.0


class Hub:
    """Dashboard state plus one outbox per connected page."""

    def __init__(self, limits: HubLimits, metrics: Metrics) -> None:
        """Start empty; ``metrics`` counts drops and refusals."""
        self.limits = limits
        self.metrics = metrics
        self.conversation = ConversationLog()
        self.health = HealthBoard()
        self.character: dict[str, Any] | None = None
        self.states: dict[str, dict[str, Any]] = {}
        self.turns: collections.deque[dict[str, Any]] = collections.deque(maxlen=_TURNS_KEPT)
        self.events: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=max(1, limits.event_history)
        )
        self._outboxes: set[Outbox] = set()
        self._levels: dict[str, tuple[float, float]] = {}

    # -- connections -------------------------------------------------------------------------
    def connect(self) -> Outbox | None:
        """A new outbox, or None when ``max_clients`` pages are already connected."""
        if len(self._outboxes) >= self.limits.max_clients:
            self.metrics.inc("clients_refused")
            return None
        outbox = Outbox(asyncio.Queue(maxsize=self.limits.client_queue))
        self._outboxes.add(outbox)
        self.metrics.inc("clients_connected")
        return outbox

    def disconnect(self, outbox: Outbox) -> None:
        """Forget a page."""
        self._outboxes.discard(outbox)

    @property
    def clients(self) -> int:
        """Pages connected now."""
        return len(self._outboxes)

    def snapshot(self, default_satellite: str) -> dict[str, Any]:
        """Everything a page needs when it connects."""
        return {
            "kind": "hello",
            "now": time.time(),
            "heartbeat_s": self.limits.heartbeat_s,
            "satellite": default_satellite,
            "health": [row.as_dict() for row in self.health.rows()],
            "conversation": [line.as_dict() for line in self.conversation.lines()],
            "character": self.character,
            "states": list(self.states.values()),
            "turns": list(self.turns),
            "events": list(self.events) if self.limits.event_history else [],
        }

    def _broadcast(self, message: dict[str, Any]) -> None:
        text = _json(message)
        for outbox in self._outboxes:
            if not outbox.offer(text):
                self.metrics.inc("client_messages_dropped")

    # -- bus input ---------------------------------------------------------------------------
    def on_message(self, topic: str, data: Any, *, ts: float, source: str) -> None:
        """Fold one decoded bus message into the state and send it to every page."""
        payload = data.model_dump(mode="json", exclude_none=True)
        event = {"kind": "event", "topic": topic, "ts": ts, "source": source}
        encoded = orjson.dumps(payload)
        if len(encoded) > self.limits.event_max_bytes:
            cut = encoded[: self.limits.event_max_bytes].decode(errors="ignore")
            event["data"] = {"_truncated": f"{cut}…", "_bytes": len(encoded)}
        else:
            event["data"] = payload
        if self.limits.event_history:
            self.events.append(event)
        self._broadcast(event)
        for line in self.conversation.apply(topic, data, ts):
            self._broadcast({"kind": "line", "line": line.as_dict()})
        self._track(topic, data, payload)

    def _track(self, topic: str, data: Any, payload: dict[str, Any]) -> None:
        if topic.startswith(health.HEALTH_PREFIX):
            row = self.health.update(topic.removeprefix(health.HEALTH_PREFIX), data)
            if row is not None:
                self._broadcast({"kind": "health", "row": row.as_dict()})
        elif topic == character.TOPIC_CHARACTER_CURRENT:
            self.character = payload
            self._broadcast({"kind": "character", "character": payload})
        elif topic == conversation.TOPIC_CONVERSATION_TURN:
            self.turns.append(payload)
            self._broadcast({"kind": "turn", "turn": payload})
        elif topic.startswith(conversation.ROUTER_STATE_PREFIX) and (
            data.satellite in self.states or len(self.states) < _STATES_KEPT
        ):
            self.states[data.satellite] = payload
            self._broadcast({"kind": "state", "state": payload})

    def on_pcm(self, satellite: str, pcm: bytes) -> None:
        """Microphone audio of a satellite: send its level about ten times a second."""
        now = time.monotonic()
        level = pcm_level_db(pcm)
        last_sent, peak = self._levels.get(satellite, (0.0, -100.0))
        if satellite not in self._levels and len(self._levels) >= _MAX_LEVEL_SATELLITES:
            return
        peak = max(peak, level)
        if now - last_sent < _LEVEL_INTERVAL_S:
            self._levels[satellite] = (last_sent, peak)
            return
        self._levels[satellite] = (now, -100.0)
        self._broadcast({"kind": "level", "satellite": satellite, "db": round(peak, 1)})

    def on_reply_audio(self, satellite: str, pcm: bytes, rate: int) -> None:
        """Reply audio for ``satellite``: to every page playing that satellite.

        Sent as one binary message: the sample rate (uint32 LE) then the s16le samples.
        """
        frame = struct.pack("<I", rate) + pcm
        for outbox in self._outboxes:
            if outbox.speaker == satellite and not outbox.offer(frame):
                self.metrics.inc("client_messages_dropped")

    def notice(self, outbox: Outbox, message: dict[str, Any]) -> None:
        """Send one message to a single page (an answer or a refusal)."""
        if not outbox.offer(_json(message)):
            self.metrics.inc("client_messages_dropped")
