"""Collect bus messages in tests and wait for one that matches a condition."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from tars.runtime.bus import Message


class Collector:
    """A handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrivals: list[float] = []
        self._changed = asyncio.Event()

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self.arrivals.append(time.monotonic())
        self._changed.set()

    def matching(self, predicate: Callable[[Message], bool]) -> list[Message]:
        """Every message so far for which ``predicate`` holds."""
        return [message for message in self.messages if predicate(message)]

    async def wait_for(
        self, predicate: Callable[[Message], bool], timeout_s: float = 10.0, since: int = 0
    ) -> Message:
        """The first message (from index ``since`` on) matching ``predicate``.

        Raises:
            TimeoutError: none arrived within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for message in self.messages[since:]:
                if predicate(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
