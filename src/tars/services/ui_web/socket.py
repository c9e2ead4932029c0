"""One browser's WebSocket: live events out, microphone frames and controls in.

Text messages from the page are small JSON controls (``mic`` and ``speaker`` on or off for
a satellite); binary messages are microphone frames (16 kHz s16le) of the satellite whose
microphone is on. Everything is bounded: message size (the server closes the socket above
``UI_WEB_MAX_WS_MESSAGE_BYTES``), frame length and pace (`AudioGate`), control rate, and
the number of microphones streaming at once. Refused input is counted and answered with
an ``error`` message; a page that keeps sending garbage is disconnected.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Annotated, Literal

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tars.contracts.base import SatelliteId
from tars.services.ui_web.access import Access
from tars.services.ui_web.context import UiContext, presented_token
from tars.services.ui_web.hub import Outbox
from tars.services.ui_web.limits import AudioGate, TokenBucket

_LOGGER = logging.getLogger(__name__)
_MAX_INVALID = 50
_POLICY_VIOLATION = 1008
_TRY_AGAIN_LATER = 1013
_NOTICE_EVERY_S = 5.0
_connections = itertools.count(1)


class _Switch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool
    satellite: SatelliteId


class MicControl(_Switch):
    """Start or stop streaming this page's microphone as ``satellite``."""

    type: Literal["mic"]


class SpeakerControl(_Switch):
    """Start or stop playing the reply audio of ``satellite`` on this page."""

    type: Literal["speaker"]


Control = Annotated[MicControl | SpeakerControl, Field(discriminator="type")]
_CONTROL = TypeAdapter(Control)


class _Session:
    """The state of one connection."""

    def __init__(self, context: UiContext, outbox: Outbox) -> None:
        settings = context.settings
        self.context = context
        self.outbox = outbox
        self.number = next(_connections)
        self.microphones = context.microphones
        self.mic: str | None = None
        self.gate = AudioGate(settings.max_audio_frame_ms, settings.audio_burst_s)
        self.controls = TokenBucket(settings.control_rate_per_s, 2 * settings.control_rate_per_s)
        self.seq = 0
        self.invalid = 0
        self.told: dict[str, float] = {}

    def refuse(self, reason: str, message: str, *, invalid: bool = True) -> None:
        """Count a refused input and tell the page (once per reason every few seconds).

        Malformed input counts towards disconnecting the page; input over a rate limit
        (audio arriving faster than real time, too many controls) is only dropped.
        """
        if invalid:
            self.invalid += 1
        self.context.metrics.inc(f"rejected_input.{reason}")
        now = time.monotonic()
        if now - self.told.get(reason, -_NOTICE_EVERY_S) >= _NOTICE_EVERY_S:
            self.told[reason] = now
            notice = {"kind": "error", "reason": reason, "message": message}
            self.context.hub.notice(self.outbox, notice)

    async def on_audio(self, frame: bytes) -> None:
        if self.mic is None:
            self.refuse("audio_without_mic", "audio arrived while the microphone is off")
            return
        reason = self.gate.check(frame)
        if reason is not None:
            refused = f"microphone audio refused ({reason.replace('_', ' ')})"
            self.refuse(f"audio_{reason}", refused, invalid=reason != "too_fast")
            return
        await self.context.relay.audio(self.mic, frame, self.seq)
        self.seq += 1

    def on_control(self, text: str) -> None:
        if not self.controls.take():
            self.refuse("rate", "too many control messages", invalid=False)
            return
        try:
            control = _CONTROL.validate_json(text)
        except ValidationError as err:
            self.refuse("invalid_control", f"invalid message: {err.errors()[0]['msg']}")
            return
        if isinstance(control, SpeakerControl):
            self.outbox.speaker = control.satellite if control.on else None
        elif control.on:
            refused = self.microphones.claim(control.satellite, self.number)
            if refused is not None:
                self.refuse("mic_refused", refused)
                return
            if self.mic not in (None, control.satellite):
                self.microphones.owners.pop(self.mic, None)
            self.mic = control.satellite
        else:
            self.microphones.release(self.number)
            self.mic = None
        self.context.hub.notice(self.outbox, {"kind": "ack", "control": control.model_dump()})


def _admitted(socket: WebSocket, access: Access) -> bool:
    host = socket.headers.get("host")
    return (
        access.host_ok(host)
        and Access.origin_ok(socket.headers.get("origin"), host)
        and access.allowed(presented_token(socket))
    )


async def serve_socket(socket: WebSocket, context: UiContext) -> None:
    """Serve one page until it disconnects (or sends too much invalid input)."""
    if not _admitted(socket, context.access):
        context.metrics.inc("refused.websocket")
        await socket.close(code=_POLICY_VIOLATION)
        return
    outbox = context.hub.connect()
    if outbox is None:
        await socket.accept()  # accepted so the page reads "try again later", not a refusal
        await socket.close(code=_TRY_AGAIN_LATER)
        return
    hello = context.hub.snapshot(context.settings.satellite)  # taken before anything queues
    session = _Session(context, outbox)
    sender: asyncio.Task[None] | None = None
    try:
        await socket.accept()
        await socket.send_json(hello)
        sender = asyncio.create_task(_send(socket, outbox), name=f"ui-web:ws:{session.number}")
        await _receive(socket, session)
    finally:
        context.hub.disconnect(outbox)
        session.microphones.release(session.number)
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)


async def _send(socket: WebSocket, outbox: Outbox) -> None:
    while True:
        item = await outbox.queue.get()
        if isinstance(item, bytes):
            await socket.send_bytes(item)
        else:
            await socket.send_text(item)


async def _receive(socket: WebSocket, session: _Session) -> None:
    limit = session.context.settings.max_ws_message_bytes
    while session.invalid < _MAX_INVALID:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data, text = message.get("bytes"), message.get("text")
        if data is not None and len(data) <= limit:
            await session.on_audio(data)
        elif text is not None and len(text) <= limit:
            session.on_control(text)
        else:
            session.refuse("message_size", "message too large")
    _LOGGER.warning("closing a page that sent %d invalid messages", session.invalid)
    await socket.close(code=_POLICY_VIOLATION)
