"""A satellite lane on its own: closing it ends its worker, whatever the worker waits for."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from tars.audio.pcm import Int16Array
from tars.contracts.tts import TtsSay, TtsStatus
from tars.runtime.metrics import Metrics
from tars.services.tts.player import PlaybackResult, Player
from tars.services.tts.queue import LaneContext, Piece, SatelliteLane, StoppedReplies
from tars.services.tts.sinks import CallbackSink, NullSink

WAIT_S = 5.0


class InstantVoice:
    voice_id = "instant"
    sample_rate = 16_000

    def synthesize(self, text: str) -> object:
        raise AssertionError("the instant player never synthesises")


class ToneVoice:
    """Half a second of a constant tone per piece."""

    voice_id = "tone"
    sample_rate = 16_000

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        yield np.full(self.sample_rate // 2, 100, dtype=np.int16)


class InstantPlayer(Player):
    """Plays every piece at once, without a thread: the lane never waits on playback."""

    def __init__(self) -> None:
        super().__init__(InstantVoice(), NullSink())  # type: ignore[arg-type]
        self.played: list[str] = []

    async def play(self, text: str, on_audio: Callable[[], None] | None = None) -> PlaybackResult:
        self.played.append(text)
        return PlaybackResult(True, 0.0, 0.1, 0.0, 0.0, 1)


async def test_close_as_the_next_piece_arrives_ends_the_worker() -> None:
    # The worker waits for the next piece of an open reply. Python 3.11's asyncio.wait_for
    # returned normally when a cancellation landed in the loop pass where that wait ended
    # (CPython gh-86296): the closed lane played the piece and waited on.
    statuses: list[TtsStatus] = []

    async def publish_status(status: TtsStatus) -> None:
        statuses.append(status)

    context = LaneContext(publish_status, Metrics("tts"), StoppedReplies(60.0), reply_idle_s=60.0)
    lane, player = SatelliteLane("porch", context, remote=True), InstantPlayer()
    lane.start(player)
    lane.enqueue(Piece(TtsSay(text="One.", utt_id="r1", satellite="porch"), 0.0))
    for _ in range(10):  # no thread, no timer: a few loop passes settle the worker
        await asyncio.sleep(0)
    assert player.played == ["One."]
    assert lane.reply is not None, "the reply stays open, waiting for its next piece"
    lane.enqueue(Piece(TtsSay(text="Two.", utt_id="r1", satellite="porch"), 0.0))
    closing = asyncio.create_task(lane.close(), name="close")  # runs in the same pass
    done, _ = await asyncio.wait({closing}, timeout=WAIT_S)
    closing.cancel()
    assert done, "the closed lane's worker carried on"
    assert [status.event for status in statuses] == ["speaking_start"]


async def test_resumed_goes_out_before_the_audio_it_announces() -> None:
    # Both fakes behave like the MQTT bus: audio is on its way as soon as publish is
    # called, a status only after a loop pass. Resuming the sink first let a piece of
    # audio overtake the "resumed" status, as if it had played during the pause.
    sent: list[str] = []
    changed = asyncio.Event()

    async def publish_status(status: TtsStatus) -> None:
        await asyncio.sleep(0)
        sent.append(status.event)
        changed.set()

    async def publish_audio(pcm: bytes, properties: Mapping[str, str]) -> None:
        sent.append("audio")
        changed.set()
        await asyncio.sleep(0)

    async def until(item: str) -> None:
        while item not in sent:
            changed.clear()
            await changed.wait()

    context = LaneContext(publish_status, Metrics("tts"), StoppedReplies(60.0), reply_idle_s=60.0)
    context.audio_out["porch"] = publish_audio
    lane = SatelliteLane("porch", context, remote=True)
    lane.start(Player(ToneVoice(), CallbackSink(lane.send_audio, piece_ms=10, paced=False)))
    say = TtsSay(text="One.", utt_id="r1", satellite="porch", last=True)
    lane.enqueue(Piece(say, 0.0))
    try:
        async with asyncio.timeout(WAIT_S):
            await until("audio")
            await lane.pause("wake_interrupt")
            for _ in range(10):
                await asyncio.sleep(0)
            paused = sent.index("paused")
            assert "audio" not in sent[paused + 1 :], "audio went out while paused"
            await lane.resume("timeout")
            await until("speaking_end")
    finally:
        await lane.close()
    after = sent[paused + 1 :]
    assert after[0] == "resumed", after[:5]
    assert "audio" in after


class LabelledVoice:
    """Half a second per piece, every sample the piece's length; notes when each starts."""

    voice_id = "labelled"
    sample_rate = 16_000

    def __init__(self, log: list[str], changed: Callable[[], None]) -> None:
        self._log = log
        self._changed = changed
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> Iterator[Int16Array]:
        with self._lock:
            self._log.append(f"synth {text}")
        self._changed()
        yield np.full(self.sample_rate // 2, len(text), dtype=np.int16)


class ReplyRecorder:
    """The bus side of a remote lane: statuses and audio in one ordered log."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def changed(self) -> None:
        self.loop.call_soon_threadsafe(self._changed.set)

    async def status(self, status: TtsStatus) -> None:
        self.log.append(status.event)
        self._changed.set()

    async def audio(self, pcm: bytes, properties: Mapping[str, str]) -> None:
        self.log.append(f"audio {np.frombuffer(pcm, dtype=np.int16)[0]}")
        self._changed.set()

    async def until(self, item: str) -> None:
        async with asyncio.timeout(WAIT_S):
            while item not in self.log:
                self._changed.clear()
                await self._changed.wait()


def paced_lane(recorder: ReplyRecorder) -> SatelliteLane:
    context = LaneContext(recorder.status, Metrics("tts"), StoppedReplies(60.0), reply_idle_s=60.0)
    context.audio_out["porch"] = recorder.audio
    lane = SatelliteLane("porch", context, remote=True)
    voice = LabelledVoice(recorder.log, recorder.changed)
    lane.start(Player(voice, CallbackSink(lane.send_audio, piece_ms=20, lead_ms=40)))
    return lane


def piece(text: str, *, last: bool = False) -> Piece:
    return Piece(TtsSay(text=text, utt_id="r1", satellite="porch", last=last), 0.0)


async def test_the_next_sentence_is_synthesised_while_the_current_one_plays() -> None:
    recorder = ReplyRecorder()
    lane = paced_lane(recorder)
    lane.enqueue(piece("One."))  # 4 characters: its samples are 4
    lane.enqueue(piece("Second.", last=True))  # and these 7
    try:
        await recorder.until("speaking_end")
    finally:
        await lane.close()
    log = recorder.log
    last_of_first = len(log) - 1 - log[::-1].index("audio 4")
    # Synthesis of the second sentence began before the first had finished playing, and
    # only once the first had its audio out (they would compete for the voice otherwise).
    assert log.index("audio 4") < log.index("synth Second.") < last_of_first
    assert log.count("synth Second.") == 1
    assert log.index("audio 7") > last_of_first
    assert lane._ctx.metrics.count("synthesised_ahead") == 1


async def test_a_stop_drops_the_sentence_synthesised_ahead() -> None:
    recorder = ReplyRecorder()
    lane = paced_lane(recorder)
    lane.enqueue(piece("One."))
    lane.enqueue(piece("Second.", last=True))
    try:
        await recorder.until("synth Second.")
        await recorder.until("audio 4")  # the first sentence is playing
        await lane.stop("r1", "barge_in")
        await recorder.until("speaking_end")
    finally:
        await lane.close()
    assert "audio 7" not in recorder.log
    assert recorder.log.count("synth Second.") == 1
