"""Collect a spoken reply for one satellite from the bus (``tts/status`` + ``tts/audio/<sat>``).

`tars ask --speak` and `tars listen` use it to write the reply to a WAV file or play it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tars.audio.pcm import Int16Array, bytes_to_int16, write_wav
from tars.contracts.audio import tts_audio_topic
from tars.contracts.tts import TOPIC_TTS_STATUS, TtsStatus
from tars.runtime.bus import Bus, Message, RawMessage


@dataclass
class _Utterance:
    rate: int
    chunks: list[bytes] = field(default_factory=list)
    ended: bool = False


class ReplyRecorder:
    """Records every reply TTS speaks for ``satellite`` (acknowledgements excluded)."""

    def __init__(self, satellite: str) -> None:
        self.satellite = satellite
        self._utterances: dict[str, _Utterance] = {}
        self._order: list[str] = []
        self._changed = asyncio.Event()

    def attach(self, bus: Bus) -> None:
        """Subscribe to the satellite's status and audio (before the bus runs)."""
        bus.subscribe(TOPIC_TTS_STATUS, self._on_status)
        bus.subscribe_raw(tts_audio_topic(self.satellite), self._on_audio)

    async def _on_status(self, message: Message) -> None:
        status: TtsStatus = message.data
        if status.satellite != self.satellite or status.wake_ack or status.system_announce:
            return
        utt_id = status.utt_id or "unnamed"
        if status.event == "speaking_start" and utt_id not in self._utterances:
            self._utterances[utt_id] = _Utterance(rate=status.sample_rate or 22050)
            self._order.append(utt_id)
        elif status.event == "speaking_end" and utt_id in self._utterances:
            self._utterances[utt_id].ended = True
        self._changed.set()

    async def _on_audio(self, message: RawMessage) -> None:
        utterance = self._utterances.get(message.properties.get("utt_id", "unnamed"))
        if utterance is not None and not utterance.ended:
            utterance.chunks.append(message.payload)

    def finished(self) -> bool:
        """At least one reply started and every started reply has ended."""
        return bool(self._order) and all(self._utterances[u].ended for u in self._order)

    async def wait_spoken(self, timeout_s: float) -> bool:
        """Wait until the replies are fully spoken; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not self.finished():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def audio(self) -> tuple[Int16Array, int]:
        """All recorded reply audio in order, and its sample rate."""
        if not self._order:
            return np.zeros(0, dtype=np.int16), 22050
        rate = self._utterances[self._order[0]].rate
        parts = [
            bytes_to_int16(b"".join(self._utterances[utt_id].chunks)) for utt_id in self._order
        ]
        return np.concatenate(parts), rate

    def write(self, path: Path) -> float:
        """Write the reply to a WAV file; returns its duration in seconds."""
        samples, rate = self.audio()
        write_wav(path, samples, rate)
        return samples.size / rate
