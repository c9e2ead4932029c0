"""Real engines: Silero VAD + segmenter + faster-whisper on synthesised speech."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tars.audio import speech
from tars.audio.pcm import SAMPLE_RATE, Int16Array, silence, tone, white_noise
from tars.services.stt.endpoint import PartialDue, UtteranceEnded, UtteranceSegmenter
from tars.services.stt.factory import build_filter_chain, build_segmenter
from tars.services.stt.filters import Candidate, FilterContext
from tars.services.stt.models import assemble_base
from tars.services.stt.settings import SttSettings
from tars.services.stt.transcriber import Transcript
from tars.services.stt.wer import corpus_wer, wer
from tars.services.stt.whisper_engine import WhisperOptions, WhisperTranscriber
from tars.text.finished import looks_complete

pytestmark = pytest.mark.engine

COMMANDS = ("what time is it", "set a timer for five minutes", "turn on the kitchen lights")
VOICES: dict[str, Callable[[str], Int16Array]] = {"piper": speech.piper, "espeak": speech.espeak}
FRAME = 320  # 20 ms, as microphones publish


@dataclass
class Heard:
    ended: UtteranceEnded
    transcript: Transcript
    end_delay_s: float
    """Stream time from the end of speech to the UtteranceEnded event."""


@pytest.fixture(scope="session")
def tiny() -> WhisperTranscriber:
    transcriber = WhisperTranscriber(WhisperOptions(model="tiny.en", cpu_threads=2))
    print(f"\ntiny.en load {transcriber.load_s:.2f} s")
    transcriber.warm_up()
    return transcriber


@pytest.fixture(scope="session")
def clips() -> dict[str, list[Int16Array]]:
    return {name: [voice(text) for text in COMMANDS] for name, voice in VOICES.items()}


def listen(
    segmenter: UtteranceSegmenter, audio: Int16Array, transcriber: WhisperTranscriber
) -> list[Heard]:
    """Feed audio in 20 ms frames; transcribe each utterance as it ends."""
    heard: list[Heard] = []
    for start in range(0, audio.size, FRAME):
        for event in segmenter.feed(audio[start : start + FRAME]):
            if isinstance(event, UtteranceEnded):
                delay = segmenter.stream_time_s - event.speech_end_s
                heard.append(Heard(event, transcriber.transcribe(event.samples), delay))
    return heard


def candidate(heard: Heard) -> Candidate:
    ended, result = heard.ended, heard.transcript
    return Candidate(
        text=result.text,
        duration_s=ended.speech_end_s - ended.speech_start_s,
        rms=ended.rms,
        active_ratio=ended.active_ratio,
        confidence=result.confidence,
        no_speech_prob=result.no_speech_prob,
        avg_logprob=result.avg_logprob,
    )


def report(label: str, heard: list[Heard]) -> None:
    audio_s = sum(h.transcript.duration_s for h in heard)
    elapsed_s = sum(h.transcript.elapsed_s for h in heard)
    for h in heard:
        print(
            f"  {label}: {h.transcript.text!r} {h.transcript.duration_s:.2f} s audio, "
            f"{h.transcript.elapsed_s * 1000:.0f} ms, end delay {h.end_delay_s * 1000:.0f} ms"
        )
    if audio_s:
        print(f"  {label}: RTF {elapsed_s / audio_s:.3f} over {audio_s:.1f} s")


def test_commands_are_segmented_and_transcribed(
    tiny: WhisperTranscriber, clips: dict[str, list[Int16Array]]
) -> None:
    settings = SttSettings()
    chain = build_filter_chain(settings)
    pairs: list[tuple[str, str]] = []
    print()
    for name, voice_clips in clips.items():
        stream = speech.utterance(*voice_clips, gap_s=1.5, pad_s=1.0)
        heard = listen(build_segmenter(settings), stream, tiny)
        report(name, heard)
        assert len(heard) == len(COMMANDS), [h.transcript.text for h in heard]
        for text, h in zip(COMMANDS, heard, strict=True):
            pairs.append((text, h.transcript.text))
            assert h.ended.reason == "silence"
            rejection = chain.check(candidate(h), FilterContext(now=0.0))
            assert rejection is None, (h.transcript.text, rejection)
    error_rate = corpus_wer(pairs)
    print(f"  tiny.en WER over {len(pairs)} utterances: {error_rate:.3f}")
    assert error_rate < 0.15


def test_pause_partials_shorten_the_end_of_turn(
    tiny: WhisperTranscriber, clips: dict[str, list[Int16Array]]
) -> None:
    """The service recipe: transcribe the pause partial, shorten the hangover, reuse it."""
    settings = SttSettings()
    shortened = 0
    print()
    for name, voice_clips in clips.items():
        for text, clip in zip(COMMANDS, voice_clips, strict=True):
            segmenter = build_segmenter(settings)
            pause: tuple[PartialDue, Transcript] | None = None
            final: tuple[UtteranceEnded, float] | None = None
            for start in range(0, (audio := speech.utterance(clip, pad_s=1.5)).size, FRAME):
                for event in segmenter.feed(audio[start : start + FRAME]):
                    if isinstance(event, PartialDue) and event.reason == "pause":
                        pause = (event, tiny.transcribe(event.samples))
                        if looks_complete(pause[1].text):
                            segmenter.set_hangover_ms(settings.short_hangover_ms)
                    elif isinstance(event, UtteranceEnded):
                        final = (event, segmenter.stream_time_s - event.speech_end_s)
            assert pause is not None
            assert final is not None
            reused = pause[0].speech_end_s == final[0].speech_end_s
            shortened += final[1] * 1000 < settings.hangover_ms
            print(
                f"  {name}: {pause[1].text!r} end delay {final[1] * 1000:.0f} ms, "
                f"pause transcript reusable: {reused}"
            )
            if reused:
                assert wer(text, pause[1].text) <= 0.2
    assert shortened >= 1


def test_noise_tones_and_silence_yield_nothing_publishable(tiny: WhisperTranscriber) -> None:
    settings = SttSettings()
    audio = np.concatenate(
        [
            white_noise(3.0, amplitude=300.0, seed=1),
            white_noise(1.0, amplitude=3000.0, seed=2),
            tone(1.5, 440.0),
            tone(1.5, 1000.0, amplitude=12000.0),
            silence(3.0),
        ]
    )
    assert audio.size == 10 * SAMPLE_RATE
    heard = listen(build_segmenter(settings), audio, tiny)
    report("noise", heard)
    chain = build_filter_chain(settings)
    published = [
        h.transcript.text
        for h in heard
        if chain.check(candidate(h), FilterContext(now=0.0)) is None
    ]
    assert published == []


def test_whisper_base_assembles_and_transcribes(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir: Path = tmp_path_factory.mktemp("stt-data")
    base = WhisperTranscriber(
        WhisperOptions(model="base", data_dir=data_dir, beam_size=5, cpu_threads=2)
    )
    model_bin = data_dir / "whisper-base" / "model.bin"
    first_mtime = model_bin.stat().st_mtime_ns
    assert assemble_base(data_dir) == model_bin.parent
    assert model_bin.stat().st_mtime_ns == first_mtime  # not joined twice
    text = "turn on the kitchen lights"
    result = base.transcribe(speech.utterance(speech.piper(text), pad_s=0.3))
    print(
        f"\nbase load {base.load_s:.2f} s, {result.text!r}, "
        f"{result.elapsed_s * 1000:.0f} ms for {result.duration_s:.2f} s "
        f"(RTF {result.elapsed_s / result.duration_s:.3f}, beam 5)"
    )
    assert wer(text, result.text) <= 0.2


def test_short_window_matches_the_full_window_at_a_fraction_of_the_cost(
    tiny: WhisperTranscriber, clips: dict[str, list[Int16Array]]
) -> None:
    full = WhisperTranscriber(WhisperOptions(model="tiny.en", cpu_threads=2, window_s=0))
    full.warm_up()
    pairs, quick_s, full_s = [], 0.0, 0.0
    for voice_clips in clips.values():
        for clip in voice_clips:
            padded = speech.utterance(clip, pad_s=0.3)
            quick, slow = tiny.transcribe(padded), full.transcribe(padded)
            pairs.append((slow.text, quick.text))
            quick_s += quick.elapsed_s
            full_s += slow.elapsed_s
    references = COMMANDS * len(clips)
    quick_wer = corpus_wer(
        [(ref, quick) for ref, (_, quick) in zip(references, pairs, strict=True)]
    )
    full_wer = corpus_wer([(ref, slow) for ref, (slow, _) in zip(references, pairs, strict=True)])
    print(f"\nwindow 10 s: {quick_s * 1000 / len(pairs):.0f} ms per command, WER {quick_wer:.3f}; "
          f"full 30 s: {full_s * 1000 / len(pairs):.0f} ms, WER {full_wer:.3f}")  # fmt: skip
    assert quick_wer < 0.15
    assert quick_wer <= full_wer + 0.1


def test_long_utterance_uses_the_full_window(tiny: WhisperTranscriber) -> None:
    long_speech = np.concatenate([speech.espeak("this is a long test sentence")] * 16)
    assert long_speech.size / SAMPLE_RATE > 26  # too long for a shortened window
    transcript = tiny.transcribe(long_speech)
    # A window cut at 10 s would only hold about five of the sixteen sentences.
    assert transcript.text.lower().count("test sentence") >= 10
