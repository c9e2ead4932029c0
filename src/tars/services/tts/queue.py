"""Ordered playback per satellite: one queue, one player and at most one open reply each.

A reply is the run of ``tts/say`` pieces sharing an ``utt_id``; it opens with
``speaking_start`` when its first piece starts playing and closes with ``speaking_end``
after the piece marked ``last`` (a piece without ``utt_id``, a wake acknowledgement or an
announcement is a reply on its own). Control calls (pause, resume, stop) never wait for
the worker: they go straight to the lock-free player and leave flags the worker reads.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from tars.contracts.tts import TtsSay, TtsStatus
from tars.runtime.logs import log_context
from tars.runtime.metrics import Metrics
from tars.services.tts.cache import PhraseCache
from tars.services.tts.player import PlaybackResult, Player
from tars.services.tts.prefetch import Prefetch

_LOGGER = logging.getLogger(__name__)

PublishStatus = Callable[[TtsStatus], Awaitable[None]]
"""Publishes one ``tts/status`` event."""
PublishAudio = Callable[[bytes, Mapping[str, str]], Awaitable[None]]
"""Publishes one binary audio piece with its user properties."""


@dataclass(frozen=True)
class Piece:
    """One ``tts/say`` message waiting in a satellite's queue."""

    say: TtsSay
    """The request."""
    received: float
    """When it arrived, ``time.perf_counter()`` seconds."""

    @property
    def ends_reply(self) -> bool:
        """Whether ``speaking_end`` follows this piece."""
        say = self.say
        return bool(say.last or say.wake_ack or say.system_announce) or say.utt_id is None


@dataclass
class Reply:
    """The reply a satellite is speaking (opened, not yet ended)."""

    utt_id: str | None
    received: float
    """Arrival of its first piece, ``time.perf_counter()`` seconds."""
    text: str
    wake_ack: bool | None = None
    system_announce: bool | None = None
    stop_reason: str | None = None
    """Set by a stop control; the worker ends the reply as soon as it sees it."""
    first_audio_ms: float | None = None
    audio_s: float = 0.0
    synth_s: float = 0.0


class StoppedReplies:
    """Ids of stopped replies, remembered for a while so that late pieces are dropped."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        """Remember ids for ``ttl_s`` seconds (``clock`` is injectable for tests)."""
        self._ttl = ttl_s
        self._clock = clock
        self._ids: collections.OrderedDict[str, float] = collections.OrderedDict()

    def add(self, utt_id: str) -> None:
        """Remember a stopped reply."""
        self._ids[utt_id] = self._clock()
        self._ids.move_to_end(utt_id)

    def __contains__(self, utt_id: object) -> bool:
        """Whether ``utt_id`` was stopped within the TTL."""
        now = self._clock()
        while self._ids:
            oldest, stamp = next(iter(self._ids.items()))
            if now - stamp <= self._ttl:
                break
            del self._ids[oldest]
        return utt_id in self._ids


@dataclass
class LaneContext:
    """What every lane shares: the bus side, the phrase cache and the stop memory."""

    publish_status: PublishStatus
    metrics: Metrics
    stopped: StoppedReplies
    reply_idle_s: float
    cache: PhraseCache | None = None
    audio_out: dict[str, PublishAudio] = field(default_factory=dict)
    """Raw-audio publishers of remote satellites, by satellite id."""


class SatelliteLane:
    """Plays one satellite's pieces in arrival order; pause, resume and stop act at once."""

    def __init__(self, satellite: str, context: LaneContext, *, remote: bool) -> None:
        """Create an idle lane; :meth:`start` gives it a player and starts its worker.

        Args:
            satellite: Satellite id (``local`` for this machine's output).
            context: Shared bus callbacks, cache and stop memory.
            remote: Audio goes out on ``tts/audio/<satellite>`` (speaking_start names the rate).
        """
        self.satellite = satellite
        self.remote = remote
        self._ctx = context
        self._queue: collections.deque[Piece] = collections.deque()
        self._changed = asyncio.Event()
        self._reply: Reply | None = None
        self._player: Player | None = None
        self._prefetch: Prefetch | None = None
        self._sounding = False
        """Whether the piece playing has its first audio out (its synthesis is done)."""
        self._task: asyncio.Task[None] | None = None
        self._seq = 0

    @property
    def reply(self) -> Reply | None:
        """The open reply, if any."""
        return self._reply

    @property
    def paused(self) -> bool:
        """Whether output is held (also between pieces, until resume or stop)."""
        return self._player is not None and self._player.paused

    @property
    def busy(self) -> bool:
        """Whether a reply is open or pieces are waiting."""
        return self._reply is not None or bool(self._queue)

    def start(self, player: Player) -> None:
        """Attach the player and start the worker task."""
        self._player = player
        self._prefetch = Prefetch(player.synthesizer)
        self._task = asyncio.create_task(self._work(), name=f"tts:lane:{self.satellite}")

    async def close(self) -> None:
        """Stop the worker and release the sink."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._prefetch is not None:
            await self._prefetch.aclose()
        if self._player is not None:
            await self._player.sink.close()

    def enqueue(self, piece: Piece) -> bool:
        """Queue a piece; False when it belongs to a stopped reply and was dropped."""
        utt_id = piece.say.utt_id
        if utt_id is not None and utt_id in self._ctx.stopped:
            self._ctx.metrics.inc("dropped_stopped")
            _LOGGER.debug("dropping a piece of stopped reply %s", utt_id)
            return False
        self._queue.append(piece)
        self._changed.set()
        self._synthesise_ahead()
        return True

    def targets(self, utt_id: str | None) -> bool:
        """Whether a control naming ``utt_id`` (None: anything) concerns this lane now."""
        if utt_id is None:
            return self.busy
        reply = self._reply
        return (reply is not None and reply.utt_id == utt_id) or any(
            piece.say.utt_id == utt_id for piece in self._queue
        )

    async def pause(self, reason: str) -> None:
        """Hold output now; the next piece also starts held until resume or stop."""
        if self._player is not None:
            await self._player.pause()
        await self._status("paused", self._reply, reason=reason)

    async def resume(self, reason: str) -> None:
        """Continue after a pause; ``resumed`` goes out before the audio it announces."""
        try:
            await self._status("resumed", self._reply, reason=reason)
        finally:
            # Resumed even when the status could not be published.
            if self._player is not None:
                await self._player.resume()

    async def stop(self, utt_id: str | None, reason: str) -> None:
        """Drop the rest of a reply (``utt_id``, or the open one when None).

        Queued pieces of that reply go now, pieces arriving later are dropped on arrival,
        and the open reply ends with ``speaking_end`` (reason ``stopped``).
        """
        reply = self._reply
        target = utt_id if utt_id is not None else (reply.utt_id if reply else None)
        if target is not None:
            self._ctx.stopped.add(target)
            kept = [piece for piece in self._queue if piece.say.utt_id != target]
            self._queue = collections.deque(kept)
        if self._prefetch is not None:
            self._prefetch.discard()  # the next piece may be another reply's: it is redone
        if reply is not None and (utt_id is None or reply.utt_id == utt_id):
            reply.stop_reason = reason or "stopped"
            if self._player is not None:
                await self._player.stop()
            self._changed.set()
        await self._status("stopped", reply, reason=reason, utt_id=target)

    async def send_audio(self, pcm: bytes, rate: int) -> None:
        """CallbackSink target: publish a piece with its rate, reply id and sequence number."""
        publish = self._ctx.audio_out.get(self.satellite)
        if publish is None:
            return
        properties = {"rate": str(rate), "seq": str(self._seq)}
        reply = self._reply
        if reply is not None and reply.utt_id is not None:
            properties["utt_id"] = reply.utt_id
        self._seq += 1
        await publish(pcm, properties)

    # -- worker -----------------------------------------------------------------------
    async def _work(self) -> None:
        with log_context(satellite=self.satellite):
            while True:
                piece = await self._next()
                if piece is not None:
                    with log_context(utt_id=piece.say.utt_id):
                        await self._play(piece)

    async def _next(self) -> Piece | None:
        """The next piece; None after ending the open reply (stop or idle timeout)."""
        while True:
            reply = self._reply
            if reply is not None and reply.stop_reason is not None:
                await self._end("stopped")
                return None
            if self._queue:
                return self._queue.popleft()
            self._changed.clear()
            try:
                # Not wait_for: on Python 3.11 it loses a cancellation that lands as a piece
                # arrives (CPython gh-86296), and a closed lane would play on.
                async with asyncio.timeout(self._ctx.reply_idle_s if reply is not None else None):
                    await self._changed.wait()
            except TimeoutError:
                _LOGGER.warning("reply %s got no last piece; ending it", reply and reply.utt_id)
                await self._end("timeout")
                return None

    async def _play(self, piece: Piece) -> None:
        say = piece.say
        if say.utt_id is not None and say.utt_id in self._ctx.stopped:
            self._ctx.metrics.inc("dropped_stopped")
            return
        reply = self._reply
        if reply is not None and (say.utt_id is None or reply.utt_id != say.utt_id):
            await self._end("superseded")
            reply = None
        if reply is None:
            reply = self._open(piece)
            await self._status("speaking_start", reply, sample_rate=self._rate())
        if reply.stop_reason is not None:  # a stop came while speaking_start went out
            await self._end("stopped")
            return
        try:
            began = time.perf_counter()
            result = await self._speak(piece, reply)
        except Exception:
            self._ctx.metrics.inc("synthesis_errors")
            _LOGGER.exception("playback failed")
            if piece.ends_reply:
                await self._end("error")
            return
        self._account(reply, result, began)
        if not result.completed or reply.stop_reason is not None:
            reply.stop_reason = reply.stop_reason or "stopped"
            await self._end("stopped")
        elif piece.ends_reply:
            await self._end(None)

    def _open(self, piece: Piece) -> Reply:
        say = piece.say
        self._reply = Reply(
            utt_id=say.utt_id,
            received=piece.received,
            text=say.text,
            wake_ack=say.wake_ack,
            system_announce=say.system_announce,
        )
        self._seq = 0
        return self._reply

    async def _speak(self, piece: Piece, reply: Reply) -> PlaybackResult:
        player = self._player
        assert player is not None, "lane started without a player"
        text = piece.say.text
        self._sounding = False
        cache = self._ctx.cache
        cached = cache.get(text) if cache is not None else None
        if cache is not None and cached is not None:
            self._ctx.metrics.inc("cache_hits")
            return await player.play_samples(cached, cache.sample_rate, self._sounded)
        ahead = self._prefetch.take(piece) if self._prefetch is not None else None
        samples = await ahead if ahead is not None else None
        if reply.stop_reason is not None:  # stopped while its audio was being finished
            return PlaybackResult(False, None, 0.0, 0.0, 0.0, 0)
        if samples is not None:
            self._ctx.metrics.inc("synthesised_ahead")
            return await player.play_samples(samples, player.synthesizer.sample_rate, self._sounded)
        return await player.play(text, self._sounded)

    def _sounded(self) -> None:
        """The piece playing has its first audio out: synthesise the next one meanwhile."""
        self._sounding = True
        self._synthesise_ahead()

    def _synthesise_ahead(self) -> None:
        """Start synthesising the next queued piece if it continues the reply being spoken."""
        reply, prefetch = self._reply, self._prefetch
        if prefetch is None or prefetch.busy or reply is None or not self._sounding:
            return
        if not self._queue or reply.stop_reason is not None:
            return
        following = self._queue[0]
        if following.say.utt_id is None or following.say.utt_id != reply.utt_id:
            return
        cache = self._ctx.cache
        if cache is not None and cache.get(following.say.text) is not None:
            return
        prefetch.start(following, following.say.text)

    def _account(self, reply: Reply, result: PlaybackResult, began: float) -> None:
        reply.audio_s += result.audio_s
        reply.synth_s += result.synth_s
        if reply.first_audio_ms is None and result.first_audio_s is not None:
            # From the reply's first tts/say to its first chunk reaching the sink.
            reply.first_audio_ms = (began - reply.received + result.first_audio_s) * 1000.0
            self._ctx.metrics.observe("first_audio_ms", reply.first_audio_ms)
        rtf = result.real_time_factor
        if rtf is not None and result.synth_s > 0:
            self._ctx.metrics.observe("rtf_x1000", rtf * 1000.0)

    async def _end(self, reason: str | None) -> None:
        reply, self._reply = self._reply, None
        if reply is None:
            return
        rtf = reply.synth_s / reply.audio_s if reply.audio_s > 0 else None
        _LOGGER.info(
            "reply %s ended (%s): first audio %s ms, %.2f s audio, rtf %s",
            reply.utt_id,
            reason or "done",
            None if reply.first_audio_ms is None else round(reply.first_audio_ms, 1),
            reply.audio_s,
            None if rtf is None else round(rtf, 3),
        )
        self._ctx.metrics.inc("replies_stopped" if reason else "replies_done")
        await self._status("speaking_end", reply, reason=reason)

    def _rate(self) -> int | None:
        if not self.remote or self._player is None:
            return None
        return self._player.synthesizer.sample_rate

    async def _status(
        self,
        event: str,
        reply: Reply | None,
        *,
        reason: str | None = None,
        sample_rate: int | None = None,
        utt_id: str | None = None,
    ) -> None:
        status = TtsStatus.model_validate(
            {
                "event": event,
                "text": reply.text if reply else "",
                "utt_id": reply.utt_id if reply else utt_id,
                "reason": reason or None,
                "wake_ack": reply.wake_ack if reply else None,
                "system_announce": reply.system_announce if reply else None,
                "satellite": self.satellite,
                "sample_rate": sample_rate,
            }
        )
        await self._ctx.publish_status(status)
