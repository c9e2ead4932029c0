"""Bounds on browser input: the token bucket, the audio gate, microphone ownership."""

from __future__ import annotations

from tars.services.ui_web.limits import AudioGate, Microphones, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 3.0, clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.5
    assert bucket.take()
    assert not bucket.take()
    clock.now = 100.0
    assert sum(bucket.take() for _ in range(10)) == 3


def test_audio_gate_checks_shape_length_and_pace() -> None:
    clock = Clock()
    gate = AudioGate(max_frame_ms=40, burst_s=0.11, clock=clock)
    frame = b"\x00" * 640  # 20 ms
    assert gate.check(b"") == "odd_size"
    assert gate.check(b"\x00" * 641) == "odd_size"
    assert gate.check(b"\x00" * 1282) == "too_long"
    assert [gate.check(frame) for _ in range(6)] == [None] * 5 + ["too_fast"]
    clock.now = 0.02  # real time moved on by one frame
    assert gate.check(frame) is None


def test_one_page_per_satellite_and_a_bounded_number_of_them() -> None:
    microphones = Microphones(limit=2)
    assert microphones.claim("den", 1) is None
    assert microphones.claim("den", 1) is None  # the owner may claim again
    assert "already streaming" in (microphones.claim("den", 2) or "")
    assert microphones.claim("hall", 2) is None
    assert "at most 2" in (microphones.claim("porch", 3) or "")
    microphones.release(1)
    assert microphones.claim("porch", 3) is None
