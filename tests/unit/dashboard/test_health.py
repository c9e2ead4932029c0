"""Health rows: ok, starting, stale, stopped, lost, failed; a bounded board."""

from __future__ import annotations

from tars.contracts.health import HealthPing
from tars.dashboard.health import HealthBoard, HealthRow


def row(ok: bool, event: str | None, timestamp: float = 100.0) -> HealthRow:
    return HealthRow("stt", ok, event, None, timestamp)


def test_conditions() -> None:
    assert row(True, "ready").condition(105.0, 10.0) == "ok"
    assert row(True, "loading").condition(105.0, 10.0) == "starting"
    assert row(True, "ready").condition(131.0, 10.0) == "stale"  # three heartbeats missed
    assert row(False, "shutdown").condition(101.0, 10.0) == "stopped"
    assert row(False, "lost").condition(101.0, 10.0) == "lost"
    assert row(False, "error").condition(101.0, 10.0) == "failed"


def test_board_keeps_the_latest_per_service_up_to_a_bound() -> None:
    board = HealthBoard(max_services=2)
    board.update("tts", HealthPing(ok=True, event="ready", timestamp=1.0))
    board.update("stt", HealthPing(ok=True, event="ready", timestamp=1.0))
    board.update("stt", HealthPing(ok=False, event="shutdown", timestamp=2.0))
    assert board.update("wake", HealthPing(ok=True)) is None
    assert [(r.service, r.ok) for r in board.rows()] == [("stt", False), ("tts", True)]
    assert board.rows()[0].as_dict()["event"] == "shutdown"
