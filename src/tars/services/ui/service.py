"""ui service: the terminal dashboard fed from the bus (`tars ui` attaches it to a stack).

It subscribes to every JSON topic of the contract and hands each message to the textual
app; what the person types goes out as a typed final transcript, like `tars ask`, from
the ``UI_SATELLITE`` satellite.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable

from tars.contracts import stt
from tars.contracts.base import new_id
from tars.contracts.registry import TOPICS
from tars.runtime.bus import Bus, Message
from tars.runtime.service import ServiceFailed
from tars.runtime.settings import RuntimeSettings
from tars.services.ui.app import TarsDashboard
from tars.services.ui.settings import UiSettings

_CONNECT_NOTICE_S = 5.0


class UiService:
    """Feeds the terminal dashboard and sends what is typed into it."""

    name = "ui"

    def __init__(
        self,
        settings: UiSettings,
        *,
        heartbeat_s: float = 10.0,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        """Build the app; ``on_exit`` is called when the person quits it."""
        self.settings = settings
        self.app = TarsDashboard(
            self.say,
            satellite=settings.satellite,
            heartbeat_s=heartbeat_s,
            event_lines=settings.event_lines,
        )
        self._on_exit = on_exit
        self._bus: Bus | None = None

    @property
    def bus(self) -> Bus:
        """The bus given to :meth:`attach`."""
        if self._bus is None:
            raise RuntimeError("attach() the service before running it")
        return self._bus

    def attach(self, bus: Bus) -> None:
        """Subscribe to every JSON topic (binary audio is not shown)."""
        self._bus = bus
        for spec in TOPICS:
            if not spec.binary:
                bus.subscribe(spec.pattern, self._on_message, qos=min(spec.qos, 1))

    async def run(self) -> None:
        """Run the dashboard until the person quits it, then ask the runtime to stop.

        Raises:
            ServiceFailed: there is no terminal to draw on (a supervisor or a pipe started it).
        """
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise ServiceFailed(
                "ui", "the terminal dashboard needs a terminal: run `tars ui` in one"
            )
        announce = asyncio.create_task(self._announce(), name="ui:announce")
        try:
            await self.app.run_async()
        finally:
            announce.cancel()
            await asyncio.gather(announce, return_exceptions=True)
            if self._on_exit is not None:
                self._on_exit()
        await asyncio.Event().wait()  # the runtime stops the service (on_exit asked it to)

    async def _announce(self) -> None:
        try:
            await asyncio.wait_for(self.bus.wait_connected(), _CONNECT_NOTICE_S)
        except TimeoutError:
            self.app.notify(
                "cannot reach the broker yet: is the stack up (`tars up`)? still trying",
                severity="warning",
                timeout=15,
            )
            await self.bus.wait_connected()
        await self.bus.set_health(True, "ready")

    async def _on_message(self, message: Message) -> None:
        envelope = message.envelope
        self.app.bus_message(message.topic, envelope.data, ts=envelope.ts, source=envelope.source)

    async def say(self, text: str) -> str:
        """Publish ``text`` as a typed turn; returns its utterance id.

        Raises:
            ValueError: the text is empty or longer than ``UI_MAX_TEXT_CHARS``.
        """
        text = text.strip()
        if not text or len(text) > self.settings.max_text_chars:
            raise ValueError(f"a turn is 1..{self.settings.max_text_chars} characters")
        utt_id = new_id()
        final = stt.FinalTranscript(
            text=text, utt_id=utt_id, satellite=self.settings.satellite, source="text"
        )
        await self.bus.publish(stt.TOPIC_STT_FINAL, final)
        return utt_id


def _stop_process() -> None:
    # Under `tars run ui` the runtime's SIGTERM handler performs the clean stop.
    os.kill(os.getpid(), signal.SIGTERM)


def build(runtime: RuntimeSettings) -> UiService:
    """Build the terminal dashboard from ``UI_*`` settings (`tars ui` is the usual way in)."""
    return UiService(UiSettings(), heartbeat_s=runtime.heartbeat_s, on_exit=_stop_process)
