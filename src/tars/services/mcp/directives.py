"""Directives: how a tool acts on the bus without ever touching it.

MCP servers get no broker credentials. A tool that wants something to happen on the bus
returns a structured result with a ``tars`` key::

    {"text": "Waving.",
     "tars": {"publish": [{"topic": "movement/command", "data": {"command": "wave"}}],
              "request": {"topic": "memory/query", "data": {"text": "sister"}}}}

The mcp service checks every directive against the server's allowlists (``publish`` and
``requests`` in its config) and the topic's contract, then publishes, or sends the request
and hands the reply to the model. py-tars let any tool publish anywhere; here a directive
to any other topic (``tts/say``, ``system/...``) is refused and logged. Pure functions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tars.contracts.camera import TOPIC_CAMERA_CAPTURE, TOPIC_CAMERA_IMAGE
from tars.contracts.character import TOPIC_CHARACTER_GET, TOPIC_CHARACTER_RESULT
from tars.contracts.codec import ContractError, spec_for
from tars.contracts.memory import TOPIC_MEMORY_QUERY, TOPIC_MEMORY_RESULTS

DIRECTIVE_KEY = "tars"
"""Key of the directives in a tool's structured result."""
MAX_PUBLISHES = 4
"""Publishes one tool result may ask for."""
REPLY_TOPICS: dict[str, str] = {
    TOPIC_MEMORY_QUERY: TOPIC_MEMORY_RESULTS,
    TOPIC_CHARACTER_GET: TOPIC_CHARACTER_RESULT,
    TOPIC_CAMERA_CAPTURE: TOPIC_CAMERA_IMAGE,
}
"""Request topics a directive may use, and where each one's reply comes back."""


class DirectiveRefused(ValueError):
    """A directive that must not run; the message says why (it reaches the model and logs)."""


@dataclass(frozen=True)
class Publish:
    """A validated publish: topic and payload model."""

    topic: str
    data: Any


@dataclass(frozen=True)
class Request:
    """A validated request: topic, payload model, reply topic and timeout."""

    topic: str
    data: Any
    reply_topic: str
    timeout_s: float


@dataclass(frozen=True)
class Directives:
    """Everything one tool result asks for."""

    publish: tuple[Publish, ...] = ()
    request: Request | None = None


def parse(
    block: Any,
    *,
    server: str,
    publish_allowed: frozenset[str],
    requests_allowed: frozenset[str],
    timeout_s: float,
) -> Directives:
    """Validate the ``tars`` block of a tool result.

    Args:
        block: The value under :data:`DIRECTIVE_KEY`.
        server: The server's name, for messages.
        publish_allowed: Topics the server may publish.
        requests_allowed: Topics the server may send requests to.
        timeout_s: Longest wait for a request's reply (the call's own limit).

    Raises:
        DirectiveRefused: malformed, not allowlisted, or not matching the topic's contract.
    """
    if not isinstance(block, dict) or set(block) - {"publish", "request"}:
        raise DirectiveRefused("malformed directive block")
    items = block.get("publish") or []
    if not isinstance(items, list) or len(items) > MAX_PUBLISHES:
        raise DirectiveRefused(f"publish must be a list of at most {MAX_PUBLISHES}")
    publishes = []
    for item in items:
        topic, data = _topic_and_data(item)
        if topic not in publish_allowed:
            raise DirectiveRefused(f"server {server!r} may not publish to {topic}")
        publishes.append(Publish(topic, _payload(topic, data)))
    request = None
    if block.get("request") is not None:
        topic, data = _topic_and_data(block["request"])
        if topic not in requests_allowed or topic not in REPLY_TOPICS:
            raise DirectiveRefused(f"server {server!r} may not send requests to {topic}")
        request = Request(topic, _payload(topic, data), REPLY_TOPICS[topic], timeout_s)
    return Directives(tuple(publishes), request)


@functools.cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _topic_and_data(item: Any) -> tuple[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("topic"), str):
        raise DirectiveRefused("a directive needs a topic and data")
    return item["topic"], item.get("data", {})


def _payload(topic: str, data: Any) -> Any:
    try:
        spec = spec_for(topic)
    except ContractError as err:
        raise DirectiveRefused(f"{topic} is not a TARS topic") from err
    try:
        return _adapter(spec.model).validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise DirectiveRefused(f"invalid {topic} payload: {where}: {first['msg']}") from err
