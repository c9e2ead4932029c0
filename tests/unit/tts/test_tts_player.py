"""Player: streaming playback with pause, resume and stop, driven by a fake synthesiser."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from tars.audio.pcm import Int16Array
from tars.services.tts.player import Player
from tars.services.tts.sinks import NullSink
from tars.text.sentences import split_sentences

WAIT_S = 5.0
GATE_TIMEOUT_S = 5.0


class FakeSynth:
    """Yields one chunk per sentence, filled with the sentence number (1, 2, ...).

    ``gates[i]`` blocks sentence ``i`` (0-based) until the test sets it; ``reached[n]``
    is set once ``n`` sentences have been started.
    """

    voice_id = "fake-voice"

    def __init__(
        self,
        *,
        rate: int = 16_000,
        samples: int = 1_600,
        gates: dict[int, threading.Event] | None = None,
        fail_at: int | None = None,
    ) -> None:
        self.sample_rate = rate
        self.samples = samples
        self.gates = gates or {}
        self.fail_at = fail_at
        self.texts: list[str] = []
        self.started = 0
        self.closed = False
        self.reached = [threading.Event() for _ in range(64)]

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        self.texts.append(text)
        try:
            for index, _sentence in enumerate(split_sentences(text)):
                gate = self.gates.get(index)
                if gate is not None:
                    gate.wait(GATE_TIMEOUT_S)
                if index == self.fail_at:
                    raise RuntimeError(f"synthesis failed at sentence {index}")
                self.started += 1
                self.reached[self.started].set()
                yield np.full(self.samples, index + 1, dtype=np.int16)
        finally:
            self.closed = True


class RecordingSink(NullSink):
    """A NullSink that signals when its first chunk is accepted."""

    def __init__(self, *, paced: bool = False) -> None:
        super().__init__(paced=paced)
        self.first = asyncio.Event()
        self.stopped = asyncio.Event()
        self.starts = 0
        self.stops = 0
        self.finishes = 0

    async def start(self, rate: int) -> None:
        self.starts += 1
        await super().start(rate)

    async def write(self, chunk: Int16Array) -> None:
        await super().write(chunk)
        if self.chunks:
            self.first.set()

    async def stop(self) -> None:
        self.stops += 1
        self.stopped.set()
        await super().stop()

    async def finish(self) -> None:
        self.finishes += 1
        await super().finish()


def sentence_numbers(chunks: list[Int16Array]) -> list[int]:
    """The sentence number each recorded chunk carries."""
    return [int(chunk[0]) for chunk in chunks]


async def wait_thread_event(event: threading.Event, limit_s: float = GATE_TIMEOUT_S) -> bool:
    """Wait up to ``limit_s`` for a threading.Event without blocking the loop."""
    return await asyncio.to_thread(event.wait, limit_s)


async def test_plays_every_sentence_in_order() -> None:
    synth, sink = FakeSynth(), RecordingSink()
    result = await Player(synth, sink).play("One. Two. Three.")
    assert result.completed
    assert sentence_numbers(sink.chunks) == [1, 2, 3]
    assert result.chunks == 3
    assert result.audio_s == pytest.approx(3 * synth.samples / synth.sample_rate)
    assert sink.finishes == 1
    assert sink.stops == 0


async def test_first_sentence_plays_before_the_rest_is_synthesised() -> None:
    gate = threading.Event()
    synth, sink = FakeSynth(gates={1: gate}), RecordingSink()
    task = asyncio.create_task(Player(synth, sink).play("One. Two. Three."), name="play")
    await asyncio.wait_for(sink.first.wait(), WAIT_S)
    # Sentence two is still blocked inside the synthesiser, yet sentence one is out.
    assert synth.started == 1
    assert sentence_numbers(sink.chunks) == [1]
    gate.set()
    result = await asyncio.wait_for(task, WAIT_S)
    assert result.completed
    assert result.first_audio_s is not None
    assert 0 < result.first_audio_s <= result.elapsed_s
    print(
        f"fake first audio {result.first_audio_s * 1000:.2f} ms of {result.elapsed_s * 1000:.2f} ms"
    )


async def test_pause_before_play_holds_output_and_bounds_synthesis() -> None:
    synth, sink = FakeSynth(), RecordingSink()
    player = Player(synth, sink, handoff_chunks=2)
    await player.pause()
    task = asyncio.create_task(
        player.play("Alpha. Bravo. Charlie. Delta. Echo. Foxtrot."), name="play"
    )
    # One chunk blocked in the sink, two in the hand-off, one waiting for a slot.
    assert await wait_thread_event(synth.reached[4])
    assert not await wait_thread_event(synth.reached[5], limit_s=0.2)
    assert sink.chunks == []
    assert player.paused
    await player.resume()
    result = await asyncio.wait_for(task, WAIT_S)
    assert result.completed
    assert sentence_numbers(sink.chunks) == [1, 2, 3, 4, 5, 6]


async def test_pause_mid_reply_holds_output_until_resume() -> None:
    gate = threading.Event()
    synth, sink = FakeSynth(gates={1: gate}), RecordingSink()
    player = Player(synth, sink)
    task = asyncio.create_task(
        player.play("Alpha. Bravo. Charlie. Delta. Echo. Foxtrot."), name="play"
    )
    await asyncio.wait_for(sink.first.wait(), WAIT_S)
    await player.pause()
    gate.set()
    assert await wait_thread_event(synth.reached[4])
    assert sentence_numbers(sink.chunks) == [1]
    await player.resume()
    result = await asyncio.wait_for(task, WAIT_S)
    assert result.completed
    assert sentence_numbers(sink.chunks) == [1, 2, 3, 4, 5, 6]


async def test_stop_drops_the_rest_and_ends_synthesis_early() -> None:
    gate = threading.Event()
    synth, sink = FakeSynth(gates={1: gate}), RecordingSink()
    player = Player(synth, sink)
    text = " ".join(f"Sentence {n}." for n in range(10))
    task = asyncio.create_task(player.play(text), name="play")
    await asyncio.wait_for(sink.first.wait(), WAIT_S)
    playing_before_stop = player.playing
    await player.stop()
    gate.set()
    result = await asyncio.wait_for(task, WAIT_S)
    assert playing_before_stop
    assert not result.completed
    assert sentence_numbers(sink.chunks) == [1]
    assert synth.started <= 2
    assert synth.closed
    assert sink.finishes == 0
    assert not player.playing
    # The next reply plays normally.
    again = await player.play("Next. One.")
    assert again.completed
    assert sentence_numbers(sink.chunks) == [1, 2]


async def test_stop_while_paused_does_not_hang_and_clears_the_pause() -> None:
    synth, sink = FakeSynth(), RecordingSink()
    player = Player(synth, sink)
    await player.pause()
    task = asyncio.create_task(player.play("Alpha. Bravo. Charlie."), name="play")
    assert await wait_thread_event(synth.reached[1])
    await player.stop()
    result = await asyncio.wait_for(task, WAIT_S)
    assert not result.completed
    assert sink.chunks == []
    assert not player.paused


async def test_stop_during_the_tail_is_not_completed() -> None:
    synth, sink = FakeSynth(samples=160_000), RecordingSink(paced=True)
    player = Player(synth, sink)
    task = asyncio.create_task(player.play("Ten seconds of audio."), name="play")
    await asyncio.wait_for(sink.first.wait(), WAIT_S)
    await player.stop()
    result = await asyncio.wait_for(task, WAIT_S)
    assert not result.completed
    assert result.chunks == 1


async def test_synthesis_error_propagates_and_stops_the_sink() -> None:
    synth, sink = FakeSynth(fail_at=1), RecordingSink()
    player = Player(synth, sink)
    with pytest.raises(RuntimeError, match="sentence 1"):
        await player.play("Fine. Broken. Never.")
    assert sentence_numbers(sink.chunks) == [1]
    assert sink.stops >= 1
    assert not player.playing


async def test_cancelling_play_stops_the_sink_and_the_synthesiser() -> None:
    gate = threading.Event()
    synth, sink = FakeSynth(gates={1: gate}), RecordingSink()
    task = asyncio.create_task(Player(synth, sink).play("Alpha. Bravo. Charlie."), name="play")
    await asyncio.wait_for(sink.first.wait(), WAIT_S)
    task.cancel()
    # Release the synthesiser only once the cancellation has reached the player.
    await asyncio.wait_for(sink.stopped.wait(), WAIT_S)
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert synth.started <= 2
    assert synth.closed


async def test_markdown_is_cleaned_before_synthesis() -> None:
    synth, sink = FakeSynth(), RecordingSink()
    await Player(synth, sink).play("## Hi\n**Bold** and `code`.")
    assert synth.texts == ["Hi. Bold and code."]


async def test_blank_text_touches_nothing() -> None:
    synth, sink = FakeSynth(), RecordingSink()
    result = await Player(synth, sink).play("  ** **  ")
    assert result.completed
    assert result.chunks == 0
    assert result.first_audio_s is None
    assert synth.texts == []
    assert sink.starts == 0


async def test_play_samples_plays_cached_audio() -> None:
    sink = RecordingSink()
    samples = np.arange(800, dtype=np.int16)
    result = await Player(FakeSynth(), sink).play_samples(samples, 8_000)
    assert result.completed
    assert sink.rate == 8_000
    assert len(sink.chunks) == 1
    np.testing.assert_array_equal(sink.chunks[0], samples)
    assert result.audio_s == pytest.approx(0.1)
