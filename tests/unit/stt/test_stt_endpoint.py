"""UtteranceSegmenter with a fake VAD: speech is any window with a loud sample."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pytest

from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence, tone
from tars.services.stt.endpoint import (
    PartialDue,
    SegmenterConfig,
    SegmenterEvent,
    SpeechStarted,
    UtteranceEnded,
    UtteranceSegmenter,
)
from tars.services.stt.noise import NoiseFloorConfig
from tars.services.stt.vad import WindowBuffer

T = TypeVar("T")
WINDOW = 512
WINDOW_S = WINDOW / SAMPLE_RATE


class FakeVad:
    """Probability 1.0 for a window whose peak exceeds 1000, else 0.0."""

    def __init__(self) -> None:
        self._buffer = WindowBuffer(WINDOW)
        self.resets = 0

    @property
    def window_samples(self) -> int:
        return WINDOW

    def feed(self, samples: Int16Array) -> list[float]:
        windows = self._buffer.push(samples)
        return [1.0 if int(np.abs(w.astype(np.int32)).max()) > 1000 else 0.0 for w in windows]

    def reset(self) -> None:
        self.resets += 1
        self._buffer.clear()


def speech(seconds: float, amplitude: float = 3000.0) -> Int16Array:
    return tone(seconds, 440.0, amplitude)


def run(
    segmenter: UtteranceSegmenter, audio: Int16Array, frame: int = 320
) -> list[tuple[float, SegmenterEvent]]:
    """Feed ``audio`` in frames; return (stream time after the frame, event) pairs."""
    events: list[tuple[float, SegmenterEvent]] = []
    for start in range(0, audio.size, frame):
        for event in segmenter.feed(audio[start : start + frame]):
            events.append((segmenter.stream_time_s, event))
    return events


def of_type(events: list[tuple[float, SegmenterEvent]], kind: type[T]) -> list[T]:
    return [event for _, event in events if isinstance(event, kind)]


def make(**overrides: object) -> UtteranceSegmenter:
    return UtteranceSegmenter(FakeVad(), SegmenterConfig(**overrides))  # type: ignore[arg-type]


def test_silence_gives_no_events() -> None:
    assert run(make(), silence(3.0)) == []


def test_one_utterance_starts_and_ends_after_the_hangover() -> None:
    audio = np.concatenate([silence(1.0), speech(1.0), silence(1.5)])
    events = run(make(hangover_ms=600, pre_roll_ms=320, tail_ms=200), audio)

    started = of_type(events, SpeechStarted)
    ended = of_type(events, UtteranceEnded)
    assert len(started) == 1
    assert len(ended) == 1
    assert started[0].start_s == pytest.approx(1.0, abs=WINDOW_S)
    end = ended[0]
    assert end.reason == "silence"
    assert end.speech_start_s == pytest.approx(1.0, abs=WINDOW_S)
    assert end.speech_end_s == pytest.approx(2.0, abs=WINDOW_S)
    # pre-roll + speech + tail, each rounded up to whole windows
    assert end.samples.size / SAMPLE_RATE == pytest.approx(0.32 + 1.0 + 0.2, abs=3 * WINDOW_S)
    assert end.rms == pytest.approx(3000 / np.sqrt(2), rel=0.05)
    assert 0.8 < end.active_ratio < 1.0
    end_time = next(t for t, e in events if isinstance(e, UtteranceEnded))
    assert end_time == pytest.approx(2.0 + 0.6, abs=2 * WINDOW_S)


def test_pre_roll_keeps_audio_from_before_the_start() -> None:
    marker = np.full(800, 500, dtype=np.int16)  # quiet, below the fake VAD's threshold
    audio = np.concatenate([silence(0.5), marker, silence(0.05), speech(0.6), silence(1.0)])
    [end] = of_type(run(make(pre_roll_ms=320), audio), UtteranceEnded)
    assert np.count_nonzero(end.samples == 500) == 800


def test_a_blip_shorter_than_min_speech_is_ignored() -> None:
    audio = np.concatenate([silence(0.5), speech(0.064), silence(1.0)])
    assert run(make(min_speech_ms=160), audio) == []


def test_interval_partials_while_speaking_and_one_pause_partial() -> None:
    audio = np.concatenate([silence(0.3), speech(1.5), silence(0.25), speech(0.5), silence(1.0)])
    config = {"partial_interval_ms": 600, "partial_min_ms": 500, "pause_partial_ms": 160}
    events = run(make(hangover_ms=600, **config), audio)
    partials = of_type(events, PartialDue)
    reasons = [p.reason for p in partials]
    assert reasons.count("pause") == 2  # one at the mid gap, one at the final silence
    intervals = [p.samples.size for p in partials if p.reason == "interval"]
    assert intervals[0] >= 0.5 * SAMPLE_RATE
    assert all(b - a >= 0.6 * SAMPLE_RATE for a, b in zip(intervals, intervals[1:], strict=False))
    [end] = of_type(events, UtteranceEnded)
    assert partials[-1].reason == "pause"
    assert partials[-1].speech_end_s == end.speech_end_s


def test_a_gap_shorter_than_the_hangover_does_not_split() -> None:
    audio = np.concatenate([silence(0.3), speech(0.5), silence(0.3), speech(0.5), silence(1.0)])
    assert len(of_type(run(make(hangover_ms=600), audio), UtteranceEnded)) == 1


def test_shortened_hangover_ends_sooner() -> None:
    segmenter = make(hangover_ms=800, pause_partial_ms=96)
    audio = np.concatenate([silence(0.3), speech(1.0), silence(1.5)])
    end_time = None
    for start in range(0, audio.size, 320):
        for event in segmenter.feed(audio[start : start + 320]):
            if isinstance(event, PartialDue) and event.reason == "pause":
                segmenter.set_hangover_ms(0)
            if isinstance(event, UtteranceEnded):
                end_time = segmenter.stream_time_s
    assert end_time is not None
    assert end_time == pytest.approx(1.3 + 0.096, abs=2 * WINDOW_S)


def test_hangover_override_lasts_one_utterance() -> None:
    segmenter = make(hangover_ms=600)
    segmenter.set_hangover_ms(100)
    first = run(segmenter, np.concatenate([silence(0.3), speech(0.5), silence(1.0)]))
    second = run(segmenter, np.concatenate([speech(0.5), silence(1.0)]))
    first_end = next(t for t, e in first if isinstance(e, UtteranceEnded))
    second_end = next(t for t, e in second if isinstance(e, UtteranceEnded))
    assert first_end - 0.8 == pytest.approx(0.1, abs=2 * WINDOW_S)
    assert second_end - 2.3 == pytest.approx(0.6, abs=2 * WINDOW_S)


def test_max_length_cuts_long_speech() -> None:
    events = run(make(max_utterance_s=2.0), np.concatenate([speech(3.0), silence(1.0)]))
    ended = of_type(events, UtteranceEnded)
    assert [e.reason for e in ended] == ["max_length", "silence"]
    assert ended[0].samples.size / SAMPLE_RATE == pytest.approx(2.0, abs=0.1)


def test_flush_ends_speech_in_progress_and_is_idle_safe() -> None:
    segmenter = make()
    assert segmenter.flush() == []
    run(segmenter, np.concatenate([silence(0.2), speech(0.8)]))
    assert segmenter.speaking
    [event] = segmenter.flush()
    assert isinstance(event, UtteranceEnded)
    assert event.reason == "flush"
    assert not segmenter.speaking


def test_noise_gate_blocks_quiet_starts_only_when_enabled() -> None:
    quiet = np.concatenate([silence(0.5), speech(1.0, amplitude=1200.0), silence(1.0)])
    gated = make(noise_gate=NoiseFloorConfig(min_rms=1000.0))
    assert run(gated, quiet) == []
    ungated = make(noise_gate=None)
    assert len(of_type(run(ungated, quiet), UtteranceEnded)) == 1


def test_noise_floor_calibrates_from_non_speech() -> None:
    rng = np.random.default_rng(1)
    # Below the fake VAD's 1000 peak threshold: background, rms ~ 150.
    background = np.clip(rng.normal(0, 150, 3 * SAMPLE_RATE), -900, 900).astype(np.int16)
    segmenter = make(noise_gate=NoiseFloorConfig(min_rms=100.0, calibration_s=2.0))
    run(segmenter, background)
    floor = segmenter.noise_floor
    assert floor is not None
    calibrated = floor.floor
    assert calibrated is not None
    assert calibrated == pytest.approx(150, rel=0.1)
    assert floor.gate == pytest.approx(3 * calibrated)


@pytest.mark.parametrize("frame", [1, 7, 320, 512, 1000, 4096])
def test_frame_size_does_not_change_the_result(frame: int) -> None:
    audio = np.concatenate([silence(0.4), speech(0.9), silence(0.9), speech(0.4), silence(1.0)])
    reference = run(make(), audio, frame=512)
    events = run(make(), audio, frame=frame)
    assert [type(e) for _, e in events] == [type(e) for _, e in reference]
    ends = of_type(events, UtteranceEnded)
    ref_ends = of_type(reference, UtteranceEnded)
    assert [e.samples.size for e in ends] == [e.samples.size for e in ref_ends]


def test_reset_clears_state_and_vad() -> None:
    vad = FakeVad()
    segmenter = UtteranceSegmenter(vad, SegmenterConfig())
    run(segmenter, np.concatenate([silence(0.2), speech(0.5)]))
    segmenter.reset()
    assert vad.resets == 1
    assert not segmenter.speaking
    assert segmenter.stream_time_s == 0.0
    assert segmenter.flush() == []


def test_zero_min_speech_starts_on_the_first_speech_window() -> None:
    audio = np.concatenate([silence(0.5), speech(0.032 * 3), silence(1.0)])
    events = run(make(min_speech_ms=0, pre_roll_ms=0), audio)
    [started] = of_type(events, SpeechStarted)
    assert started.start_s == pytest.approx(0.5, abs=WINDOW_S)
    assert len(of_type(events, UtteranceEnded)) == 1
