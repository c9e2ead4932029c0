"""The wake service's event publishing and barge-in timer, with a fake detector."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from tars.audio.pcm import Int16Array, int16_to_bytes, rms
from tars.contracts.llm import TOPIC_LLM_CANCEL
from tars.contracts.stt import TOPIC_STT_FINAL, FinalTranscript
from tars.contracts.tts import TOPIC_TTS_CONTROL, TOPIC_TTS_STATUS, TtsStatus
from tars.contracts.wake import TOPIC_WAKE_EVENT
from tars.runtime.bus import Message
from tars.runtime.memory_bus import MemoryBroker, MemoryBus
from tars.runtime.service import serve
from tars.services.wake.detector import Detection
from tars.services.wake.service import WakeService
from tars.services.wake.settings import WakeSettings


class ClapDetector:
    """Fires on every frame louder than 5000 RMS."""

    wake_word = "clap"

    def process(self, samples: Int16Array) -> Detection | None:
        level = rms(samples)
        return Detection("clap", 0.9, 0.5, level, 0.0) if level > 5000 else None

    def reset(self) -> None:
        pass


LOUD = np.full(320, 9000, dtype=np.int16)


async def scenario(final_text: str | None) -> tuple[list[Message], float]:
    broker = MemoryBroker()
    client = MemoryBus("cli", broker)
    seen: list[Message] = []

    async def collect(message: Message) -> None:
        seen.append(message)

    for topic in (TOPIC_WAKE_EVENT, TOPIC_TTS_CONTROL, TOPIC_LLM_CANCEL):
        client.subscribe(topic, collect)
    settings = WakeSettings(interrupt_window_sec=0.3, speech_grace_sec=0.2)
    service = WakeService(settings, detector_factory=ClapDetector)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(service, MemoryBus("wake", broker), stop), name="test:wake")
    client_task = asyncio.create_task(client.run(), name="test:client")
    await client.wait_connected()
    await asyncio.wait_for(service._ready.wait(), 2)
    await client.publish(
        TOPIC_TTS_STATUS, TtsStatus(event="speaking_start", utt_id="reply-7", satellite="den")
    )
    await asyncio.sleep(0.05)
    await client.publish_raw("audio/den/pcm", int16_to_bytes(LOUD), properties={"ts": "50.0"})
    started = time.monotonic()
    await asyncio.sleep(0.1)
    if final_text is not None:
        await client.publish(TOPIC_STT_FINAL, FinalTranscript(text=final_text, satellite="den"))
    await asyncio.sleep(0.6)
    stop.set()
    await asyncio.gather(task, return_exceptions=True)
    client_task.cancel()
    await asyncio.gather(client_task, return_exceptions=True)
    return seen, started


def summary(seen: list[Message]) -> list[str]:
    out = []
    for message in seen:
        data = message.data
        kind = getattr(data, "type", None) or getattr(data, "action", None) or "cancel"
        out.append(f"{message.topic}:{kind}")
    return out


async def test_interrupt_without_speech_resumes_on_the_timer() -> None:
    seen, _ = await scenario(None)
    assert summary(seen) == [
        "wake/event:interrupt",
        "tts/control:pause",
        "tts/control:resume",
        "wake/event:resume",
    ]
    interrupt = seen[0].data
    assert interrupt.satellite == "den"
    assert interrupt.tts_id == "reply-7"
    assert interrupt.ts == 50.02  # end of the frame that fired
    assert seen[1].data.id == "reply-7"


async def test_cancel_phrase_stops_and_cancels_the_reply() -> None:
    seen, _ = await scenario("Stop!")
    assert summary(seen) == [
        "wake/event:interrupt",
        "tts/control:pause",
        "tts/control:stop",
        "wake/event:cancelled",
        "llm/cancel:cancel",
    ]
    assert seen[-1].data.id == "reply-7"


async def test_other_request_is_a_new_turn() -> None:
    seen, _ = await scenario("what is the weather")
    assert summary(seen)[2:] == ["tts/control:stop", "wake/event:cancelled"]
    assert seen[3].data.cause == "new_turn"
