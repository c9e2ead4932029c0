"""The movement service through a real Mosquitto, with the simulated ESP32 on the bus."""

from __future__ import annotations

import json

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.serving import serving

from tars.contracts import movement as mv
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.contracts.tts import TOPIC_TTS_SAY
from tars.runtime.bus import RawMessage
from tars.services.movement.service import MovementService
from tars.services.movement.settings import MovementSettings
from tars.services.router.service import RouterService
from tars.services.router.settings import RouterSettings

pytestmark = pytest.mark.broker


async def test_commands_reach_the_simulated_esp32_and_invalid_ones_do_not(
    mqtt_broker: TestBroker,
) -> None:
    cli, esp32 = mqtt_broker.bus("cli"), mqtt_broker.bus("esp32", health=False)
    status, state = Collector(), Collector()
    servo: list[dict[str, object]] = []

    async def on_servo(message: RawMessage) -> None:
        servo.append(json.loads(message.payload))

    cli.subscribe(mv.TOPIC_MOVEMENT_STATUS, status)
    cli.subscribe(mv.TOPIC_MOVEMENT_STATE, state)
    cli.subscribe_raw(mv.TOPIC_MOVEMENT_TEST, on_servo, qos=1)
    service = MovementService(MovementSettings(mode="simulator", sim_time_scale=0.05))
    async with running(cli, esp32), serving(mqtt_broker, service) as bus:
        for document in ({"command": "fly", "id": "bad-1"}, {"command": "wave", "speed": 5.0}):
            await cli.publish_raw(mv.TOPIC_MOVEMENT_COMMAND, json.dumps(document).encode(), qos=1)
        command = mv.MovementCommand(command="wave", speed=0.6)
        await cli.publish(mv.TOPIC_MOVEMENT_COMMAND, command)
        await status.wait_for(
            lambda m: m.data.event == "command_completed" and m.data.request_id == command.id
        )
        refusals = status.matching(lambda m: m.data.event == "command_failed")
        assert [r.data.request_id for r in refusals] == ["bad-1", None]
        assert "unknown action 'fly'" in (refusals[0].data.detail or "")
        assert "speed" in (refusals[1].data.detail or "")
        assert [(s["command"], s["request_id"]) for s in servo] == [("wave", command.id)]

        # What a real ESP32 sends back is accepted (bare JSON, its own fields).
        for document in (
            {"event": "frame_applied", "timestamp": 3.0, "channels": 3},
            {"event": "command_error", "timestamp": 3.0, "error": "invalid_format"},
        ):
            await esp32.publish_raw(mv.TOPIC_MOVEMENT_STATE, json.dumps(document).encode(), qos=1)
        await state.wait_for(lambda m: m.data.event == "command_error")
        frame = {"ch0": 300, "ch1": 280, "ch2": 320}
        await bus.publish_raw(mv.TOPIC_MOVEMENT_FRAME, json.dumps(frame).encode(), qos=1)
        applied = await state.wait_for(
            lambda m: m.data.event == "frame_applied" and m.data.timestamp != 3.0
        )
        assert applied.data.channels == 3
        counters = bus.metrics.snapshot().counters
        assert counters["state.command_error"] == 1
        assert counters["commands_invalid"] == 2
        assert counters.get("rejected", 0) == 0


async def test_wave_by_voice_rule_with_no_llm_running(mqtt_broker: TestBroker) -> None:
    """No llm service runs here: the rule alone sends the movement and confirms it."""
    cli = mqtt_broker.bus("cli", health=False)
    status, says = Collector(), Collector()
    cli.subscribe(mv.TOPIC_MOVEMENT_STATUS, status)
    cli.subscribe(TOPIC_TTS_SAY, says)
    movement = MovementService(MovementSettings(mode="simulator", sim_time_scale=0.05))
    router = RouterService(RouterSettings(online_announce=False))
    async with running(cli), serving(mqtt_broker, movement), serving(mqtt_broker, router):
        await cli.publish(
            TOPIC_STT_FINAL, FinalTranscript(text="Wave at me", source="text", satellite="cli")
        )
        said = await says.wait_for(lambda m: m.data.satellite == "cli")
        assert said.data.text == "Waving."
        done = await status.wait_for(lambda m: m.data.event == "command_completed")
        assert done.data.command == "wave"
