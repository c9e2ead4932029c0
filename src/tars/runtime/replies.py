"""Request/response over the bus: a request waits for the reply on its own reply topic.

A request is published with a fresh envelope id; the reply carries the same id on the reply
topic. Only a message on that topic resolves the request: the same id on any other topic (an
echo of the request, another service's message) does not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tars.contracts.registry import topic_matches

if TYPE_CHECKING:
    from tars.runtime.bus import Message


class PendingReplies:
    """The reply topics a bus listens on and the requests waiting for a reply on them."""

    def __init__(self) -> None:
        self.patterns: set[str] = set()
        """Declared reply topic filters (subscribed with the bus's other subscriptions)."""
        self._waiting: dict[str, tuple[str, asyncio.Future[Message]]] = {}

    def is_reply(self, topic: str) -> bool:
        """Whether ``topic`` is on a declared reply topic."""
        return any(topic_matches(pattern, topic) for pattern in self.patterns)

    @contextlib.contextmanager
    def waiting(self, correlation: str, reply_topic: str) -> Iterator[asyncio.Future[Message]]:
        """A future resolved by the reply to ``correlation`` on ``reply_topic``, while inside.

        Raises:
            RuntimeError: ``reply_topic`` was not declared (its messages never arrive).
        """
        if reply_topic not in self.patterns:
            raise RuntimeError(f"call expect_replies({reply_topic!r}) before the bus starts")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = (reply_topic, future)
        try:
            yield future
        finally:
            self._waiting.pop(correlation, None)

    def resolve(self, message: Message) -> None:
        """Hand ``message`` to the request it answers, if it is a reply on the expected topic."""
        entry = self._waiting.get(message.envelope.id)
        if entry is None:
            return
        reply_topic, future = entry
        if topic_matches(reply_topic, message.topic) and not future.done():
            del self._waiting[message.envelope.id]
            future.set_result(message)
