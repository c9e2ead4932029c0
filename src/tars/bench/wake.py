"""`tars bench wake`: wake-word detection rate and false accepts on a fixed set.

Positives: "okay nabu" followed by a command, in the Piper voice and several espeak-ng
voices and speeds. Negatives: the same commands without the wake word, noise, tones and
silence. Each clip is fed to a fresh detector state in 20 ms frames, as the service does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence, tone, white_noise
from tars.bench import report
from tars.runtime.settings import RuntimeSettings
from tars.services.wake.detector import ThresholdDetector
from tars.services.wake.micro import load_detector
from tars.services.wake.settings import WakeSettings

COMMANDS = ("what time is it", "turn on the kitchen lights", "play some music")
ESPEAK_VOICES = (("en-us", 150), ("en-us", 180), ("en-gb", 160), ("en-us+f3", 160))
_FRAME = 320


def positives() -> list[tuple[str, Int16Array]]:
    """Wake word + command clips."""
    found = [
        (f"piper {c!r}", speech.utterance(speech.piper("Okay Nabu."), speech.piper(c)))
        for c in COMMANDS
    ]
    for voice, wpm in ESPEAK_VOICES:
        for command in COMMANDS:
            audio = speech.utterance(
                speech.espeak("okay nabu", voice, wpm), speech.espeak(command, voice, wpm)
            )
            found.append((f"espeak {voice} {wpm} {command!r}", audio))
    return found


def negatives() -> list[tuple[str, Int16Array]]:
    """Clips that must not wake the assistant."""
    found = [(f"piper {c!r}", speech.utterance(speech.piper(c))) for c in COMMANDS]
    found += [(f"espeak {c!r}", speech.utterance(speech.espeak(c))) for c in COMMANDS]
    found.append(("white noise 10 s", white_noise(10.0, amplitude=1500.0, seed=7)))
    found.append(("tones", np.concatenate([tone(2.0, f) for f in (200.0, 440.0, 1000.0)])))
    found.append(("silence 10 s", silence(10.0)))
    return found


def count_detections(detector: ThresholdDetector, audio: Int16Array) -> int:
    """Detections in one clip from a fresh detector state."""
    detector.reset()
    hits = 0
    for start in range(0, audio.size - _FRAME + 1, _FRAME):
        hits += detector.process(audio[start : start + _FRAME]) is not None
    return hits


def measure() -> dict[str, Any]:
    """Run the wake benchmark."""
    settings = WakeSettings()
    detector = load_detector(settings.model, threshold=settings.detection_threshold)
    pos, neg = positives(), negatives()
    started = time.perf_counter()
    detected = {name: count_detections(detector, audio) for name, audio in pos}
    false_accepts = {name: count_detections(detector, audio) for name, audio in neg}
    elapsed = time.perf_counter() - started
    audio_s = sum(a.size for _, a in pos + neg) / SAMPLE_RATE
    hits = sum(1 for n in detected.values() if n >= 1)
    return {
        "model": settings.model,
        "threshold": detector.threshold,
        "positives": len(pos),
        "detected": hits,
        "detection_rate": round(hits / len(pos), 4),
        "double_detections": sum(1 for n in detected.values() if n > 1),
        "negatives": len(neg),
        "negative_audio_s": round(sum(a.size for _, a in neg) / SAMPLE_RATE, 1),
        "false_accepts": sum(false_accepts.values()),
        "missed": [name for name, n in detected.items() if n == 0],
        "cpu_ms_per_audio_s": round(elapsed * 1000 / audio_s, 3),
    }


def main(out_dir: Path, runtime: RuntimeSettings) -> int:
    """`tars bench wake`: measure, print the headline figures, write the report."""
    del runtime
    print("bench wake: okay_nabu on piper + espeak clips, noise, tones, silence ...", flush=True)
    results = measure()
    print(
        f"{results['model']}: detected {results['detected']}/{results['positives']} "
        f"({results['detection_rate']:.0%}), false accepts {results['false_accepts']} in "
        f"{results['negative_audio_s']} s of negatives, "
        f"{results['cpu_ms_per_audio_s']:.2f} ms CPU per audio second"
    )
    chart = {
        "detection rate %": results["detection_rate"] * 100,
        "false accepts": float(results["false_accepts"]),
        "CPU ms / audio s": results["cpu_ms_per_audio_s"],
    }
    print(f"report: {report.write(out_dir, 'wake', results, chart)}")
    return 0
