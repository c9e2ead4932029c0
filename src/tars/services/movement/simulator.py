"""A stand-in for the ESP32 servo controller: same inputs, same status events, same timing.

It reads what the MicroPython firmware reads (bare ``movement/test``, ``movement/stop``,
``movement/frame``) and answers with the firmware's own bare JSON: ``movement/state``
(``command_queued``, ``command_error``, ``frame_applied``, ``stopped``) and
``movement/status`` (``command_started``, ``command_completed``, ``command_failed``,
``emergency_stop``, ``stop_cleared``). Commands run one at a time from a queue, for about as
long as the firmware's sequences take, with its 200 ms pause between commands.

Two deliberate differences from the firmware: the queue is bounded (``queue_full`` when
full), and a stop does not block commands for ever (the next command clears it and reports
``stop_cleared``; the real firmware needs a restart). No MQTT here: output goes through
the ``emit`` coroutine the service passes in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from tars.contracts.movement import (
    TOPIC_MOVEMENT_STATE,
    TOPIC_MOVEMENT_STATUS,
    MovementFrame,
    TestMovementRequest,
)

_LOGGER = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Publishes one bare JSON document on a topic."""

BASE_DURATION_S: dict[str, float] = {
    "reset": 1.0, "step_forward": 1.6, "step_backward": 1.6, "turn_left": 1.7,
    "turn_right": 1.7, "wave": 2.8, "laugh": 2.2, "swing_legs": 3.8, "pezz": 11.0,
    "pezz_dispenser": 11.0, "now": 3.0, "balance": 3.0, "mic_drop": 3.0, "monster": 3.0,
    "pose": 3.0, "bow": 3.0, "disable": 0.0, "stop": 0.0, "move_legs": 0.6, "move_arm": 0.6,
}  # fmt: skip
"""How long each firmware sequence takes at speed 1.0 (its pauses plus servo travel), s."""
COMMAND_GAP_S = 0.2
"""The firmware's pause between two queued commands, seconds."""


def duration_s(command: str, speed: float) -> float:
    """Simulated run time of ``command`` at ``speed`` (servo travel slows with speed)."""
    return BASE_DURATION_S.get(command, 1.0) * (0.5 + 0.5 / speed)


def _status(event: str, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"event": event, "message_id": f"esp32_{int(time.time() * 1000)}"}
    message.update({key: value for key, value in fields.items() if value is not None})
    message["timestamp"] = time.time()
    return message


def _state(event: str, **fields: Any) -> dict[str, Any]:
    return {"event": event, "timestamp": time.time(), **fields}


class SimulatedController:
    """The simulated ESP32.

    Args:
        emit: Publishes firmware-shaped JSON.
        time_scale: Multiplies every duration (tests run faster with less than 1).
        queue_max: Commands waiting before ``queue_full``.
    """

    def __init__(self, emit: Emit, *, time_scale: float = 1.0, queue_max: int = 16) -> None:
        self._emit = emit
        self._scale = time_scale
        self._queue: asyncio.Queue[TestMovementRequest] = asyncio.Queue(maxsize=queue_max)
        self._moving: asyncio.Task[None] | None = None
        self._stopped = False
        self.executed: list[str] = []

    async def on_test(self, payload: bytes) -> None:
        """A ``movement/test`` message: validate as the firmware does and queue it."""
        try:
            request = TestMovementRequest.model_validate_json(payload)
        except ValidationError as err:
            # Without the input: a hostile payload must not become a 300 KB log line.
            detail = err.errors(include_url=False, include_input=False)[:1]
            _LOGGER.warning("simulated controller: invalid command: %s", detail)
            await self._emit(
                TOPIC_MOVEMENT_STATE,
                _state("command_error", error="invalid_format_or_validation_failed"),
            )
            return
        if request.command == "stop":
            await self.emergency_stop("stop_command")
            return
        if self._queue.full():
            await self._emit(
                TOPIC_MOVEMENT_STATUS,
                _status("queue_full", detail=f"max {self._queue.maxsize} commands"),
            )
            return
        self._queue.put_nowait(request)
        await self._emit(
            TOPIC_MOVEMENT_STATE,
            _state(
                "command_queued",
                command=request.command,
                speed=request.speed,
                queue_size=self._queue.qsize(),
            ),
        )

    async def on_stop(self, payload: bytes) -> None:
        """A ``movement/stop`` message (the firmware ignores its body)."""
        del payload
        await self.emergency_stop("emergency_stop_command")

    async def on_frame(self, payload: bytes) -> None:
        """A ``movement/frame`` of raw channel ticks."""
        try:
            frame = MovementFrame.model_validate_json(payload)
        except ValidationError:
            _LOGGER.warning("simulated controller: invalid frame ignored")
            return
        await self._emit(
            TOPIC_MOVEMENT_STATE, _state("frame_applied", channels=len(frame.channels()))
        )

    async def emergency_stop(self, reason: str) -> None:
        """Clear the queue, cancel the movement in progress, report ``stopped``."""
        self._stopped = True
        while not self._queue.empty():
            self._queue.get_nowait()
        if self._moving is not None:
            self._moving.cancel()
        await self._emit(TOPIC_MOVEMENT_STATUS, _status("emergency_stop", detail=reason))
        await self._emit(TOPIC_MOVEMENT_STATE, _state("stopped", reason=reason))

    async def run(self) -> None:
        """Execute queued commands one at a time until cancelled."""
        while True:
            request = await self._queue.get()
            if self._stopped:
                self._stopped = False
                await self._emit(TOPIC_MOVEMENT_STATUS, _status("stop_cleared"))
            await self._execute(request)
            await asyncio.sleep(COMMAND_GAP_S * self._scale)

    async def _execute(self, request: TestMovementRequest) -> None:
        command, request_id = request.command, request.request_id
        await self._emit(
            TOPIC_MOVEMENT_STATUS,
            _status("command_started", command=command, request_id=request_id),
        )
        seconds = duration_s(command, request.speed) * self._scale
        moving = asyncio.create_task(asyncio.sleep(seconds), name=f"movement:sim:{command}")
        self._moving = moving
        try:
            # wait() rather than await: a stop cancels the movement, not this worker.
            await asyncio.wait([moving])
        finally:
            moving.cancel()
            self._moving = None
        if moving.cancelled():
            await self._emit(
                TOPIC_MOVEMENT_STATUS,
                _status(
                    "command_failed",
                    command=command,
                    detail="interrupted by emergency stop",
                    request_id=request_id,
                ),
            )
            return
        self.executed.append(command)
        await self._emit(
            TOPIC_MOVEMENT_STATUS,
            _status("command_completed", command=command, request_id=request_id),
        )
