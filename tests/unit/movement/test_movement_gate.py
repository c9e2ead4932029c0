"""The command gate: rate limit, pending bound and the latch after an emergency stop."""

from __future__ import annotations

from tars.services.movement.gate import CommandGate


def gate(**overrides: float) -> CommandGate:
    options: dict[str, float] = {
        "rate_per_s": 2.0,
        "burst": 2,
        "max_pending": 3,
        "pending_timeout_s": 10.0,
        "stop_hold_s": 1.0,
    }
    options.update(overrides)
    return CommandGate(
        rate_per_s=options["rate_per_s"],
        burst=int(options["burst"]),
        max_pending=int(options["max_pending"]),
        pending_timeout_s=options["pending_timeout_s"],
        stop_hold_s=options["stop_hold_s"],
    )


def test_burst_then_rate_limit_then_refill() -> None:
    g = gate()
    assert g.admit("a", 0.0) is None
    assert g.admit("b", 0.0) is None
    refused = g.admit("c", 0.1)
    assert refused is not None
    assert refused.event == "command_failed"
    assert "rate limit" in refused.detail
    assert g.admit("d", 0.6) is None  # 0.5 s at 2/s refills one token


def test_pending_commands_are_bounded_and_freed_by_completion() -> None:
    g = gate(burst=10, max_pending=2)
    assert g.admit("a", 0.0) is None
    assert g.admit("b", 0.0) is None
    refused = g.admit("c", 0.0)
    assert refused is not None
    assert refused.event == "queue_full"
    g.finished("a")
    assert g.admit("c", 0.0) is None


def test_pending_commands_expire() -> None:
    g = gate(burst=10, max_pending=1, pending_timeout_s=5.0)
    assert g.admit("a", 0.0) is None
    assert g.admit("b", 1.0) is not None
    assert g.admit("b", 6.0) is None


def test_stop_clears_pending_and_holds_new_commands() -> None:
    g = gate(burst=10, max_pending=1)
    assert g.admit("a", 0.0) is None
    g.stopped(1.0)
    assert g.pending == 0
    held = g.admit("b", 1.5)
    assert held is not None
    assert "emergency stop" in held.detail
    assert g.admit("b", 2.1) is None
