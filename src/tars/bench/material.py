"""Spoken requests with a pause in the middle, synthesised for the turn-taking benches.

Three kinds, reported apart because they stress end of turn differently:

- ``spliced``: the whole sentence from Piper in one go, with the pause inserted at the
  inter-word gap nearest the split, so the first half keeps mid-sentence intonation, as
  a person's does when they hesitate;
- ``ssml``: espeak-ng with an SSML ``<break>`` inside one sentence (several voices and
  speeds);
- ``fragments``: the two halves synthesised apart and joined with silence; each half ends
  with final intonation, so a turn model hears the first as finished, and only a
  continuation can save the request.

Every clip gets light white noise (35 dB SNR) over its whole length, pauses included.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence
from tars.bench import splice

PAUSES_MS = (300, 500, 800, 1200)
"""Pause lengths inside the requests, in ms."""
KINDS = ("spliced", "ssml", "fragments")
"""Kinds of paused material, in report order."""
SNR_DB = 35.0
"""Level of the added noise below the speech."""
PAD_S = 0.5
"""Noise before the speech of every clip, in s."""
TAIL_S = 0.8
"""Noise after the speech of every clip, in s (the rig keeps feeding noise after it)."""


@dataclass(frozen=True)
class Request:
    """A spoken request and where the speaker pauses in it."""

    first: str
    """Words before the pause."""
    second: str
    """Words after the pause."""

    @property
    def text(self) -> str:
        """The whole request."""
        return f"{self.first} {self.second}".strip()


REQUESTS = (
    Request("Remind me to water the plants", "on Sunday"),
    Request("Set a timer for", "ten minutes"),
    Request("What is the weather like", "in Paris tomorrow"),
    Request("Turn on the lights in", "the living room"),
    Request("Say hello to", "my friend Sam"),
    Request("Add bread and cheese", "to the shopping list"),
    Request("Play some jazz music", "in the kitchen"),
    Request("Call my sister", "after dinner tonight"),
    Request("Turn the volume down", "a little bit"),
    Request("Tell me a story about", "a friendly dragon"),
    Request("What is on my calendar", "for Friday afternoon"),
    Request("Remind me to call the dentist", "at nine tomorrow morning"),
)
"""Requests with a natural pause point; both halves are real words."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker."""

    name: str
    """Label in the report."""
    engine: str
    """``piper`` or ``espeak``."""
    variant: str = ""
    """espeak-ng voice (``en-us``, ``en-gb``, ``en-us+f3``...)."""
    rate: float = 1.0
    """Piper length scale, or espeak words per minute."""


PIPER_VOICES = (
    Voice("joe", "piper", rate=1.0),
    Voice("joe-slow", "piper", rate=1.15),
    Voice("joe-fast", "piper", rate=0.9),
)
"""Piper speakers: one installed voice, three paces."""
ESPEAK_VOICES = (
    Voice("espeak-us", "espeak", "en-us", 160),
    Voice("espeak-gb", "espeak", "en-gb", 175),
    Voice("espeak-us-f3", "espeak", "en-us+f3", 145),
)
"""espeak-ng speakers."""


@dataclass(frozen=True)
class Clip:
    """One utterance ready to play on a satellite."""

    kind: str
    """``spliced``, ``ssml``, ``fragments``, or ``whole`` for a request without a pause."""
    voice: str
    """Speaker label."""
    request: Request
    """What is said."""
    pause_ms: int
    """Pause inserted after ``request.first``, in ms (0 for ``whole``)."""
    audio: Int16Array
    """16 kHz samples, noise included."""


@functools.lru_cache(maxsize=256)
def _piper(text: str, rate: float) -> Int16Array:
    # Both spliced and fragment clips need the first half alone: synthesise it once.
    return speech.piper_styled(text, length_scale=rate)


def spliced(request: Request, voice: Voice, pause_ms: int) -> Int16Array:
    """The whole sentence from Piper with the pause inserted at the gap after ``first``."""
    sentence = splice.trim(_piper(request.text, voice.rate))
    at = splice.split_point(sentence, _piper(request.first, voice.rate))
    return splice.insert_pause(sentence, at, pause_ms / 1000)


def fragments(request: Request, voice: Voice, pause_ms: int) -> Int16Array:
    """The two halves synthesised apart (each with final intonation) and joined by silence."""
    first = splice.trim(_piper(request.first, voice.rate))
    second = splice.trim(_piper(request.second, voice.rate))
    return np.concatenate([first, silence(pause_ms / 1000), second])


def ssml(request: Request, voice: Voice, pause_ms: int) -> Int16Array:
    """espeak-ng speaking one sentence with an SSML break of ``pause_ms`` inside."""
    markup = f'<speak>{request.first} <break time="{pause_ms}ms"/> {request.second}</speak>'
    return splice.trim(speech.espeak_ssml(markup, voice.variant, int(voice.rate)))


def whole(text: str, voice: Voice) -> Int16Array:
    """A request without a pause, in ``voice``."""
    if voice.engine == "espeak":
        return splice.trim(speech.espeak(text, voice.variant, int(voice.rate)))
    return splice.trim(_piper(text, voice.rate))


_MAKERS = {"spliced": spliced, "ssml": ssml, "fragments": fragments}


def voices_for(kind: str) -> tuple[Voice, ...]:
    """The speakers a kind is synthesised with."""
    return ESPEAK_VOICES if kind == "ssml" else PIPER_VOICES


def noisy(speech_only: Int16Array, seed: int) -> Int16Array:
    """Pad ``speech_only`` and add the bench's noise over the whole clip."""
    padded = np.concatenate([silence(PAD_S), speech_only, silence(TAIL_S)])
    return splice.add_noise(padded, SNR_DB, seed)


def noise_level(clips: list[Clip]) -> float:
    """Typical standard deviation of the clips' added noise, in s16 units."""
    levels = [splice.speech_rms(clip.audio) / 10 ** (SNR_DB / 20) for clip in clips]
    return float(np.median(levels)) if levels else 0.0


def noise_floor(level: float, seconds: float = 1.0, seed: int = 99) -> Int16Array:
    """Noise like the clips' background, for the rig to feed between clips."""
    noise = np.random.default_rng(seed).normal(0.0, level, round(seconds * SAMPLE_RATE))
    return np.clip(noise, -32768, 32767).astype(np.int16)


def schedule(per_cell: int, kinds: tuple[str, ...] = KINDS) -> Iterator[tuple[str, int, int, int]]:
    """(kind, request index, pause ms, voice index) for ``per_cell`` requests per cell.

    Requests rotate through the pauses with an offset per kind, so no request is always
    heard with the same pause, and every kind covers the set evenly.
    """
    for k, kind in enumerate(kinds):
        for j in range(per_cell * len(PAUSES_MS)):
            request = (j + 4 * k) % len(REQUESTS)
            pause = PAUSES_MS[(j + k) % len(PAUSES_MS)]
            yield kind, request, pause, j % 3


def paused_clips(per_cell: int, kinds: tuple[str, ...] = KINDS) -> list[Clip]:
    """The paused material, interleaved across kinds so the same request never repeats soon."""
    clips: list[Clip] = []
    for seed, (kind, request, pause, voice_index) in enumerate(schedule(per_cell, kinds)):
        voice = voices_for(kind)[voice_index % len(voices_for(kind))]
        audio = _MAKERS[kind](REQUESTS[request], voice, pause)
        clips.append(Clip(kind, voice.name, REQUESTS[request], pause, noisy(audio, seed)))
    return interleave(clips)


def interleave(clips: list[Clip]) -> list[Clip]:
    """Round-robin over kinds: the repeat filter never sees one request twice in a row."""
    by_kind: dict[str, list[Clip]] = {}
    for clip in clips:
        by_kind.setdefault(clip.kind, []).append(clip)
    rows = [by_kind[kind] for kind in by_kind]
    return [row[i] for i in range(max(map(len, rows), default=0)) for row in rows if i < len(row)]


def whole_clips(texts: tuple[str, ...], voices: tuple[Voice, ...]) -> list[Clip]:
    """Requests without pauses, each in every voice."""
    return [
        Clip("whole", voice.name, Request(text, ""), 0, noisy(whole(text, voice), 1000 + index))
        for index, (voice, text) in enumerate((v, t) for v in voices for t in texts)
    ]


def describe(paused: list[Clip], commands: list[Clip]) -> dict[str, object]:
    """What was played, for the report."""
    cells: dict[str, int] = {}
    for clip in paused:
        key = f"{clip.kind}/{clip.pause_ms}"
        cells[key] = cells.get(key, 0) + 1
    seconds = sum(clip.audio.size for clip in (*paused, *commands)) / SAMPLE_RATE
    return {
        "paused_turns": len(paused),
        "per_cell": cells,
        "commands": len(commands),
        "voices": sorted({clip.voice for clip in (*paused, *commands)}),
        "snr_db": SNR_DB,
        "audio_s": round(seconds, 1),
        "requests": [f"{r.first} | {r.second}" for r in REQUESTS],
    }
