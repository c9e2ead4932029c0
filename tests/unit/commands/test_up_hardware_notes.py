"""`tars up` says when movement and camera stand in for missing hardware."""

from __future__ import annotations

from tars.commands.up import hardware_notes


def test_simulator_and_test_frames_are_announced() -> None:
    notes = hardware_notes(["movement", "camera"], {"CAMERA_DEVICE_INDEX": "97"})
    assert any("simulator answers" in note for note in notes)
    assert any("no /dev/video97: serving generated test frames" in note for note in notes)
    assert any("http://127.0.0.1:8081/stream" in note for note in notes)


def test_configured_hardware_is_not_second_guessed() -> None:
    environ = {"MOVEMENT_MODE": "esp32", "CAMERA_SOURCE": "device"}
    assert hardware_notes(["movement", "camera"], environ) == []
    assert hardware_notes(["router"], {}) == []
