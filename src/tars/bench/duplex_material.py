"""What the user says into the simulated room in `tars bench duplex`.

Interruptions with and without the wake word, backchannels and coughs, from two synthetic
voices (Piper's joe, which is also TARS's voice, and espeak-ng en-gb), at 16 kHz. Coughs are
generated: one or two bursts of band-passed noise with a sharp attack and a fast decay, the
way a cough's energy looks, so nobody needs a recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array

ONSET_RMS = 300.0
"""RMS of a 10 ms block above which a clip's first syllable has begun."""


@dataclass(frozen=True)
class Clip:
    """One thing the user says (or does) over TARS."""

    kind: str
    """``wake`` (wake word first), ``voice`` (no wake word), ``backchannel`` or ``cough``."""
    text: str
    """What is said ("" for a cough)."""
    voice: str
    """``piper``, ``espeak`` or ``generated``."""
    samples: Int16Array

    @property
    def onset_s(self) -> float:
        """Offset of the first syllable in the clip, in seconds."""
        block = SAMPLE_RATE // 100
        for start in range(0, self.samples.size - block, block):
            piece = self.samples[start : start + block].astype(np.float64)
            if float(np.sqrt(np.mean(piece * piece))) >= ONSET_RMS:
                return start / SAMPLE_RATE
        return 0.0

    @property
    def cancels(self) -> bool:
        """Whether the clip asks TARS to stop (else it asks a question)."""
        return "stop" in self.text.lower()


INTERRUPTIONS = (
    ("voice", "Please stop."),
    ("voice", "What time is it?"),
    ("wake", "Okay Nabu, stop."),
    ("voice", "Stop talking."),
    ("wake", "Okay Nabu, what time is it?"),
)
"""Interruptions, with and without the wake word."""
BACKCHANNELS = ("Mm-hmm.", "Yeah.", "Okay.", "Right.", "I see.")
"""What a listener says to show they follow."""


def _say(text: str, voice: str) -> Int16Array:
    audio = speech.piper(text) if voice == "piper" else speech.espeak(text, voice="en-gb")
    return speech.utterance(audio, pad_s=0.2)


def cough(seed: int) -> Int16Array:
    """A generated cough: one or two 150-250 ms noise bursts, band-passed around 0.4-3 kHz."""
    rng = np.random.default_rng(seed)
    parts = [np.zeros(round(0.2 * SAMPLE_RATE))]
    for _ in range(1 + seed % 2):
        length = round(rng.uniform(0.15, 0.25) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        envelope = (1 - np.exp(-t / 0.008)) * np.exp(-t / 0.06)
        noise = rng.standard_normal(length + 64)
        # A crude band-pass: the difference of two moving averages.
        band = np.convolve(noise, np.ones(4) / 4, "same") - np.convolve(
            noise, np.ones(40) / 40, "same"
        )
        burst = band[:length] * envelope
        parts += [burst / max(float(np.max(np.abs(burst))), 1e-9) * 12000, np.zeros(1600)]
    parts.append(np.zeros(round(0.2 * SAMPLE_RATE)))
    return np.concatenate(parts).astype(np.int16)


def interruptions(count: int) -> list[Clip]:
    """``count`` interruptions, cycling phrases and voices."""
    clips = []
    for index in range(count):
        kind, text = INTERRUPTIONS[index % len(INTERRUPTIONS)]
        voice = ("piper", "espeak")[(index // len(INTERRUPTIONS)) % 2]
        clips.append(Clip(kind, text, voice, _say(text, voice)))
    return clips


def not_turns(count: int) -> list[Clip]:
    """``count`` backchannels and coughs, alternating."""
    clips = []
    for index in range(count):
        if index % 2:
            clips.append(Clip("cough", "", "generated", cough(index)))
        else:
            text = BACKCHANNELS[(index // 2) % len(BACKCHANNELS)]
            voice = ("piper", "espeak")[(index // 2) % 2]
            clips.append(Clip("backchannel", text, voice, _say(text, voice)))
    return clips
