"""The movement service on the in-memory bus, with the simulated controller answering."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from tests.support.collect import Collector

from tars.contracts import movement as mv
from tars.contracts.health import HealthPing, health_topic
from tars.runtime.bus import RawMessage
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.services.movement.service import MovementService
from tars.services.movement.settings import MovementSettings


class Rig:
    """A movement service and a client bus that records statuses and what reaches the servos."""

    def __init__(self, client: MemoryBus, service: MovementService, bus: MemoryBus) -> None:
        self.client, self.service, self.bus = client, service, bus
        self.status, self.state, self.health = Collector(), Collector(), Collector()
        self.servo: list[dict[str, object]] = []
        self.servo_arrived = asyncio.Event()
        client.subscribe(mv.TOPIC_MOVEMENT_STATUS, self.status)
        client.subscribe(mv.TOPIC_MOVEMENT_STATE, self.state)
        client.subscribe(health_topic("movement"), self.health)
        client.subscribe_raw(mv.TOPIC_MOVEMENT_TEST, self._servo)

    async def _servo(self, message: RawMessage) -> None:
        self.servo.append(json.loads(message.payload))
        self.servo_arrived.set()

    async def command(self, **fields: object) -> str:
        command = mv.MovementCommand.model_validate(fields)
        await self.client.publish(mv.TOPIC_MOVEMENT_COMMAND, command)
        return command.id


@contextlib.asynccontextmanager
async def rig(**overrides: object) -> AsyncIterator[Rig]:
    fields: dict[str, object] = {"mode": "simulator", "sim_time_scale": 0.02}
    fields.update(overrides)
    broker = MemoryBroker()
    client, bus = MemoryBus("cli", broker), MemoryBus("movement", broker)
    service = MovementService(MovementSettings(**fields))  # type: ignore[arg-type]
    test_rig = Rig(client, service, bus)
    service.attach(bus)
    tasks = [asyncio.create_task(b.run(), name=f"test:{b.service}") for b in (client, bus)]
    tasks.append(asyncio.create_task(service.run(), name="test:movement:run"))
    try:
        await test_rig.health.wait_for(lambda m: m.data.ok and "ready" in (m.data.event or ""))
        yield test_rig
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_valid_command_reaches_the_simulated_controller_with_firmware_events() -> None:
    async with rig() as r:
        request_id = await r.command(command="wave", speed=0.5)
        done = await r.status.wait_for(
            lambda m: m.data.event == "command_completed" and m.data.request_id == request_id
        )
        assert r.servo == [
            {
                "message_id": r.servo[0]["message_id"],
                "command": "wave",
                "speed": 0.5,
                "params": {},
                "request_id": request_id,
                "timestamp": r.servo[0]["timestamp"],
            }
        ]
        events = [m.data.event for m in r.status.messages if m.data.request_id == request_id]
        assert events == ["command_started", "command_completed"]
        queued = await r.state.wait_for(lambda m: m.data.event == "command_queued")
        assert (queued.data.command, queued.data.speed) == ("wave", 0.5)
        assert done.envelope.source == "bare"  # the firmware's own JSON, no envelope
        assert r.service.simulating


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ({"command": "fly", "id": "bad-1"}, "unknown action 'fly'"),
        ({"command": "wave", "speed": 5.0, "id": "bad-1"}, "speed"),
    ],
)
async def test_invalid_command_is_refused_with_a_clear_status(
    document: dict[str, object], needle: str
) -> None:
    async with rig() as r:
        await r.client.publish_raw(mv.TOPIC_MOVEMENT_COMMAND, json.dumps(document).encode(), qos=1)
        refused = await r.status.wait_for(lambda m: m.data.event == "command_failed")
        assert refused.data.request_id == "bad-1"
        assert needle in (refused.data.detail or "")
        assert r.bus.metrics.snapshot().counters["commands_invalid"] == 1
        # A valid command afterwards goes through: nothing of the invalid one did.
        ok_id = await r.command(command="bow")
        await r.servo_arrived.wait()
        assert [s["request_id"] for s in r.servo] == [ok_id]


async def test_emergency_stop_wins_over_running_and_new_commands() -> None:
    async with rig(sim_time_scale=1.0, stop_hold_s=60.0) as r:
        first = await r.command(command="swing_legs")
        await r.status.wait_for(lambda m: m.data.event == "command_started")
        await r.client.publish(mv.TOPIC_MOVEMENT_STOP, mv.EmergencyStopCommand(reason="test"))
        await r.state.wait_for(lambda m: m.data.event == "stopped")
        interrupted = await r.status.wait_for(
            lambda m: m.data.event == "command_failed" and m.data.request_id == first
        )
        assert "emergency stop" in (interrupted.data.detail or "")
        held = await r.command(command="wave")
        refused = await r.status.wait_for(lambda m: m.data.request_id == held)
        assert refused.data.event == "command_failed"
        assert "emergency stop" in (refused.data.detail or "")
        assert [s["command"] for s in r.servo] == ["swing_legs"]


async def test_stop_action_becomes_an_emergency_stop() -> None:
    async with rig() as r:
        await r.command(command="stop")
        await r.status.wait_for(lambda m: m.data.event == "emergency_stop")
        assert r.servo == []


async def test_rate_limit_refuses_a_flood() -> None:
    async with rig(burst=2, rate_per_s=0.5, max_pending=10) as r:
        ids = [await r.command(command="pose") for _ in range(3)]
        refused = await r.status.wait_for(lambda m: m.data.request_id == ids[2])
        assert refused.data.event == "command_failed"
        assert "rate limit" in (refused.data.detail or "")


async def test_a_healthy_esp32_turns_the_simulator_off() -> None:
    async with rig(mode="auto", esp32_wait_s=0.0) as r:
        assert r.service.simulating
        await r.client.publish(health_topic("esp32"), HealthPing(ok=True, event="ready"))
        await r.health.wait_for(lambda m: m.data.event == "ready: ESP32 controller")
        assert not r.service.simulating
