"""Requests a deterministic rule answers: time, date, say, greeting, live mode, timers, moves."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import cast

from tars.contracts.base import new_id
from tars.contracts.movement import MOVEMENT_ACTIONS, MovementAction
from tars.services.router.core import RouterCore
from tars.services.router.reply import Reply
from tars.services.router.state import Session
from tars.text.commands import Intent
from tars.text.moves import CONFIRMATIONS, STOP_CONFIRMATION


class RuleAnswers:
    """Speaks the answer of a matched rule and runs the timers it sets."""

    def __init__(self, core: RouterCore, wallclock: Callable[[], dt.datetime]) -> None:
        """Work on the router's shared state; ``wallclock`` gives local time."""
        self._core = core
        self._settings = core.settings
        self._wallclock = wallclock

    async def answer(self, session: Session, reply: Reply, intent: Intent) -> None:
        """Answer ``reply`` by ``intent`` (a silent rule, like stop, just ends the turn)."""
        reply.route = "rule"
        if intent.kind in ("live_on", "live_off"):
            await self._core.set_live(session, intent.kind == "live_on")
        if intent.kind == "move" and intent.action in MOVEMENT_ACTIONS:
            action = cast(MovementAction, intent.action)
            await self._core.out.move(action, intent.speed, session.satellite)
        text = self._text(session, intent)
        if text:
            await self._core.speak(session, reply, text, route="rule")
        else:
            await self._core.finish(session, reply)

    def _text(self, session: Session, intent: Intent) -> str:
        now = self._wallclock()
        if intent.kind == "time":
            return time_reply(now)
        if intent.kind == "date":
            return date_reply(now)
        if intent.kind == "say":
            return intent.text
        if intent.kind == "greeting":
            return self._settings.greeting_reply
        if intent.kind == "live_on":
            return self._settings.live_mode_enter_ack
        if intent.kind == "live_off":
            return self._settings.live_mode_exit_ack
        if intent.kind == "move":
            return CONFIRMATIONS.get(intent.action, "Okay.")
        if intent.kind == "move_stop":  # the stop itself went out as soon as it was heard
            return STOP_CONFIRMATION
        if intent.kind == "timer_set" and intent.duration is not None:
            timer_id = new_id()[:8]
            self._core.spawn(
                f"timer:{session.satellite}:{timer_id}",
                self._timer(session, intent.duration.adjective, intent.duration.seconds),
            )
            return f"Timer set for {intent.duration.spoken}."
        if intent.kind == "timer_cancel":
            keys = self._core.task_keys(f"timer:{session.satellite}:")
            for key in keys:
                self._core.cancel_task(key)
            return "Timer cancelled." if keys else "There is no timer running."
        return ""

    async def _timer(self, session: Session, adjective: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        async with self._core.lock:
            await self._core.out.announce(
                f"Your {adjective} timer is done.",
                utt_id=f"timer-{new_id()[:8]}",
                satellite=session.satellite,
            )


def time_reply(now: dt.datetime) -> str:
    """Say the time, e.g. "It is 3:15 PM."."""
    hour = now.hour % 12 or 12
    return f"It is {hour}:{now.minute:02d} {'AM' if now.hour < 12 else 'PM'}."


def date_reply(now: dt.datetime) -> str:
    """Say the date, e.g. "Today is Tuesday, March 4, 2025."."""
    return f"Today is {now:%A}, {now:%B} {now.day}, {now.year}."
