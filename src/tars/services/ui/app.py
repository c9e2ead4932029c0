"""The terminal dashboard: conversation, service health, the event stream and a text box.

A textual `App` with no MQTT inside: the ui service feeds it bus messages
(`TarsDashboard.bus_message`) and gives it a coroutine that sends a typed turn.
Messages that arrive before the screen is up are kept in the models and drawn on mount.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import orjson
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Static

from tars.contracts import health
from tars.dashboard.conversation import ConversationLog, Line
from tars.dashboard.health import HealthBoard

Send = Callable[[str], Awaitable[str]]
"""Sends a typed turn; returns its utterance id."""

_ROLE_STYLE = {"user": "bold #63b3ed", "tars": "bold #4fd1c5", "note": "italic #8596a7"}
_STATE_STYLE = {
    "rejected": "#fc8181", "error": "#fc8181", "interrupted": "#f6ad55",
    "continued": "#f6ad55", "partial": "italic #8596a7", "thinking": "italic #8596a7",
}  # fmt: skip
_CONDITION_STYLE = {
    "ok": "green", "starting": "cyan", "stale": "yellow", "stopped": "grey50",
    "lost": "red", "failed": "red",
}  # fmt: skip


def line_text(line: Line) -> Text:
    """One conversation line as styled terminal text."""
    who = {"user": "You", "tars": "TARS", "note": "·"}[line.role]
    text = Text()
    text.append(f"{who:>4} ", style=_ROLE_STYLE[line.role])
    text.append(f"[{line.satellite}] ", style="#8596a7")
    body = line.text or ("…" if line.state in ("partial", "thinking") else "")
    text.append(body, style=_STATE_STYLE.get(line.state, ""))
    if line.state in ("rejected", "interrupted", "continued", "error", "typed"):
        text.append(f"  ({line.state})", style=_STATE_STYLE.get(line.state, "#b794f4"))
    if line.detail and line.role != "note":
        text.append(f"\n      {line.detail}", style="#8596a7")
    return text


class TarsDashboard(App[None]):
    """Conversation on the left, health on the right, events below, a text box at the bottom."""

    TITLE = "TARS"
    CSS = """
    #main { height: 1fr; }
    #conversation { width: 2fr; border: round #2c7a7b; padding: 0 1; }
    #health { width: 1fr; min-width: 40; border: round #2c7a7b; }
    #events { height: 12; border: round #223140; }
    .line { margin: 0 0 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit"),
        Binding("f2", "toggle_pause", "Pause events"),
        Binding("f3", "clear_events", "Clear events"),
    ]

    def __init__(
        self,
        send: Send | None,
        *,
        satellite: str,
        heartbeat_s: float = 10.0,
        event_lines: int = 500,
    ) -> None:
        """Send typed turns with ``send`` as ``satellite``; judge staleness by ``heartbeat_s``."""
        super().__init__()
        self.sub_title = f"typing as {satellite}"
        self._send = send
        self.conversation = ConversationLog()
        self.health = HealthBoard()
        self.events: collections.deque[str] = collections.deque(maxlen=event_lines)
        self.paused = False
        self.changed = asyncio.Event()
        """Set whenever a bus message changed what is shown (tests wait on it)."""
        self._heartbeat_s = heartbeat_s
        self._widgets: dict[str, Static] = {}
        self._drawn = False

    def compose(self) -> ComposeResult:
        """Lay out the screen."""
        yield Header(show_clock=True)
        with Horizontal(id="main"):
            yield VerticalScroll(id="conversation")
            yield DataTable(id="health", cursor_type="none", zebra_stripes=True)
        yield RichLog(id="events", max_lines=self.events.maxlen, markup=False, wrap=False)
        yield Input(placeholder="Ask TARS something… (Enter sends)", id="ask", max_length=1000)
        yield Footer()

    def on_mount(self) -> None:
        """Draw what arrived before the screen was up; refresh health ages every second."""
        table = self.query_one("#health", DataTable)
        table.add_columns("service", "state", "event", "age")
        self._drawn = True
        for line in self.conversation.lines():
            self._draw(line)
        log = self.query_one("#events", RichLog)
        for entry in self.events:
            log.write(entry)
        self._draw_health()
        self.set_interval(1.0, self._draw_health)
        self.query_one("#ask", Input).focus()

    def on_unmount(self) -> None:
        """Stop drawing: bus messages may still arrive while the app closes."""
        self._drawn = False

    # -- input from the bus ------------------------------------------------------------------
    def bus_message(self, topic: str, data: Any, *, ts: float, source: str) -> None:
        """Fold one bus message into the views (drawn only while the screen is up)."""
        lines = self.conversation.apply(topic, data, ts)
        if topic.startswith(health.HEALTH_PREFIX):
            self.health.update(topic.removeprefix(health.HEALTH_PREFIX), data)
        clock = time.strftime("%H:%M:%S", time.localtime(ts))
        payload = orjson.dumps(
            data.model_dump(mode="json", exclude_none=True, exclude={"message_id"})
        ).decode()
        entry = f"{clock} {topic:<28} {source:<8} {payload[:300]}"
        self.events.append(entry)
        self.changed.set()
        if not (self._drawn and self.is_running):
            return  # not up yet (drawn on mount) or already closing
        try:
            for line in lines:
                self._draw(line)
            if topic.startswith(health.HEALTH_PREFIX):
                self._draw_health()
            if not self.paused:
                self.query_one("#events", RichLog).write(entry)
        except NoMatches:
            self._drawn = False  # the screen is being taken down

    def _draw(self, line: Line) -> None:
        widget = self._widgets.get(line.id)
        if widget is None:
            widget = Static(line_text(line), classes=f"line {line.role}")
            self._widgets[line.id] = widget
            pane = self.query_one("#conversation", VerticalScroll)
            pane.mount(widget)
            pane.scroll_end(animate=False)
        else:
            widget.update(line_text(line))

    def _draw_health(self) -> None:
        if not self._drawn:
            return
        try:
            table = self.query_one("#health", DataTable)
        except NoMatches:
            return
        table.clear()
        now = time.time()
        for row in self.health.rows():
            condition = row.condition(now, self._heartbeat_s)
            age = f"{max(0.0, now - row.timestamp):.0f} s"
            state = Text(condition, style=_CONDITION_STYLE[condition])
            table.add_row(row.service, state, row.err or row.event or "", age)

    def shown_lines(self) -> list[str]:
        """The conversation as plain text, as drawn (for tests and screen readers)."""
        return [
            widget.content.plain if isinstance(widget.content, Text) else str(widget.content)
            for widget in self._widgets.values()
        ]

    # -- actions ------------------------------------------------------------------------------
    async def on_input_submitted(self, event: Input.Submitted) -> None:
        """Send the typed text as a turn."""
        text = event.value.strip()
        event.input.value = ""
        if not text or self._send is None:
            return
        try:
            await self._send(text)
        except Exception as err:  # shown to the person; the dashboard keeps running
            self.notify(f"not sent: {err}", severity="error")

    def action_toggle_pause(self) -> None:
        """Pause or resume the event stream (events keep being recorded)."""
        self.paused = not self.paused
        log = self.query_one("#events", RichLog)
        if not self.paused:
            log.clear()
            for entry in self.events:
                log.write(entry)
        self.notify("events paused" if self.paused else "events resumed")

    def action_clear_events(self) -> None:
        """Forget the event stream shown so far."""
        self.events.clear()
        self.query_one("#events", RichLog).clear()
