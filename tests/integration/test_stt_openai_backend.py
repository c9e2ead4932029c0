"""The stt service with the OpenAI-compatible backend: audio in over MQTT, the utterance
uploaded to a real local `/audio/transcriptions` server, the final published."""

from __future__ import annotations

import asyncio
import time

import pytest
from tests.support.broker import TestBroker, running
from tests.support.collect import Collector
from tests.support.transcription_server import Server, transcription_server

from tars.audio import pcm, speech
from tars.contracts.audio import pcm_topic
from tars.contracts.health import health_topic
from tars.contracts.stt import TOPIC_STT_FINAL
from tars.runtime.service import serve
from tars.runtime.settings import ConversationSettings
from tars.services.stt.service import SttService
from tars.services.stt.settings import SttSettings

pytestmark = pytest.mark.broker


async def test_live_utterance_is_transcribed_by_the_http_backend(
    mqtt_broker: TestBroker,
) -> None:
    with transcription_server() as server:
        await _run(mqtt_broker, server)
    [upload] = server.seen
    assert upload.path == "/v1/audio/transcriptions"
    filename, content_type, wav = upload.files["file"]
    assert content_type == "audio/wav"
    assert len(wav) > pcm.SAMPLE_RATE  # about a second or more of 16-bit audio


async def _run(mqtt_broker: TestBroker, server: Server) -> None:
    settings = SttSettings(backend="openai", openai_base_url=server.url, streaming_partials=False)
    service = SttService(settings, conversation=ConversationSettings(live_mode=True))
    mic, watcher = mqtt_broker.bus("mic", health=False), mqtt_broker.bus("ui", health=False)
    finals, health = Collector(), Collector()
    watcher.subscribe(TOPIC_STT_FINAL, finals)
    watcher.subscribe(health_topic("stt"), health)
    stop = asyncio.Event()
    async with running(mic, watcher):
        task = asyncio.create_task(serve(service, mqtt_broker.bus("stt"), stop), name="stt")
        try:
            await health.wait_for(lambda m: m.data.event == "ready" and not m.retained, 30)
            audio = speech.utterance(speech.piper("Turn on the kitchen lights."), pad_s=1.0)
            started = time.time()
            for seq, frame in enumerate(pcm.frames(audio)):
                # Capture times as a microphone stamps them; sent faster than real time.
                properties = {"seq": str(seq), "ts": f"{started + seq * 0.02:.3f}"}
                await mic.publish_raw(pcm_topic("garage"), frame, properties=properties)
                await asyncio.sleep(0.002)
            final = await finals.wait_for(lambda m: m.data.satellite == "garage", 20)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert final.data.text == "Turn on the kitchen lights."  # the server's scripted answer
    assert final.data.source == "voice"
