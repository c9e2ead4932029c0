"""The real microWakeWord detector on synthesised speech: detections and false accepts."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence, tone, white_noise
from tars.services.wake.detector import Detection, ThresholdDetector
from tars.services.wake.micro import BUILTIN_WAKE_WORDS, MicroWakeWordScorer, load_detector

pytestmark = pytest.mark.engine

FRAME = 320  # 20 ms, as the mic publishes
ESPEAK_VOICES = [
    (voice, wpm) for voice in ("en-us", "en-gb", "en-us+f3", "en-us+m7") for wpm in (140, 175)
]
COMMANDS = ["turn on the kitchen lights", "what time is it", "set a timer for five minutes"]
NOISE_AMPLITUDE = 150.0


@dataclass(frozen=True)
class Clip:
    name: str
    audio: Int16Array
    wake_span_s: tuple[float, float] | None  # where the wake word is, for positives


@pytest.fixture(scope="session")
def scorer() -> MicroWakeWordScorer:
    return MicroWakeWordScorer("okay_nabu")


@pytest.fixture(scope="session")
def detector(scorer: MicroWakeWordScorer) -> ThresholdDetector:
    return ThresholdDetector(scorer)


def noisy(samples: Int16Array, seed: int) -> Int16Array:
    noise = white_noise(samples.size / SAMPLE_RATE, NOISE_AMPLITUDE, seed)[: samples.size]
    mixed = samples.astype(np.int32) + noise
    clipped: Int16Array = np.clip(mixed, -32768, 32767).astype(np.int16)
    return clipped


def wake_clip(name: str, wake: Int16Array, command: Int16Array, seed: int) -> Clip:
    lead, gap = 1.5, 0.4
    audio = np.concatenate([silence(lead), wake, silence(gap), command, silence(1.5)])
    span = (lead, lead + (wake.size / SAMPLE_RATE) + gap)
    return Clip(name, noisy(audio, seed), span)


@pytest.fixture(scope="session")
def piper_clip() -> Clip:
    return wake_clip(
        "piper", speech.piper("Okay Nabu."), speech.piper("Turn on the kitchen lights."), 1
    )


@pytest.fixture(scope="session")
def espeak_clips() -> list[Clip]:
    return [
        wake_clip(
            f"espeak {voice} {wpm}wpm",
            speech.espeak("okay nabu", voice, wpm),
            speech.espeak("what time is it", voice, wpm),
            seed,
        )
        for seed, (voice, wpm) in enumerate(ESPEAK_VOICES, start=10)
    ]


@pytest.fixture(scope="session")
def negative_clips() -> list[Clip]:
    tones = np.concatenate([tone(3.0, 440.0), tone(3.0, 1000.0), tone(4.0, 250.0)])
    brown = np.cumsum(white_noise(10.0, 60.0, 7).astype(np.float64))
    brown = (brown - np.linspace(brown[0], brown[-1], brown.size)).astype(np.float64)
    brown_int = np.clip(brown * (2000.0 / (np.abs(brown).max() or 1.0)), -32768, 32767)
    clips = [
        Clip("white noise 10 s", white_noise(10.0, 300.0, 3), None),
        Clip("silence 10 s", silence(10.0), None),
        Clip("tones 10 s", noisy(tones, 4), None),
        Clip("brown noise 10 s", brown_int.astype(np.int16), None),
    ]
    for seed, command in enumerate(COMMANDS, start=20):
        clips.append(
            Clip(f"piper {command!r}", noisy(speech.utterance(speech.piper(command)), seed), None)
        )
        clips.append(
            Clip(f"espeak {command!r}", noisy(speech.utterance(speech.espeak(command)), seed), None)
        )
    return clips


def detect(detector: ThresholdDetector, audio: Int16Array) -> list[Detection]:
    detector.reset()
    found = [detector.process(audio[i : i + FRAME]) for i in range(0, audio.size, FRAME)]
    return [d for d in found if d is not None]


def peak_probability(scorer: MicroWakeWordScorer, audio: Int16Array) -> float:
    scorer.reset()
    scores = [scorer.score(audio[i : i + FRAME]) for i in range(0, audio.size, FRAME)]
    return max(s for s in scores if s is not None)


def assert_in_span(clip: Clip, detections: list[Detection]) -> None:
    assert clip.wake_span_s is not None
    start, end = clip.wake_span_s
    assert len(detections) == 1, (clip.name, detections)
    # The model decides a few hundred ms after the word ends, before the command is over.
    assert start < detections[0].audio_time_s < end + 1.0, (clip.name, detections[0])


def test_piper_voice_is_detected_once(detector: ThresholdDetector, piper_clip: Clip) -> None:
    detections = detect(detector, piper_clip.audio)
    print(f"piper: {detections}")
    assert_in_span(piper_clip, detections)
    assert detections[0].probability >= detector.threshold
    assert detections[0].energy > NOISE_AMPLITUDE


def test_most_espeak_variants_are_detected(
    detector: ThresholdDetector, espeak_clips: list[Clip]
) -> None:
    hits = 0
    for clip in espeak_clips:
        detections = detect(detector, clip.audio)
        print(f"{clip.name}: {[round(d.probability, 3) for d in detections]}")
        if detections:
            assert_in_span(clip, detections)
            hits += 1
    print(f"okay_nabu espeak detection rate: {hits}/{len(espeak_clips)}")
    assert hits >= 5


def test_no_false_accepts_on_noise_tones_silence_or_commands(
    detector: ThresholdDetector, scorer: MicroWakeWordScorer, negative_clips: list[Clip]
) -> None:
    seconds = sum(c.audio.size for c in negative_clips) / SAMPLE_RATE
    started = time.perf_counter()
    false_accepts = {c.name: detect(detector, c.audio) for c in negative_clips}
    elapsed = time.perf_counter() - started
    fired = {name: found for name, found in false_accepts.items() if found}
    print(f"false accepts: {len(fired)} in {len(negative_clips)} clips ({seconds:.0f} s): {fired}")
    print(f"CPU: {1000 * elapsed / seconds:.2f} ms per second of audio")
    peaks = {c.name: round(peak_probability(scorer, c.audio), 3) for c in negative_clips}
    print(f"peak probability per negative clip (threshold {detector.threshold}): {peaks}")
    assert fired == {}


@pytest.mark.parametrize("name", BUILTIN_WAKE_WORDS)
def test_every_bundled_word_loads_with_its_own_cutoff(name: str) -> None:
    scorer = MicroWakeWordScorer(name)
    assert scorer.wake_word == name
    assert 0.5 < scorer.default_threshold < 1.0
    assert ThresholdDetector(scorer).threshold == scorer.default_threshold


def test_user_model_paths_load_and_detect(tmp_path: Path, piper_clip: Clip) -> None:
    import pymicro_wakeword

    bundled = Path(pymicro_wakeword.__file__).parent / "models"
    with_config = tmp_path / "with_config"
    with_config.mkdir()
    shutil.copy(bundled / "okay_nabu.json", with_config / "okay_nabu.json")
    shutil.copy(bundled / "okay_nabu.tflite", with_config / "okay_nabu.tflite")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(bundled / "okay_nabu.tflite", bare / "my_word.tflite")

    from_json = load_detector(str(with_config / "okay_nabu.json"))
    from_sibling = load_detector(str(with_config / "okay_nabu.tflite"))
    from_bare = load_detector(str(bare / "my_word.tflite"))
    assert from_json.threshold == from_sibling.threshold == 0.85
    assert (from_bare.wake_word, from_bare.threshold) == ("my_word", 0.9)
    for loaded in (from_json, from_sibling, from_bare):
        assert_in_span(piper_clip, detect(loaded, piper_clip.audio))
